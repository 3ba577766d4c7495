//! `cliser-server add-client ID` and `remove-client ID`: edit the clients file (`--clients-file`,
//! or the `clients-file` key of `--config`) in place, one line each, atomically. A running server
//! takes the change on SIGHUP or the console's `R`.

use super::CommandError;
use crate::auth::clients_file::{self, Entry, FileError};
use crate::auth::credentials;
use cliser_protocol::ClientId;
use std::io::Write;
use std::path::Path;

/// `add-client`'s arguments.
#[derive(Debug, clap::Args)]
pub struct AddClientArgs {
    /// The client's id (1-32 of A-Z a-z 0-9 . _ -), as in its `id` setting.
    pub id: String,
    /// Give an id that already has a token a new one (the old one stops working on reload).
    #[arg(long)]
    pub replace: bool,
}

/// `remove-client`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RemoveClientArgs {
    /// The client's id.
    pub id: String,
}

impl From<FileError> for CommandError {
    fn from(e: FileError) -> Self {
        match e {
            // A path that leads nowhere is a wrong setting, as it is for the server at start.
            FileError::Io { path, source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                CommandError::BadArgument(format!("no clients file {}: {source}", path.display()))
            }
            FileError::Io { what, path, source } => CommandError::Io {
                what: format!("cannot {what} the clients file {}", path.display()),
                source,
            },
            line @ FileError::Line { .. } => CommandError::BadArgument(line.to_string()),
        }
    }
}

fn client_id(text: &str) -> Result<ClientId, CommandError> {
    ClientId::new(text).map_err(|e| {
        CommandError::BadArgument(format!("{text:?} is not a client id (1-32 of A-Z a-z 0-9 . _ -): {e}"))
    })
}

/// Makes a token for `args.id`, stores its hash in `path` and writes the token (only it, one line)
/// to `out`; what to do next goes to `note`.
pub fn add(
    args: &AddClientArgs,
    path: &Path,
    out: &mut dyn Write,
    note: &mut dyn Write,
) -> Result<(), CommandError> {
    let id = client_id(&args.id)?;
    let token = credentials::new_token().map_err(|e| CommandError::Io {
        what: "the random source".into(),
        source: std::io::Error::other(e),
    })?;
    let hash = credentials::hash_token(&token).map_err(|e| CommandError::BadArgument(e.to_string()))?;
    let line = clients_file::entry_line(&id, &hash);
    let replaced = clients_file::rewrite(path, true, |entries: &[Entry], text: &str| {
        match entries.iter().find(|e| e.id == id) {
            Some(_) if !args.replace => Err(CommandError::BadArgument(format!(
                "{id} already has a token in {}: `add-client --replace {id}` gives it a new one",
                path.display()
            ))),
            Some(old) => Ok((replace_line(text, old.line, Some(&line)), true)),
            None => {
                let mut text = text.to_owned();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&line);
                text.push('\n');
                Ok((text, false))
            }
        }
    })?;
    writeln!(out, "{token}")
        .and_then(|()| out.flush())
        .map_err(|source| CommandError::Io { what: "writing the token".into(), source })?;
    let verb = if replaced { "gave a new token to" } else { "added" };
    let _ = writeln!(
        note,
        "{verb} {id} in {}; its token, shown only this once, is the line above on stdout.\n\
         Put it in that Pi's password file (deploy/deploy.sh --id {id} --token-file FILE does, 0400),\n\
         then make the running server read the file: systemctl reload cliser-server (or the console's R).",
        path.display()
    );
    Ok(())
}

/// Deletes `args.id`'s line from `path`.
pub fn remove(args: &RemoveClientArgs, path: &Path, note: &mut dyn Write) -> Result<(), CommandError> {
    let id = client_id(&args.id)?;
    clients_file::rewrite(path, false, |entries: &[Entry], text: &str| {
        match entries.iter().find(|e| e.id == id) {
            Some(old) => Ok((replace_line(text, old.line, None), ())),
            None => Err(CommandError::BadArgument(format!("no client {id} in {}", path.display()))),
        }
    })?;
    let _ = writeln!(
        note,
        "removed {id} from {}; a running server closes its session and refuses it once it reads the \
         file again: systemctl reload cliser-server (or the console's R)",
        path.display()
    );
    Ok(())
}

/// `text` with line `n` (from 1) replaced by `with`, or dropped.
fn replace_line(text: &str, n: usize, with: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len() + 128);
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 != n {
            out.push_str(l);
        } else if let Some(w) = with {
            out.push_str(w);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_replaced_or_dropped_and_the_rest_kept() {
        let text = "# a\nx = 1\n# b\ny = 2";
        assert_eq!(replace_line(text, 2, Some("x = 3")), "# a\nx = 3\n# b\ny = 2");
        assert_eq!(replace_line(text, 2, None), "# a\n# b\ny = 2");
        assert_eq!(replace_line(text, 4, None), "# a\nx = 1\n# b\n");
    }
}
