//! The few MQTT 3.1.1 packets a QoS 1 publisher needs: CONNECT, PUBLISH (QoS 1), DISCONNECT out;
//! CONNACK, PUBACK (and PINGRESP) in.

use std::fmt;

/// A packet from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    /// CONNACK: `code` 0 is accepted.
    ConnAck {
        /// The broker kept a session for this client id.
        session_present: bool,
        /// The return code.
        code: u8,
    },
    /// PUBACK for a QoS 1 PUBLISH.
    PubAck {
        /// The PUBLISH's packet id.
        packet_id: u16,
    },
    /// PINGRESP.
    PingResp,
    /// Any other packet type (the high nibble of its first byte); a publisher does not expect one.
    Other(u8),
}

/// The broker's bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The remaining-length field runs past four bytes.
    BadLength,
    /// A CONNACK or PUBACK whose length is not 2.
    BadPacket(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::BadLength => f.write_str("remaining length longer than 4 bytes"),
            CodecError::BadPacket(what) => write!(f, "malformed {what}"),
        }
    }
}

impl std::error::Error for CodecError {}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends a CONNECT with a clean session and no credentials.
pub fn connect(out: &mut Vec<u8>, client_id: &str, keep_alive_secs: u16) {
    out.push(0x10);
    put_len(out, 10 + 2 + client_id.len());
    put_str(out, "MQTT");
    out.push(4); // protocol level 3.1.1
    out.push(0x02); // clean session
    out.extend_from_slice(&keep_alive_secs.to_be_bytes());
    put_str(out, client_id);
}

/// Appends a QoS 1 PUBLISH.
pub fn publish_qos1(out: &mut Vec<u8>, topic: &str, packet_id: u16, payload: &[u8]) {
    out.push(0x32);
    put_len(out, 2 + topic.len() + 2 + payload.len());
    put_str(out, topic);
    out.extend_from_slice(&packet_id.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends a DISCONNECT.
pub fn disconnect(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xE0, 0x00]);
}

/// Splits the broker's byte stream into packets.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Appends bytes received.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, CodecError> {
        let mut len = 0usize;
        let mut header = 1;
        loop {
            let Some(&b) = self.buf.get(header) else { return Ok(None) };
            len += usize::from(b & 0x7F) << (7 * (header - 1));
            header += 1;
            if b & 0x80 == 0 {
                break;
            }
            if header > 4 {
                return Err(CodecError::BadLength);
            }
        }
        if self.buf.len() < header + len {
            return Ok(None);
        }
        let body = &self.buf[header..header + len];
        let two = |what| <[u8; 2]>::try_from(body).map_err(|_| CodecError::BadPacket(what));
        let packet = match self.buf[0] >> 4 {
            2 => {
                let b = two("CONNACK")?;
                Packet::ConnAck { session_present: b[0] & 1 == 1, code: b[1] }
            }
            4 => Packet::PubAck { packet_id: u16::from_be_bytes(two("PUBACK")?) },
            13 => Packet::PingResp,
            t => Packet::Other(t),
        };
        self.buf.drain(..header + len);
        Ok(Some(packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_boundaries() {
        for (n, bytes) in [
            (0, vec![0x00]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (16_384, vec![0x80, 0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!(out, bytes, "{n}");
        }
    }

    #[test]
    fn connect_is_the_3_1_1_layout() {
        let mut out = Vec::new();
        connect(&mut out, "pi-1", 60);
        let want = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 4, b'p', b'i', b'-', b'1'];
        assert_eq!(out, want);
    }

    #[test]
    fn publish_carries_topic_id_and_payload() {
        let mut out = Vec::new();
        publish_qos1(&mut out, "a/b", 0x0102, b"t=1#1");
        assert_eq!(out, [0x32, 12, 0, 3, b'a', b'/', b'b', 1, 2, b't', b'=', b'1', b'#', b'1']);
    }

    #[test]
    fn decodes_packets_split_anywhere() {
        let stream = [0x20, 2, 0, 0, 0x40, 2, 0x12, 0x34, 0xD0, 0, 0x30, 3, 0, 1, b'x'];
        for cut in 0..stream.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                d.extend(part);
                while let Some(p) = d.next_packet().unwrap() {
                    got.push(p);
                }
            }
            assert_eq!(
                got,
                [
                    Packet::ConnAck { session_present: false, code: 0 },
                    Packet::PubAck { packet_id: 0x1234 },
                    Packet::PingResp,
                    Packet::Other(3),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn refuses_malformed_packets() {
        let mut d = Decoder::default();
        d.extend(&[0x40, 3, 0, 1, 2]);
        assert_eq!(d.next_packet(), Err(CodecError::BadPacket("PUBACK")));
        let mut d = Decoder::default();
        d.extend(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        assert_eq!(d.next_packet(), Err(CodecError::BadLength));
    }
}
