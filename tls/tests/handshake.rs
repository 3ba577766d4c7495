//! Client and server configurations against each other, in memory: the CA, the name and the pin
//! each decide, and a failure says which.

use cliser_tls::gen::{Ca, Issued};
use cliser_tls::rustls::{ClientConnection, ServerConnection};
use cliser_tls::{client_config, server_config, server_name, Failure, Pin};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Runs a handshake between the two ends, passing bytes in memory; the client's failure, if any.
fn handshake(ca_pem: &str, pin: Option<Pin>, server: &Issued, host: &str) -> Result<(), Failure> {
    let client_cfg = client_config(ca_pem.as_bytes(), pin).unwrap();
    let server_cfg = server_config(server.cert_pem.as_bytes(), server.key_pem.as_bytes()).unwrap();
    let mut client = ClientConnection::new(client_cfg, server_name(host).unwrap()).unwrap();
    let mut srv = ServerConnection::new(server_cfg).unwrap();
    for _ in 0..10 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        if !wire.is_empty() {
            srv.read_tls(&mut &wire[..]).unwrap();
            if srv.process_new_packets().is_err() {
                // The server's side of a refusal is the client's alert; the client has the reason.
                break;
            }
        }
        let mut back = Vec::new();
        while srv.wants_write() {
            srv.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            client.read_tls(&mut &back[..]).unwrap();
            client.process_new_packets().map_err(|e| Failure::from_rustls(&e))?;
        }
        if !client.is_handshaking() && !srv.is_handshaking() {
            assert_eq!(client.protocol_version(), Some(cliser_tls::rustls::ProtocolVersion::TLSv1_3));
            return Ok(());
        }
    }
    panic!("the handshake neither finished nor failed");
}

#[test]
fn the_fleet_ca_and_the_right_name_pass() {
    let ca = Ca::new().unwrap();
    let server = ca.issue_server(&names(&["cliser.example", "127.0.0.1"])).unwrap();
    assert_eq!(handshake(ca.cert_pem(), None, &server, "cliser.example"), Ok(()));
    assert_eq!(handshake(ca.cert_pem(), None, &server, "127.0.0.1"), Ok(()));
}

#[test]
fn another_ca_is_an_unknown_issuer() {
    let (ours, theirs) = (Ca::new().unwrap(), Ca::new().unwrap());
    let server = theirs.issue_server(&names(&["cliser.example"])).unwrap();
    let f = handshake(ours.cert_pem(), None, &server, "cliser.example").unwrap_err();
    assert_eq!(f, Failure::UnknownCa);
    assert!(f.needs_new_settings());
    assert!(f.to_string().contains("not signed by a trusted CA"), "{f}");
}

#[test]
fn a_certificate_for_another_name_names_both() {
    let ca = Ca::new().unwrap();
    let server = ca.issue_server(&names(&["other.example"])).unwrap();
    let f = handshake(ca.cert_pem(), None, &server, "cliser.example").unwrap_err();
    assert!(
        matches!(&f, Failure::WrongName { expected, presented }
        if expected == "cliser.example" && presented == &["other.example"]),
        "{f:?}"
    );
    assert!(f.needs_new_settings());
    let text = f.to_string();
    assert!(text.contains("cliser.example") && text.contains("other.example"), "{text}");
}

#[test]
fn the_pin_is_checked_in_addition_to_the_ca() {
    let ca = Ca::new().unwrap();
    let server = ca.issue_server(&names(&["cliser.example"])).unwrap();
    assert_eq!(handshake(ca.cert_pem(), Some(server.pin), &server, "cliser.example"), Ok(()));
    let other = ca.issue_server(&names(&["cliser.example"])).unwrap();
    let f = handshake(ca.cert_pem(), Some(other.pin), &server, "cliser.example").unwrap_err();
    assert_eq!(f, Failure::PinMismatch { expected: other.pin, found: server.pin });
    assert!(f.to_string().starts_with("pin mismatch"), "{f}");
    // A right pin does not excuse a wrong CA.
    let stranger = Ca::new().unwrap();
    let f = handshake(stranger.cert_pem(), Some(server.pin), &server, "cliser.example").unwrap_err();
    assert_eq!(f, Failure::UnknownCa);
}

#[test]
fn a_ca_file_may_hold_two_cas_during_a_rotation() {
    let (old, new) = (Ca::new().unwrap(), Ca::new().unwrap());
    let bundle = format!("{}{}", old.cert_pem(), new.cert_pem());
    for ca in [&old, &new] {
        let server = ca.issue_server(&names(&["cliser.example"])).unwrap();
        assert_eq!(handshake(&bundle, None, &server, "cliser.example"), Ok(()));
    }
}

#[test]
fn unusable_pem_is_named() {
    let ca = Ca::new().unwrap();
    let server = ca.issue_server(&names(&["cliser.example"])).unwrap();
    let e = server_config(b"", server.key_pem.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("no certificate"), "{e}");
    let e = server_config(server.cert_pem.as_bytes(), server.cert_pem.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("no private key"), "{e}");
    let other = ca.issue_server(&names(&["cliser.example"])).unwrap();
    let e = server_config(server.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("cannot be used"), "{e}");
    assert!(client_config(b"garbage", None).is_err());
    assert!(server_name("[::1]").is_ok() && server_name("a b").is_err());
}

#[test]
fn a_plain_server_is_named_as_not_speaking_tls() {
    let ca = Ca::new().unwrap();
    let mut client = ClientConnection::new(
        client_config(ca.cert_pem().as_bytes(), None).unwrap(),
        server_name("h").unwrap(),
    )
    .unwrap();
    client.read_tls(&mut &b"110: qual a senha\n"[..]).unwrap();
    let f = Failure::from_rustls(&client.process_new_packets().unwrap_err());
    assert!(matches!(&f, Failure::Handshake(why) if why.contains("does not speak TLS there")), "{f:?}");
    assert!(!f.needs_new_settings(), "a server being switched over may speak TLS on the next try");
}
