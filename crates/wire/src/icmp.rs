//! ICMP (RFC 792) and ICMPv6 (RFC 4443): the messages a host sends and must understand
//! (echo, destination unreachable, packet too big, time exceeded, parameter problem),
//! and the TCP header an error message quotes (RFC 5927 section 4.1 needs its ports and
//! sequence number).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::{be16, be32, put16, Error, Result};

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IPv6 Next Header value of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// ICMP message types (RFC 792).
pub mod v4_type {
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Source Quench (deprecated, RFC 6633).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Echo.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// ICMPv6 message types (RFC 4443).
pub mod v6_type {
    /// Destination Unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet Too Big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 129;
}

/// Destination Unreachable codes of ICMP (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
pub mod v4_unreach {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191: the Next-Hop MTU is given).
    pub const FRAG_NEEDED: u8 = 4;
}

/// Destination Unreachable codes of ICMPv6 (RFC 4443 3.1).
pub mod v6_unreach {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication administratively prohibited.
    pub const ADMIN: u8 = 1;
    /// Beyond scope of source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable.
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
}

/// An ICMP or ICMPv6 message, one representation for both versions: the type numbers
/// differ ([`IcmpRepr::msg_type`]), the meanings are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    /// Echo (request): identifier, sequence number, data.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// The data to echo.
        data: &'a [u8],
    },
    /// Echo Reply.
    EchoReply {
        /// Identifier (the request's).
        ident: u16,
        /// Sequence number (the request's).
        seq: u16,
        /// The request's data.
        data: &'a [u8],
    },
    /// Destination Unreachable, with the start of the datagram that could not go.
    DstUnreachable {
        /// The code ([`v4_unreach`], [`v6_unreach`]).
        code: u8,
        /// ICMP's Next-Hop MTU (RFC 1191 4) for code 4; 0 otherwise and in ICMPv6.
        mtu: u16,
        /// The invoking datagram, as much as was quoted.
        invoking: &'a [u8],
    },
    /// ICMPv6 Packet Too Big (RFC 4443 3.2).
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
        /// The invoking datagram, as much as was quoted.
        invoking: &'a [u8],
    },
    /// Time Exceeded (TTL or hop limit, or reassembly).
    TimeExceeded {
        /// The code.
        code: u8,
        /// The invoking datagram, as much as was quoted.
        invoking: &'a [u8],
    },
    /// Parameter Problem.
    ParamProblem {
        /// The code (ICMPv6 1: unrecognized Next Header).
        code: u8,
        /// The offset of the problem (ICMP: 8 bits, ICMPv6: 32 bits).
        pointer: u32,
        /// The invoking datagram, as much as was quoted.
        invoking: &'a [u8],
    },
    /// Any other message, kept by type and code (counted, otherwise ignored).
    Other {
        /// The type.
        msg_type: u8,
        /// The code.
        code: u8,
    },
}

impl<'a> IcmpRepr<'a> {
    /// Parses an ICMP message (`v6` false; the checksum covers the message, RFC 792) or
    /// an ICMPv6 message (`v6` true; the checksum covers the pseudo-header too, RFC 4443
    /// 2.3). Fewer than 8 bytes is `Err(Truncated)`, a bad checksum `Err(Checksum)`.
    pub fn parse(v6: bool, src: &IpAddr, dst: &IpAddr, msg: &'a [u8]) -> Result<IcmpRepr<'a>> {
        if msg.len() < 8 {
            return Err(Error::Truncated);
        }
        let mut acc = checksum::sum(msg);
        if v6 {
            let len = u32::try_from(msg.len()).map_err(|_| Error::Malformed)?;
            acc += checksum::pseudo_header_sum(src, dst, IPPROTO_ICMPV6, len);
        }
        if checksum::fold(acc) != 0xffff {
            return Err(Error::Checksum);
        }
        let (t, code) = (msg[0], msg[1]);
        let body = &msg[8..];
        let echo = || (be16(msg, 4), be16(msg, 6));
        Ok(match (v6, t) {
            (false, v4_type::ECHO_REQUEST) | (true, v6_type::ECHO_REQUEST) => {
                let (ident, seq) = echo();
                IcmpRepr::EchoRequest {
                    ident,
                    seq,
                    data: body,
                }
            }
            (false, v4_type::ECHO_REPLY) | (true, v6_type::ECHO_REPLY) => {
                let (ident, seq) = echo();
                IcmpRepr::EchoReply {
                    ident,
                    seq,
                    data: body,
                }
            }
            (false, v4_type::DST_UNREACHABLE) => IcmpRepr::DstUnreachable {
                code,
                mtu: if code == v4_unreach::FRAG_NEEDED {
                    be16(msg, 6)
                } else {
                    0
                },
                invoking: body,
            },
            (true, v6_type::DST_UNREACHABLE) => IcmpRepr::DstUnreachable {
                code,
                mtu: 0,
                invoking: body,
            },
            (true, v6_type::PACKET_TOO_BIG) => IcmpRepr::PacketTooBig {
                mtu: be32(msg, 4),
                invoking: body,
            },
            (false, v4_type::TIME_EXCEEDED) | (true, v6_type::TIME_EXCEEDED) => {
                IcmpRepr::TimeExceeded {
                    code,
                    invoking: body,
                }
            }
            (false, v4_type::PARAM_PROBLEM) => IcmpRepr::ParamProblem {
                code,
                pointer: u32::from(msg[4]),
                invoking: body,
            },
            (true, v6_type::PARAM_PROBLEM) => IcmpRepr::ParamProblem {
                code,
                pointer: be32(msg, 4),
                invoking: body,
            },
            _ => IcmpRepr::Other { msg_type: t, code },
        })
    }

    /// The message's type number in ICMP (`v6` false) or ICMPv6 (`v6` true); a Packet
    /// Too Big has no ICMP type and reads as Destination Unreachable there.
    pub fn msg_type(&self, v6: bool) -> u8 {
        match (self, v6) {
            (IcmpRepr::EchoRequest { .. }, false) => v4_type::ECHO_REQUEST,
            (IcmpRepr::EchoRequest { .. }, true) => v6_type::ECHO_REQUEST,
            (IcmpRepr::EchoReply { .. }, false) => v4_type::ECHO_REPLY,
            (IcmpRepr::EchoReply { .. }, true) => v6_type::ECHO_REPLY,
            (IcmpRepr::DstUnreachable { .. }, false) => v4_type::DST_UNREACHABLE,
            (IcmpRepr::DstUnreachable { .. }, true) => v6_type::DST_UNREACHABLE,
            (IcmpRepr::PacketTooBig { .. }, false) => v4_type::DST_UNREACHABLE,
            (IcmpRepr::PacketTooBig { .. }, true) => v6_type::PACKET_TOO_BIG,
            (IcmpRepr::TimeExceeded { .. }, false) => v4_type::TIME_EXCEEDED,
            (IcmpRepr::TimeExceeded { .. }, true) => v6_type::TIME_EXCEEDED,
            (IcmpRepr::ParamProblem { .. }, false) => v4_type::PARAM_PROBLEM,
            (IcmpRepr::ParamProblem { .. }, true) => v6_type::PARAM_PROBLEM,
            (IcmpRepr::Other { msg_type, .. }, _) => *msg_type,
        }
    }

    /// Whether this is an error message (one that must never be answered with another,
    /// RFC 1122 3.2.2 and RFC 4443 2.4 (e.1)).
    pub fn is_error(&self) -> bool {
        match self {
            IcmpRepr::EchoRequest { .. } | IcmpRepr::EchoReply { .. } => false,
            // ICMPv6 error types are below 128 (RFC 4443 2.1); ICMP's errors are 3, 4,
            // 5, 11 and 12.
            IcmpRepr::Other { msg_type, .. } => matches!(msg_type, 4 | 5),
            _ => true,
        }
    }

    /// The length of the message [`IcmpRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        8 + match self {
            IcmpRepr::EchoRequest { data, .. } | IcmpRepr::EchoReply { data, .. } => data.len(),
            IcmpRepr::DstUnreachable { invoking, .. }
            | IcmpRepr::PacketTooBig { invoking, .. }
            | IcmpRepr::TimeExceeded { invoking, .. }
            | IcmpRepr::ParamProblem { invoking, .. } => invoking.len(),
            IcmpRepr::Other { .. } => 0,
        }
    }

    /// Writes the message into `buf[..buffer_len()]` with its checksum (for ICMPv6 over
    /// the pseudo-header of `src` and `dst`), returning its length. `Err(Truncated)` if
    /// `buf` is too short.
    pub fn emit(&self, v6: bool, src: &IpAddr, dst: &IpAddr, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::Truncated)?;
        buf[..8].fill(0);
        buf[0] = self.msg_type(v6);
        let body: &[u8] = match *self {
            IcmpRepr::EchoRequest { ident, seq, data }
            | IcmpRepr::EchoReply { ident, seq, data } => {
                put16(buf, 4, ident);
                put16(buf, 6, seq);
                data
            }
            IcmpRepr::DstUnreachable {
                code,
                mtu,
                invoking,
            } => {
                buf[1] = code;
                if !v6 {
                    put16(buf, 6, mtu);
                }
                invoking
            }
            IcmpRepr::PacketTooBig { mtu, invoking } => {
                if v6 {
                    buf[4..8].copy_from_slice(&mtu.to_be_bytes());
                } else {
                    buf[1] = v4_unreach::FRAG_NEEDED;
                    put16(buf, 6, u16::try_from(mtu).unwrap_or(u16::MAX));
                }
                invoking
            }
            IcmpRepr::TimeExceeded { code, invoking } => {
                buf[1] = code;
                invoking
            }
            IcmpRepr::ParamProblem {
                code,
                pointer,
                invoking,
            } => {
                buf[1] = code;
                if v6 {
                    buf[4..8].copy_from_slice(&pointer.to_be_bytes());
                } else {
                    buf[4] = pointer.min(255) as u8;
                }
                invoking
            }
            IcmpRepr::Other { code, .. } => {
                buf[1] = code;
                &[]
            }
        };
        buf[8..].copy_from_slice(body);
        let mut acc = checksum::sum(buf);
        if v6 {
            let l = u32::try_from(len).map_err(|_| Error::Malformed)?;
            acc += checksum::pseudo_header_sum(src, dst, IPPROTO_ICMPV6, l);
        }
        put16(buf, 2, !checksum::fold(acc));
        Ok(len)
    }
}

/// What an ICMP error quotes of a TCP segment we sent (RFC 792: the IP header and the
/// first 8 bytes of its payload; RFC 4443 3: as much as fits): enough to find the
/// connection and check the sequence number (RFC 5927 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp {
    /// The quoted datagram's source: our address.
    pub src: IpAddr,
    /// The quoted datagram's destination: the peer.
    pub dst: IpAddr,
    /// Our port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// The quoted segment's sequence number.
    pub seq: u32,
    /// The quoted datagram's total length (IPv4 total length, or 40 plus the IPv6
    /// payload length), as it left.
    pub total_len: usize,
}

impl QuotedTcp {
    /// Reads the quoted datagram of an ICMP error. `None` unless it is an IP datagram of
    /// the expected version carrying TCP (IPv6 extension headers are not walked: synack
    /// sends none) with at least 8 bytes of the TCP header. The quote is usually
    /// truncated, so lengths and checksums cannot be checked.
    pub fn parse(v6: bool, invoking: &[u8]) -> Option<QuotedTcp> {
        let first = *invoking.first()?;
        let (src, dst, hlen, proto, total) = if v6 {
            if first >> 4 != 6 || invoking.len() < 48 {
                return None;
            }
            let a = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&invoking[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            (
                a(8),
                a(24),
                40,
                invoking[6],
                40 + usize::from(be16(invoking, 4)),
            )
        } else {
            let hlen = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 || hlen < 20 || invoking.len() < hlen + 8 {
                return None;
            }
            let a = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    invoking[at],
                    invoking[at + 1],
                    invoking[at + 2],
                    invoking[at + 3],
                ))
            };
            (
                a(12),
                a(16),
                hlen,
                invoking[9],
                usize::from(be16(invoking, 2)),
            )
        };
        if proto != crate::IPPROTO_TCP {
            return None;
        }
        let tcp = &invoking[hlen..];
        Some(QuotedTcp {
            src,
            dst,
            src_port: be16(tcp, 0),
            dst_port: be16(tcp, 2),
            seq: be32(tcp, 4),
            total_len: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn echo_round_trips_in_both_versions() {
        for (v6, a, b) in [
            (false, v4("10.0.0.1"), v4("10.0.0.2")),
            (true, v4("fd00::1"), v4("fd00::2")),
        ] {
            let req = IcmpRepr::EchoRequest {
                ident: 0x1234,
                seq: 7,
                data: b"abcdefgh",
            };
            let mut buf = [0u8; 64];
            let n = req.emit(v6, &a, &b, &mut buf).unwrap();
            assert_eq!(n, 16);
            assert_eq!(IcmpRepr::parse(v6, &a, &b, &buf[..n]), Ok(req));
            buf[9] ^= 1;
            assert_eq!(IcmpRepr::parse(v6, &a, &b, &buf[..n]), Err(Error::Checksum));
        }
        assert_eq!(
            IcmpRepr::parse(false, &v4("10.0.0.1"), &v4("10.0.0.2"), &[8, 0, 0]),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn frag_needed_carries_the_mtu_and_the_quote() {
        // A quoted IPv4+TCP header: 10.0.0.1:1000 -> 10.0.0.2:80, seq 0x01020304.
        let mut quote = [0u8; 28];
        quote[0] = 0x45;
        quote[2..4].copy_from_slice(&1500u16.to_be_bytes());
        quote[9] = 6;
        quote[12..16].copy_from_slice(&[10, 0, 0, 1]);
        quote[16..20].copy_from_slice(&[10, 0, 0, 2]);
        quote[20..22].copy_from_slice(&1000u16.to_be_bytes());
        quote[22..24].copy_from_slice(&80u16.to_be_bytes());
        quote[24..28].copy_from_slice(&[1, 2, 3, 4]);
        let m = IcmpRepr::DstUnreachable {
            code: v4_unreach::FRAG_NEEDED,
            mtu: 1280,
            invoking: &quote,
        };
        let (a, b) = (v4("192.0.2.1"), v4("10.0.0.1"));
        let mut buf = [0u8; 64];
        let n = m.emit(false, &a, &b, &mut buf).unwrap();
        let parsed = IcmpRepr::parse(false, &a, &b, &buf[..n]).unwrap();
        assert_eq!(parsed, m);
        let IcmpRepr::DstUnreachable { invoking, .. } = parsed else {
            unreachable!()
        };
        let q = QuotedTcp::parse(false, invoking).unwrap();
        assert_eq!(
            (q.src, q.dst, q.src_port, q.dst_port, q.seq, q.total_len),
            (v4("10.0.0.1"), v4("10.0.0.2"), 1000, 80, 0x01020304, 1500)
        );
        assert_eq!(QuotedTcp::parse(false, &quote[..27]), None);
        assert_eq!(QuotedTcp::parse(true, &quote), None);
    }
}
