//! TCP options: the wire-order view ([`TcpOption`]) and the engine's summary ([`TcpOptions`]).

use core::fmt;
use core::ops::Deref;

use crate::{be16, be32, put16, put32, Error, Result, SeqNum};

/// Option kinds (RFC 9293 3.1, RFC 7323 2.2 and 3.2, RFC 2018 2 and 3).
pub mod kind {
    /// End of Option List.
    pub const EOL: u8 = 0;
    /// No-Operation.
    pub const NOP: u8 = 1;
    /// Maximum Segment Size (RFC 9293 3.7.1).
    pub const MSS: u8 = 2;
    /// Window Scale (RFC 7323 2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK-Permitted (RFC 2018 2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 3.2).
    pub const TIMESTAMP: u8 = 8;
    /// TCP MD5 Signature (RFC 2385 3.0).
    pub const MD5SIG: u8 = 19;
    /// TCP Fast Open cookie (RFC 7413 4.1.1).
    pub const FAST_OPEN: u8 = 34;
    /// Experimental option (RFC 6994); with [`FAST_OPEN_MAGIC`] it is the Fast Open
    /// cookie as clients used it before kind 34 was assigned.
    pub const EXPERIMENTAL: u8 = 254;
}

/// The experiment identifier of the Fast Open cookie in an experimental option (RFC 6994,
/// Linux's TCPOPT_FASTOPEN_MAGIC).
pub const FAST_OPEN_MAGIC: u16 = 0xF989;

/// A Fast Open cookie option (RFC 7413 4.1.1): an empty one asks for a cookie, otherwise
/// it carries a cookie of 4 to 16 bytes (even lengths only, as Linux accepts them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FastOpenCookie {
    /// Sent as the experimental option (kind 254, magic 0xF989) rather than kind 34.
    pub exp: bool,
    len: u8,
    bytes: [u8; 16],
}

impl FastOpenCookie {
    /// Most bytes a cookie holds (RFC 7413 4.1.1, Linux's TCP_FASTOPEN_COOKIE_MAX).
    pub const MAX: usize = 16;
    /// Fewest bytes of a non-empty cookie (Linux's TCP_FASTOPEN_COOKIE_MIN).
    pub const MIN: usize = 4;

    /// The empty option: a cookie request (RFC 7413 4.1.1).
    pub const fn request(exp: bool) -> FastOpenCookie {
        FastOpenCookie {
            exp,
            len: 0,
            bytes: [0; 16],
        }
    }

    /// A cookie of `bytes`; `None` when its length is not one a cookie may have (empty
    /// is the request; otherwise even, 4 to 16).
    pub fn new(exp: bool, bytes: &[u8]) -> Option<FastOpenCookie> {
        let n = bytes.len();
        if n != 0 && (!n.is_multiple_of(2) || !(Self::MIN..=Self::MAX).contains(&n)) {
            return None;
        }
        let mut c = FastOpenCookie::request(exp);
        c.bytes[..n].copy_from_slice(bytes);
        c.len = n as u8;
        Some(c)
    }

    /// The cookie's bytes (empty for a request).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether this is a cookie request (no cookie bytes).
    pub fn is_request(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the option itself: kind, length, (magic,) cookie.
    fn option_len(&self) -> usize {
        usize::from(self.len) + if self.exp { 4 } else { 2 }
    }

    /// Bytes it takes in a header, padded to a multiple of four with NOPs as Linux's
    /// tcp_options_write does.
    pub fn padded_len(&self) -> usize {
        (self.option_len() + 3) & !3
    }

    /// Parses the data of a kind-34 option, or of a kind-254 option after the magic
    /// (Linux's tcp_parse_fastopen_option: odd lengths and lengths outside 4..=16 other
    /// than 0 carry no usable cookie).
    fn parse(exp: bool, data: &[u8]) -> Option<FastOpenCookie> {
        FastOpenCookie::new(exp, data)
    }
}

impl fmt::Debug for FastOpenCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.exp { "FOEXP" } else { "FO" })?;
        if !self.is_request() {
            f.write_str(" ")?;
            for b in self.bytes() {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Largest shift a window scale option may carry (RFC 7323 2.3); larger values are
/// clamped to it on receipt, as Linux's `TCP_MAX_WSCALE`.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Most option bytes a TCP header can carry (data offset 15 * 4 - 20).
pub const MAX_OPTIONS_LEN: usize = 40;

/// One SACK block: the received range `[left, right)` (RFC 2018 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    /// Left edge: first sequence number of the block.
    pub left: SeqNum,
    /// Right edge: the sequence number just past the block.
    pub right: SeqNum,
}

/// The Timestamps option (RFC 7323 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the timestamp echoed back.
    pub tsecr: u32,
}

impl Timestamp {
    /// Whether this TSval is older than `recent` (a TS.Recent), in the modular order of
    /// timestamp clocks (RFC 7323 section 5.3: `TSval < TS.Recent`), the test of PAWS
    /// and of when TS.Recent may be updated (section 4.3).
    pub fn is_older_than(&self, recent: u32) -> bool {
        (self.tsval.wrapping_sub(recent) as i32) < 0
    }
}

/// Up to four SACK blocks, stored inline (no allocation). Derefs to a slice.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [SackBlock; 4],
    len: u8,
}

impl SackBlocks {
    /// Most blocks one SACK option can hold (4 * 8 + 2 = 34 of the 40 option bytes).
    pub const MAX: usize = 4;

    /// No blocks.
    pub const fn new() -> Self {
        SackBlocks {
            blocks: [SackBlock {
                left: SeqNum(0),
                right: SeqNum(0),
            }; 4],
            len: 0,
        }
    }

    /// The first (up to) four blocks of `blocks`.
    pub fn from_slice(blocks: &[SackBlock]) -> Self {
        let mut s = Self::new();
        for b in blocks.iter().take(Self::MAX) {
            s.push(*b);
        }
        s
    }

    /// Appends a block; returns false (and drops it) when four are already held.
    pub fn push(&mut self, block: SackBlock) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = block;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The blocks held, in order.
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }
}

impl Deref for SackBlocks {
    type Target = [SackBlock];
    fn deref(&self) -> &[SackBlock] {
        self.as_slice()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One option as it stands on the wire, in order (for packetdrill-style exact matching
/// and tcpdump-style display).
///
/// A known kind whose length byte is wrong for it (for example MSS with length 3, or a SACK
/// whose length is not 2 + 8n with 1 <= n <= 4) is reported as [`TcpOption::Unknown`] with
/// its bytes, since it has no meaning as that kind (Linux ignores it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0).
    EndOfList,
    /// No-Operation (kind 1).
    Nop,
    /// Maximum Segment Size (kind 2, length 4).
    Mss(u16),
    /// Window Scale shift count as sent, not clamped (kind 3, length 3).
    WindowScale(u8),
    /// SACK-Permitted (kind 4, length 2).
    SackPermitted,
    /// SACK blocks (kind 5, length 2 + 8n).
    Sack(SackBlocks),
    /// Timestamps (kind 8, length 10).
    Timestamp(Timestamp),
    /// Any other option, or a known kind with the wrong length: `data` excludes the kind
    /// and length bytes.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option's data after the kind and length bytes.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Iterates over the options in `options` (the bytes after the fixed TCP header).
    ///
    /// Yields `Ok` for each option in order. End of Option List is yielded and ends the
    /// iteration (what follows is padding, RFC 9293 3.1). A length byte below 2 or running
    /// past the end yields `Err(Malformed)` once and then the iterator stops.
    pub fn parse_all(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }

    /// Interprets a kind and its data (excluding kind and length bytes).
    fn from_kind(kind: u8, data: &'a [u8]) -> TcpOption<'a> {
        match (kind, data.len()) {
            (kind::MSS, 2) => TcpOption::Mss(be16(data, 0)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::TIMESTAMP, 8) => TcpOption::Timestamp(Timestamp {
                tsval: be32(data, 0),
                tsecr: be32(data, 4),
            }),
            (kind::SACK, n) if n % 8 == 0 && (8..=32).contains(&n) => {
                let mut blocks = SackBlocks::new();
                for b in data.chunks_exact(8) {
                    blocks.push(SackBlock {
                        left: SeqNum(be32(b, 0)),
                        right: SeqNum(be32(b, 4)),
                    });
                }
                TcpOption::Sack(blocks)
            }
            _ => TcpOption::Unknown { kind, data },
        }
    }

    /// Bytes this option occupies on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(b) => 2 + 8 * b.len(),
            TcpOption::Timestamp(_) => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length. Writes nothing and
    /// returns 0 if `buf` is shorter than [`buffer_len`](Self::buffer_len), or for an
    /// `Unknown` whose length does not fit the length byte.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        if len > buf.len() || len > 255 {
            return 0;
        }
        let buf = &mut buf[..len];
        match *self {
            TcpOption::EndOfList => buf[0] = kind::EOL,
            TcpOption::Nop => buf[0] = kind::NOP,
            TcpOption::Mss(mss) => {
                buf[..2].copy_from_slice(&[kind::MSS, 4]);
                put16(buf, 2, mss);
            }
            TcpOption::WindowScale(ws) => buf.copy_from_slice(&[kind::WINDOW_SCALE, 3, ws]),
            TcpOption::SackPermitted => buf.copy_from_slice(&[kind::SACK_PERMITTED, 2]),
            TcpOption::Sack(blocks) => {
                buf[0] = kind::SACK;
                buf[1] = len as u8;
                for (i, b) in blocks.iter().enumerate() {
                    put32(buf, 2 + 8 * i, b.left.0);
                    put32(buf, 6 + 8 * i, b.right.0);
                }
            }
            TcpOption::Timestamp(ts) => {
                buf[..2].copy_from_slice(&[kind::TIMESTAMP, 10]);
                put32(buf, 2, ts.tsval);
                put32(buf, 6, ts.tsecr);
            }
            TcpOption::Unknown { kind, data } => {
                buf[0] = kind;
                buf[1] = len as u8;
                buf[2..].copy_from_slice(data);
            }
        }
        len
    }

    /// Writes the option as tcpdump does, with `sack_base` subtracted from SACK edges
    /// (0 for absolute numbers).
    pub(crate) fn fmt_relative(&self, f: &mut fmt::Formatter<'_>, sack_base: u32) -> fmt::Result {
        match self {
            TcpOption::EndOfList => f.write_str("eol"),
            TcpOption::Nop => f.write_str("nop"),
            TcpOption::Mss(m) => write!(f, "mss {m}"),
            TcpOption::WindowScale(w) => write!(f, "wscale {w}"),
            TcpOption::SackPermitted => f.write_str("sackOK"),
            TcpOption::Sack(blocks) => {
                write!(f, "sack {}", blocks.len())?;
                if !blocks.is_empty() {
                    f.write_str(" ")?;
                }
                for b in blocks.iter() {
                    write!(
                        f,
                        "{{{}:{}}}",
                        b.left.0.wrapping_sub(sack_base),
                        b.right.0.wrapping_sub(sack_base)
                    )?;
                }
                Ok(())
            }
            TcpOption::Timestamp(ts) => write!(f, "TS val {} ecr {}", ts.tsval, ts.tsecr),
            TcpOption::Unknown { kind, data } => {
                write!(f, "unknown-{kind}")?;
                if !data.is_empty() {
                    f.write_str(" 0x")?;
                    for b in data.iter() {
                        write!(f, "{b:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// tcpdump's spelling: `mss 1460`, `sackOK`, `TS val 1 ecr 0`, `nop`, `eol`, `wscale 7`,
/// `sack 2 {100:200}{300:400}`, `unknown-253 0x0102`.
impl fmt::Display for TcpOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_relative(f, 0)
    }
}

/// Iterator over the options in wire order; see [`TcpOption::parse_all`].
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.rest;
        let (&kind, after_kind) = data.split_first()?;
        match kind {
            kind::EOL => {
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            kind::NOP => {
                self.rest = after_kind;
                Some(Ok(TcpOption::Nop))
            }
            _ => {
                let len = after_kind.first().map_or(0, |&l| usize::from(l));
                if len < 2 || len > data.len() {
                    // RFC 9293 3.1 leaves a bad length undefined; Linux stops parsing.
                    self.rest = &[];
                    return Some(Err(Error::Malformed));
                }
                self.rest = &data[len..];
                Some(Ok(TcpOption::from_kind(kind, &data[2..len])))
            }
        }
    }
}

impl core::iter::FusedIterator for TcpOptionIter<'_> {}

/// The options the engine cares about, collected from any order.
///
/// Parsing follows Linux's `tcp_parse_options`: unknown kinds are skipped by their length;
/// End of Option List ends parsing; an option whose length is wrong for its kind is
/// ignored; a malformed length (below 2 or past the end) stops parsing, keeping what was
/// found so far (Linux does not drop the segment). A repeated option overwrites the earlier
/// one. MSS, window scale and SACK-permitted are only meaningful on SYNs (RFC 9293 3.7.1,
/// RFC 7323 2.2, RFC 2018 2) but are reported whatever the flags; the engine decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (RFC 9293 3.7.1, RFC 6691). An MSS of 0 is ignored on parse,
    /// as Linux does.
    pub mss: Option<u16>,
    /// Window scale shift count, clamped to 14 on parse (RFC 7323 2.3).
    pub window_scale: Option<u8>,
    /// SACK-Permitted was present (RFC 2018 2).
    pub sack_permitted: bool,
    /// Timestamps option (RFC 7323 3.2).
    pub timestamp: Option<Timestamp>,
    /// SACK blocks in wire order, filled from index 0 (RFC 2018 3).
    pub sack_blocks: [Option<SackBlock>; 4],
    /// The Fast Open cookie option (RFC 7413 4.1.1), kind 34 or the experimental form;
    /// only meaningful on SYNs, and only written on them.
    pub fast_open: Option<FastOpenCookie>,
    /// An MD5 signature option (RFC 2385 3.0: kind 19, length 18) was present. Only its
    /// presence is kept (synack holds no MD5 keys; the engine drops signed segments as
    /// Linux does when no key expects them); never written.
    pub md5sig: bool,
}

impl TcpOptions {
    /// Collects the options from the bytes after the fixed TCP header. Never fails; see
    /// the type's documentation for what is kept.
    #[inline]
    pub fn parse(options: &[u8]) -> TcpOptions {
        let mut out = TcpOptions::default();
        if let [kind::NOP, kind::NOP, kind::TIMESTAMP, 10, ts @ ..] = options {
            if ts.len() == 8 {
                // The layout RFC 7323 appendix A recommends and every established segment
                // of Linux carries (its tcp_parse_aligned_timestamp): nop, nop, TS and
                // nothing else. The loop below finds the same.
                out.timestamp = Some(Timestamp {
                    tsval: be32(ts, 0),
                    tsecr: be32(ts, 4),
                });
                return out;
            }
        }
        Self::parse_any(options)
    }

    /// [`TcpOptions::parse`] without its shortcut for the common layout.
    #[inline(never)]
    fn parse_any(options: &[u8]) -> TcpOptions {
        let mut out = TcpOptions::default();
        for opt in TcpOption::parse_all(options) {
            match opt {
                Err(_) | Ok(TcpOption::EndOfList) => break,
                Ok(TcpOption::Mss(0)) => {}
                Ok(TcpOption::Mss(m)) => out.mss = Some(m),
                Ok(TcpOption::WindowScale(w)) => {
                    // RFC 7323 2.3: "use 14 instead of the specified value".
                    out.window_scale = Some(w.min(MAX_WINDOW_SCALE));
                }
                Ok(TcpOption::SackPermitted) => out.sack_permitted = true,
                Ok(TcpOption::Timestamp(ts)) => out.timestamp = Some(ts),
                Ok(TcpOption::Sack(blocks)) => {
                    out.sack_blocks = [None; 4];
                    for (slot, b) in out.sack_blocks.iter_mut().zip(blocks.iter()) {
                        *slot = Some(*b);
                    }
                }
                Ok(TcpOption::Unknown {
                    kind: kind::FAST_OPEN,
                    data,
                }) => {
                    if let Some(c) = FastOpenCookie::parse(false, data) {
                        out.fast_open = Some(c);
                    }
                }
                Ok(TcpOption::Unknown {
                    kind: kind::EXPERIMENTAL,
                    data,
                }) if data.len() >= 2 && be16(data, 0) == FAST_OPEN_MAGIC => {
                    if let Some(c) = FastOpenCookie::parse(true, &data[2..]) {
                        out.fast_open = Some(c);
                    }
                }
                Ok(TcpOption::Unknown {
                    kind: kind::MD5SIG,
                    data,
                }) if data.len() == 16 => out.md5sig = true,
                Ok(TcpOption::Nop | TcpOption::Unknown { .. }) => {}
            }
        }
        out
    }

    /// Whether any SACK block is set.
    #[inline]
    pub(crate) fn has_sack(&self) -> bool {
        self.sack_blocks.iter().any(Option::is_some)
    }

    /// The options of a segment that carries timestamps and nothing else, as
    /// [`emit`](Self::emit) writes them: `nop,nop,TS` (Linux's layout).
    #[inline(always)]
    pub(crate) fn timestamp_only(ts: Timestamp) -> [u8; 12] {
        let ([v0, v1, v2, v3], [e0, e1, e2, e3]) = (ts.tsval.to_be_bytes(), ts.tsecr.to_be_bytes());
        [
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMP,
            10,
            v0,
            v1,
            v2,
            v3,
            e0,
            e1,
            e2,
            e3,
        ]
    }

    /// Number of SACK blocks emit writes: the `Some` entries, at most 4, at most 3 when
    /// timestamps are present (40 option bytes are the limit).
    fn sack_count(&self) -> usize {
        let limit = if self.timestamp.is_some() { 3 } else { 4 };
        self.sack_blocks.iter().flatten().count().min(limit)
    }

    /// Bytes [`emit`](Self::emit) writes for a segment with (`syn`) or without SYN; always
    /// a multiple of 4 and at most 40.
    pub fn buffer_len(&self, syn: bool) -> usize {
        let mut n = 0;
        if syn && self.mss.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() {
            n += 12;
        } else if syn && self.sack_permitted {
            n += 4;
        }
        if syn && self.window_scale.is_some() {
            n += 4;
        }
        if let (true, Some(fo)) = (syn, self.fast_open) {
            n += fo.padded_len();
        }
        if !syn {
            let k = self.sack_count();
            if k > 0 {
                n += 4 + 8 * k;
            }
        }
        n
    }

    /// Writes the options in exactly Linux's layout (`tcp_options_write`) and returns the
    /// number of bytes written (a multiple of 4). Writes nothing and returns 0 if `buf` is
    /// shorter than [`buffer_len`](Self::buffer_len).
    ///
    /// On a SYN: MSS, window scale and SACK-permitted are written, SACK blocks are not;
    /// otherwise the reverse. The layout is
    /// - `mss` (kind 2, length 4);
    /// - with timestamps: `sackOK,TS` when SACK-permitted goes too, else `nop,nop,TS`;
    /// - without timestamps, SACK-permitted as `nop,nop,sackOK`;
    /// - window scale as `nop,wscale`;
    /// - SACK blocks as `nop,nop,sack`;
    /// - on a SYN, the Fast Open cookie (`FO`, or `FOEXP` with its magic), followed by
    ///   `nop,nop` when its length leaves two bytes to the next word.
    pub fn emit(&self, syn: bool, buf: &mut [u8]) -> usize {
        if let (false, Some(ts), false) = (syn, self.timestamp, self.has_sack()) {
            // What every established segment carries: nop, nop, TS, written at once.
            let Some(out) = buf.first_chunk_mut::<12>() else {
                return 0;
            };
            *out = Self::timestamp_only(ts);
            return 12;
        }
        let total = self.buffer_len(syn);
        if buf.len() < total {
            return 0;
        }
        let mut at = 0;
        let mut put = |bytes: &[u8], at: &mut usize| {
            buf[*at..*at + bytes.len()].copy_from_slice(bytes);
            *at += bytes.len();
        };
        if syn {
            if let Some(mss) = self.mss {
                let m = mss.to_be_bytes();
                put(&[kind::MSS, 4, m[0], m[1]], &mut at);
            }
        }
        if let Some(ts) = self.timestamp {
            if syn && self.sack_permitted {
                put(&[kind::SACK_PERMITTED, 2], &mut at);
            } else {
                put(&[kind::NOP, kind::NOP], &mut at);
            }
            put(&[kind::TIMESTAMP, 10], &mut at);
            put(&ts.tsval.to_be_bytes(), &mut at);
            put(&ts.tsecr.to_be_bytes(), &mut at);
        } else if syn && self.sack_permitted {
            put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2], &mut at);
        }
        if syn {
            if let Some(ws) = self.window_scale {
                put(&[kind::NOP, kind::WINDOW_SCALE, 3, ws], &mut at);
            }
            if let Some(fo) = self.fast_open {
                let len = fo.option_len() as u8;
                if fo.exp {
                    let m = FAST_OPEN_MAGIC.to_be_bytes();
                    put(&[kind::EXPERIMENTAL, len, m[0], m[1]], &mut at);
                } else {
                    put(&[kind::FAST_OPEN, len], &mut at);
                }
                put(fo.bytes(), &mut at);
                if len & 3 == 2 {
                    put(&[kind::NOP, kind::NOP], &mut at);
                }
            }
        } else {
            let k = self.sack_count();
            if k > 0 {
                put(
                    &[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * k) as u8],
                    &mut at,
                );
                for b in self.sack_blocks.iter().flatten().take(k) {
                    put(&b.left.0.to_be_bytes(), &mut at);
                    put(&b.right.0.to_be_bytes(), &mut at);
                }
            }
        }
        at
    }

    /// The SACK blocks as a [`SackBlocks`] (the `Some` entries, in order).
    pub fn sack(&self) -> SackBlocks {
        let mut s = SackBlocks::new();
        for b in self.sack_blocks.iter().flatten() {
            s.push(*b);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::TcpOptions;

    /// The shortcut for `nop,nop,TS` finds what the general loop finds, and leaves every
    /// other layout (a longer or shorter list, another order, a bad length) to it.
    #[test]
    fn timestamp_shortcut_agrees_with_the_loop() {
        let ts = [1, 1, 8, 10, 0, 0, 0, 7, 0x80, 0, 0, 9];
        let parsed = TcpOptions::parse(&ts);
        assert_eq!(
            parsed.timestamp.map(|t| (t.tsval, t.tsecr)),
            Some((7, 0x8000_0009))
        );
        let mut cases: Vec<Vec<u8>> = vec![ts.to_vec(), ts[..11].to_vec()];
        let mut longer = ts.to_vec();
        longer.extend_from_slice(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        cases.push(longer);
        let mut bad_len = ts.to_vec();
        bad_len[3] = 12;
        cases.push(bad_len);
        cases.push(vec![8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1]);
        cases.push(vec![1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 0]);
        for c in &cases {
            assert_eq!(TcpOptions::parse(c), TcpOptions::parse_any(c), "{c:?}");
        }
    }
}
