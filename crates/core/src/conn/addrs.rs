//! A connection's two socket addresses in 16 bytes instead of the 64 of two `SocketAddr`s
//! (issue 9's memory budget): an IPv4 pair inline in 12, anything else (IPv6, or an
//! IPv4-mapped pair of a dual-stack socket) out of line, exactly as given.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The local and remote socket addresses of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addrs {
    /// Both ends are IPv4 socket addresses.
    V4 {
        local: u32,
        remote: u32,
        /// Local port in the high half, remote port in the low half.
        ports: u32,
    },
    /// Any other pair (IPv6 addresses keep their flow label and scope as given).
    Other(Box<[SocketAddr; 2]>),
}

impl Addrs {
    /// The pair `local`, `remote`.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Addrs {
        match (local, remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => Addrs::V4 {
                local: u32::from(*l.ip()),
                remote: u32::from(*r.ip()),
                ports: (u32::from(l.port()) << 16) | u32::from(r.port()),
            },
            _ => Addrs::Other(Box::new([local, remote])),
        }
    }

    /// The local socket address.
    #[inline]
    pub fn local(&self) -> SocketAddr {
        match self {
            Addrs::V4 { local, ports, .. } => {
                SocketAddrV4::new(Ipv4Addr::from(*local), (ports >> 16) as u16).into()
            }
            Addrs::Other(b) => b[0],
        }
    }

    /// The remote socket address.
    #[inline]
    pub fn remote(&self) -> SocketAddr {
        match self {
            Addrs::V4 { remote, ports, .. } => {
                SocketAddrV4::new(Ipv4Addr::from(*remote), *ports as u16).into()
            }
            Addrs::Other(b) => b[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_come_back_as_given_in_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Addrs>(), 16);
        let cases: [(&str, &str); 4] = [
            ("10.0.0.1:80", "192.168.7.9:65535"),
            ("0.0.0.0:0", "255.255.255.255:1"),
            ("[fe80::1%3]:443", "[2001:db8::2]:50000"),
            ("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:8080"),
        ];
        for (l, r) in cases {
            let (l, r): (SocketAddr, SocketAddr) = (l.parse().unwrap(), r.parse().unwrap());
            let a = Addrs::new(l, r);
            assert_eq!((a.local(), a.remote()), (l, r));
            assert_eq!(matches!(a, Addrs::V4 { .. }), l.is_ipv4() && r.is_ipv4());
        }
    }
}
