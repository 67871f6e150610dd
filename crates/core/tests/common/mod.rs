//! A scripted peer for per-state tests of the engine, in the style of smoltcp's
//! `send!`/`recv!`: one [`Stack`] at 10.0.0.1, a fake peer at 10.0.0.2 whose segments
//! are built by hand, and a virtual clock.
//!
//! Sequence numbers in tests are written relative to the two initial sequence numbers:
//! [`Conn::p`] counts in the peer's space (`p(1)` is the peer's first data byte) and
//! [`Conn::l`] in the stack's (`l(1)` is the stack's first data byte).

#![allow(dead_code)]

pub mod counting;
pub mod pair;

use core::fmt;
use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack::wire::{self, Control, SeqNum, TcpOptions, TcpRepr, Timestamp};
use synack::{Config, Instant, SocketHandle, SocketInfo, Stack, State};

/// The stack's address.
pub const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The fake peer's address.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The port the stack listens on in passive tests.
pub const LISTEN_PORT: u16 = 80;
/// The peer's port.
pub const PEER_PORT: u16 = 40000;
/// The peer's initial sequence number.
pub const PEER_ISS: u32 = 1_000_000;
/// The window the peer advertises unless a test says otherwise.
pub const PEER_WIN: u16 = 65535;

/// A segment as the tests compare it: flags as tcpdump prints them but without PSH
/// (`S`, `S.`, `.`, `F.`, `R`, `R.`), sequence number, acknowledgment number (only with
/// ACK) and payload length.
#[derive(Clone, PartialEq, Eq)]
pub struct Seg {
    pub flags: String,
    pub seq: u32,
    pub ack: Option<u32>,
    pub len: usize,
}

impl fmt::Debug for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] seq {}", self.flags, self.seq)?;
        if let Some(a) = self.ack {
            write!(f, " ack {a}")?;
        }
        write!(f, " len {}", self.len)
    }
}

/// The expected segment `flags seq ack len`; `ack` is ignored unless `flags` has `.`.
pub fn seg(flags: &str, seq: SeqNum, ack: SeqNum, len: usize) -> Seg {
    Seg {
        flags: flags.to_string(),
        seq: seq.0,
        ack: flags.contains('.').then_some(ack.0),
        len,
    }
}

/// A segment the stack sent, with everything the tests may look at.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub control: Control,
    pub psh: bool,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    /// The urgent pointer, when URG is set.
    pub urgent: Option<u16>,
}

impl Sent {
    /// The comparable summary.
    pub fn brief(&self) -> Seg {
        let mut flags = String::new();
        match self.control {
            Control::Fin => flags.push('F'),
            Control::Syn => flags.push('S'),
            Control::Rst => flags.push('R'),
            Control::None => {}
        }
        if self.ack.is_some() {
            flags.push('.');
        }
        Seg {
            flags,
            seq: self.seq.0,
            ack: self.ack.map(|a| a.0),
            len: self.payload.len(),
        }
    }
}

/// Summaries of several sent segments.
pub fn briefs(v: &[Sent]) -> Vec<Seg> {
    v.iter().map(Sent::brief).collect()
}

/// Which of the data segments sent carry PSH, by index (the last segment of each
/// transmission unit, as Linux marks them).
pub fn psh_at(out: &[Sent]) -> Vec<usize> {
    out.iter()
        .filter(|s| !s.payload.is_empty())
        .enumerate()
        .filter(|(_, s)| s.psh)
        .map(|(i, _)| i)
        .collect()
}

/// A segment the peer sends, built from tcpdump-like flags (`S`, `F`, `R`, `P`, and `.`
/// for ACK).
#[derive(Clone, Debug)]
pub struct Pkt {
    pub control: Control,
    pub psh: bool,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    /// The urgent pointer, with URG.
    pub urgent: Option<u16>,
}

/// A peer segment with `flags`, `seq` and (if `flags` has `.`) `ack`, window
/// [`PEER_WIN`], no options, no payload.
pub fn pkt(flags: &str, seq: SeqNum, ack: SeqNum) -> Pkt {
    let control = if flags.contains('S') {
        Control::Syn
    } else if flags.contains('F') {
        Control::Fin
    } else if flags.contains('R') {
        Control::Rst
    } else {
        Control::None
    };
    Pkt {
        control,
        psh: flags.contains('P'),
        seq,
        ack: flags.contains('.').then_some(ack),
        window: PEER_WIN,
        options: TcpOptions::default(),
        payload: Vec::new(),
        urgent: None,
    }
}

impl Pkt {
    /// With a payload.
    pub fn data(mut self, payload: &[u8]) -> Pkt {
        self.payload = payload.to_vec();
        self
    }
    /// With a window.
    pub fn win(mut self, window: u16) -> Pkt {
        self.window = window;
        self
    }
    /// With a timestamps option.
    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Pkt {
        self.options.timestamp = Some(Timestamp { tsval, tsecr });
        self
    }
    /// With URG and the urgent pointer `ptr`.
    pub fn urg(mut self, ptr: u16) -> Pkt {
        self.urgent = Some(ptr);
        self
    }
    /// With an MSS option.
    pub fn mss(mut self, mss: u16) -> Pkt {
        self.options.mss = Some(mss);
        self
    }
}

/// One connection as the peer sees it: its ports and both initial sequence numbers.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    /// The stack's socket (for passive connections, the accepted one).
    pub handle: SocketHandle,
    pub local_port: u16,
    pub peer_port: u16,
    /// The stack's ISS.
    pub iss: SeqNum,
    /// The peer's ISS.
    pub irs: SeqNum,
}

impl Conn {
    /// The active connection of socket `handle` whose SYN was `syn`, to the scripted peer.
    pub fn active(handle: SocketHandle, syn: &Sent) -> Conn {
        Conn {
            handle,
            local_port: syn.src_port,
            peer_port: PEER_PORT,
            iss: syn.seq,
            irs: SeqNum(PEER_ISS),
        }
    }

    /// The peer's ACK of `ack` (the stack's space) SACKing `blocks`, each `[l, r)` in the
    /// stack's space too.
    pub fn sack_ack(&self, ack: u32, blocks: &[(u32, u32)]) -> Pkt {
        let mut p = pkt(".", self.p(1), self.l(ack));
        for (slot, (l, r)) in p.options.sack_blocks.iter_mut().zip(blocks) {
            *slot = Some(wire::SackBlock {
                left: self.l(*l),
                right: self.l(*r),
            });
        }
        p
    }

    /// `n` octets into the peer's sequence space (`p(0)` is its SYN).
    pub fn p(&self, n: u32) -> SeqNum {
        self.irs + n
    }
    /// `n` octets into the stack's sequence space (`l(0)` is its SYN).
    pub fn l(&self, n: u32) -> SeqNum {
        self.iss + n
    }
    /// The local address of the connection.
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(LOCAL_IP.into(), self.local_port)
    }
    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(PEER_IP.into(), self.peer_port)
    }
}

/// One stack, a virtual clock and a transmit buffer.
pub struct Harness {
    pub stack: Stack,
    pub now: Instant,
    buf: Vec<u8>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A stack with the default configuration (Linux's defaults).
    pub fn new() -> Harness {
        Harness::with_config(|_| {})
    }

    /// A stack with the default configuration changed by `f`, its secrets from a fixed
    /// seed so that every run is the same.
    pub fn with_config(f: impl FnOnce(&mut Config)) -> Harness {
        let mut config = Config::seeded(0x5e1f_ac4b_0000_0001);
        f(&mut config);
        let mut stack = Stack::new(config);
        stack.add_address(LOCAL_IP.into());
        Harness {
            stack,
            now: Instant::ZERO,
            buf: vec![0u8; 65536],
        }
    }

    // ----- raw I/O -----

    /// The peer sends `p` from `peer_port` to the stack's `local_port`, now.
    pub fn inject_ports(&mut self, local_port: u16, peer_port: u16, p: &Pkt) {
        let repr = TcpRepr {
            src_port: peer_port,
            dst_port: local_port,
            seq: p.seq,
            ack: p.ack,
            control: p.control,
            psh: p.psh,
            ece: false,
            cwr: false,
            window: p.window,
            urgent: p.urgent,
            options: p.options,
            payload: &p.payload,
        };
        let mut buf = vec![0u8; 65536];
        let n = wire::emit_datagram(&mut buf, PEER_IP.into(), LOCAL_IP.into(), 64, &repr)
            .expect("emit");
        self.stack.handle_packet(self.now, &buf[..n]);
    }

    /// The peer sends `p` on connection `c`, now.
    pub fn send(&mut self, c: &Conn, p: Pkt) {
        self.inject_ports(c.local_port, c.peer_port, &p);
    }

    /// Every segment the stack sends now.
    pub fn output(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let Some(n) = self
                .stack
                .poll_transmit(self.now, &mut self.buf)
                .expect("the test buffer holds any datagram")
            else {
                break;
            };
            let (ip, tcp) =
                wire::parse_datagram(&self.buf[..n], true).expect("stack emitted garbage");
            assert_eq!(ip.src, IpAddr::from(LOCAL_IP), "source address");
            out.push(Sent {
                at: self.now,
                src: ip.src,
                dst: ip.dst,
                src_port: tcp.src_port,
                dst_port: tcp.dst_port,
                control: tcp.control,
                psh: tcp.psh,
                seq: tcp.seq,
                ack: tcp.ack,
                window: tcp.window,
                options: tcp.options,
                payload: tcp.payload.to_vec(),
                urgent: tcp.urgent,
            });
        }
        out
    }

    /// The summaries of every segment the stack sends now.
    pub fn recv(&mut self) -> Vec<Seg> {
        briefs(&self.output())
    }

    /// Advances the clock by `d`, firing every timer due on the way (in order), and
    /// returns what was sent meanwhile, each with its time.
    pub fn advance(&mut self, d: Duration) -> Vec<Sent> {
        let until = self.now + d;
        self.run_until(until)
    }

    /// Runs the clock to `until`, firing timers at their deadlines; returns what was sent.
    pub fn run_until(&mut self, until: Instant) -> Vec<Sent> {
        let mut out = self.output();
        for _ in 0..100_000 {
            match self.stack.poll_timeout() {
                Some(t) if t <= until => {
                    if t > self.now {
                        self.now = t;
                    }
                    self.stack.handle_timeout(self.now);
                    out.extend(self.output());
                }
                _ => break,
            }
        }
        if until > self.now {
            self.now = until;
        }
        self.stack.handle_timeout(self.now);
        out.extend(self.output());
        out
    }

    /// Runs timers until the stack sends something (returned, with the clock at that
    /// moment) or `max` has passed (empty).
    pub fn next_output(&mut self, max: Duration) -> Vec<Sent> {
        let deadline = self.now + max;
        let out = self.output();
        if !out.is_empty() {
            return out;
        }
        for _ in 0..100_000 {
            match self.stack.poll_timeout() {
                Some(t) if t <= deadline => {
                    let out = self.run_until(t.max(self.now));
                    if !out.is_empty() {
                        return out;
                    }
                }
                _ => break,
            }
        }
        self.run_until(deadline)
    }

    /// Advances by `ms` milliseconds; returns the summaries with their times (ms since
    /// the epoch).
    pub fn advance_ms(&mut self, ms: u64) -> Vec<(u64, Seg)> {
        self.advance(Duration::from_millis(ms))
            .iter()
            .map(|s| (s.at.total_millis(), s.brief()))
            .collect()
    }

    // ----- observations -----

    /// The state of a socket the test holds.
    pub fn state(&self, h: SocketHandle) -> State {
        self.stack.state(h).expect("state of a live handle")
    }

    /// Entries of `sockets()` for connection `c`'s 4-tuple (connections, SYN-RECV
    /// requests, TIME-WAIT records, orphans).
    pub fn entries(&self, c: &Conn) -> Vec<SocketInfo> {
        self.stack
            .sockets()
            .into_iter()
            .filter(|i| i.local.port() == c.local_port && i.remote == Some(c.remote()))
            .collect()
    }

    /// The states of `sockets()` entries for `c`'s 4-tuple.
    pub fn states_of(&self, c: &Conn) -> Vec<State> {
        self.entries(c).iter().map(|i| i.state).collect()
    }

    /// Reads everything readable from `h`.
    pub fn read_all(&mut self, h: SocketHandle) -> Result<Vec<u8>, synack::Error> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.stack.recv(h, &mut buf) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(synack::Error::WouldBlock) if !out.is_empty() => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// Drains the application events.
    pub fn events(&mut self) -> Vec<synack::Event> {
        std::iter::from_fn(|| self.stack.poll_event()).collect()
    }

    // ----- bringing a connection into a state -----

    /// A listener on [`LISTEN_PORT`].
    pub fn listen(&mut self, backlog: u32) -> SocketHandle {
        let l = self.stack.socket();
        self.stack
            .bind(l, SocketAddr::new(LOCAL_IP.into(), LISTEN_PORT))
            .expect("bind");
        self.stack.listen(l, backlog).expect("listen");
        l
    }

    /// SYN-SENT: connect() to the peer; the SYN is consumed and checked.
    pub fn syn_sent(&mut self) -> Conn {
        let h = self.stack.socket();
        self.stack
            .connect(h, SocketAddr::new(PEER_IP.into(), PEER_PORT))
            .expect("connect");
        let out = self.output();
        assert_eq!(out.len(), 1, "connect() sends one SYN: {out:?}");
        let syn = &out[0];
        assert_eq!(syn.control, Control::Syn);
        assert_eq!(syn.ack, None);
        assert_eq!(syn.dst_port, PEER_PORT);
        assert_eq!(self.state(h), State::SynSent);
        Conn::active(h, syn)
    }

    /// ESTABLISHED by an active open: SYN, SYN-ACK (no options), ACK.
    pub fn established_active(&mut self) -> Conn {
        let c = self.syn_sent();
        self.send(&c, pkt("S.", c.p(0), c.l(1)));
        assert_eq!(self.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
        assert_eq!(self.state(c.handle), State::Established);
        self.events();
        c
    }

    /// SYN-RECEIVED by a simultaneous open: connect(), then the peer's SYN crosses ours;
    /// the stack answers with a SYN-ACK that reuses its ISS.
    pub fn syn_received_simultaneous(&mut self) -> Conn {
        let c = self.syn_sent();
        self.send(&c, pkt("S", c.p(0), SeqNum(0)));
        assert_eq!(self.recv(), vec![seg("S.", c.l(0), c.p(1), 0)]);
        assert_eq!(self.state(c.handle), State::SynReceived);
        c
    }

    /// The peer's SYN to the listener on [`LISTEN_PORT`] from `peer_port`; returns the
    /// half-open connection (its handle is the listener's until accepted) after checking
    /// the SYN-ACK.
    pub fn passive_syn(&mut self, listener: SocketHandle, peer_port: u16, syn: Pkt) -> Conn {
        let irs = syn.seq;
        self.inject_ports(LISTEN_PORT, peer_port, &syn);
        let out = self.output();
        assert_eq!(
            out.len(),
            1,
            "a SYN to a listener is answered by one SYN-ACK: {out:?}"
        );
        let sa = &out[0];
        assert_eq!(sa.control, Control::Syn);
        assert_eq!(sa.ack, Some(irs + 1));
        assert_eq!((sa.src_port, sa.dst_port), (LISTEN_PORT, peer_port));
        Conn {
            handle: listener,
            local_port: LISTEN_PORT,
            peer_port,
            iss: sa.seq,
            irs,
        }
    }

    /// ESTABLISHED by a passive open on `listener` from `peer_port`: SYN, SYN-ACK, ACK,
    /// accept().
    pub fn established_passive_on(&mut self, listener: SocketHandle, peer_port: u16) -> Conn {
        let mut c = self.passive_syn(listener, peer_port, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
        self.send(&c, pkt(".", c.p(1), c.l(1)));
        assert_eq!(
            self.recv(),
            vec![],
            "the third step of the handshake is not answered"
        );
        let (h, peer) = self.stack.accept(listener).expect("accept");
        assert_eq!(peer, c.remote());
        c.handle = h;
        assert_eq!(self.state(h), State::Established);
        self.events();
        c
    }

    /// A listener and one accepted connection.
    pub fn established_passive(&mut self) -> (SocketHandle, Conn) {
        let l = self.listen(128);
        let c = self.established_passive_on(l, PEER_PORT);
        (l, c)
    }

    /// FIN-WAIT-1 from ESTABLISHED (active open) by shutdown(SHUT_WR): the FIN goes out.
    pub fn fin_wait_1(&mut self) -> Conn {
        let c = self.established_active();
        self.stack
            .shutdown(c.handle, synack::Shutdown::Write)
            .expect("shutdown");
        assert_eq!(self.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
        assert_eq!(self.state(c.handle), State::FinWait1);
        c
    }

    /// FIN-WAIT-2: FIN-WAIT-1 and the peer's ACK of the FIN.
    pub fn fin_wait_2(&mut self) -> Conn {
        let c = self.fin_wait_1();
        self.send(&c, pkt(".", c.p(1), c.l(2)));
        assert_eq!(self.recv(), vec![]);
        assert_eq!(self.state(c.handle), State::FinWait2);
        c
    }

    /// CLOSE-WAIT: ESTABLISHED (active open) and the peer's FIN. No data arrived before
    /// it, so Linux's delayed-ACK interval is still 0 and the ACK goes out at once.
    pub fn close_wait(&mut self) -> Conn {
        let c = self.established_active();
        self.send(&c, pkt("F.", c.p(1), c.l(1)));
        assert_eq!(self.recv(), vec![seg(".", c.l(1), c.p(2), 0)]);
        assert_eq!(self.state(c.handle), State::CloseWait);
        c
    }

    /// CLOSING: FIN-WAIT-1 and the peer's FIN that does not acknowledge ours.
    pub fn closing(&mut self) -> Conn {
        let c = self.fin_wait_1();
        self.send(&c, pkt("F.", c.p(1), c.l(1)));
        assert_eq!(self.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
        assert_eq!(self.state(c.handle), State::Closing);
        c
    }

    /// LAST-ACK: CLOSE-WAIT and close(); the FIN goes out.
    pub fn last_ack(&mut self) -> Conn {
        let c = self.close_wait();
        self.stack.close(c.handle).expect("close");
        assert_eq!(self.recv(), vec![seg("F.", c.l(1), c.p(2), 0)]);
        assert_eq!(self.states_of(&c), vec![State::LastAck]);
        c
    }

    /// TIME-WAIT: FIN-WAIT-2 and the peer's FIN; the stack acknowledges it.
    pub fn time_wait(&mut self) -> Conn {
        let c = self.fin_wait_2();
        self.send(&c, pkt("F.", c.p(1), c.l(2)));
        assert_eq!(self.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
        assert_eq!(self.states_of(&c), vec![State::TimeWait]);
        c
    }

    /// The remaining time of the TIME-WAIT (or other) timer of `c`'s entry.
    pub fn timer_left(&self, c: &Conn) -> Option<Duration> {
        self.entries(c).first()?.timer.map(|t| t.remaining)
    }
}

/// Every datagram `s` sends at `now`, each in a buffer of its own.
pub fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65535];
    while let Some(n) = s.poll_transmit(now, &mut buf).unwrap() {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Carries datagrams between two stacks at `now` until both are quiet. Each of `a`'s
/// datagrams reaches `b` only if `pass` lets it through (a link that loses some in
/// that direction); `b`'s all reach `a`.
pub fn exchange(a: &mut Stack, b: &mut Stack, now: Instant, mut pass: impl FnMut(&[u8]) -> bool) {
    loop {
        let from_a = drain(a, now);
        let from_b = drain(b, now);
        if from_a.is_empty() && from_b.is_empty() {
            return;
        }
        for d in from_a.iter().filter(|d| pass(d)) {
            b.handle_packet(now, d);
        }
        for d in from_b {
            a.handle_packet(now, &d);
        }
    }
}
