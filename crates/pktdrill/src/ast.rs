//! The parsed form of a script (§3.1–3.4 of PACKETDRILL.md).

/// A whole script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// `--name[=value]` lines, with their line numbers.
    pub options: Vec<(String, Option<String>, usize)>,
    /// The init command (a backtick block before the first event) and its line.
    pub init: Option<(String, usize)>,
    /// The events, in order.
    pub events: Vec<Event>,
    /// The cleanup command (a backtick block after the last event) and its line.
    pub cleanup: Option<(String, usize)>,
}

/// When an event happens, as written in the timing column (times in microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// `*`: any time (outbound packets only).
    Any,
    /// `1.5`: seconds since the start.
    Abs(i64),
    /// `+0.1`: after the previous event.
    Rel(i64),
    /// `1.0~1.2`: an absolute range.
    AbsRange(i64, i64),
    /// `+0.2~+0.3`: a relative range.
    RelRange(i64, i64),
    /// `+a...b` or `a...b`: a blocking call that starts at `a` and returns at `b`, both
    /// from the same base (`relative` says whether that base is the previous event).
    Blocking {
        /// The start offset.
        start: i64,
        /// The return offset.
        end: i64,
        /// Relative to the previous event (`+`), else absolute.
        relative: bool,
    },
}

/// One timed line.
#[derive(Debug, Clone)]
pub struct Event {
    /// Line of the time column.
    pub line: usize,
    /// The timing column.
    pub time: TimeSpec,
    /// What happens.
    pub action: Action,
}

/// The kinds of event.
#[derive(Debug, Clone)]
pub enum Action {
    /// `<` or `>` packet.
    Packet(Packet),
    /// A system call.
    Syscall(Syscall),
    /// A timed `` `shell command` ``.
    Shell(String),
    /// A `%{ python }%` block.
    Code(String),
}

/// Inbound (`<`, injected) or outbound (`>`, expected from the stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `<`: the remote peer sends to the stack.
    Inbound,
    /// `>`: the stack must send.
    Outbound,
}

/// A packet line.
#[derive(Debug, Clone)]
pub struct Packet {
    /// `<` or `>`.
    pub direction: Direction,
    /// `(ect0)`, `[noecn]`, `(tos 0x10)`... as written, without the brackets.
    pub ip_info: Option<String>,
    /// Explicit `sport>dport`.
    pub ports: Option<(u16, u16)>,
    /// TCP or something else.
    pub body: PacketBody,
}

/// What a packet carries.
#[derive(Debug, Clone)]
pub enum PacketBody {
    /// A TCP segment.
    Tcp(TcpSpec),
    /// An ICMP or ICMPv6 message (`icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`).
    Icmp(IcmpSpec),
    /// `udp`, encapsulations: kept as text (the runner reports them unsupported).
    Other(String),
}

/// An ICMP line as the script writes it: `icmp TYPE [CODE] [mtu N] [id N] [ECHOED]`
/// (packetdrill's grammar). The names are resolved when the script runs, against the
/// ICMP or ICMPv6 tables of the IP version the script runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpSpec {
    /// The type's name (`unreachable`, `packet_too_big`, ...) or `type_N`.
    pub type_name: String,
    /// The code's name (`frag_needed`, `host_unreachable`, ...) or `code_N`; absent is 0.
    pub code_name: Option<String>,
    /// `mtu N`: the next-hop MTU of frag_needed / packet_too_big.
    pub mtu: Option<u32>,
    /// `id N`: an echo identifier.
    pub echo_id: Option<u16>,
    /// What the message quotes.
    pub echoed: IcmpEchoed,
}

/// What an ICMP error quotes of the datagram it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpEchoed {
    /// `[start:end(len)]` (or nothing: `[0:0(0)]`): a TCP segment of the connection
    /// under test, its sequence number in the stack's script numbering.
    Tcp {
        /// The quoted segment's script sequence number.
        seq: u32,
        /// Its payload length (packetdrill quotes that many zero bytes).
        len: u32,
    },
    /// `[udp (N)]`.
    Udp(u32),
    /// `[raw (N)]`.
    Raw(u32),
}

/// A TCP segment as the script writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSpec {
    /// The flag letters as written (`S.`, `P.`, `-`, ...).
    pub flags_text: String,
    /// The flags byte (FIN 0x01 .. CWR 0x80).
    pub flags: u8,
    /// AE (the AccECN bit, reserved bit 8 of the header), from `A`.
    pub ae: bool,
    /// `start` of `start:end(len)`.
    pub seq: u32,
    /// `len` of `start:end(len)`.
    pub len: u32,
    /// `ack N` (0 when absent).
    pub ack: Option<u32>,
    /// `win W` (required inbound; outbound, absent means unchecked).
    pub win: Option<u16>,
    /// `urg U`.
    pub urg: Option<u16>,
    /// The options.
    pub options: OptionsSpec,
}

/// The `<...>` part of a packet line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionsSpec {
    /// No option list: the segment has no options.
    None,
    /// `<...>`: options not checked (outbound only).
    Any,
    /// An explicit list, in wire order.
    List(Vec<OptSpec>),
}

/// One TCP option as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptSpec {
    /// `nop`.
    Nop,
    /// `eol`.
    Eol,
    /// `mss N`.
    Mss(u16),
    /// `wscale N`.
    WScale(u8),
    /// `sackOK`.
    SackOk,
    /// `sack a:b c:d`.
    Sack(Vec<(u32, u32)>),
    /// `TS val V ecr E`.
    Ts(u32, u32),
    /// `FO [hex]` (kind 34) or `FOEXP [hex]` (kind 254 with magic 0xF989): a Fast Open
    /// cookie, empty for a cookie request (RFC 7413 4.1.1).
    FastOpen {
        /// The experimental form.
        exp: bool,
        /// The cookie bytes.
        cookie: Vec<u8>,
    },
    /// `md5`, `ECN`, `exp`, ...: the kind's name and its raw words.
    Other(String),
}

/// A system call line.
#[derive(Debug, Clone)]
pub struct Syscall {
    /// The call's name.
    pub name: String,
    /// Its arguments.
    pub args: Vec<Expr>,
    /// The expected return value.
    pub result: Expr,
    /// The expected errno name, when given.
    pub errno: Option<String>,
}

/// An expression in a syscall line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// An integer (negative allowed).
    Int(i64),
    /// A symbol: `SOCK_STREAM`, `O_NONBLOCK`, `NULL`, ...
    Sym(String),
    /// `A|B|...`.
    Or(Vec<Expr>),
    /// `"text"`, with a trailing `...` when `"text"...`.
    Str(String, bool),
    /// `...`.
    Ellipsis,
    /// `[a, b]`.
    Array(Vec<Expr>),
    /// `{name=value, ...}` (a bare value has no name).
    Struct(Vec<(Option<String>, Expr)>),
    /// `name(args)`: `htons(8080)`, `inet_addr("...")`, and `msg_iov(1)` field heads.
    Call(String, Vec<Expr>),
}

impl Expr {
    /// The integer value of a plain integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Expr::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A struct field by name (field names like `msg_iov(1)` match `msg_iov`).
    pub fn field(&self, name: &str) -> Option<&Expr> {
        match self {
            Expr::Struct(fields) => fields
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name))
                .map(|(_, e)| e),
            _ => None,
        }
    }
}
