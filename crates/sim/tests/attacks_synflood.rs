//! A SYN flood from spoofed sources against a listener while legitimate clients connect.
//!
//! On the simulated network: a server (listen backlog 128) answers 1,000 clients that
//! connect one per millisecond during the first second, each sending a 100-byte request
//! and reading a 1,000-byte answer to the end of the stream; meanwhile a flooder sends
//! 100,000 SYNs per second of virtual time from random spoofed sources for 3 seconds (the
//! SYN-ACKs go nowhere, as they would on the Internet). With `tcp_syncookies=1` the SYN
//! queue fills, the listener answers with SYN cookies, and at least 99% of the clients
//! complete; with `tcp_syncookies=0` the full queue drops the clients' SYNs and most of
//! them fail. Either way the SYN queue holds at most the backlog and the server's heap
//! stays flat while the flood goes on (measured by an allocator that counts the bytes the
//! server's calls hold, not by wall time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::wire::{self, Control, SeqNum, TcpOptions, TcpRepr, Timestamp};
use synack::{Config, EventKind, Instant, SocketHandle, Stack, State};
use synack_sim::{Endpoint, LinkConfig, Network, Rng};

// ----- heap accounting: the bytes allocated and not freed inside the server's calls -----

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn track(delta: i64) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = LIVE.try_with(|live| live.set(live.get() + delta));
        }
    });
}

/// The system allocator, counting per thread while `COUNTING` is set.
struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with its allocations counted as the server's.
fn server_heap<R>(f: impl FnOnce() -> R) -> R {
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    r
}

fn server_live_bytes() -> i64 {
    LIVE.with(|l| l.get())
}

// ----- the scenario -----

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENTS: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const FLOODER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 66);
const PORT: u16 = 80;
const BACKLOG: u32 = 128;
const N_CLIENTS: usize = 1000;
const REQUEST: usize = 100;
const RESPONSE: usize = 1000;
/// SYNs per second of virtual time.
const FLOOD_RATE: u64 = 100_000;
const FLOOD_FOR: Duration = Duration::from_secs(3);

/// The server: a listener that answers each request and closes.
struct Server {
    stack: Stack,
    listener: SocketHandle,
    got: HashMap<SocketHandle, usize>,
    answered: usize,
}

impl Server {
    fn new(syncookies: u8) -> Server {
        server_heap(|| {
            let config = Config {
                seed: Some(1),
                tcp_syncookies: syncookies,
                ..Config::default()
            };
            let mut stack = Stack::new(config);
            stack.add_address(SERVER.into());
            let listener = stack.socket();
            stack
                .bind(listener, SocketAddr::new(SERVER.into(), PORT))
                .expect("bind");
            stack.listen(listener, BACKLOG).expect("listen");
            Server {
                stack,
                listener,
                got: HashMap::new(),
                answered: 0,
            }
        })
    }

    fn app(&mut self) {
        let mut buf = [0u8; 2048];
        while let Some(ev) = self.stack.poll_event() {
            match ev.kind {
                EventKind::Incoming => {
                    while let Ok((c, _)) = self.stack.accept(self.listener) {
                        self.got.insert(c, 0);
                    }
                }
                EventKind::Readable => {
                    let Some(got) = self.got.get_mut(&ev.socket) else {
                        continue;
                    };
                    while let Ok(n) = self.stack.recv(ev.socket, &mut buf) {
                        if n == 0 {
                            break;
                        }
                        *got += n;
                    }
                    if *got >= REQUEST {
                        let sent = self.stack.send(ev.socket, &[0x5a; RESPONSE]);
                        assert_eq!(sent, Ok(RESPONSE), "the answer fits the send buffer");
                        self.stack.close(ev.socket).expect("close");
                        self.got.remove(&ev.socket);
                        self.answered += 1;
                    }
                }
                EventKind::Closed(_) if self.got.remove(&ev.socket).is_some() => {
                    let _ = self.stack.close(ev.socket);
                }
                _ => {}
            }
        }
    }
}

impl Endpoint for Server {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        server_heap(|| {
            self.stack.handle_packet(now, packet);
            self.app();
        });
    }
    fn handle_timeout(&mut self, now: Instant) {
        server_heap(|| {
            self.stack.handle_timeout(now);
            self.app();
        });
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        server_heap(|| self.stack.poll_transmit(now, buf).expect("64 KiB buffer"))
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
}

/// What happened to one client.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    handle: Option<SocketHandle>,
    got: usize,
    done: bool,
}

/// 1,000 clients on one host, one connecting every millisecond.
struct Clients {
    stack: Stack,
    next: usize,
    clients: Vec<Progress>,
    by_handle: HashMap<SocketHandle, usize>,
}

impl Clients {
    fn new() -> Clients {
        let config = Config {
            seed: Some(2),
            ..Config::default()
        };
        let mut stack = Stack::new(config);
        stack.add_address(CLIENTS.into());
        Clients {
            stack,
            next: 0,
            clients: vec![Progress::default(); N_CLIENTS],
            by_handle: HashMap::new(),
        }
    }

    fn start_time(i: usize) -> Instant {
        Instant::ZERO + Duration::from_millis(i as u64)
    }

    fn app(&mut self, now: Instant) {
        while self.next < N_CLIENTS && Self::start_time(self.next) <= now {
            let h = self.stack.socket();
            self.stack
                .connect(h, SocketAddr::new(SERVER.into(), PORT))
                .expect("connect");
            self.clients[self.next].handle = Some(h);
            self.by_handle.insert(h, self.next);
            self.next += 1;
        }
        let mut buf = [0u8; 2048];
        while let Some(ev) = self.stack.poll_event() {
            let Some(&i) = self.by_handle.get(&ev.socket) else {
                continue;
            };
            match ev.kind {
                EventKind::Connected => {
                    let sent = self.stack.send(ev.socket, &[0x41; REQUEST]);
                    assert_eq!(sent, Ok(REQUEST));
                }
                EventKind::Readable => loop {
                    match self.stack.recv(ev.socket, &mut buf) {
                        Ok(0) => {
                            let c = &mut self.clients[i];
                            c.done = c.got == RESPONSE;
                            self.stack.close(ev.socket).expect("close");
                            self.by_handle.remove(&ev.socket);
                            break;
                        }
                        Ok(n) => self.clients[i].got += n,
                        Err(_) => break,
                    }
                },
                EventKind::Closed(_) => {
                    let _ = self.stack.close(ev.socket);
                    self.by_handle.remove(&ev.socket);
                }
                _ => {}
            }
        }
    }
}

impl Endpoint for Clients {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.stack.handle_packet(now, packet);
        self.app(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.stack.handle_timeout(now);
        self.app(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.stack.poll_transmit(now, buf).expect("64 KiB buffer")
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        let start = (self.next < N_CLIENTS).then(|| Self::start_time(self.next));
        match (self.stack.poll_timeout(), start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// SYNs from random sources in 198.18.0.0/15, with the options a Linux client sends,
/// at `FLOOD_RATE` until `FLOOD_FOR`.
struct Flooder {
    rng: Rng,
    next: Instant,
    due: u64,
    sent: u64,
}

impl Flooder {
    fn interval() -> Duration {
        Duration::from_nanos(1_000_000_000 / FLOOD_RATE)
    }
}

impl Endpoint for Flooder {
    fn handle_packet(&mut self, _now: Instant, _packet: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        let end = Instant::ZERO + FLOOD_FOR;
        while self.next <= now && self.next < end {
            self.due += 1;
            self.next += Self::interval();
        }
    }
    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.due == 0 {
            return None;
        }
        self.due -= 1;
        self.sent += 1;
        let r = self.rng.next_u64();
        let src = Ipv4Addr::new(198, 18 + (r & 1) as u8, (r >> 8) as u8, (r >> 16) as u8);
        let options = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some(Timestamp {
                tsval: (r >> 32) as u32,
                tsecr: 0,
            }),
            ..TcpOptions::default()
        };
        let syn = TcpRepr {
            src_port: 1024 + (r >> 24) as u16 % 60000,
            dst_port: PORT,
            seq: SeqNum((r >> 17) as u32),
            ack: None,
            control: Control::Syn,
            psh: false,
            ece: false,
            cwr: false,
            window: 64240,
            urgent: None,
            options,
            payload: &[],
        };
        wire::emit_datagram(buf, IpAddr::V4(src), SERVER.into(), 64, &syn).ok()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        (self.next < Instant::ZERO + FLOOD_FOR).then_some(self.next)
    }
}

enum Host {
    Server(Box<Server>),
    Clients(Box<Clients>),
    Flooder(Flooder),
}

impl Endpoint for Host {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Host::Server(s) => s.handle_packet(now, packet),
            Host::Clients(c) => c.handle_packet(now, packet),
            Host::Flooder(f) => f.handle_packet(now, packet),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Host::Server(s) => s.handle_timeout(now),
            Host::Clients(c) => c.handle_timeout(now),
            Host::Flooder(f) => f.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Host::Server(s) => s.poll_transmit(now, buf),
            Host::Clients(c) => c.poll_transmit(now, buf),
            Host::Flooder(f) => f.poll_transmit(now, buf),
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Host::Server(s) => s.poll_timeout(),
            Host::Clients(c) => c.poll_timeout(),
            Host::Flooder(f) => f.poll_timeout(),
        }
    }
}

/// What a run measured.
#[derive(Debug)]
struct Outcome {
    completed: usize,
    syns: u64,
    stats: synack::Stats,
    /// Most SYN-RECV entries the server held at a sample (every 10 ms).
    max_syn_recv: usize,
    /// Most connections waiting in the accept queue at a sample.
    max_accept_queue: usize,
    /// The server's live heap at each 100 ms while only the flood runs (1.5 s to 3 s).
    heap_during_flood: Vec<i64>,
}

fn run(syncookies: u8) -> Outcome {
    let mut net: Network<Host> = Network::new(7);
    let server = net.add_node(
        Host::Server(Box::new(Server::new(syncookies))),
        &[SERVER.into()],
    );
    let clients = net.add_node(Host::Clients(Box::new(Clients::new())), &[CLIENTS.into()]);
    let flooder = net.add_node(
        Host::Flooder(Flooder {
            rng: Rng::new(11),
            next: Instant::ZERO,
            due: 0,
            sent: 0,
        }),
        &[FLOODER.into()],
    );
    let ms5 = LinkConfig::ideal(Duration::from_millis(5));
    net.link(clients, server, ms5.clone(), ms5);
    let ms1 = LinkConfig::ideal(Duration::from_millis(1));
    net.link(flooder, server, ms1.clone(), ms1);

    let mut max_syn_recv = 0;
    let mut max_accept_queue = 0;
    let mut heap_during_flood = Vec::new();
    for tick in 1..=300u64 {
        net.run_for(Duration::from_millis(10));
        let Host::Server(s) = net.node_mut(server) else {
            unreachable!()
        };
        let listing = s.stack.sockets();
        let syn_recv = listing
            .iter()
            .filter(|i| i.state == State::SynReceived && i.handle.is_none())
            .count();
        max_syn_recv = max_syn_recv.max(syn_recv);
        let accept_queue = listing
            .iter()
            .find(|i| i.state == State::Listen)
            .map_or(0, |i| i.recv_q);
        max_accept_queue = max_accept_queue.max(accept_queue);
        drop(listing);
        if tick >= 150 && tick % 10 == 0 {
            heap_during_flood.push(server_live_bytes());
        }
    }
    let Host::Clients(c) = net.node(clients) else {
        unreachable!()
    };
    let completed = c.clients.iter().filter(|p| p.done).count();
    let Host::Flooder(f) = net.node(flooder) else {
        unreachable!()
    };
    let syns = f.sent;
    let Host::Server(s) = net.node(server) else {
        unreachable!()
    };
    Outcome {
        completed,
        syns,
        stats: s.stack.stats().clone(),
        max_syn_recv,
        max_accept_queue,
        heap_during_flood,
    }
}

/// The listener's memory does not grow with the flood: over the 150,000 SYNs of the last
/// 1.5 s the server's live heap moves by less than one byte per ten SYNs.
#[track_caller]
fn assert_heap_flat(o: &Outcome) {
    let min = *o.heap_during_flood.iter().min().expect("samples");
    let max = *o.heap_during_flood.iter().max().expect("samples");
    assert!(
        max - min <= 16 * 1024,
        "the server's heap grows under the flood: {:?}",
        o.heap_during_flood
    );
    // A few hundred KB whatever the flood: the listener, at most `BACKLOG` request
    // records, the tables, and the clients' connections on their way out.
    assert!(
        max <= 4 << 20,
        "the server holds {max} bytes under the flood"
    );
}

#[test]
fn syn_flood_with_syncookies_lets_legitimate_clients_through() {
    let o = run(1);
    eprintln!("syncookies=1: {} of {N_CLIENTS} clients completed; {} SYNs, {} cookies sent, {} valid cookies, SYN queue max {}, accept queue max {}, server heap {:?}", o.completed, o.syns, o.stats.SyncookiesSent, o.stats.SyncookiesRecv, o.max_syn_recv, o.max_accept_queue, o.heap_during_flood);
    assert!(
        o.syns >= FLOOD_RATE * FLOOD_FOR.as_secs() - 1,
        "the flood ran: {} SYNs",
        o.syns
    );
    assert!(
        o.completed * 100 >= N_CLIENTS * 99,
        "{} of {N_CLIENTS} clients completed under the flood with SYN cookies: {o:?}",
        o.completed
    );
    assert!(
        o.stats.SyncookiesSent >= o.syns - u64::from(BACKLOG) - 1000,
        "the full SYN queue answers with cookies: {} cookies for {} SYNs",
        o.stats.SyncookiesSent,
        o.syns
    );
    assert!(o.stats.SyncookiesRecv as usize >= o.completed * 9 / 10);
    assert!(
        o.max_syn_recv <= BACKLOG as usize,
        "the SYN queue held {} requests, more than the backlog",
        o.max_syn_recv
    );
    assert!(o.max_accept_queue <= BACKLOG as usize + 1);
    assert_heap_flat(&o);
}

#[test]
fn syn_flood_without_syncookies_starves_the_clients() {
    let o = run(0);
    eprintln!("syncookies=0: {} of {N_CLIENTS} clients completed; {} SYNs, {} listen drops, SYN queue max {}, server heap {:?}", o.completed, o.syns, o.stats.ListenDrops, o.max_syn_recv, o.heap_during_flood);
    assert!(o.syns >= FLOOD_RATE * FLOOD_FOR.as_secs() - 1);
    let failed = N_CLIENTS - o.completed;
    assert!(
        failed * 10 >= N_CLIENTS * 9,
        "only {failed} of {N_CLIENTS} clients failed without SYN cookies: {o:?}"
    );
    assert_eq!(o.stats.SyncookiesSent, 0);
    assert!(
        o.stats.ListenDrops >= o.syns - u64::from(BACKLOG) * 10,
        "the full SYN queue drops SYNs: {} drops of {} SYNs",
        o.stats.ListenDrops,
        o.syns
    );
    assert!(o.max_syn_recv <= BACKLOG as usize);
    assert_heap_flat(&o);
}
