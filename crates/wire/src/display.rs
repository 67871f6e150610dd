//! A tcpdump-like one-line rendering of a TCP segment.
//!
//! The format is that of `tcpdump -n` after its timestamp and `IP`/`IP6` prefix:
//!
//! ```text
//! 10.0.0.1.49152 > 10.0.0.2.80: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
//! 10.0.0.1.49152 > 10.0.0.2.80: Flags [P.], seq 1:101, ack 1, win 502, options [nop,nop,TS val 3 ecr 2], length 100
//! ```
//!
//! As in tcpdump's `print-tcp.c`: the flags print in the order `F S R P . U E W`
//! (`.` is ACK; no flags at all print `none`); `seq` is shown only when the segment carries
//! data or SYN, FIN or RST, as `seq N` or `seq N:N+len`; `ack` only with the ACK flag;
//! `urg` only with URG; `options [...]` only when there are option bytes.

use core::fmt;
use std::net::IpAddr;

use crate::tcp::{flags, Control, TcpOption, TcpPacket, TcpRepr, MAX_OPTIONS_LEN};
use crate::{IpRepr, Result, SeqNum, IPPROTO_TCP};

/// Where the option bytes come from.
#[derive(Debug, Clone, Copy)]
enum Options<'a> {
    /// Raw bytes from a datagram, printed in wire order.
    Raw(&'a [u8]),
    /// Bytes emitted from a repr in Linux's layout.
    Built([u8; MAX_OPTIONS_LEN], u8),
}

impl Options<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Options::Raw(b) => b,
            Options::Built(b, n) => &b[..usize::from(*n)],
        }
    }
}

/// One segment, ready to print as tcpdump does (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct SegmentDisplay<'a> {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    flags: u8,
    seq: SeqNum,
    ack: SeqNum,
    window: u16,
    urgent: u16,
    payload_len: usize,
    options: Options<'a>,
    relative: Option<(SeqNum, SeqNum)>,
}

impl<'a> SegmentDisplay<'a> {
    /// Display for a validated segment. Options print in the layout
    /// [`TcpRepr::emit`] would put on the wire.
    pub fn new(ip: &IpRepr, tcp: &TcpRepr<'_>) -> Self {
        let mut bytes = [0u8; MAX_OPTIONS_LEN];
        let n = tcp
            .options
            .emit(tcp.control == Control::Syn, &mut bytes[..]);
        SegmentDisplay {
            src: ip.src,
            dst: ip.dst,
            src_port: tcp.src_port,
            dst_port: tcp.dst_port,
            flags: tcp.flags(),
            seq: tcp.seq,
            ack: tcp.ack.unwrap_or_default(),
            window: tcp.window,
            urgent: tcp.urgent.unwrap_or(0),
            payload_len: tcp.payload.len(),
            options: Options::Built(bytes, n as u8),
            relative: None,
        }
    }

    /// Display for a raw IP datagram carrying TCP, keeping the option bytes as they are so
    /// they print in wire order. Only the IP layer and the TCP header's lengths are
    /// validated: segments [`TcpRepr::parse`] would reject (SYN+FIN, port 0, bad TCP
    /// checksum) still display. A non-TCP datagram is `Err(Unsupported)`.
    pub fn from_datagram(datagram: &'a [u8]) -> Result<SegmentDisplay<'a>> {
        let (ip, payload) = IpRepr::parse(datagram)?;
        if ip.protocol != IPPROTO_TCP {
            return Err(crate::Error::Unsupported);
        }
        let p = TcpPacket::new_checked(payload)?;
        let hlen = p.header_len();
        Ok(SegmentDisplay {
            src: ip.src,
            dst: ip.dst,
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            flags: p.flags(),
            seq: p.seq_number(),
            ack: p.ack_number(),
            window: p.window_len(),
            urgent: p.urgent_at(),
            payload_len: payload.len() - hlen,
            options: Options::Raw(&payload[crate::tcp::HEADER_LEN..hlen]),
            relative: None,
        })
    }

    /// Prints sequence numbers relative to the initial sequence numbers of this segment's
    /// sender (`isn_src`) and receiver (`isn_dst`), as tcpdump does by default: `seq` and
    /// `ack` become `seq - isn_src` and `ack - isn_dst`, and SACK edges `edge - isn_dst`.
    /// Like tcpdump, segments with SYN set still print absolute numbers.
    pub fn relative(mut self, isn_src: SeqNum, isn_dst: SeqNum) -> Self {
        self.relative = Some((isn_src, isn_dst));
        self
    }
}

/// tcpdump's flag letters in its table order (`tcp_flag_values` in print-tcp.c).
const FLAG_CHARS: [(u8, char); 8] = [
    (flags::FIN, 'F'),
    (flags::SYN, 'S'),
    (flags::RST, 'R'),
    (flags::PSH, 'P'),
    (flags::ACK, '.'),
    (flags::URG, 'U'),
    (flags::ECE, 'E'),
    (flags::CWR, 'W'),
];

impl fmt::Display for SegmentDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} > {}.{}: Flags [",
            self.src, self.src_port, self.dst, self.dst_port
        )?;
        if self.flags == 0 {
            f.write_str("none")?;
        }
        for (bit, c) in FLAG_CHARS {
            if self.flags & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        f.write_str("]")?;

        let (seq_base, ack_base) = match self.relative {
            Some((s, d)) if self.flags & flags::SYN == 0 => (s.0, d.0),
            _ => (0, 0),
        };
        let seq = self.seq.0.wrapping_sub(seq_base);
        if self.payload_len > 0 || self.flags & (flags::SYN | flags::FIN | flags::RST) != 0 {
            write!(f, ", seq {seq}")?;
            if self.payload_len > 0 {
                write!(f, ":{}", seq.wrapping_add(self.payload_len as u32))?;
            }
        }
        if self.flags & flags::ACK != 0 {
            write!(f, ", ack {}", self.ack.0.wrapping_sub(ack_base))?;
        }
        write!(f, ", win {}", self.window)?;
        if self.flags & flags::URG != 0 {
            write!(f, ", urg {}", self.urgent)?;
        }
        let opts = self.options.bytes();
        if !opts.is_empty() {
            f.write_str(", options [")?;
            for (i, opt) in TcpOption::parse_all(opts).enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                match opt {
                    Ok(o) => o.fmt_relative(f, ack_base)?,
                    Err(_) => f.write_str("[bad opt]")?,
                }
            }
            f.write_str("]")?;
        }
        write!(f, ", length {}", self.payload_len)
    }
}
