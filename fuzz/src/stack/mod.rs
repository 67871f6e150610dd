//! The whole-stack harness: one [`Stack`] (10.0.0.1 and fd00::1) with a listener per
//! address family and established connections, driven by the operations of a
//! [`StackInput`] while a peer model (10.0.0.2, fd00::2, and spoofed sources) tracks the
//! live sequence numbers of every 4-tuple from what the stack sends.
//!
//! Checks, each a panic when it fails:
//! - every datagram the stack sends parses (checksums verified) and comes from one of its
//!   addresses;
//! - `poll_transmit`, `poll_event` and the timer loop each end within a fixed bound;
//! - socket calls on any handle, live, closed or of the wrong kind, return errors instead
//!   of panicking;
//! - `CurrEstab` equals the number of connections in ESTABLISHED or CLOSE-WAIT.

mod build;
pub mod input;

use core::time::Duration;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Arbitrary, Unstructured};
use synack::wire::icmp::{IcmpRepr, IPPROTO_ICMP, IPPROTO_ICMPV6};
use synack::wire::{Control, IpRepr, SeqNum, TcpRepr, IPPROTO_TCP};
use synack::{
    Config, Instant, RxOffload, SendFlags, Shutdown, SockOpt, SockOptName, SocketHandle, Stack,
    TxOffload,
};

pub use input::{
    AckBase, Bytes, Codec, Mangle, Op, OptSpec, SegSpec, SeqBase, Setup, StackInput, MAX_OPS,
    MAX_PAYLOAD,
};

/// The stack's IPv4 address.
pub const LOCAL4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The peer's IPv4 address.
pub const PEER4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The stack's IPv6 address.
pub const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// The peer's IPv6 address.
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// The IPv4 listener's port.
pub const PORT4: u16 = 80;
/// The IPv6 listener's port.
pub const PORT6: u16 = 81;

/// Most datagrams one call may make the stack send before the harness calls it a loop.
const MAX_OUTPUT: usize = 200_000;
/// Most events one drain may yield.
const MAX_EVENTS: usize = 100_000;
/// Most timer firings one time jump may take.
const MAX_TIMER_STEPS: usize = 100_000;
/// Most 4-tuples the peer model tracks.
const MAX_TUPLES: usize = 64;
/// Most sockets the application holds.
const MAX_SOCKETS: usize = 64;

/// What a run did, for tests of the seed corpus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Operations run.
    pub ops: usize,
    /// Datagrams the stack sent (segments, super-segments counted as the segments a
    /// device cuts them into).
    pub sent: u64,
    /// Connections accepted by the harness's handshakes and accept() calls.
    pub accepted: u64,
    /// Bytes read by recv().
    pub received: u64,
    /// Super-segments of more than one segment the stack built ([`Path::Tso`]).
    pub super_segments: u64,
    /// GSO packets handed to the stack ([`Path::Gro`]).
    pub gso_packets: u64,
    /// The stack's counters at the end.
    pub stats: synack::Stats,
}

/// How datagrams move between the stack and the harness's peer model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Path {
    /// `poll_transmit` and `handle_packet`: one segment per datagram.
    #[default]
    Plain,
    /// `poll_transmit_offload` with these offloads, each datagram cut into the
    /// segments a device would send (`wire::gso::segment`, checksums completed); the
    /// peer model sees those segments.
    Tso(TxOffload),
    /// `handle_packet_offload`: every TCP datagram the harness sends with more payload
    /// than `gso_size` is handed over as a GSO packet of that segment size (a GRO
    /// packet), with the checksum vouched for or not.
    Gro {
        /// The GSO packet's segment size (0: never).
        gso_size: u16,
        /// The device vouches for the TCP checksum (it is not verified).
        csum_valid: bool,
    },
}

/// Decodes `data` and runs it.
pub fn run(data: &[u8]) -> Report {
    let mut u = Unstructured::new(data);
    match StackInput::arbitrary(&mut u) {
        Ok(input) => run_input(&input),
        Err(_) => Report::default(),
    }
}

/// Runs one input.
pub fn run_input(input: &StackInput) -> Report {
    run_input_capture(input, 0).0
}

/// Runs one input and also returns the first `max` datagrams the stack sent and the first
/// `max` it was given (for building the wire target's seeds).
pub fn run_input_capture(input: &StackInput, max: usize) -> (Report, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    run_input_path(input, Path::Plain, max)
}

/// Runs one input over `path`; returns the report, the first `max` datagrams the stack
/// sent (as segments, cut as the device would) and the first `max` it was given.
pub fn run_input_path(
    input: &StackInput,
    path: Path,
    max: usize,
) -> (Report, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut h = Harness::new(&input.setup);
    h.path = path;
    h.capture = max;
    h.setup(&input.setup);
    for op in input.ops.iter().take(MAX_OPS) {
        h.op(op);
        h.report.ops += 1;
        h.check_invariants();
    }
    h.report.stats = h.stack.stats().clone();
    (h.report, h.sent_log, h.recv_log)
}

/// The peer's view of one 4-tuple, learnt from what the stack sent on it.
#[derive(Debug, Clone)]
struct Tuple {
    local: SocketAddr,
    remote: SocketAddr,
    stack_iss: Option<SeqNum>,
    stack_nxt: SeqNum,
    stack_ack: Option<SeqNum>,
    stack_wnd: u16,
    stack_tsval: u32,
    peer_nxt: SeqNum,
    peer_acked: SeqNum,
}

impl Tuple {
    fn new(local: SocketAddr, remote: SocketAddr) -> Tuple {
        Tuple {
            local,
            remote,
            stack_iss: None,
            stack_nxt: SeqNum(0),
            stack_ack: None,
            stack_wnd: 0,
            stack_tsval: 0,
            peer_nxt: SeqNum(0),
            peer_acked: SeqNum(0),
        }
    }
}

struct Harness {
    stack: Stack,
    now: Instant,
    socks: Vec<SocketHandle>,
    listeners: [Option<SocketHandle>; 2],
    tuples: Vec<Tuple>,
    index: HashMap<(SocketAddr, SocketAddr), usize>,
    next_port: u16,
    next_spoof: u32,
    buf: Vec<u8>,
    drains: u64,
    report: Report,
    capture: usize,
    path: Path,
    sent_log: Vec<Vec<u8>>,
    recv_log: Vec<Vec<u8>>,
}

impl Harness {
    // Field by field: the config may become #[non_exhaustive].
    #[allow(clippy::field_reassign_with_default)]
    fn new(setup: &Setup) -> Harness {
        let mut config = Config::default();
        config.seed = Some(0x5eed_f022);
        config.tcp_syncookies = setup.syncookies % 3;
        config.tcp_timestamps = !setup.no_timestamps;
        config.tcp_sack = !setup.no_sack;
        config.tcp_window_scaling = !setup.no_window_scaling;
        config.tcp_rfc1337 = setup.rfc1337;
        if setup.small_buffers {
            config.tcp_rmem = [1024, 4096, 8192];
            config.tcp_wmem = [1024, 4096, 8192];
        }
        if setup.challenge_limit {
            config.tcp_challenge_ack_limit = 3;
        }
        let mut stack = Stack::new(config);
        stack.add_address(LOCAL4.into());
        stack.add_address(LOCAL6.into());
        Harness {
            stack,
            now: Instant::ZERO,
            socks: Vec::new(),
            listeners: [None, None],
            tuples: Vec::new(),
            index: HashMap::new(),
            next_port: 20000,
            next_spoof: 0,
            buf: vec![0u8; 65536],
            drains: 0,
            report: Report::default(),
            capture: 0,
            path: Path::Plain,
            sent_log: Vec::new(),
            recv_log: Vec::new(),
        }
    }

    /// Listeners on both families, one accepted connection on each, and one active
    /// connection over IPv4.
    fn setup(&mut self, setup: &Setup) {
        let backlog = u32::from(setup.backlog % 8) + 1;
        for (i, addr) in [
            SocketAddr::new(LOCAL4.into(), PORT4),
            SocketAddr::new(LOCAL6.into(), PORT6),
        ]
        .into_iter()
        .enumerate()
        {
            let l = self.stack.socket();
            self.stack.bind(l, addr).expect("bind a fresh port");
            self.stack.listen(l, backlog).expect("listen");
            self.listeners[i] = Some(l);
            self.socks.push(l);
        }
        self.handshake(false, true);
        self.handshake(true, true);
        self.connect(8080, false);
        // The peer answers the SYN-ACK's way: SYN-ACK with options, then the stack ACKs.
        if let Some(i) = self.tuples.iter().position(|t| t.remote.port() == 8080) {
            let t = self.tuples[i].clone();
            if let Some(iss) = t.stack_iss {
                let peer_iss = SeqNum(0x3000_0000);
                self.inject_repr(
                    &t,
                    Control::Syn,
                    peer_iss,
                    Some(iss + 1),
                    true,
                    &[],
                    peer_iss + 1,
                );
            }
        }
    }

    fn peer_tsval(&self) -> u32 {
        (self.now.total_millis() as u32).wrapping_add(0x0100_0000)
    }

    fn tuple_index(&mut self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
        if let Some(&i) = self.index.get(&(local, remote)) {
            return Some(i);
        }
        if self.tuples.len() >= MAX_TUPLES {
            return None;
        }
        self.tuples.push(Tuple::new(local, remote));
        self.index.insert((local, remote), self.tuples.len() - 1);
        Some(self.tuples.len() - 1)
    }

    // ----- driving the stack -----

    /// Drains every datagram and event, checking each datagram.
    fn drain(&mut self) {
        let mut sent = 0;
        let mut scratch = Vec::new();
        loop {
            // Every other drain first offers a buffer too small for any datagram: the
            // datagram must stay queued and come out whole from the next call.
            self.drains += 1;
            let tso = match self.path {
                Path::Tso(o) => Some(o),
                _ => None,
            };
            let needed = if self.drains.is_multiple_of(2) {
                let small = &mut self.buf[..39];
                let r = match tso {
                    Some(o) => self
                        .stack
                        .poll_transmit_offload(self.now, small, o)
                        .map(|t| t.map(|t| t.len)),
                    None => self.stack.poll_transmit(self.now, small),
                };
                match r {
                    Ok(None) => break,
                    Ok(Some(n)) => panic!("a {n}-byte datagram: shorter than any IP/TCP header"),
                    Err(e) => Some(e.needed),
                }
            } else {
                None
            };
            let (n, gso) = match tso {
                Some(o) => match self.stack.poll_transmit_offload(self.now, &mut self.buf, o) {
                    Ok(Some(t)) => {
                        assert!(t.segs >= 1 && (t.segs == 1 || t.gso_size > 0), "{t:?}");
                        assert!(
                            o.gso_max_size == 0 || t.segs == 1 || t.len <= o.gso_max_size,
                            "a super-segment past gso_max_size: {t:?}"
                        );
                        assert!(
                            o.csum || t.csum_start.is_none(),
                            "a checksum left to a device without checksum offload"
                        );
                        (Some(t.len), Some(t))
                    }
                    Ok(None) => (None, None),
                    Err(e) => panic!("a 64 KiB buffer is too small: {e}"),
                },
                None => match self.stack.poll_transmit(self.now, &mut self.buf) {
                    Ok(n) => (n, None),
                    Err(e) => panic!("a 64 KiB buffer is too small: {e}"),
                },
            };
            let Some(n) = n else {
                assert_eq!(needed, None, "a datagram too big for a buffer was lost");
                break;
            };
            if let Some(needed) = needed {
                match gso {
                    // The first segment of a super-segment is what did not fit.
                    Some(_) => assert!(n >= needed, "{n} bytes after {needed} were needed"),
                    None => {
                        assert_eq!(n, needed, "the datagram that did not fit comes next, whole")
                    }
                }
            }
            sent += 1;
            assert!(
                sent <= MAX_OUTPUT,
                "poll_transmit did not run dry after {MAX_OUTPUT} datagrams"
            );
            assert!(n <= self.buf.len(), "reported length past the buffer");
            let mut datagrams = Vec::new();
            match gso {
                // Cut as the device would: TCP into its segments with full checksums;
                // anything else goes as it is (its checksums complete).
                Some(t) if t.hdr_len > 0 => {
                    let size = if t.segs > 1 { t.gso_size } else { 0 };
                    self.report.super_segments += u64::from(t.segs > 1);
                    let count =
                        synack::wire::gso::segment(&self.buf[..n], size, &mut scratch, |seg| {
                            datagrams.push(seg.to_vec())
                        })
                        .unwrap_or_else(|e| {
                            panic!("a super-segment the device cannot cut: {e} ({t:?})")
                        });
                    assert_eq!(count, usize::from(t.segs), "the segments of {t:?}");
                }
                Some(t) => {
                    assert_eq!(t.csum_start, None, "a checksum left to the device: {t:?}");
                    datagrams.push(self.buf[..n].to_vec());
                }
                None => datagrams.push(self.buf[..n].to_vec()),
            }
            for datagram in datagrams {
                self.check_sent(datagram);
            }
        }
        let mut events = 0;
        while self.stack.poll_event().is_some() {
            events += 1;
            assert!(events <= MAX_EVENTS, "poll_event did not run dry");
        }
    }

    /// Checks one datagram the stack sent and lets the peer model learn from it.
    fn check_sent(&mut self, datagram: Vec<u8>) {
        self.report.sent += 1;
        if self.sent_log.len() < self.capture {
            self.sent_log.push(datagram.clone());
        }
        let (ip, payload) = IpRepr::parse(&datagram).unwrap_or_else(|e| {
            panic!("the stack sent an IP datagram that does not parse ({e}): {datagram:02x?}")
        });
        assert!(
            self.stack.addresses().contains(&ip.src),
            "sent from an address that is not the stack's: {}",
            ip.src
        );
        let v6 = ip.src.is_ipv6();
        match ip.protocol {
            IPPROTO_TCP => {
                let tcp = TcpRepr::parse(payload, &ip.src, &ip.dst, true).unwrap_or_else(|e| {
                    panic!(
                        "the stack sent a TCP segment that does not parse ({e}): {datagram:02x?}"
                    )
                });
                self.observe(&ip, &tcp);
            }
            // Echo replies and destination unreachables: they must parse, with their
            // checksum, as the version's ICMP.
            p if p == (if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP }) => {
                IcmpRepr::parse(v6, &ip.src, &ip.dst, payload).unwrap_or_else(|e| {
                    panic!(
                        "the stack sent an ICMP message that does not parse ({e}): {datagram:02x?}"
                    )
                });
            }
            p => panic!("the stack sent protocol {p}: {datagram:02x?}"),
        }
    }

    fn observe(&mut self, ip: &IpRepr, tcp: &TcpRepr<'_>) {
        let local = SocketAddr::new(ip.src, tcp.src_port);
        let remote = SocketAddr::new(ip.dst, tcp.dst_port);
        let Some(i) = self.tuple_index(local, remote) else {
            return;
        };
        let t = &mut self.tuples[i];
        if tcp.control == Control::Syn {
            t.stack_iss = Some(tcp.seq);
            t.stack_nxt = tcp.seq;
        }
        let end = tcp.seq + tcp.seg_len();
        if end.after(t.stack_nxt) || t.stack_iss.is_none() {
            t.stack_nxt = end;
        }
        if let Some(a) = tcp.ack {
            t.stack_ack = Some(a);
        }
        t.stack_wnd = tcp.window;
        if let Some(ts) = tcp.options.timestamp {
            t.stack_tsval = ts.tsval;
        }
    }

    /// Runs the clock to `until`, firing timers at their deadlines.
    fn run_until(&mut self, until: Instant) {
        self.drain();
        let mut steps = 0;
        while let Some(t) = self.stack.poll_timeout() {
            if t > until {
                break;
            }
            steps += 1;
            assert!(
                steps <= MAX_TIMER_STEPS,
                "the timer loop did not end: poll_timeout keeps returning {t:?}"
            );
            if t > self.now {
                self.now = t;
            }
            self.stack.handle_timeout(self.now);
            self.drain();
        }
        if until > self.now {
            self.now = until;
        }
        self.stack.handle_timeout(self.now);
        self.drain();
    }

    fn deliver(&mut self, datagram: &[u8]) {
        if self.recv_log.len() < self.capture {
            self.recv_log.push(datagram.to_vec());
        }
        match self.path {
            Path::Gro {
                gso_size,
                csum_valid,
            } if gso_size > 0
                && tcp_payload_len(datagram).is_some_and(|p| p > usize::from(gso_size)) =>
            {
                let rx = RxOffload {
                    gso_size,
                    csum_valid,
                };
                self.report.gso_packets += 1;
                self.stack.handle_packet_offload(self.now, datagram, rx);
            }
            _ => self.stack.handle_packet(self.now, datagram),
        }
        self.drain();
    }

    /// Sends a well-formed segment on `t` (no mangling) and drains.
    #[allow(clippy::too_many_arguments)]
    fn inject_repr(
        &mut self,
        t: &Tuple,
        control: Control,
        seq: SeqNum,
        ack: Option<SeqNum>,
        options: bool,
        payload: &[u8],
        next: SeqNum,
    ) {
        let mut opts = synack::wire::TcpOptions::default();
        if options {
            if control == Control::Syn {
                opts.mss = Some(1460);
                opts.sack_permitted = true;
                opts.window_scale = Some(7);
            }
            opts.timestamp = Some(synack::wire::Timestamp {
                tsval: self.peer_tsval(),
                tsecr: t.stack_tsval,
            });
        }
        let repr = TcpRepr {
            src_port: t.remote.port(),
            dst_port: t.local.port(),
            seq,
            ack,
            control,
            psh: false,
            ece: false,
            cwr: false,
            window: 65535,
            urgent: None,
            options: opts,
            payload,
        };
        let mut buf = vec![0u8; 128 + payload.len()];
        let n = synack::wire::emit_datagram(&mut buf, t.remote.ip(), t.local.ip(), 64, &repr)
            .expect("emit a well-formed segment");
        if let Some(i) = self.tuple_index(t.local, t.remote) {
            let m = &mut self.tuples[i];
            m.peer_nxt = next;
            if let Some(a) = ack {
                m.peer_acked = a;
            }
        }
        self.deliver(&buf[..n]);
    }

    /// The peer opens a connection to a listener with a proper handshake; the stack's
    /// connection is accepted.
    fn handshake(&mut self, v6: bool, options: bool) {
        let (local, remote_ip) = if v6 {
            (SocketAddr::new(LOCAL6.into(), PORT6), IpAddr::from(PEER6))
        } else {
            (SocketAddr::new(LOCAL4.into(), PORT4), IpAddr::from(PEER4))
        };
        let remote = SocketAddr::new(remote_ip, self.fresh_port());
        let iss = SeqNum(0x1000_0000u32.wrapping_mul(u32::from(remote.port())));
        let t = Tuple::new(local, remote);
        self.inject_repr(&t, Control::Syn, iss, None, options, &[], iss + 1);
        let Some(i) = self.tuple_index(local, remote) else {
            return;
        };
        let t = self.tuples[i].clone();
        if let Some(stack_iss) = t.stack_iss {
            self.inject_repr(
                &t,
                Control::None,
                iss + 1,
                Some(stack_iss + 1),
                options,
                &[],
                iss + 1,
            );
        }
        self.accept_all(usize::from(v6));
    }

    fn fresh_port(&mut self) -> u16 {
        self.next_port = self.next_port.wrapping_add(1).max(1024);
        self.next_port
    }

    fn accept_all(&mut self, which: usize) {
        let Some(l) = self.listeners[which] else {
            return;
        };
        for _ in 0..MAX_SOCKETS {
            match self.stack.accept(l) {
                Ok((h, _)) => {
                    self.report.accepted += 1;
                    if self.socks.len() < MAX_SOCKETS {
                        self.socks.push(h);
                    }
                }
                Err(_) => break,
            }
        }
        self.drain();
    }

    fn connect(&mut self, port: u16, v6: bool) {
        let ip: IpAddr = if v6 { PEER6.into() } else { PEER4.into() };
        let s = self.stack.socket();
        let _ = self.stack.connect(s, SocketAddr::new(ip, port));
        if self.socks.len() < MAX_SOCKETS {
            self.socks.push(s);
        } else {
            let _ = self.stack.close(s);
        }
        self.drain();
    }

    fn sock(&self, i: u8) -> Option<SocketHandle> {
        if self.socks.is_empty() {
            return None;
        }
        Some(self.socks[usize::from(i) % self.socks.len()])
    }

    // ----- operations -----

    fn op(&mut self, op: &Op) {
        match op {
            Op::Raw(b) => self.deliver(&b.0),
            Op::Segment(spec) => self.segment(spec),
            Op::Advance { class, ms } => {
                let until = match class % 4 {
                    0 => self.now + Duration::from_millis(u64::from(ms % 100)),
                    1 => self.now + Duration::from_millis(u64::from(ms % 5_000)),
                    2 => self.now + Duration::from_millis(u64::from(ms % 600_000)),
                    _ => self.stack.poll_timeout().unwrap_or(self.now).max(self.now),
                };
                self.run_until(until);
            }
            Op::Send { sock, len, flags } => {
                if let Some(h) = self.sock(*sock) {
                    let data: Vec<u8> = (0..*len).map(|i| i as u8).collect();
                    let f = SendFlags {
                        more: flags & 1 != 0,
                        eor: flags & 2 != 0,
                        oob: flags & 4 != 0,
                    };
                    if let Ok(n) = self.stack.send_with(h, &data, f) {
                        assert!(n <= data.len(), "send() took more than it was given");
                    }
                    self.drain();
                }
            }
            Op::Recv { sock, len } => {
                if let Some(h) = self.sock(*sock) {
                    let mut out = vec![0u8; usize::from(*len)];
                    if let Ok(n) = self.stack.recv(h, &mut out) {
                        assert!(n <= out.len(), "recv() wrote past the buffer");
                        self.report.received += n as u64;
                    }
                    self.drain();
                }
            }
            Op::Close { sock } => {
                if let Some(h) = self.sock(*sock) {
                    let _ = self.stack.close(h);
                    self.drain();
                }
            }
            Op::Shutdown { sock, how } => {
                if let Some(h) = self.sock(*sock) {
                    let how =
                        [Shutdown::Read, Shutdown::Write, Shutdown::Both][usize::from(how % 3)];
                    let _ = self.stack.shutdown(h, how);
                    self.drain();
                }
            }
            Op::Accept { sock } => {
                if let Some(h) = self.sock(*sock) {
                    if let Ok((c, _)) = self.stack.accept(h) {
                        self.report.accepted += 1;
                        if self.socks.len() < MAX_SOCKETS {
                            self.socks.push(c);
                        }
                    }
                    self.drain();
                }
            }
            Op::SetOpt { sock, which, value } => {
                if let Some(h) = self.sock(*sock) {
                    let _ = self.stack.set_option(h, sockopt(*which, *value));
                    self.drain();
                }
            }
            Op::Connect { port, v6 } => {
                if self.socks.len() < MAX_SOCKETS {
                    self.connect(*port, *v6);
                }
            }
            Op::Abort { sock } => {
                if let Some(h) = self.sock(*sock) {
                    let _ = self.stack.abort(h);
                    self.drain();
                }
            }
            Op::Handshake { v6, options } => self.handshake(*v6, *options),
            Op::Flood { n } => self.flood(*n % 200),
            Op::Inspect { sock } => {
                if let Some(h) = self.sock(*sock) {
                    for name in OPTION_NAMES {
                        let _ = self.stack.get_option(h, name);
                    }
                    let _ = self.stack.socket_error(h);
                    let _ = self.stack.local_addr(h);
                    let _ = self.stack.peer_addr(h);
                    let _ = self.stack.state(h);
                    let _ = self.stack.send_capacity(h);
                    let _ = self.stack.recv_queue(h);
                    let _ = self.stack.socket_info(h);
                }
                for info in self.stack.sockets() {
                    let _ = info.to_string();
                }
            }
        }
    }

    fn flood(&mut self, n: u8) {
        let local = SocketAddr::new(LOCAL4.into(), PORT4);
        for _ in 0..n {
            self.next_spoof = self.next_spoof.wrapping_add(1);
            let k = self.next_spoof;
            let src = Ipv4Addr::new(198, 18, (k >> 8) as u8, k as u8);
            let remote = SocketAddr::new(src.into(), 1024 + (k % 60000) as u16);
            let t = Tuple::new(local, remote);
            let iss = SeqNum(k.wrapping_mul(0x9e37_79b9));
            self.inject_repr(
                &t,
                Control::Syn,
                iss,
                None,
                k.is_multiple_of(2),
                &[],
                iss + 1,
            );
        }
    }

    fn segment(&mut self, s: &SegSpec) {
        let t = if s.target >= 0xf0 || self.tuples.is_empty() {
            let v6 = s.target & 1 == 1;
            let (local, ip) = if v6 {
                (SocketAddr::new(LOCAL6.into(), PORT6), IpAddr::from(PEER6))
            } else {
                (SocketAddr::new(LOCAL4.into(), PORT4), IpAddr::from(PEER4))
            };
            let remote = SocketAddr::new(ip, self.fresh_port());
            Tuple::new(local, remote)
        } else {
            self.tuples[usize::from(s.target) % self.tuples.len()].clone()
        };
        let seq_base = match s.seq_base {
            SeqBase::StackAck => t.stack_ack.unwrap_or(t.peer_nxt),
            SeqBase::PeerNext => t.peer_nxt,
            SeqBase::WindowEdge => t.stack_ack.unwrap_or(t.peer_nxt) + u32::from(t.stack_wnd),
            SeqBase::Absolute => SeqNum(0),
        };
        let ack_base = match s.ack_base {
            AckBase::StackNext => t.stack_nxt,
            AckBase::PeerAcked => t.peer_acked,
            AckBase::StackIss => t.stack_iss.map_or(SeqNum(0), |i| i + 1),
            AckBase::Absolute => SeqNum(0),
        };
        let seq = seq_base + s.seq_off as u32;
        let ack = ack_base + s.ack_off as u32;
        let (tsval, tsecr) = match s.opts.ts {
            Some((off, echo, ecr)) => (
                self.peer_tsval().wrapping_add(off as u32),
                if echo { t.stack_tsval } else { ecr },
            ),
            None => (0, 0),
        };
        let options = build::options(&s.opts, tsval, tsecr, ack);
        let payload_len = usize::from(s.payload_len % MAX_PAYLOAD);
        let mut datagram = build::datagram(&build::Fields {
            src: t.remote.ip(),
            dst: t.local.ip(),
            src_port: t.remote.port(),
            dst_port: t.local.port(),
            seq,
            ack,
            flags: s.flags,
            window: s.window,
            urgent: s.seq_off as u16,
            options: &options,
            payload_len,
        });
        build::mangle(&mut datagram, &s.mangle);
        // The peer model: what it has sent and acknowledged.
        if let Some(i) = self.tuple_index(t.local, t.remote) {
            let m = &mut self.tuples[i];
            let syn = s.flags & 0x02 != 0;
            let fin = s.flags & 0x01 != 0;
            let end = seq + payload_len as u32 + u32::from(syn) + u32::from(fin);
            if syn || end.after(m.peer_nxt) {
                m.peer_nxt = end;
            }
            if s.flags & 0x10 != 0 {
                m.peer_acked = ack;
            }
        }
        self.deliver(&datagram);
    }

    /// Counters that must agree with the sockets listed.
    fn check_invariants(&mut self) {
        let estab = self
            .stack
            .sockets()
            .iter()
            .filter(|i| {
                matches!(
                    i.state,
                    synack::State::Established | synack::State::CloseWait
                )
            })
            .count() as u64;
        assert_eq!(
            self.stack.stats().CurrEstab,
            estab,
            "CurrEstab disagrees with the sockets in ESTABLISHED or CLOSE-WAIT"
        );
    }
}

const OPTION_NAMES: [SockOptName; 14] = [
    SockOptName::NoDelay,
    SockOptName::KeepAlive,
    SockOptName::Linger,
    SockOptName::SendBuffer,
    SockOptName::RecvBuffer,
    SockOptName::ReuseAddr,
    SockOptName::MaxSegment,
    SockOptName::Cork,
    SockOptName::UserTimeout,
    SockOptName::SynCount,
    SockOptName::KeepIdle,
    SockOptName::KeepInterval,
    SockOptName::KeepCount,
    SockOptName::Linger2,
];

/// Socket option `which` (modulo the count) with a value made from `v`.
fn sockopt(which: u8, v: u32) -> SockOpt {
    let ms = Duration::from_millis(u64::from(v % 10_000_000));
    match which % 14 {
        0 => SockOpt::NoDelay(v & 1 == 1),
        1 => SockOpt::KeepAlive(v & 1 == 1),
        2 => SockOpt::Linger((v & 1 == 1).then_some(Duration::from_millis(u64::from(v >> 20)))),
        3 => SockOpt::SendBuffer(v as usize),
        4 => SockOpt::RecvBuffer(v as usize),
        5 => SockOpt::ReuseAddr(v & 1 == 1),
        6 => SockOpt::MaxSegment(v as u16),
        7 => SockOpt::Cork(v & 1 == 1),
        8 => SockOpt::UserTimeout(ms),
        9 => SockOpt::SynCount(v % 300),
        10 => SockOpt::KeepIdle(ms),
        11 => SockOpt::KeepInterval(ms),
        12 => SockOpt::KeepCount(v % 300),
        _ => SockOpt::Linger2(ms),
    }
}

/// The TCP payload's length of a TCP datagram (`None` for anything else).
fn tcp_payload_len(datagram: &[u8]) -> Option<usize> {
    let (ip, tcp) = synack::wire::gso::tcp_header_lens(datagram).ok()?;
    Some(datagram.len() - ip - tcp)
}
