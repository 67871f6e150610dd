//! TCP segments: a zero-copy view ([`TcpPacket`]) and the validated form ([`TcpRepr`]),
//! after RFC 9293 section 3.1.

use std::net::IpAddr;

use crate::{be16, be32, checksum, put16, put32, Error, Result, SeqNum, IPPROTO_TCP};

mod options;

pub use options::{
    kind, FastOpenCookie, SackBlock, SackBlocks, TcpOption, TcpOptionIter, TcpOptions, Timestamp,
    FAST_OPEN_MAGIC, MAX_OPTIONS_LEN, MAX_WINDOW_SCALE,
};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// Byte offsets of the header fields (RFC 9293 3.1).
mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The control bits in the flags byte (RFC 9293 3.1; ECE and CWR from RFC 3168 6.1).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN-Echo.
    pub const ECE: u8 = 0x40;
    /// Congestion Window Reduced.
    pub const CWR: u8 = 0x80;
}

/// A read/write view of a TCP segment (header, options and payload) in a buffer.
///
/// After [`new_checked`](Self::new_checked) succeeds, no accessor panics. With
/// [`new_unchecked`](Self::new_unchecked), accessors panic on a buffer too short for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking anything.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the 20-byte header (else `Err(Truncated)`), that the
    /// data offset is at least 5 words (else `Err(Malformed)`) and that the header it
    /// describes fits in the buffer (else `Err(Truncated)`).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if hlen > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The sequence number.
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(be32(self.buffer.as_ref(), field::SEQ))
    }

    /// The acknowledgment number field (meaningful only when ACK is set).
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(be32(self.buffer.as_ref(), field::ACK))
    }

    /// The header length in bytes (data offset * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The raw flags byte (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The FIN flag.
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    /// The SYN flag.
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// The RST flag.
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    /// The PSH flag.
    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    /// The ACK flag.
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// The URG flag.
    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    /// The ECE flag.
    pub fn ece(&self) -> bool {
        self.flags() & flags::ECE != 0
    }

    /// The CWR flag.
    pub fn cwr(&self) -> bool {
        self.flags() & flags::CWR != 0
    }

    /// The window field, unscaled.
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The urgent pointer field (meaningful only when URG is set).
    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }

    /// The option bytes between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum over the pseudo-header (RFC 9293 3.1) and the whole buffer
    /// is correct.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let data = self.buffer.as_ref();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let acc = checksum::pseudo_header_sum(src, dst, IPPROTO_TCP, len) + checksum::sum(data);
        checksum::fold(acc) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, seq: SeqNum) {
        put32(self.buffer.as_mut(), field::SEQ, seq.0);
    }

    /// Sets the acknowledgment number field.
    pub fn set_ack_number(&mut self, ack: SeqNum) {
        put32(self.buffer.as_mut(), field::ACK, ack.0);
    }

    /// Sets the header length in bytes (stored as data offset `len / 4`); the reserved
    /// bits are cleared.
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8 & 0x0f) << 4;
    }

    /// Sets the raw flags byte.
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        let f = self.flags() & !flag;
        self.set_flags(if on { f | flag } else { f });
    }

    /// Sets or clears FIN.
    pub fn set_fin(&mut self, on: bool) {
        self.set_flag(flags::FIN, on);
    }

    /// Sets or clears SYN.
    pub fn set_syn(&mut self, on: bool) {
        self.set_flag(flags::SYN, on);
    }

    /// Sets or clears RST.
    pub fn set_rst(&mut self, on: bool) {
        self.set_flag(flags::RST, on);
    }

    /// Sets or clears PSH.
    pub fn set_psh(&mut self, on: bool) {
        self.set_flag(flags::PSH, on);
    }

    /// Sets or clears ACK.
    pub fn set_ack(&mut self, on: bool) {
        self.set_flag(flags::ACK, on);
    }

    /// Sets or clears URG.
    pub fn set_urg(&mut self, on: bool) {
        self.set_flag(flags::URG, on);
    }

    /// Sets or clears ECE.
    pub fn set_ece(&mut self, on: bool) {
        self.set_flag(flags::ECE, on);
    }

    /// Sets or clears CWR.
    pub fn set_cwr(&mut self, on: bool) {
        self.set_flag(flags::CWR, on);
    }

    /// Sets the window field.
    pub fn set_window_len(&mut self, window: u16) {
        put16(self.buffer.as_mut(), field::WINDOW, window);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the urgent pointer field.
    pub fn set_urgent_at(&mut self, urgent: u16) {
        put16(self.buffer.as_mut(), field::URGENT, urgent);
    }

    /// The option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hlen = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hlen]
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hlen = self.header_len();
        &mut self.buffer.as_mut()[hlen..]
    }

    /// Computes and stores the checksum over the pseudo-header and the whole buffer
    /// (RFC 9293 3.1).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let acc = checksum::pseudo_header_sum(src, dst, IPPROTO_TCP, len) + checksum::sum(data);
        self.set_checksum(!checksum::fold(acc));
    }
}

/// The one connection-control flag a segment may carry (at most one of SYN, FIN, RST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// None of SYN, FIN, RST.
    None,
    /// SYN.
    Syn,
    /// FIN.
    Fin,
    /// RST.
    Rst,
}

/// A validated TCP segment.
///
/// `ack` is `Some` exactly when the ACK flag is set, and `urgent` exactly when URG is.
/// SYN, FIN and RST are folded into [`Control`], so the impossible mixes SYN+RST, SYN+FIN
/// and RST+FIN cannot be represented; [`parse`](Self::parse) rejects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port (never 0 after parse).
    pub src_port: u16,
    /// Destination port (never 0 after parse).
    pub dst_port: u16,
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK, when the ACK flag is set.
    pub ack: Option<SeqNum>,
    /// SYN, FIN, RST or none.
    pub control: Control,
    /// The PSH flag.
    pub psh: bool,
    /// The ECE flag (RFC 3168).
    pub ece: bool,
    /// The CWR flag (RFC 3168).
    pub cwr: bool,
    /// SEG.WND as carried, before window scaling.
    pub window: u16,
    /// The urgent pointer, when the URG flag is set.
    pub urgent: Option<u16>,
    /// The options the engine uses.
    pub options: TcpOptions,
    /// The segment's data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses and validates a segment (the TCP header and everything after it).
    ///
    /// Errors: `Truncated`/`Malformed` from [`TcpPacket::check_len`]; `Malformed` for a
    /// source or destination port of 0 (Linux drops those) or for SYN+RST, SYN+FIN or
    /// RST+FIN; `Checksum` when `verify` is set and the checksum over the pseudo-header
    /// built from `src` and `dst` is wrong (RFC 9293 3.1). Options are collected with
    /// [`TcpOptions::parse`], which never fails.
    pub fn parse(
        segment: &'a [u8],
        src: &IpAddr,
        dst: &IpAddr,
        verify: bool,
    ) -> Result<TcpRepr<'a>> {
        match Self::parse_syn_fin(segment, src, dst, verify)? {
            (repr, false) => Ok(repr),
            (_, true) => Err(Error::Malformed),
        }
    }

    /// As [`parse`](Self::parse), except that a SYN with FIN (and no RST) is taken: it
    /// comes back as [`Control::Syn`] with `true` beside it for the FIN. Linux takes
    /// such a segment as a SYN, and only a connection in SYN-SENT also uses its FIN
    /// (a Fast Open SYN-ACK carrying the server's whole answer); whoever calls this
    /// decides what the FIN means.
    #[inline]
    pub fn parse_syn_fin(
        segment: &'a [u8],
        src: &IpAddr,
        dst: &IpAddr,
        verify: bool,
    ) -> Result<(TcpRepr<'a>, bool)> {
        let p = TcpPacket::new_checked(segment)?;
        if p.src_port() == 0 || p.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if verify && !p.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let (control, syn_fin) = match (p.syn(), p.fin(), p.rst()) {
            (false, false, false) => (Control::None, false),
            (true, false, false) => (Control::Syn, false),
            (true, true, false) => (Control::Syn, true),
            (false, true, false) => (Control::Fin, false),
            (false, false, true) => (Control::Rst, false),
            _ => return Err(Error::Malformed),
        };
        let hlen = p.header_len();
        let repr = TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq_number(),
            ack: p.ack().then(|| p.ack_number()),
            control,
            psh: p.psh(),
            ece: p.ece(),
            cwr: p.cwr(),
            window: p.window_len(),
            urgent: p.urg().then(|| p.urgent_at()),
            options: TcpOptions::parse(&segment[HEADER_LEN..hlen]),
            payload: &segment[hlen..],
        };
        Ok((repr, syn_fin))
    }

    /// The flags byte this segment is emitted with.
    pub fn flags(&self) -> u8 {
        let mut f = match self.control {
            Control::None => 0,
            Control::Syn => flags::SYN,
            Control::Fin => flags::FIN,
            Control::Rst => flags::RST,
        };
        let mut set = |on: bool, bit: u8| {
            if on {
                f |= bit;
            }
        };
        set(self.ack.is_some(), flags::ACK);
        set(self.psh, flags::PSH);
        set(self.urgent.is_some(), flags::URG);
        set(self.ece, flags::ECE);
        set(self.cwr, flags::CWR);
        f
    }

    /// Header length with options as emitted: `20 + options.buffer_len(syn)`.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len(self.control == Control::Syn)
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// SEG.LEN (RFC 9293 3.4): payload octets plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> u32 {
        let ctl = match self.control {
            Control::Syn | Control::Fin => 1,
            Control::None | Control::Rst => 0,
        };
        (self.payload.len() as u32).wrapping_add(ctl)
    }

    /// Writes header, options (Linux layout, see [`TcpOptions::emit`]), payload and
    /// checksum into `buf[..buffer_len()]` and returns `buffer_len()`.
    ///
    /// `Err(Truncated)` if `buf` is too short; nothing is written then.
    pub fn emit(&self, buf: &mut [u8], src: &IpAddr, dst: &IpAddr) -> Result<usize> {
        let total = self.buffer_len();
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let (hlen, header_sum) = self.emit_header_sum(buf)?;
        // The payload starts at a multiple of 4: its sum composes with the header's.
        let payload_sum = match self.payload {
            [] => 0,
            p => checksum::copy_and_sum(&mut buf[hlen..], p),
        };
        let len = u32::try_from(total).unwrap_or(u32::MAX);
        let acc =
            checksum::pseudo_header_sum(src, dst, IPPROTO_TCP, len) + header_sum + payload_sum;
        TcpPacket::new_unchecked(buf).set_checksum(!checksum::fold(acc));
        Ok(total)
    }

    /// As [`emit`](Self::emit), but the checksum field is left zero: for a caller that
    /// appends the payload itself and sums header and payload once (the checksum summed
    /// while the payload is copied, or left to the device's offload).
    pub fn emit_no_checksum(&self, buf: &mut [u8]) -> Result<usize> {
        let hlen = self.header_len();
        let total = hlen + self.payload.len();
        let buf = buf.get_mut(..total).ok_or(Error::Truncated)?;
        let (header, payload) = buf.split_at_mut(hlen);
        self.emit_header_sum(header)?;
        payload.copy_from_slice(self.payload);
        Ok(total)
    }

    /// Writes the header with its options (not the payload) into `buf[..header_len()]`,
    /// the checksum field zero, and returns its length and its ones-complement sum as a
    /// partial accumulator ([`checksum::sum`] of the bytes written): the header is
    /// summed as it is built, not read back. The caller adds the pseudo-header and the
    /// payload (summed as it is copied, RFC 1071's sums compose) and sets the field.
    ///
    /// `Err(Truncated)` if `buf` is shorter than the header; nothing is written then.
    pub fn emit_header_sum(&self, buf: &mut [u8]) -> Result<(usize, u64)> {
        let syn = self.control == Control::Syn;
        if let Some(ts) = self
            .options
            .timestamp
            .filter(|_| !syn && !self.options.has_sack())
        {
            // What every established segment carries: 20 bytes and `nop,nop,TS`.
            let out = buf.first_chunk_mut::<32>().ok_or(Error::Truncated)?;
            let mut whole = [0u8; 32];
            whole[..HEADER_LEN].copy_from_slice(&self.fixed_header(32));
            whole[HEADER_LEN..].copy_from_slice(&TcpOptions::timestamp_only(ts));
            *out = whole;
            return Ok((32, checksum::sum_array(&whole)));
        }
        let hlen = self.header_len();
        let buf = buf.get_mut(..hlen).ok_or(Error::Truncated)?;
        let h = self.fixed_header(hlen);
        let (fixed, options) = buf.split_at_mut(HEADER_LEN);
        fixed.copy_from_slice(&h);
        self.options.emit(syn, options);
        Ok((hlen, checksum::sum_array(&h) + checksum::sum(options)))
    }

    /// The fixed 20 bytes of a header of `hlen` bytes (RFC 9293 3.1), checksum zero.
    #[inline(always)]
    fn fixed_header(&self, hlen: usize) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&self.src_port.to_be_bytes());
        h[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&self.dst_port.to_be_bytes());
        h[field::SEQ..field::SEQ + 4].copy_from_slice(&self.seq.0.to_be_bytes());
        let ack = self.ack.unwrap_or_default().0;
        h[field::ACK..field::ACK + 4].copy_from_slice(&ack.to_be_bytes());
        h[field::DATA_OFF] = ((hlen / 4) as u8 & 0x0f) << 4;
        h[field::FLAGS] = self.flags();
        h[field::WINDOW..field::WINDOW + 2].copy_from_slice(&self.window.to_be_bytes());
        let urgent = self.urgent.unwrap_or(0);
        h[field::URGENT..field::URGENT + 2].copy_from_slice(&urgent.to_be_bytes());
        h
    }
}
