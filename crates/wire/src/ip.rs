//! [`IpRepr`]: the validated IP layer, one type for IPv4 and IPv6.

use std::net::IpAddr;

use crate::ipv4::{self, Ipv4Packet};
use crate::ipv6::{self, next_header, Ipv6Packet};
use crate::{Error, Result};

/// The IP header fields the TCP engine needs, for either IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRepr {
    /// Source address.
    pub src: IpAddr,
    /// Destination address (same version as `src`).
    pub dst: IpAddr,
    /// Upper-layer protocol (IPv4 Protocol, or the IPv6 Next Header after extension headers).
    pub protocol: u8,
    /// Length of the upper-layer payload in bytes (after any options or extension headers).
    pub payload_len: usize,
    /// IPv4 TTL or IPv6 hop limit.
    pub hop_limit: u8,
}

impl IpRepr {
    /// Parses a whole datagram and returns the repr and the upper-layer payload.
    ///
    /// IPv4: checks the version, header length, header checksum (`Err(Checksum)`) and total
    /// length (RFC 791 3.1); trailing bytes beyond the total length are ignored, as Linux
    /// trims them; options are skipped; fragments (MF set or a nonzero offset) give
    /// `Err(Unsupported)`.
    ///
    /// IPv6: checks the version and payload length (RFC 8200 3), then walks Hop-by-Hop,
    /// Routing and Destination Options extension headers to the upper layer (RFC 8200 4);
    /// a Fragment header gives `Err(Unsupported)`, a Hop-by-Hop header anywhere but first
    /// (RFC 8200 4.1) or an extension header running past the payload `Err(Malformed)`.
    ///
    /// An empty buffer is `Err(Truncated)`; any version nibble other than 4 or 6 is
    /// `Err(Malformed)`.
    pub fn parse(datagram: &[u8]) -> Result<(IpRepr, &[u8])> {
        match datagram.first().map(|b| b >> 4) {
            None => Err(Error::Truncated),
            Some(4) => Self::parse_v4(datagram),
            Some(6) => Self::parse_v6(datagram),
            Some(_) => Err(Error::Malformed),
        }
    }

    fn parse_v4(datagram: &[u8]) -> Result<(IpRepr, &[u8])> {
        // The fixed header read once as an array (no bounds check per field), with
        // Ipv4Packet::check_len's checks in its order (the version is 4: the caller
        // dispatched on it).
        let Some(h) = datagram.first_chunk::<{ ipv4::HEADER_LEN }>() else {
            return Err(Error::Truncated);
        };
        let hlen = usize::from(h[0] & 0x0f) * 4;
        if hlen < ipv4::HEADER_LEN {
            return Err(Error::Malformed);
        }
        if hlen > datagram.len() {
            return Err(Error::Truncated);
        }
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if total < hlen {
            return Err(Error::Malformed);
        }
        if total > datagram.len() {
            return Err(Error::Truncated);
        }
        let p = Ipv4Packet::new_unchecked(datagram);
        if !p.verify_checksum() {
            return Err(Error::Checksum);
        }
        if p.is_fragment() {
            return Err(Error::Unsupported);
        }
        let payload = &datagram[hlen..total];
        let addr = |at: usize| std::net::Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]);
        let repr = IpRepr {
            src: IpAddr::V4(addr(12)),
            dst: IpAddr::V4(addr(16)),
            protocol: h[9],
            payload_len: payload.len(),
            hop_limit: h[8],
        };
        Ok((repr, payload))
    }

    fn parse_v6(datagram: &[u8]) -> Result<(IpRepr, &[u8])> {
        let p = Ipv6Packet::new_checked(datagram)?;
        let end = ipv6::HEADER_LEN + usize::from(p.payload_len());
        let mut rest = &datagram[ipv6::HEADER_LEN..end];
        let mut nh = p.next_header();
        let mut first = true;
        // Each extension header is at least 8 bytes long, so this loop ends.
        loop {
            match nh {
                next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS => {
                    if nh == next_header::HOP_BY_HOP && !first {
                        return Err(Error::Malformed);
                    }
                    // RFC 8200 4.3-4.6: Next Header, then Hdr Ext Len in 8-octet units
                    // not counting the first 8 octets.
                    if rest.len() < 2 {
                        return Err(Error::Truncated);
                    }
                    let len = (usize::from(rest[1]) + 1) * 8;
                    if len > rest.len() {
                        return Err(Error::Truncated);
                    }
                    nh = rest[0];
                    rest = &rest[len..];
                }
                next_header::FRAGMENT => return Err(Error::Unsupported),
                _ => break,
            }
            first = false;
        }
        let repr = IpRepr {
            src: IpAddr::V6(p.src_addr()),
            dst: IpAddr::V6(p.dst_addr()),
            protocol: nh,
            payload_len: rest.len(),
            hop_limit: p.hop_limit(),
        };
        Ok((repr, rest))
    }

    /// Length of the header [`emit`](Self::emit) writes: 20 for IPv4, 40 for IPv6
    /// (no options or extension headers are emitted). Decided by `src`'s version.
    pub fn header_len(&self) -> usize {
        match self.src {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN,
        }
    }

    /// Length of the whole datagram: `header_len() + payload_len`.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header into `buf[..header_len()]` and returns `header_len()`.
    ///
    /// IPv4: DF set, ID 0 (as Linux does for DF datagrams), TOS 0, TTL `hop_limit`,
    /// checksum filled. IPv6: traffic class 0, flow label 0. The payload is not touched.
    ///
    /// `Err(Truncated)` if `buf` is shorter than the header; `Err(Malformed)` if `src` and
    /// `dst` differ in version or the payload does not fit the 16-bit length field.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let hlen = self.header_len();
        let buf = buf.get_mut(..hlen).ok_or(Error::Truncated)?;
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
                // The header built whole (RFC 791 3.1: version 4, IHL 5, TOS 0, total
                // length, ID 0, DF, TTL, protocol, checksum, addresses), summed, then
                // written once.
                let [l0, l1] = total.to_be_bytes();
                let [s0, s1, s2, s3] = src.octets();
                let [d0, d1, d2, d3] = dst.octets();
                let mut h = [
                    0x45,
                    0,
                    l0,
                    l1,
                    0,
                    0,
                    0x40,
                    0,
                    self.hop_limit,
                    self.protocol,
                    0,
                    0,
                    s0,
                    s1,
                    s2,
                    s3,
                    d0,
                    d1,
                    d2,
                    d3,
                ];
                let sum = crate::checksum::ipv4_header_checksum(&h);
                h[10..12].copy_from_slice(&sum.to_be_bytes());
                buf.copy_from_slice(&h);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let len = u16::try_from(self.payload_len).map_err(|_| Error::Malformed)?;
                buf.fill(0);
                let mut p = Ipv6Packet::new_unchecked(buf);
                p.set_version(6);
                p.set_payload_len(len);
                p.set_next_header(self.protocol);
                p.set_hop_limit(self.hop_limit);
                p.set_src_addr(src);
                p.set_dst_addr(dst);
            }
            _ => return Err(Error::Malformed),
        }
        Ok(hlen)
    }
}
