//! Address ranges as operators write them (`127.0.0.0/8`, `10.1.2.3`, `::1`, `fd00::/8`), for the
//! addresses the failed-login brake leaves alone (`--auth-exempt`, as fail2ban's `ignoreip`).

use std::fmt;
use std::net::{AddrParseError, IpAddr};

/// Why a text is not a range (or a list of them); the message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before any `/` is not an IPv4 or IPv6 address.
    #[error("{text:?} is not an address or ADDR/BITS range")]
    NotAnAddress {
        /// The range as written.
        text: String,
        /// Why the address does not parse.
        source: AddrParseError,
    },
    /// The part after the `/` is not a number of bits the address has.
    #[error("{text:?}: the prefix must be 0 to {width}")]
    Prefix {
        /// The range as written.
        text: String,
        /// The address's bits (32 or 128).
        width: u8,
    },
    /// The address has bits set past the prefix (a typo, most likely).
    #[error("{text:?} has bits set past /{prefix}: did you mean {masked}?")]
    HostBits {
        /// The range as written.
        text: String,
        /// Its prefix.
        prefix: u8,
        /// The range with those bits cleared.
        masked: Cidr,
    },
    /// A list with an empty part (`a,,b`, a trailing comma, nothing at all).
    #[error("{text:?}: expected CIDR[,CIDR...] or none")]
    List {
        /// The list as written.
        text: String,
    },
}

/// One range: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/BITS` or a bare `ADDR` (all its bits). Host bits past the prefix are refused
    /// (`127.0.0.1/8` is most likely a typo for `127.0.0.0/8` or `127.0.0.1/32`).
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let text = text.trim();
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr =
            addr_text.parse().map_err(|source| CidrError::NotAnAddress { text: text.to_owned(), source })?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(CidrError::Prefix { text: text.to_owned(), width }),
            },
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(CidrError::HostBits { text: text.to_owned(), prefix, masked: cidr.masked() });
        }
        Ok(cidr)
    }

    /// Parses the flag's value: ranges separated by commas (spaces allowed), or `none`.
    pub fn parse_list(text: &str) -> Result<Vec<Cidr>, CidrError> {
        if text.trim().eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(CidrError::List { text: text.to_owned() });
        }
        parts.into_iter().map(Cidr::parse).collect()
    }

    /// Whether `ip` is in the range. An IPv4 client of a server listening on `[::]` arrives as
    /// `::ffff:a.b.c.d`: it is matched as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> u128 {
            match ip {
                IpAddr::V4(v4) => u32::from(v4) as u128,
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        let ip = ip.to_canonical();
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let shift = width - u32::from(self.prefix);
        if shift >= 128 {
            return true;
        }
        bits(ip) >> shift == bits(self.addr) >> shift
    }

    fn network(&self) -> IpAddr {
        self.masked().addr
    }

    fn masked(&self) -> Cidr {
        let keep = |width: u32| -> u128 {
            match width - u32::from(self.prefix) {
                s if s >= 128 => 0,
                s => (u128::MAX >> (128 - width)) >> s << s,
            }
        };
        let addr = match self.addr {
            IpAddr::V4(v4) => IpAddr::V4(((u32::from(v4) as u128 & keep(32)) as u32).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & keep(128)).into()),
        };
        Cidr { addr, prefix: self.prefix }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == width {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_they_say() {
        let lo = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(lo.contains(ip("127.0.0.1")) && lo.contains(ip("127.255.0.9")));
        assert!(!lo.contains(ip("128.0.0.1")) && !lo.contains(ip("::1")));
        assert!(lo.contains(ip("::ffff:127.0.0.2")), "an IPv4 client of an IPv6 listener");
        let one = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = Cidr::parse("::1").unwrap();
        assert!(v6.contains(ip("::1")) && !v6.contains(ip("::2")) && !v6.contains(ip("127.0.0.1")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("2001:db8::1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::3")));
        assert!(Cidr::parse("10.1.2.0/23").unwrap().contains(ip("10.1.3.200")));
        assert!(!Cidr::parse("10.1.2.0/23").unwrap().contains(ip("10.1.4.0")));
    }

    #[test]
    fn lists_parse_and_mistakes_are_explained() {
        let l = Cidr::parse_list("127.0.0.0/8, ::1").unwrap();
        assert_eq!(l.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["127.0.0.0/8", "::1"]);
        assert_eq!(Cidr::parse_list("none").unwrap(), []);
        assert_eq!(Cidr::parse_list("NONE").unwrap(), []);
        assert!(Cidr::parse_list("").unwrap_err().to_string().contains("CIDR[,CIDR...] or none"));
        assert!(Cidr::parse_list("127.0.0.0/8,").is_err());
        assert!(Cidr::parse("127.0.0.1/8").unwrap_err().to_string().contains("did you mean 127.0.0.0/8?"));
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().to_string().contains("0 to 32"));
        assert!(Cidr::parse("localhost").unwrap_err().to_string().contains("not an address"));
        assert!(Cidr::parse("::1/129").is_err());
    }
}
