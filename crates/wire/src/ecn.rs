//! The ECN field of the IP header (RFC 3168 section 5): the two low bits of the IPv4
//! TOS byte and of the IPv6 Traffic Class, read from and written into a whole datagram.

/// An ECN codepoint (RFC 3168 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ecn {
    /// 00: the transport is not ECN-capable.
    #[default]
    NotEct,
    /// 01: ECN-Capable Transport, ECT(1).
    Ect1,
    /// 10: ECN-Capable Transport, ECT(0) (what RFC 3168 senders, and Linux, use).
    Ect0,
    /// 11: Congestion Experienced, set by a router instead of dropping.
    Ce,
}

impl Ecn {
    /// The codepoint of the two low bits of `bits`.
    pub fn from_bits(bits: u8) -> Ecn {
        match bits & 3 {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// The codepoint's two bits.
    pub fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0,
            Ecn::Ect1 => 1,
            Ecn::Ect0 => 2,
            Ecn::Ce => 3,
        }
    }

    /// ECT(0), ECT(1) or CE: the sender is ECN-capable.
    pub fn is_ect(self) -> bool {
        self != Ecn::NotEct
    }

    /// The codepoint of an IPv4 or IPv6 datagram; `NotEct` for anything too short or of
    /// another version (callers parse the datagram first).
    pub fn of_datagram(datagram: &[u8]) -> Ecn {
        match (datagram.first().map(|b| b >> 4), datagram.get(1)) {
            (Some(4), Some(tos)) => Ecn::from_bits(*tos),
            // The Traffic Class straddles the first two bytes: its low two bits are
            // bits 4 and 5 of the second byte.
            (Some(6), Some(b)) => Ecn::from_bits(b >> 4),
            _ => Ecn::NotEct,
        }
    }

    /// Writes the codepoint into an IPv4 (header checksum updated) or IPv6 datagram's
    /// header; anything else is left alone.
    pub fn set_in(self, datagram: &mut [u8]) {
        match datagram.first().map(|b| b >> 4) {
            Some(4) if datagram.len() >= crate::ipv4::HEADER_LEN => {
                datagram[1] = (datagram[1] & !3) | self.bits();
                let hlen = usize::from(datagram[0] & 0x0f) * 4;
                if hlen >= crate::ipv4::HEADER_LEN && datagram.len() >= hlen {
                    crate::ipv4::Ipv4Packet::new_unchecked(&mut datagram[..hlen]).fill_checksum();
                }
            }
            Some(6) if datagram.len() >= crate::ipv6::HEADER_LEN => {
                datagram[1] = (datagram[1] & !0x30) | (self.bits() << 4);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IpRepr;
    use std::net::IpAddr;

    #[test]
    fn set_and_read_in_both_versions() {
        for (src, dst) in [("10.0.0.1", "10.0.0.2"), ("fd00::1", "fd00::2")] {
            let ip = IpRepr {
                src: src.parse::<IpAddr>().unwrap(),
                dst: dst.parse::<IpAddr>().unwrap(),
                protocol: 6,
                payload_len: 0,
                hop_limit: 64,
            };
            let mut buf = vec![0u8; ip.buffer_len()];
            ip.emit(&mut buf).unwrap();
            assert_eq!(Ecn::of_datagram(&buf), Ecn::NotEct);
            for e in [Ecn::Ect0, Ecn::Ce, Ecn::Ect1, Ecn::NotEct] {
                e.set_in(&mut buf);
                assert_eq!(Ecn::of_datagram(&buf), e);
                // The datagram still parses: the IPv4 checksum was refreshed.
                assert!(IpRepr::parse(&buf).is_ok(), "{e:?} {src}");
            }
        }
    }
}
