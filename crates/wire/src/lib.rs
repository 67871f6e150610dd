//! synack's wire format: IPv4, IPv6, TCP and ICMP/ICMPv6, their checksums, and a tcpdump-like display.
//!
//! # Design
//!
//! Two layers, in the style of smoltcp's wire module:
//!
//! - **Views** ([`ipv4::Ipv4Packet`], [`ipv6::Ipv6Packet`], [`TcpPacket`]) wrap any
//!   `T: AsRef<[u8]>` and read or write header fields in place, with no copy. A view built
//!   with `new_checked` has had its lengths validated, so none of its accessors can panic
//!   afterwards; `new_unchecked` skips that and is for buffers the caller just sized.
//! - **Representations** ([`IpRepr`], [`TcpRepr`], [`TcpOptions`]) are the validated,
//!   host-order form the engine works with. `parse` checks everything a receiver must check
//!   (lengths, versions, checksums, impossible flag combinations) and `emit` writes a
//!   complete header in place into the caller's buffer. Impossible flag mixes such as
//!   SYN+RST cannot be represented at all ([`Control`] holds at most one of them).
//!
//! Nothing here allocates (but [`gso::segment`], into the caller's scratch buffer), and no input, however malformed, makes parsing panic: bad bytes
//! give an [`Error`]. Option layout on emit is exactly Linux's (`tcp_options_write`) so that
//! Linux packetdrill scripts match byte for byte, and [`SegmentDisplay`] prints a segment the
//! way `tcpdump -n` does.
//!
//! The whole-datagram helpers [`parse_datagram`] and [`emit_datagram`] are what the engine
//! calls on its input and output paths.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use std::net::IpAddr;

pub mod checksum;
pub mod display;
pub mod ecn;
pub mod gso;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod seq;
pub mod tcp;

pub use display::SegmentDisplay;
pub use ecn::Ecn;
pub use ip::IpRepr;
pub use seq::SeqNum;
pub use tcp::{
    Control, FastOpenCookie, SackBlock, SackBlocks, TcpOption, TcpOptionIter, TcpOptions,
    TcpPacket, TcpRepr, Timestamp,
};

/// IP protocol number of TCP (the IPv4 Protocol / IPv6 Next Header value).
pub const IPPROTO_TCP: u8 = 6;

/// Why a packet could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than a header, or than a length field says it should be.
    Truncated,
    /// A field holds a value no valid packet can carry (bad version, header length,
    /// option length, flag combination, zero port, ...).
    Malformed,
    /// The checksum does not match the contents.
    Checksum,
    /// A well-formed packet that synack does not handle: IP fragments (IPv4 MF or offset,
    /// IPv6 Fragment header), or an upper-layer protocol other than TCP.
    Unsupported,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet: buffer shorter than the header or length field",
            Error::Malformed => "malformed packet: a header field holds an invalid value",
            Error::Checksum => "bad checksum: the packet's checksum does not match its contents",
            Error::Unsupported => {
                "unsupported packet: fragment, non-TCP protocol or unhandled extension header"
            }
        })
    }
}

impl std::error::Error for Error {}

/// Result type of this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Writes a whole IP datagram carrying `tcp` into `buf` and returns its length.
///
/// The IP header comes from [`IpRepr::emit`] (IPv4: DF set, ID 0, TTL `hop_limit`;
/// IPv6: traffic class and flow label 0), followed by the TCP segment with its checksum.
/// `src` and `dst` must be the same IP version, else `Err(Malformed)`; a `buf` too short
/// for the datagram gives `Err(Truncated)` and nothing meaningful is written.
pub fn emit_datagram(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    tcp: &TcpRepr<'_>,
) -> Result<usize> {
    let ip = IpRepr {
        src,
        dst,
        protocol: IPPROTO_TCP,
        payload_len: tcp.buffer_len(),
        hop_limit,
    };
    let total = ip.buffer_len();
    if buf.len() < total {
        return Err(Error::Truncated);
    }
    let hlen = ip.emit(buf)?;
    tcp.emit(&mut buf[hlen..total], &src, &dst)?;
    Ok(total)
}

/// Parses a whole IP datagram carrying TCP: [`IpRepr::parse`], then [`TcpRepr::parse`].
///
/// A protocol other than TCP gives `Err(Unsupported)`. `verify_checksum` controls the TCP
/// checksum only; the IPv4 header checksum is always verified (it is always computed, even
/// by devices that offload the TCP checksum).
pub fn parse_datagram(datagram: &[u8], verify_checksum: bool) -> Result<(IpRepr, TcpRepr<'_>)> {
    let (ip, payload) = IpRepr::parse(datagram)?;
    if ip.protocol != IPPROTO_TCP {
        return Err(Error::Unsupported);
    }
    let tcp = TcpRepr::parse(payload, &ip.src, &ip.dst, verify_checksum)?;
    Ok((ip, tcp))
}

/// Reads a big-endian u16 at `at`. Callers guarantee `at + 2 <= b.len()`.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`. Callers guarantee `at + 4 <= b.len()`.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a big-endian u16 at `at`. Callers guarantee `at + 2 <= b.len()`.
#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian u32 at `at`. Callers guarantee `at + 4 <= b.len()`.
#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
