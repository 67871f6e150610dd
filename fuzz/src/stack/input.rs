//! The stack harness's input: a setup and a list of operations, with a byte format read
//! through `arbitrary`'s [`Unstructured`] and written back by `encode`, so that
//! `decode(encode(x)) == x` and seeds can be written as operation lists.
//!
//! Every integer is little-endian, as `arbitrary` reads integers; a `bool` is one byte
//! whose low bit is the value; an operation starts with a tag byte (taken modulo the number
//! of operations). Input that runs out reads as zeros, so every byte string decodes.

use arbitrary::{Arbitrary, Result, Unstructured};

/// Most operations one input runs (bounds the work per input).
pub const MAX_OPS: usize = 96;

/// The largest payload a crafted segment carries.
pub const MAX_PAYLOAD: u16 = 9000;

/// Reads and writes one value of the format.
pub trait Codec: Sized {
    /// Reads a value; running out of input gives zeros, never an error.
    fn decode(u: &mut Unstructured<'_>) -> Result<Self>;
    /// Appends the bytes `decode` reads back as `self`.
    fn encode(&self, out: &mut Vec<u8>);
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
                <$t as Arbitrary>::arbitrary(u)
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
int_codec!(u8, u16, u32, i32);

impl Codec for bool {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        <bool as Arbitrary>::arbitrary(u)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

/// `Option<T>`: a flag byte, then the value when set.
impl<T: Codec> Codec for Option<T> {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(if bool::decode(u)? {
            Some(T::decode(u)?)
        } else {
            None
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => {
                true.encode(out);
                v.encode(out);
            }
            None => false.encode(out),
        }
    }
}

/// Bytes: a u16 length, then that many bytes (fewer if the input ends).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Codec for Bytes {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        let n = usize::from(u16::decode(u)?);
        let n = n.min(u.len());
        Ok(Bytes(u.bytes(n)?.to_vec()))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        (self.0.len() as u16).encode(out);
        out.extend_from_slice(&self.0);
    }
}

/// Knobs of the stack under test.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Setup {
    /// `tcp_syncookies` (taken modulo 3).
    pub syncookies: u8,
    /// Turn off `tcp_timestamps`.
    pub no_timestamps: bool,
    /// Turn off `tcp_sack`.
    pub no_sack: bool,
    /// Turn off `tcp_window_scaling`.
    pub no_window_scaling: bool,
    /// `tcp_rfc1337`.
    pub rfc1337: bool,
    /// The listeners' backlog (taken modulo 8, plus 1).
    pub backlog: u8,
    /// Small buffers (`tcp_rmem`/`tcp_wmem` of a few KB) instead of Linux's defaults.
    pub small_buffers: bool,
    /// A challenge-ACK limit of a few per second instead of Linux's unlimited default.
    pub challenge_limit: bool,
}

impl Codec for Setup {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(Setup {
            syncookies: u8::decode(u)?,
            no_timestamps: bool::decode(u)?,
            no_sack: bool::decode(u)?,
            no_window_scaling: bool::decode(u)?,
            rfc1337: bool::decode(u)?,
            backlog: u8::decode(u)?,
            small_buffers: bool::decode(u)?,
            challenge_limit: bool::decode(u)?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.syncookies.encode(out);
        self.no_timestamps.encode(out);
        self.no_sack.encode(out);
        self.no_window_scaling.encode(out);
        self.rfc1337.encode(out);
        self.backlog.encode(out);
        self.small_buffers.encode(out);
        self.challenge_limit.encode(out);
    }
}

/// What a crafted segment's sequence number is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBase {
    /// The last ACK number the stack sent on this 4-tuple (its RCV.NXT): exactly what it
    /// expects.
    StackAck,
    /// What the peer model has sent so far.
    PeerNext,
    /// The right edge of the window the stack advertised.
    WindowEdge,
    /// The offset is the absolute sequence number.
    Absolute,
}

/// What a crafted segment's acknowledgment number is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckBase {
    /// The highest sequence number the stack has sent (its SND.NXT).
    StackNext,
    /// The last ACK the peer model sent (the stack's SND.UNA, as far as the peer knows).
    PeerAcked,
    /// The stack's ISS + 1.
    StackIss,
    /// The offset is the absolute acknowledgment number.
    Absolute,
}

macro_rules! enum_codec {
    ($t:ident: $($v:ident),*) => {
        impl Codec for $t {
            fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
                const ALL: &[$t] = &[$($t::$v),*];
                Ok(ALL[usize::from(u8::decode(u)?) % ALL.len()])
            }
            fn encode(&self, out: &mut Vec<u8>) {
                const ALL: &[$t] = &[$($t::$v),*];
                let i = ALL.iter().position(|x| x == self).unwrap_or(0);
                (i as u8).encode(out);
            }
        }
    };
}
enum_codec!(SeqBase: StackAck, PeerNext, WindowEdge, Absolute);
enum_codec!(AckBase: StackNext, PeerAcked, StackIss, Absolute);

/// How a crafted datagram is damaged after it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mangle {
    /// Sent as built.
    None,
    /// XOR the byte at `at` (modulo the length) with `mask`.
    Flip {
        /// Position.
        at: u16,
        /// Bits to flip.
        mask: u8,
    },
    /// Cut the datagram to `len` bytes (modulo its length).
    Truncate {
        /// New length.
        len: u16,
    },
    /// Set the TCP byte at `at` (modulo the TCP length) to `value`, then fix the TCP
    /// checksum, so that the damage reaches past the checksum check.
    SetTcpByte {
        /// Position within the TCP segment.
        at: u16,
        /// New value.
        value: u8,
    },
    /// IPv4: set the fragment bits (MF and offset) and fix the header checksum; IPv6:
    /// insert a Fragment header.
    Fragment {
        /// More fragments.
        more: bool,
        /// Offset in 8-byte units.
        offset: u16,
    },
    /// IPv6: insert extension headers (kinds and lengths) before TCP; IPv4: add IP
    /// options of that many words.
    Extensions {
        /// Up to four (next-header kind, length in 8-byte units) pairs.
        headers: Vec<(u8, u8)>,
    },
    /// Append bytes past the IP length (link-layer padding).
    Trailer {
        /// How many bytes.
        len: u8,
    },
    /// Set the IP length field to `len` (and fix the IPv4 header checksum).
    IpLength {
        /// New length field.
        len: u16,
    },
}

impl Codec for Mangle {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(match u8::decode(u)? % 8 {
            0 => Mangle::None,
            1 => Mangle::Flip {
                at: u16::decode(u)?,
                mask: u8::decode(u)?,
            },
            2 => Mangle::Truncate {
                len: u16::decode(u)?,
            },
            3 => Mangle::SetTcpByte {
                at: u16::decode(u)?,
                value: u8::decode(u)?,
            },
            4 => Mangle::Fragment {
                more: bool::decode(u)?,
                offset: u16::decode(u)?,
            },
            5 => {
                let n = usize::from(u8::decode(u)? % 5);
                let mut headers = Vec::with_capacity(n);
                for _ in 0..n {
                    headers.push((u8::decode(u)?, u8::decode(u)?));
                }
                Mangle::Extensions { headers }
            }
            6 => Mangle::Trailer {
                len: u8::decode(u)?,
            },
            _ => Mangle::IpLength {
                len: u16::decode(u)?,
            },
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Mangle::None => 0u8.encode(out),
            Mangle::Flip { at, mask } => {
                1u8.encode(out);
                at.encode(out);
                mask.encode(out);
            }
            Mangle::Truncate { len } => {
                2u8.encode(out);
                len.encode(out);
            }
            Mangle::SetTcpByte { at, value } => {
                3u8.encode(out);
                at.encode(out);
                value.encode(out);
            }
            Mangle::Fragment { more, offset } => {
                4u8.encode(out);
                more.encode(out);
                offset.encode(out);
            }
            Mangle::Extensions { headers } => {
                5u8.encode(out);
                (headers.len() as u8).encode(out);
                for (k, l) in headers {
                    k.encode(out);
                    l.encode(out);
                }
            }
            Mangle::Trailer { len } => {
                6u8.encode(out);
                len.encode(out);
            }
            Mangle::IpLength { len } => {
                7u8.encode(out);
                len.encode(out);
            }
        }
    }
}

/// Options of a crafted segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptSpec {
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option.
    pub wscale: Option<u8>,
    /// SACK-permitted.
    pub sack_ok: bool,
    /// Timestamps: TSval offset from the peer's clock (`None`: no option), and whether
    /// TSecr echoes the stack's last TSval (else it is the raw value given).
    pub ts: Option<(i32, bool, u32)>,
    /// SACK blocks relative to the acknowledgment number: (start offset, length).
    pub sack: Vec<(i32, u16)>,
    /// Raw option bytes used instead of the above when present.
    pub raw: Option<Bytes>,
}

impl Codec for OptSpec {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        let mss = Option::<u16>::decode(u)?;
        let wscale = Option::<u8>::decode(u)?;
        let sack_ok = bool::decode(u)?;
        let ts = if bool::decode(u)? {
            Some((i32::decode(u)?, bool::decode(u)?, u32::decode(u)?))
        } else {
            None
        };
        let n = usize::from(u8::decode(u)? % 5);
        let mut sack = Vec::with_capacity(n);
        for _ in 0..n {
            sack.push((i32::decode(u)?, u16::decode(u)?));
        }
        let raw = Option::<Bytes>::decode(u)?;
        Ok(OptSpec {
            mss,
            wscale,
            sack_ok,
            ts,
            sack,
            raw,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.mss.encode(out);
        self.wscale.encode(out);
        self.sack_ok.encode(out);
        match self.ts {
            Some((off, echo, ecr)) => {
                true.encode(out);
                off.encode(out);
                echo.encode(out);
                ecr.encode(out);
            }
            None => false.encode(out),
        }
        (self.sack.len() as u8).encode(out);
        for (s, l) in &self.sack {
            s.encode(out);
            l.encode(out);
        }
        self.raw.encode(out);
    }
}

/// A segment crafted from the live sequence numbers of a 4-tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegSpec {
    /// Which tracked 4-tuple (modulo their number); values from 0xf0 up address a
    /// listener from a new peer port instead (even: IPv4, odd: IPv6).
    pub target: u8,
    /// The raw TCP flags byte (FIN SYN RST PSH ACK URG ECE CWR), illegal mixes included.
    pub flags: u8,
    /// Base of the sequence number.
    pub seq_base: SeqBase,
    /// Offset from the base.
    pub seq_off: i32,
    /// Base of the acknowledgment number.
    pub ack_base: AckBase,
    /// Offset from the base.
    pub ack_off: i32,
    /// The window field.
    pub window: u16,
    /// Options.
    pub opts: OptSpec,
    /// Payload bytes (modulo [`MAX_PAYLOAD`]).
    pub payload_len: u16,
    /// Damage done after building.
    pub mangle: Mangle,
}

impl Codec for SegSpec {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(SegSpec {
            target: u8::decode(u)?,
            flags: u8::decode(u)?,
            seq_base: SeqBase::decode(u)?,
            seq_off: i32::decode(u)?,
            ack_base: AckBase::decode(u)?,
            ack_off: i32::decode(u)?,
            window: u16::decode(u)?,
            opts: OptSpec::decode(u)?,
            payload_len: u16::decode(u)?,
            mangle: Mangle::decode(u)?,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.target.encode(out);
        self.flags.encode(out);
        self.seq_base.encode(out);
        self.seq_off.encode(out);
        self.ack_base.encode(out);
        self.ack_off.encode(out);
        self.window.encode(out);
        self.opts.encode(out);
        self.payload_len.encode(out);
        self.mangle.encode(out);
    }
}

/// One step of a fuzz run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A raw datagram, as given.
    Raw(Bytes),
    /// A crafted segment.
    Segment(Box<SegSpec>),
    /// Advance the clock: `class` picks the scale (0: up to 100 ms, 1: up to 5 s,
    /// 2: up to 10 min, 3: exactly to the stack's next timer).
    Advance {
        /// Scale.
        class: u8,
        /// Amount, in milliseconds, modulo the scale's maximum.
        ms: u32,
    },
    /// send() on a socket (index modulo the sockets made so far).
    Send {
        /// Socket index.
        sock: u8,
        /// Bytes.
        len: u16,
        /// MSG_MORE (bit 0) and MSG_EOR (bit 1).
        flags: u8,
    },
    /// recv().
    Recv {
        /// Socket index.
        sock: u8,
        /// Buffer size.
        len: u16,
    },
    /// close().
    Close {
        /// Socket index.
        sock: u8,
    },
    /// shutdown(): 0 read, 1 write, 2 both (modulo 3).
    Shutdown {
        /// Socket index.
        sock: u8,
        /// Direction.
        how: u8,
    },
    /// accept() on a socket.
    Accept {
        /// Socket index.
        sock: u8,
    },
    /// setsockopt(): option `which` (modulo the option count) with `value`.
    SetOpt {
        /// Socket index.
        sock: u8,
        /// Option.
        which: u8,
        /// Value (meaning depends on the option).
        value: u32,
    },
    /// connect() a new socket to the peer.
    Connect {
        /// Peer port (0 is refused by the stack with EINVAL).
        port: u16,
        /// Over IPv6.
        v6: bool,
    },
    /// abort().
    Abort {
        /// Socket index.
        sock: u8,
    },
    /// The peer completes a handshake with a listener (SYN with options, the stack's
    /// SYN-ACK, ACK) and the connection is accepted.
    Handshake {
        /// Over IPv6.
        v6: bool,
        /// Offer timestamps, SACK and window scaling.
        options: bool,
    },
    /// `n` SYNs from spoofed sources to the IPv4 listener.
    Flood {
        /// How many (modulo 200).
        n: u8,
    },
    /// getsockopt(), SO_ERROR, addresses and the `ss`-style listing.
    Inspect {
        /// Socket index.
        sock: u8,
    },
}

impl Codec for Op {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self> {
        Ok(match u8::decode(u)? % 14 {
            0 => Op::Raw(Bytes::decode(u)?),
            1 => Op::Segment(Box::new(SegSpec::decode(u)?)),
            2 => Op::Advance {
                class: u8::decode(u)?,
                ms: u32::decode(u)?,
            },
            3 => Op::Send {
                sock: u8::decode(u)?,
                len: u16::decode(u)?,
                flags: u8::decode(u)?,
            },
            4 => Op::Recv {
                sock: u8::decode(u)?,
                len: u16::decode(u)?,
            },
            5 => Op::Close {
                sock: u8::decode(u)?,
            },
            6 => Op::Shutdown {
                sock: u8::decode(u)?,
                how: u8::decode(u)?,
            },
            7 => Op::Accept {
                sock: u8::decode(u)?,
            },
            8 => Op::SetOpt {
                sock: u8::decode(u)?,
                which: u8::decode(u)?,
                value: u32::decode(u)?,
            },
            9 => Op::Connect {
                port: u16::decode(u)?,
                v6: bool::decode(u)?,
            },
            10 => Op::Abort {
                sock: u8::decode(u)?,
            },
            11 => Op::Handshake {
                v6: bool::decode(u)?,
                options: bool::decode(u)?,
            },
            12 => Op::Flood { n: u8::decode(u)? },
            _ => Op::Inspect {
                sock: u8::decode(u)?,
            },
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Op::Raw(b) => {
                0u8.encode(out);
                b.encode(out);
            }
            Op::Segment(s) => {
                1u8.encode(out);
                s.encode(out);
            }
            Op::Advance { class, ms } => {
                2u8.encode(out);
                class.encode(out);
                ms.encode(out);
            }
            Op::Send { sock, len, flags } => {
                3u8.encode(out);
                sock.encode(out);
                len.encode(out);
                flags.encode(out);
            }
            Op::Recv { sock, len } => {
                4u8.encode(out);
                sock.encode(out);
                len.encode(out);
            }
            Op::Close { sock } => {
                5u8.encode(out);
                sock.encode(out);
            }
            Op::Shutdown { sock, how } => {
                6u8.encode(out);
                sock.encode(out);
                how.encode(out);
            }
            Op::Accept { sock } => {
                7u8.encode(out);
                sock.encode(out);
            }
            Op::SetOpt { sock, which, value } => {
                8u8.encode(out);
                sock.encode(out);
                which.encode(out);
                value.encode(out);
            }
            Op::Connect { port, v6 } => {
                9u8.encode(out);
                port.encode(out);
                v6.encode(out);
            }
            Op::Abort { sock } => {
                10u8.encode(out);
                sock.encode(out);
            }
            Op::Handshake { v6, options } => {
                11u8.encode(out);
                v6.encode(out);
                options.encode(out);
            }
            Op::Flood { n } => {
                12u8.encode(out);
                n.encode(out);
            }
            Op::Inspect { sock } => {
                13u8.encode(out);
                sock.encode(out);
            }
        }
    }
}

/// A whole stack fuzz input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackInput {
    /// The stack's knobs.
    pub setup: Setup,
    /// The operations, in order (at most [`MAX_OPS`]).
    pub ops: Vec<Op>,
}

impl StackInput {
    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.setup.encode(&mut out);
        for op in self.ops.iter().take(MAX_OPS) {
            op.encode(&mut out);
        }
        out
    }
}

impl<'a> Arbitrary<'a> for StackInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let setup = Setup::decode(u)?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            ops.push(Op::decode(u)?);
        }
        Ok(StackInput { setup, ops })
    }
}
