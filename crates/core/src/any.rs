//! Any-address termination: which destinations an any-address listener
//! ([`Stack::listen_any`](crate::Stack::listen_any)) takes.
//!
//! A VPN client or a tun-to-proxy tool routes whole networks into its device and wants
//! every TCP flow to any address in them terminated by its own program, as Linux does
//! with `TPROXY` or an `IP_TRANSPARENT` listener: the connection's local address is the
//! destination the peer connected to, so the program can tell where the flow was going.

use std::net::{IpAddr, SocketAddr};

/// An address prefix: `addr/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The network address (bits past `len` are ignored).
    pub addr: IpAddr,
    /// The prefix length (0 to 32 for IPv4, 0 to 128 for IPv6).
    pub len: u8,
}

impl Prefix {
    /// `addr/len`, or `None` when `len` is too long for the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(Prefix { addr, len })
    }

    /// Whether `ip` is in the prefix (never for the other family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(a)) << 96,
                32,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let len = u32::from(self.len.min(bits));
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        (net ^ ip) & mask == 0
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a host prefix).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}`: not an address prefix (e.g. 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Prefix { addr, len })
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Which destinations an any-address listener takes: a destination matches when its
/// address is in one of the prefixes (or there are none: every address) and its port in
/// one of the port ranges (or there are none: every port).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnyFilter {
    /// Destination address prefixes; empty takes every address.
    pub prefixes: Vec<Prefix>,
    /// Destination port ranges, both ends included; empty takes every port.
    pub ports: Vec<(u16, u16)>,
}

impl AnyFilter {
    /// A filter taking every destination.
    pub fn all() -> AnyFilter {
        AnyFilter::default()
    }

    /// Adds a destination prefix.
    pub fn prefix(mut self, p: Prefix) -> AnyFilter {
        self.prefixes.push(p);
        self
    }

    /// Adds a destination port range (`lo..=hi`).
    pub fn ports(mut self, lo: u16, hi: u16) -> AnyFilter {
        self.ports.push((lo.min(hi), lo.max(hi)));
        self
    }

    /// Whether the filter takes destination address `ip` (whatever the port).
    pub fn takes_addr(&self, ip: IpAddr) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| p.contains(ip))
    }

    /// Whether the filter takes destination `dst`.
    pub fn takes(&self, dst: &SocketAddr) -> bool {
        self.takes_addr(dst.ip())
            && (self.ports.is_empty()
                || self
                    .ports
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&dst.port())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_their_bits_only() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap();
        assert!(p.contains("10.1.200.3".parse().unwrap()));
        assert!(!p.contains("10.2.0.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let host: Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(host.len, 128);
        assert!(host.contains("2001:db8::1".parse().unwrap()));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("ten/8".parse::<Prefix>().is_err());
    }

    #[test]
    fn filters_need_address_and_port() {
        let f = AnyFilter::all()
            .prefix("198.51.100.0/24".parse().unwrap())
            .ports(80, 80)
            .ports(8000, 8100);
        assert!(f.takes(&"198.51.100.7:80".parse().unwrap()));
        assert!(f.takes(&"198.51.100.7:8050".parse().unwrap()));
        assert!(!f.takes(&"198.51.100.7:81".parse().unwrap()));
        assert!(!f.takes(&"198.51.101.7:80".parse().unwrap()));
        assert!(AnyFilter::all().takes(&"[2001:db8::9]:1".parse().unwrap()));
    }
}
