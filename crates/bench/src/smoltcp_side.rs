//! The same workloads on two smoltcp interfaces (medium IP, so they exchange the same raw
//! IP datagrams as synack does).

use std::collections::VecDeque;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, RecvError, State};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::link::{self, drive, Clock, Pair, Pattern, Pkt, Pool, Step, Wire, MTU};
use crate::{BulkOutcome, ChurnOutcome, Variant, CLIENT_IP, PORT, SERVER_IP};

/// A device over the wire's queues for one round: it receives from `rx` and transmits
/// into `tx`.
struct QueueDevice<'a> {
    rx: &'a mut VecDeque<Pkt>,
    tx: &'a mut VecDeque<Pkt>,
    pool: &'a mut Pool,
    /// Buffers of received datagrams, returned to the pool after the poll.
    used: &'a mut Vec<Vec<u8>>,
}

struct RxToken<'a> {
    pkt: Pkt,
    used: &'a mut Vec<Vec<u8>>,
}

struct TxToken<'a> {
    tx: &'a mut VecDeque<Pkt>,
    pool: &'a mut Pool,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let (buf, len) = self.pkt;
        let r = f(&buf[..len]);
        self.used.push(buf);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        assert!(len <= MTU, "smoltcp emitted {len} bytes, more than the MTU");
        let mut buf = self.pool.take();
        let r = f(&mut buf[..len]);
        self.tx.push_back((buf, len));
        r
    }
}

impl Device for QueueDevice<'_> {
    type RxToken<'b>
        = RxToken<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let pkt = self.rx.pop_front()?;
        Some((
            RxToken {
                pkt,
                used: self.used,
            },
            TxToken {
                tx: self.tx,
                pool: self.pool,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            tx: self.tx,
            pool: self.pool,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

/// Socket buffers allocated (and zeroed) once, then lent to one socket at a time: a
/// program that opens many connections reuses its buffers rather than allocating and
/// zeroing fresh ones for each (smoltcp's sockets borrow their buffers, so this is how
/// its users keep them).
struct BufArena {
    bufs: Vec<*mut [u8]>,
    free: Vec<usize>,
}

/// Which arena buffers a socket holds (receive, transmit).
#[derive(Debug, Clone, Copy)]
pub struct Lent(usize, usize);

impl BufArena {
    fn new() -> BufArena {
        BufArena {
            bufs: Vec::new(),
            free: Vec::new(),
        }
    }

    /// A buffer of `len` bytes, reused if one is free, and its index.
    fn lend(&mut self, len: usize) -> (usize, &'static mut [u8]) {
        let i = match self.free.pop() {
            Some(i) if self.bufs[i].len() == len => i,
            other => {
                if let Some(i) = other {
                    self.free.push(i);
                }
                self.bufs
                    .push(Box::into_raw(vec![0u8; len].into_boxed_slice()));
                self.bufs.len() - 1
            }
        };
        // SAFETY: the buffer was allocated by this arena and lives until the arena is
        // dropped; it is lent to one socket at a time (an index is in `free` only after
        // the socket holding it was removed and dropped), and the arena is dropped after
        // the socket set that holds the sockets (see `Host`'s field order).
        (i, unsafe { &mut *self.bufs[i] })
    }

    /// Takes back buffer `i`; the socket that held it has been removed.
    fn give_back(&mut self, i: usize) {
        self.free.push(i);
    }
}

impl Drop for BufArena {
    fn drop(&mut self) {
        for &b in &self.bufs {
            // SAFETY: allocated by Box::into_raw in `lend`, freed once, after every
            // socket borrowing it is gone.
            drop(unsafe { Box::from_raw(b) });
        }
    }
}

/// One smoltcp host: an interface and its sockets.
pub struct Host {
    /// The interface.
    pub iface: Interface,
    /// Its sockets (declared before `arena`: dropped before the buffers they borrow).
    pub sockets: SocketSet<'static>,
    arena: BufArena,
}

impl Host {
    fn new(addr: [u8; 4], seed: u64, wire: &mut Wire) -> Host {
        let mut used = Vec::new();
        let mut rx = VecDeque::new();
        let mut tx = VecDeque::new();
        let mut dev = QueueDevice {
            rx: &mut rx,
            tx: &mut tx,
            pool: &mut wire.pool,
            used: &mut used,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, Instant::ZERO);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(
                    IpAddress::v4(addr[0], addr[1], addr[2], addr[3]),
                    24,
                ))
                .expect("one address");
        });
        Host {
            iface,
            sockets: SocketSet::new(Vec::new()),
            arena: BufArena::new(),
        }
    }

    fn socket(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// A socket with buffers of `buf` bytes each way, lent from the host's arena.
    fn add_socket(&mut self, buf: usize) -> (SocketHandle, Lent) {
        let (ri, rx) = self.arena.lend(buf);
        let (ti, tx) = self.arena.lend(buf);
        let rx = tcp::SocketBuffer::new(rx);
        let tx = tcp::SocketBuffer::new(tx);
        (self.sockets.add(tcp::Socket::new(rx, tx)), Lent(ri, ti))
    }

    /// Removes a socket and takes its buffers back for the next one.
    fn remove_socket(&mut self, h: SocketHandle, lent: Lent) {
        drop(self.sockets.remove(h));
        self.arena.give_back(lent.0);
        self.arena.give_back(lent.1);
    }
}

/// Two smoltcp hosts, `a` the client (10.0.0.1) and `b` the server (10.0.0.2).
pub struct SmolPair {
    /// The client.
    pub a: Host,
    /// The server.
    pub b: Host,
    wire: Wire,
    used: Vec<Vec<u8>>,
}

impl SmolPair {
    /// Two hosts on one wire.
    pub fn new() -> SmolPair {
        let mut wire = Wire::default();
        let a = Host::new(CLIENT_IP, 1, &mut wire);
        let b = Host::new(SERVER_IP, 2, &mut wire);
        SmolPair {
            a,
            b,
            wire,
            used: Vec::new(),
        }
    }
}

impl Default for SmolPair {
    fn default() -> Self {
        SmolPair::new()
    }
}

impl Pair for SmolPair {
    fn round(&mut self, now_us: u64) -> usize {
        let now = Instant::from_micros(now_us as i64);
        let w = &mut self.wire;
        let delivered = w.deliver();
        let before = w.a2b.len() + w.b2a.len();
        let mut dev = QueueDevice {
            rx: &mut w.a_in,
            tx: &mut w.a2b,
            pool: &mut w.pool,
            used: &mut self.used,
        };
        self.a.iface.poll(now, &mut dev, &mut self.a.sockets);
        let mut dev = QueueDevice {
            rx: &mut w.b_in,
            tx: &mut w.b2a,
            pool: &mut w.pool,
            used: &mut self.used,
        };
        self.b.iface.poll(now, &mut dev, &mut self.b.sockets);
        w.pool.give_all(&mut self.used);
        delivered + (w.a2b.len() + w.b2a.len() - before)
    }

    fn next_deadline_us(&mut self, now_us: u64) -> Option<u64> {
        let now = Instant::from_micros(now_us as i64);
        let a = self.a.iface.poll_at(now, &self.a.sockets);
        let b = self.b.iface.poll_at(now, &self.b.sockets);
        let t = match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        Some(t.total_micros().max(0) as u64)
    }

    fn wire(&self) -> &Wire {
        &self.wire
    }
}

fn server_endpoint() -> (IpAddress, u16) {
    let [a, b, c, d] = SERVER_IP;
    (IpAddress::v4(a, b, c, d), PORT)
}

/// Bulk: one connection, the client sends `bytes`, the server reads and checks them.
/// With `v.zero_copy` the application writes into and checks data in smoltcp's buffers
/// through its closures (`send`, `recv`); otherwise it copies (`send_slice`,
/// `recv_slice`). smoltcp sends no timestamps, so `v.timestamps` changes nothing here.
pub fn bulk(bytes: u64, buf: usize, v: Variant) -> Result<BulkOutcome, String> {
    let mut pair = SmolPair::new();
    let mut clock = Clock::default();
    let (s, _) = pair.b.add_socket(buf);
    pair.b
        .socket(s)
        .listen(PORT)
        .map_err(|e| format!("smoltcp listen: {e}"))?;
    let (c, _) = pair.a.add_socket(buf);
    {
        let a = &mut pair.a;
        a.sockets
            .get_mut::<tcp::Socket>(c)
            .connect(a.iface.context(), server_endpoint(), 49152)
            .map_err(|e| format!("smoltcp connect: {e}"))?;
    }
    drive(&mut pair, &mut clock, "smoltcp bulk handshake", |p| {
        let up = p.a.socket(c).state() == State::Established
            && p.b.socket(s).state() == State::Established;
        Ok(if up { Step::Done } else { Step::Idle })
    })?;
    let (rounds0, t0) = (clock.rounds, clock.now_us);
    let (a2b, b2a) = (pair.wire.sent_a2b, pair.wire.sent_b2a);
    let started = std::time::Instant::now();
    let received = measured_smoltcp_bulk(&mut pair, &mut clock, c, s, bytes, v.zero_copy)?;
    let elapsed = started.elapsed();
    if received != bytes {
        return Err(format!(
            "smoltcp bulk: received {received} bytes of {bytes}"
        ));
    }
    let (datagrams_a2b, datagrams_b2a) = (pair.wire.sent_a2b - a2b, pair.wire.sent_b2a - b2a);
    let rounds = clock.rounds - rounds0;
    let virtual_us = clock.now_us - t0;
    pair.b.socket(s).close();
    drive(&mut pair, &mut clock, "smoltcp bulk close", |p| {
        let a_done = matches!(p.a.socket(c).state(), State::TimeWait | State::Closed);
        let b_done = p.b.socket(s).state() == State::Closed;
        Ok(if a_done && b_done {
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
        retransmits: None,
    })
}

/// The timed part of bulk (the region callgrind counts); see [`bulk`].
#[inline(never)]
fn measured_smoltcp_bulk(
    pair: &mut SmolPair,
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
    drive(pair, clock, "smoltcp bulk transfer", |p| {
        let mut step = Step::Idle;
        let cs = p.a.socket(c);
        while sent < bytes {
            let r = if zero_copy {
                cs.send(|buf| {
                    let n = buf
                        .len()
                        .min(usize::try_from(bytes - sent).unwrap_or(usize::MAX));
                    pattern.fill(sent, &mut buf[..n]);
                    (n, n)
                })
            } else {
                cs.send_slice(pattern.chunk(sent, bytes - sent))
            };
            match r {
                Ok(0) => break,
                Ok(n) => {
                    sent += n as u64;
                    step = Step::Progress;
                }
                Err(e) => return Err(format!("smoltcp send: {e}")),
            }
        }
        if sent == bytes && !shut {
            cs.close();
            shut = true;
            step = Step::Progress;
        }
        let ss = p.b.socket(s);
        loop {
            let mut ok = true;
            let r = if zero_copy {
                ss.recv(|buf| {
                    ok = pattern.check(received, buf);
                    (buf.len(), buf.len())
                })
            } else {
                ss.recv_slice(&mut rbuf).inspect(|&n| {
                    ok = pattern.matches(received, &rbuf[..n]);
                })
            };
            match r {
                Ok(0) => break,
                Ok(n) => {
                    if !ok {
                        return Err(format!("smoltcp bulk: corrupt data at offset {received}"));
                    }
                    received += n as u64;
                    step = Step::Progress;
                }
                Err(RecvError::Finished) => return Ok(Step::Done),
                Err(e) => return Err(format!("smoltcp recv: {e}")),
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
    lent: Lent,
    id: u64,
    phase: ClientPhase,
    got: usize,
    buf: [u8; 100],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ServerPhase {
    Listening,
    Replied,
    Closing,
}

struct ServerSock {
    h: SocketHandle,
    lent: Lent,
    phase: ServerPhase,
    got: usize,
    buf: [u8; 100],
}

/// The client's local ports: smoltcp leaves the choice to the application.
const FIRST_PORT: u16 = 49152;

/// Churn: `conns` lifecycles, `concurrency` at a time. Each connection gets a fresh
/// socket on both sides, with buffers reused from earlier connections (allocated and
/// zeroed once); a client socket that reaches TIME-WAIT is removed at once (smoltcp keeps
/// TIME-WAIT in the socket, for 10 s). smoltcp sends no timestamps, so `v.timestamps`
/// changes nothing here.
pub fn churn(
    conns: u64,
    concurrency: usize,
    buf: usize,
    v: Variant,
) -> Result<ChurnOutcome, String> {
    let _ = v;
    let mut pair = SmolPair::new();
    let mut clock = Clock::default();
    let started = std::time::Instant::now();
    let (client_done, server_done) =
        measured_smoltcp_churn(&mut pair, &mut clock, conns, concurrency, buf)?;
    let elapsed = started.elapsed();
    if client_done != conns || server_done != conns {
        return Err(format!(
            "smoltcp churn: {client_done} clients and {server_done} servers of {conns} finished"
        ));
    }
    Ok(ChurnOutcome {
        completed: client_done,
        elapsed,
        rounds: clock.rounds,
        virtual_us: clock.now_us,
        datagrams_a2b: pair.wire.sent_a2b,
        datagrams_b2a: pair.wire.sent_b2a,
        retransmits: None,
        time_wait: None,
    })
}

/// The timed part of churn (the region callgrind counts); see [`churn`].
#[inline(never)]
fn measured_smoltcp_churn(
    pair: &mut SmolPair,
    clock: &mut Clock,
    conns: u64,
    concurrency: usize,
    buf: usize,
) -> Result<(u64, u64), String> {
    let mut clients: Vec<Option<Client>> = (0..concurrency).map(|_| None).collect();
    let mut servers: Vec<ServerSock> = Vec::new();
    let (mut started_n, mut client_done, mut server_done) = (0u64, 0u64, 0u64);
    let mut served = vec![false; conns as usize];
    let mut next_port = FIRST_PORT;
    drive(pair, clock, "smoltcp churn", |p| {
        let mut step = Step::Idle;
        // Keep `concurrency` sockets listening (smoltcp's accept model).
        let listening = servers
            .iter()
            .filter(|s| s.phase == ServerPhase::Listening && s.got == 0)
            .filter(|s| p.b.sockets.get::<tcp::Socket>(s.h).state() == State::Listen)
            .count();
        for _ in listening..concurrency {
            let (h, lent) = p.b.add_socket(buf);
            p.b.socket(h)
                .listen(PORT)
                .map_err(|e| format!("smoltcp listen: {e}"))?;
            servers.push(ServerSock {
                h,
                lent,
                phase: ServerPhase::Listening,
                got: 0,
                buf: [0; 100],
            });
        }
        for slot in clients.iter_mut() {
            if slot.is_none() && started_n < conns {
                let (h, lent) = p.a.add_socket(buf);
                let port = next_port;
                next_port = next_port.checked_add(1).unwrap_or(FIRST_PORT);
                let a = &mut p.a;
                a.sockets
                    .get_mut::<tcp::Socket>(h)
                    .connect(a.iface.context(), server_endpoint(), port)
                    .map_err(|e| format!("smoltcp connect: {e}"))?;
                *slot = Some(Client {
                    h,
                    lent,
                    id: started_n,
                    phase: ClientPhase::Connecting,
                    got: 0,
                    buf: [0; 100],
                });
                started_n += 1;
                step = Step::Progress;
            }
        }
        for slot in clients.iter_mut() {
            let Some(cl) = slot else { continue };
            let sock = p.a.socket(cl.h);
            match cl.phase {
                ClientPhase::Connecting => match sock.state() {
                    State::SynSent => {}
                    State::Established => {
                        let n = sock
                            .send_slice(&link::request(cl.id))
                            .map_err(|e| format!("smoltcp send request: {e}"))?;
                        if n != 100 {
                            return Err(format!("smoltcp churn: request took {n} of 100 bytes"));
                        }
                        cl.phase = ClientPhase::Waiting;
                        step = Step::Progress;
                    }
                    other => return Err(format!("smoltcp churn: client connect ended in {other}")),
                },
                ClientPhase::Waiting => match sock.recv_slice(&mut cl.buf[cl.got..]) {
                    Ok(0) => {}
                    Ok(n) => {
                        cl.got += n;
                        step = Step::Progress;
                        if cl.got == 100 {
                            if cl.buf != link::reply(cl.id) {
                                return Err(format!("smoltcp churn: wrong reply for {}", cl.id));
                            }
                            sock.close();
                            cl.phase = ClientPhase::Closing;
                        }
                    }
                    Err(e) => return Err(format!("smoltcp churn: client recv: {e}")),
                },
                ClientPhase::Closing => {
                    if matches!(sock.state(), State::TimeWait | State::Closed) {
                        p.a.remove_socket(cl.h, cl.lent);
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
            let sock = p.b.sockets.get_mut::<tcp::Socket>(sc.h);
            match sc.phase {
                ServerPhase::Listening => match sock.state() {
                    State::Listen | State::SynReceived => {}
                    _ => match sock.recv_slice(&mut sc.buf[sc.got..]) {
                        Ok(0) => {}
                        Ok(n) => {
                            sc.got += n;
                            step = Step::Progress;
                            if sc.got == 100 {
                                let id = link::request_id(&sc.buf)
                                    .filter(|id| *id < conns && !served[*id as usize])
                                    .ok_or("smoltcp churn: bad request")?;
                                served[id as usize] = true;
                                let n = sock
                                    .send_slice(&link::reply(id))
                                    .map_err(|e| format!("smoltcp send reply: {e}"))?;
                                if n != 100 {
                                    return Err(format!(
                                        "smoltcp churn: reply took {n} of 100 bytes"
                                    ));
                                }
                                sc.phase = ServerPhase::Replied;
                            }
                        }
                        Err(e) => return Err(format!("smoltcp churn: server recv: {e}")),
                    },
                },
                ServerPhase::Replied => match sock.recv_slice(&mut sc.buf) {
                    Ok(0) => {}
                    Ok(_) => return Err("smoltcp churn: data after the request".into()),
                    Err(RecvError::Finished) => {
                        sock.close();
                        sc.phase = ServerPhase::Closing;
                        step = Step::Progress;
                    }
                    Err(e) => return Err(format!("smoltcp churn: server recv: {e}")),
                },
                ServerPhase::Closing => {
                    if sock.state() == State::Closed {
                        let (h, lent) = (sc.h, sc.lent);
                        p.b.remove_socket(h, lent);
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
        return Err("smoltcp churn: a request was never served".into());
    }
    Ok((client_done, server_done))
}
