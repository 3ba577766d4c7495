//! `cliser-server gen-tls --dir DIR --name HOST[,HOST...]`: a fleet CA and a server certificate, so
//! that nobody needs openssl. Run again with the same `--dir`, it keeps the CA and issues a new
//! server certificate (the Pis keep trusting it).

use super::CommandError;
use cliser_tls::gen::{self, GenError};
use std::io::Write;
use std::path::PathBuf;

/// `gen-tls`'s arguments.
#[derive(Debug, clap::Args)]
pub struct GenTlsArgs {
    /// Where the files go (created, 0700, if missing); a CA already there signs the new certificate.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The names the Pis connect to: DNS names or IP addresses, comma-separated (or the flag
    /// repeated). The Pis' `--server tls://NAME:PORT` must use one of them.
    #[arg(long = "name", value_name = "HOST[,HOST...]", required = true, value_delimiter = ',')]
    pub names: Vec<String>,
}

pub(super) fn run(args: &GenTlsArgs, out: &mut dyn Write) -> Result<(), CommandError> {
    let names: Vec<String> =
        args.names.iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    let w = gen::write_fleet(&args.dir, &names).map_err(|e| match e {
        GenError::NoNames | GenError::BadName(_) => CommandError::BadArgument(format!("--name: {e}")),
        e => CommandError::Tls(e),
    })?;
    let show = |p: &PathBuf| p.display().to_string();
    let ca = if w.reused_ca {
        format!("kept the fleet CA already in {} and signed", args.dir.display())
    } else {
        format!("wrote a new fleet CA in {} and", args.dir.display())
    };
    let text = format!(
        "{ca} a server certificate for {names}:\n\
         \x20 {ca_cert}\n      the fleet CA's certificate: THIS FILE GOES TO THE PIS (--tls-ca {ca_cert})\n\
         \x20 {ca_key}\n      the CA's private key (0600): keep it secret, off the Pis; it signs the next server certificate\n\
         \x20 {cert}\n      the server's certificate (--tls-cert)\n\
         \x20 {key}\n      the server's private key (0600) (--tls-key)\n\
         server key pin, for an optional --tls-pin on the Pis: {pin}\n\
         start the server with: cliser-server --listen-tls 0.0.0.0:1112 --tls-cert {cert} --tls-key {key}\n\
         and the Pis with: cliser-pi-client --server tls://{first}:1112 --tls-ca <the copy of ca.pem>\n",
        names = names.join(", "),
        ca_cert = show(&w.ca_cert),
        ca_key = show(&w.ca_key),
        cert = show(&w.server_cert),
        key = show(&w.server_key),
        pin = w.pin,
        first = names[0],
    );
    out.write_all(text.as_bytes()).map_err(super::write_err)
}
