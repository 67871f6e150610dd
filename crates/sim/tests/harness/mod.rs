//! Shared helpers for the TCP tests over the simulated network: two `synack::Stack`s in a
//! `Pair`, a packet recorder on the network tap with a tcpdump-like printer, and the
//! handshake boilerplate.

#![allow(dead_code)]

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use synack::wire::{Control, SegmentDisplay, SeqNum};
use synack::{Config, Instant, SocketHandle, Stack, State, Transition};
use synack_sim::{Fate, LinkConfig, Pair};

pub const CLIENT_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const SERVER_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
pub const CLIENT_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
pub const SERVER_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
pub const PORT: u16 = 80;

/// One packet as the tap saw it.
#[derive(Clone, Debug)]
pub struct Packet {
    pub at: Instant,
    pub from_client: bool,
    pub fate: Fate,
    pub bytes: Vec<u8>,
}

/// The TCP fields of a recorded packet that the tests look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub control: Control,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub len: usize,
}

impl Seg {
    pub fn is_syn(&self) -> bool {
        self.control == Control::Syn && self.ack.is_none()
    }
    pub fn is_syn_ack(&self) -> bool {
        self.control == Control::Syn && self.ack.is_some()
    }
    pub fn is_fin(&self) -> bool {
        self.control == Control::Fin
    }
    pub fn is_rst(&self) -> bool {
        self.control == Control::Rst
    }
    /// A bare ACK: no SYN, FIN or RST, no data.
    pub fn is_pure_ack(&self) -> bool {
        self.control == Control::None && self.ack.is_some() && self.len == 0
    }
}

impl Packet {
    /// The segment, parsed without checking the checksum (a corrupted copy still parses
    /// as whatever it became).
    pub fn seg(&self) -> Option<Seg> {
        let (_, t) = synack::wire::parse_datagram(&self.bytes, false).ok()?;
        Some(Seg {
            control: t.control,
            seq: t.seq,
            ack: t.ack,
            len: t.payload.len(),
        })
    }

    pub fn delivered(&self) -> bool {
        self.fate.is_delivered()
    }
}

/// Everything the tap recorded, shared with the closure.
pub type Log = Rc<RefCell<Vec<Packet>>>;

/// Installs a tap on `pair` that records every packet into the returned log and, with
/// `print`, writes a tcpdump-like line per packet to stdout (sequence numbers relative
/// to the ISNs once both SYNs have been seen, as tcpdump does).
pub fn record(pair: &mut Pair<Stack>, print: bool) -> Log {
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let sink = log.clone();
    let client = pair.client;
    let mut isn: [Option<SeqNum>; 2] = [None, None];
    pair.net.set_tap(move |at, from, _to, bytes, fate| {
        let from_client = from == client;
        if print {
            println!("{}", trace_line(at, from_client, bytes, fate, &mut isn));
        }
        sink.borrow_mut().push(Packet {
            at,
            from_client,
            fate,
            bytes: bytes.to_vec(),
        });
    });
    log
}

/// One tcpdump-like line: `time C>S|S>C segment fate`. `isn` holds the client's and the
/// server's ISNs as far as they are known.
pub fn trace_line(
    at: Instant,
    from_client: bool,
    bytes: &[u8],
    fate: Fate,
    isn: &mut [Option<SeqNum>; 2],
) -> String {
    let dir = if from_client { "C>S" } else { "S>C" };
    let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
    if fate != Fate::Duplicated {
        if let Ok((_, t)) = synack::wire::parse_datagram(bytes, false) {
            if t.control == Control::Syn {
                isn[me] = Some(t.seq);
            }
        }
    }
    let shown = match SegmentDisplay::from_datagram(bytes) {
        Ok(d) => match (isn[me], isn[peer]) {
            (Some(a), Some(b)) => d.relative(a, b).to_string(),
            _ => d.to_string(),
        },
        Err(e) => format!("<unparsable: {e:?}, {} bytes>", bytes.len()),
    };
    format!("{at} {dir} {shown} [{fate}]")
}

/// A client and a server stack over one link (the same `link` both ways), both tracing
/// their state transitions.
pub fn pair(seed: u64, link: LinkConfig) -> Pair<Stack> {
    pair_with(seed, link.clone(), link, Config::default(), false)
}

/// As [`pair`], with a configuration per direction and for the stacks (the server's seed
/// is changed so the two stacks differ), over IPv4 or IPv6.
pub fn pair_with(
    seed: u64,
    c2s: LinkConfig,
    s2c: LinkConfig,
    config: Config,
    v6: bool,
) -> Pair<Stack> {
    let (ca, sa) = addrs(v6);
    // The simulated network is reproducible: each stack's secrets come from the run's
    // seed (mixed with the configuration's, when it has one).
    let base = config.seed.unwrap_or(0x5e1f_ac4b_0000_0001);
    let mut c = Stack::new(Config {
        seed: Some(base ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        ..config.clone()
    });
    c.add_address(ca);
    c.set_trace_transitions(true);
    let mut s = Stack::new(Config {
        seed: Some(base ^ seed.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ 0x5555),
        ..config
    });
    s.add_address(sa);
    s.set_trace_transitions(true);
    let mut p = Pair::new(seed, c, ca, s, sa, c2s.clone());
    *p.net.link_config_mut(p.link, p.server) = s2c;
    p
}

pub fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (CLIENT_V6, SERVER_V6)
    } else {
        (CLIENT_V4, SERVER_V4)
    }
}

/// The server's listening address.
pub fn server_addr(pair: &Pair<Stack>) -> SocketAddr {
    SocketAddr::new(pair.net.node_addrs(pair.server)[0], PORT)
}

/// A listener on the server's port 80.
pub fn listen(pair: &mut Pair<Stack>) -> SocketHandle {
    let addr = server_addr(pair);
    let l = pair.server().socket();
    pair.server().bind(l, addr).unwrap();
    pair.server().listen(l, 16).unwrap();
    l
}

/// Connects the client to the listener `l` and accepts: returns (client handle, server
/// handle), both ESTABLISHED. Panics if that takes longer than `within` from now.
pub fn connect(
    pair: &mut Pair<Stack>,
    l: SocketHandle,
    within: std::time::Duration,
) -> (SocketHandle, SocketHandle) {
    let addr = server_addr(pair);
    let ch = pair.client().socket();
    pair.client().connect(ch, addr).unwrap();
    let deadline = pair.now() + within;
    let mut sh = None;
    let ok = pair.run_until(deadline, |p| {
        if sh.is_none() {
            sh = p.server().accept(l).ok().map(|(h, _)| h);
        }
        sh.is_some() && p.client().state(ch) == Ok(State::Established)
    });
    assert!(ok, "no connection by {deadline}");
    (ch, sh.unwrap())
}

/// Drains a stack's transition trace.
pub fn transitions(stack: &mut Stack) -> Vec<Transition> {
    std::iter::from_fn(|| stack.poll_transition()).collect()
}

/// Reads everything available; `Ok(true)` at end of stream.
pub fn read_all(stack: &mut Stack, h: SocketHandle, into: &mut Vec<u8>) -> synack::Result<bool> {
    let mut buf = [0u8; 4096];
    loop {
        match stack.recv(h, &mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(synack::Error::WouldBlock) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// The `sockets()` lines of a stack, for messages.
pub fn ss(stack: &Stack) -> String {
    let mut s = String::new();
    for i in stack.sockets() {
        s.push_str(&format!("    {i}\n"));
    }
    s
}
