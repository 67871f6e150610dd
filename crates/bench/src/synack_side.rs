//! The workloads on two synack stacks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack::{Config, Error, Instant, Shutdown, SocketHandle, Stack, State};

use crate::link::{self, drive, Clock, Pair, Pattern, Step, Wire, MTU};
use crate::{BulkOutcome, ChurnOutcome, Variant, CLIENT_IP, PORT, SERVER_IP};

/// Two synack stacks, `a` the client (10.0.0.1) and `b` the server (10.0.0.2).
pub struct SynackPair {
    /// The client stack.
    pub a: Stack,
    /// The server stack.
    pub b: Stack,
    wire: Wire,
}

/// A configuration whose socket buffers are fixed at `buf` bytes in both directions (no
/// autotuning past it), with an MTU of [`MTU`] and RFC 7323 timestamps on or off.
pub fn config(buf: usize, seed: u64, timestamps: bool) -> Config {
    Config {
        tcp_rmem: [4096.min(buf), buf, buf],
        tcp_wmem: [4096.min(buf), buf, buf],
        mtu: MTU,
        tcp_timestamps: timestamps,
        ..Config::seeded(seed)
    }
}

impl SynackPair {
    /// Both stacks with socket buffers of `buf` bytes and Linux's defaults otherwise.
    pub fn new(buf: usize) -> SynackPair {
        SynackPair::with(config(buf, 1, true), config(buf, 2, true))
    }

    /// Both stacks with the given configurations (client, server).
    pub fn with(client: Config, server: Config) -> SynackPair {
        let mut a = Stack::new(client);
        a.add_address(IpAddr::V4(Ipv4Addr::from(CLIENT_IP)));
        let mut b = Stack::new(server);
        b.add_address(IpAddr::V4(Ipv4Addr::from(SERVER_IP)));
        SynackPair {
            a,
            b,
            wire: Wire::default(),
        }
    }
}

impl SynackPair {
    /// Gives back the link's spare datagram buffers (before a memory reading).
    pub fn trim_wire(&mut self) {
        let w = &mut self.wire;
        w.pool = link::Pool::default();
        for q in [&mut w.a2b, &mut w.b2a, &mut w.a_in, &mut w.b_in] {
            q.shrink_to_fit();
        }
    }
}

/// One stack's half of a round: input, timers, output, events (the module docs' call
/// order).
fn serve(
    stack: &mut Stack,
    now: Instant,
    input: &mut std::collections::VecDeque<link::Pkt>,
    output: &mut std::collections::VecDeque<link::Pkt>,
    pool: &mut link::Pool,
) -> usize {
    for (buf, len) in input.drain(..) {
        stack.handle_packet(now, &buf[..len]);
        pool.give(buf);
    }
    if stack.poll_timeout().is_some_and(|t| t <= now) {
        stack.handle_timeout(now);
    }
    let mut sent = 0;
    loop {
        let mut buf = pool.take();
        match stack.poll_transmit(now, &mut buf) {
            Ok(Some(n)) => {
                output.push_back((buf, n));
                sent += 1;
            }
            Err(e) => panic!("bench buffers hold any datagram: {e}"),
            Ok(None) => {
                pool.give(buf);
                break;
            }
        }
    }
    // The workloads ask the sockets directly; events are drained as a driver would.
    while stack.poll_event().is_some() {}
    sent
}

impl Pair for SynackPair {
    fn round(&mut self, now_us: u64) -> usize {
        let now = Instant::from_micros(now_us);
        let w = &mut self.wire;
        let delivered = w.deliver();
        let sent = serve(&mut self.a, now, &mut w.a_in, &mut w.a2b, &mut w.pool)
            + serve(&mut self.b, now, &mut w.b_in, &mut w.b2a, &mut w.pool);
        delivered + sent
    }

    fn next_deadline_us(&mut self, _now_us: u64) -> Option<u64> {
        let a = self.a.poll_timeout().map(Instant::total_micros);
        let b = self.b.poll_timeout().map(Instant::total_micros);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wire(&self) -> &Wire {
        &self.wire
    }
}

/// The server's address on `port`.
pub fn server_addr_on(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(SERVER_IP)), port)
}

fn server_addr() -> SocketAddr {
    server_addr_on(PORT)
}

fn fail(what: &str, e: Error) -> String {
    format!("synack {what}: {e:?}")
}

/// Bulk: one connection, the client sends `bytes`, the server reads and checks them.
pub fn bulk(bytes: u64, buf: usize, v: Variant) -> Result<BulkOutcome, String> {
    let mut pair = SynackPair::with(config(buf, 1, v.timestamps), config(buf, 2, v.timestamps));
    let mut clock = Clock::default();
    let l = pair.b.socket();
    pair.b.bind(l, server_addr()).map_err(|e| fail("bind", e))?;
    pair.b.listen(l, 16).map_err(|e| fail("listen", e))?;
    transfer(&mut pair, &mut clock, l, bytes, v.zero_copy)
}

/// One bulk transfer over a new connection to the listener `l` (on [`PORT`]): connect,
/// move `bytes` (timed), close both ends and let the connection finish (not timed).
pub fn transfer(
    pair: &mut SynackPair,
    clock: &mut Clock,
    l: SocketHandle,
    bytes: u64,
    zero_copy: bool,
) -> Result<BulkOutcome, String> {
    let c = pair.a.socket();
    pair.a
        .connect(c, server_addr())
        .map_err(|e| fail("connect", e))?;
    let mut server = None;
    drive(pair, clock, "synack bulk handshake", |p| {
        match p.b.accept(l) {
            Ok((s, _)) => server = Some(s),
            Err(Error::WouldBlock) => {}
            Err(e) => return Err(fail("accept", e)),
        }
        let up = p.a.state(c).map_err(|e| fail("state", e))? == State::Established;
        Ok(if up && server.is_some() {
            Step::Done
        } else {
            Step::Idle
        })
    })?;
    let s = server.expect("accepted");
    let rounds_before = clock.rounds;
    let (a2b, b2a, t0) = (pair.wire.sent_a2b, pair.wire.sent_b2a, clock.now_us);
    let started = std::time::Instant::now();
    let received = measured_synack_bulk(pair, clock, c, s, bytes, zero_copy)?;
    let elapsed = started.elapsed();
    if received != bytes {
        return Err(format!("synack bulk: received {received} bytes of {bytes}"));
    }
    let (datagrams_a2b, datagrams_b2a) = (pair.wire.sent_a2b - a2b, pair.wire.sent_b2a - b2a);
    let rounds = clock.rounds - rounds_before;
    let virtual_us = clock.now_us - t0;
    let retransmits = Some(pair.a.stats().RetransSegs + pair.b.stats().RetransSegs);
    // Close both ends and let the connection finish (not timed).
    pair.b.close(s).map_err(|e| fail("close", e))?;
    pair.a.close(c).map_err(|e| fail("close", e))?;
    drive(pair, clock, "synack bulk close", |p| {
        let gone = |st: &Stack, h| matches!(st.state(h), Err(_) | Ok(State::Closed));
        Ok(if gone(&p.a, c) && gone(&p.b, s) {
            Step::Done
        } else {
            Step::Idle
        })
    })?;
    Ok(BulkOutcome {
        bytes: received,
        elapsed,
        rounds,
        virtual_us,
        datagrams_a2b,
        datagrams_b2a,
        retransmits,
    })
}

/// The timed part of bulk (the region callgrind counts): the client sends `bytes` and
/// shuts down, the server reads to end of stream checking every byte. With `zero_copy`
/// the application writes into the send ring (`send_into`) and checks the data in the
/// receive ring (`recv_with`); otherwise it copies through its own buffers. Returns the
/// bytes received.
#[inline(never)]
fn measured_synack_bulk(
    pair: &mut SynackPair,
    clock: &mut Clock,
    c: SocketHandle,
    s: SocketHandle,
    bytes: u64,
    zero_copy: bool,
) -> Result<u64, String> {
    let chunk = 64 * 1024;
    let pattern = Pattern::new(chunk);
    let mut rbuf = vec![0u8; chunk];
    let (mut sent, mut received, mut shut) = (0u64, 0u64, false);
    drive(pair, clock, "synack bulk transfer", |p| {
        let mut step = Step::Idle;
        while sent < bytes {
            let r = if zero_copy {
                let left = usize::try_from(bytes - sent).unwrap_or(usize::MAX);
                p.a.send_into(c, left, |x, y| {
                    pattern.fill(sent, x);
                    pattern.fill(sent + x.len() as u64, y);
                    x.len() + y.len()
                })
            } else {
                p.a.send(c, pattern.chunk(sent, bytes - sent))
            };
            match r {
                Ok(n) if n > 0 => {
                    sent += n as u64;
                    step = Step::Progress;
                }
                Ok(_) | Err(Error::WouldBlock) => break,
                Err(e) => return Err(fail("send", e)),
            }
        }
        if sent == bytes && !shut {
            p.a.shutdown(c, Shutdown::Write)
                .map_err(|e| fail("shutdown", e))?;
            shut = true;
            step = Step::Progress;
        }
        loop {
            let mut ok = true;
            let r = if zero_copy {
                p.b.recv_with(s, |x, y| {
                    ok = pattern.check(received, x) && pattern.check(received + x.len() as u64, y);
                    x.len() + y.len()
                })
            } else {
                p.b.recv(s, &mut rbuf).inspect(|&n| {
                    ok = pattern.matches(received, &rbuf[..n]);
                })
            };
            match r {
                Ok(0) => return Ok(Step::Done),
                Ok(n) => {
                    if !ok {
                        return Err(format!("synack bulk: corrupt data at offset {received}"));
                    }
                    received += n as u64;
                    step = Step::Progress;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => return Err(fail("recv", e)),
            }
        }
        Ok(step)
    })?;
    Ok(received)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientPhase {
    Connecting,
    Waiting,
    Closing,
}

struct Client {
    h: SocketHandle,
    id: u64,
    phase: ClientPhase,
    got: usize,
    buf: [u8; 100],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ServerPhase {
    Reading,
    Replied,
    Closing,
}

struct ServerConn {
    h: SocketHandle,
    phase: ServerPhase,
    got: usize,
    buf: [u8; 100],
}

/// Whether a closed handle's connection is over: the slot was released (TIME-WAIT lives
/// on as a compact record, not as the socket) or it reached CLOSED.
fn finished(stack: &Stack, h: SocketHandle) -> bool {
    matches!(
        stack.state(h),
        Err(_) | Ok(State::Closed) | Ok(State::TimeWait)
    )
}

/// Churn: `conns` lifecycles, `concurrency` at a time.
pub fn churn(
    conns: u64,
    concurrency: usize,
    buf: usize,
    v: Variant,
) -> Result<ChurnOutcome, String> {
    let mut pair = SynackPair::with(config(buf, 1, v.timestamps), config(buf, 2, v.timestamps));
    let mut clock = Clock::default();
    let l = pair.b.socket();
    pair.b.bind(l, server_addr()).map_err(|e| fail("bind", e))?;
    pair.b.listen(l, 4096).map_err(|e| fail("listen", e))?;
    let started = std::time::Instant::now();
    let (client_done, server_done) =
        measured_synack_churn(&mut pair, &mut clock, l, conns, concurrency)?;
    let elapsed = started.elapsed();
    if client_done != conns || server_done != conns {
        return Err(format!(
            "synack churn: {client_done} clients and {server_done} servers of {conns} finished"
        ));
    }
    Ok(ChurnOutcome {
        completed: client_done,
        elapsed,
        rounds: clock.rounds,
        virtual_us: clock.now_us,
        datagrams_a2b: pair.wire.sent_a2b,
        datagrams_b2a: pair.wire.sent_b2a,
        retransmits: Some(pair.a.stats().RetransSegs + pair.b.stats().RetransSegs),
        time_wait: Some(pair.a.stats().TW),
    })
}

/// The timed part of churn (the region callgrind counts): `conns` lifecycles,
/// `concurrency` at a time. Returns the lifecycles finished on each side.
#[inline(never)]
fn measured_synack_churn(
    pair: &mut SynackPair,
    clock: &mut Clock,
    l: SocketHandle,
    conns: u64,
    concurrency: usize,
) -> Result<(u64, u64), String> {
    let mut clients: Vec<Option<Client>> = (0..concurrency).map(|_| None).collect();
    let mut servers: Vec<ServerConn> = Vec::new();
    let (mut started_n, mut client_done, mut server_done) = (0u64, 0u64, 0u64);
    let mut served = vec![false; conns as usize];
    drive(pair, clock, "synack churn", |p| {
        let mut step = Step::Idle;
        for slot in clients.iter_mut() {
            if slot.is_none() && started_n < conns {
                let h = p.a.socket();
                p.a.connect(h, server_addr())
                    .map_err(|e| fail("connect", e))?;
                *slot = Some(Client {
                    h,
                    id: started_n,
                    phase: ClientPhase::Connecting,
                    got: 0,
                    buf: [0; 100],
                });
                started_n += 1;
                step = Step::Progress;
            }
        }
        loop {
            match p.b.accept(l) {
                Ok((h, _)) => {
                    servers.push(ServerConn {
                        h,
                        phase: ServerPhase::Reading,
                        got: 0,
                        buf: [0; 100],
                    });
                    step = Step::Progress;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => return Err(fail("accept", e)),
            }
        }
        for slot in clients.iter_mut() {
            let Some(cl) = slot else { continue };
            match cl.phase {
                ClientPhase::Connecting => match p.a.state(cl.h) {
                    Ok(State::SynSent) => {}
                    Ok(State::Established) => {
                        let n =
                            p.a.send(cl.h, &link::request(cl.id))
                                .map_err(|e| fail("send request", e))?;
                        if n != 100 {
                            return Err(format!("synack churn: request took {n} of 100 bytes"));
                        }
                        cl.phase = ClientPhase::Waiting;
                        step = Step::Progress;
                    }
                    other => {
                        return Err(format!("synack churn: client connect ended in {other:?}"))
                    }
                },
                ClientPhase::Waiting => match p.a.recv(cl.h, &mut cl.buf[cl.got..]) {
                    Ok(0) => return Err("synack churn: reply cut short".into()),
                    Ok(n) => {
                        cl.got += n;
                        step = Step::Progress;
                        if cl.got == 100 {
                            if cl.buf != link::reply(cl.id) {
                                return Err(format!("synack churn: wrong reply for {}", cl.id));
                            }
                            p.a.close(cl.h).map_err(|e| fail("close", e))?;
                            cl.phase = ClientPhase::Closing;
                        }
                    }
                    Err(Error::WouldBlock) => {}
                    Err(e) => return Err(fail("client recv", e)),
                },
                ClientPhase::Closing => {
                    if finished(&p.a, cl.h) {
                        client_done += 1;
                        *slot = None;
                        step = Step::Progress;
                    }
                }
            }
        }
        let mut i = 0;
        while i < servers.len() {
            let sc = &mut servers[i];
            match sc.phase {
                ServerPhase::Reading => match p.b.recv(sc.h, &mut sc.buf[sc.got..]) {
                    Ok(0) => return Err("synack churn: request cut short".into()),
                    Ok(n) => {
                        sc.got += n;
                        step = Step::Progress;
                        if sc.got == 100 {
                            let id = link::request_id(&sc.buf)
                                .filter(|id| *id < conns && !served[*id as usize])
                                .ok_or("synack churn: bad request")?;
                            served[id as usize] = true;
                            let n =
                                p.b.send(sc.h, &link::reply(id))
                                    .map_err(|e| fail("send reply", e))?;
                            if n != 100 {
                                return Err(format!("synack churn: reply took {n} of 100 bytes"));
                            }
                            sc.phase = ServerPhase::Replied;
                        }
                    }
                    Err(Error::WouldBlock) => {}
                    Err(e) => return Err(fail("server recv", e)),
                },
                ServerPhase::Replied => match p.b.recv(sc.h, &mut sc.buf) {
                    Ok(0) => {
                        p.b.close(sc.h).map_err(|e| fail("close", e))?;
                        sc.phase = ServerPhase::Closing;
                        step = Step::Progress;
                    }
                    Ok(_) => return Err("synack churn: data after the request".into()),
                    Err(Error::WouldBlock) => {}
                    Err(e) => return Err(fail("server recv", e)),
                },
                ServerPhase::Closing => {
                    if finished(&p.b, sc.h) {
                        server_done += 1;
                        servers.swap_remove(i);
                        step = Step::Progress;
                        continue;
                    }
                }
            }
            i += 1;
        }
        Ok(if client_done == conns && server_done == conns {
            Step::Done
        } else {
            step
        })
    })?;
    if served.iter().any(|s| !s) {
        return Err("synack churn: a request was never served".into());
    }
    Ok((client_done, server_done))
}
