//! Memory of idle established connections (issue 9: at most 512 bytes in all, payload
//! rings aside): establishing a connection allocates its record and nothing else out of
//! line (no rings, no scoreboard, no flight records, no autotuning state), and a
//! connection that moved data and was read dry holds no SACK, out-of-order or flight
//! state afterwards. Measured with a counting allocator (this binary's own), so the
//! tables' figures are included: they are a few large allocations.

mod common;

use std::time::Duration;

use common::counting::{self, live, Counting};
use common::pair::Pair;
use synack::{Instant, Stack};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests measure the whole process: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pair() -> Pair {
    Pair::new(Pair::config(1), Pair::config(2))
}

impl Pair {
    /// Delivers datagrams both ways until neither stack has one to send; then lets
    /// 100 ms pass (delayed ACKs go out) and delivers again.
    fn settle(&mut self) {
        for _ in 0..2 {
            while self.swap() {}
            self.now += Duration::from_millis(100);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }

    /// Passes of 10 us until neither stack has a datagram to send: microseconds, so
    /// no connection goes quiet for long.
    fn deliver(&mut self) {
        while self.pass(Duration::from_micros(10)) {}
    }
}

/// An idle established connection allocates its record and nothing more: the live
/// blocks grow by one per connection endpoint (plus a few table resizes), and the bytes
/// stay well under what they were before the out-of-line split (about 1,170 per
/// endpoint: a 952-byte record and a 64-byte autotuning box).
#[test]
fn an_established_idle_connection_allocates_only_its_record() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = pair();
    // Warm up: the tables' first allocations, and one connection's lifetime state.
    p.connect(10, 1000, Pair::settle);
    let n = 4000;
    let (bytes0, blocks0) = live();
    let conns = p.connect(n, 2000, Pair::settle);
    let (bytes1, blocks1) = live();
    let endpoints = 2 * n as isize;
    let blocks = blocks1 - blocks0;
    assert!(
        blocks <= endpoints + 64,
        "{blocks} blocks for {endpoints} idle endpoints: something per connection is allocated besides its record"
    );
    let per = (bytes1 - bytes0) / endpoints;
    assert!(per <= 1024, "{per} bytes per idle endpoint");
    drop(conns);
}

/// Data both ways, all acknowledged and read: the first-transmission records of the
/// flight are gone again, with the in-flight box that held them, and the drained rings
/// once the connection is quiet. What stays until close: the receive autotuning state
/// with its charge list, and the chronographs of TCP_INFO (in the rarely used record).
#[test]
fn a_connection_read_dry_keeps_no_flight_state() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = pair();
    let conns = p.connect(200, 3000, Pair::settle);
    let (_, blocks0) = live();
    let mut out = vec![0u8; 4096];
    for &(c, s) in &conns {
        assert_eq!(p.a.send(c, &[7u8; 3000]).unwrap(), 3000);
        assert_eq!(p.b.send(s, &[9u8; 3000]).unwrap(), 3000);
    }
    p.settle();
    for &(c, s) in &conns {
        assert_eq!(p.b.recv(s, &mut out).unwrap(), 3000);
        assert_eq!(p.a.recv(c, &mut out).unwrap(), 3000);
    }
    p.settle();
    let (_, blocks1) = live();
    // Per endpoint: the receive autotuning state (box and charge list) and the rarely
    // used record, which holds the send side's chronographs once data was written
    // (TCP_INFO's busy and limited times, kept for the connection's life as Linux keeps
    // them in tcp_sock). The rings went back once the connection was quiet for an RTO
    // (reclaim.rs); the in-flight box (flight records, the send queue's chunk list, the
    // Persist and Reorder deadlines) went when the last byte was acknowledged: were it
    // kept, this would count five blocks per endpoint.
    let blocks = blocks1 - blocks0;
    let endpoints = 2 * conns.len() as isize;
    assert!(
        blocks <= 3 * endpoints + 16,
        "{blocks} blocks for {endpoints} endpoints after a transfer: flight state was kept"
    );
}

/// Allocator calls (allocations and reallocations) so far, process-wide.
fn calls() -> usize {
    counting::calls()
}

/// Rings give their memory back once drained and idle (Linux's sk_mem_reclaim): data
/// both ways, all read and acknowledged, then the connections stay quiet past an RTO
/// and the stack is called again: the send and receive rings of every endpoint are
/// freed (at least one page each), and the connections carry data again afterwards.
#[test]
fn drained_rings_go_back_when_the_connection_is_idle() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = pair();
    let conns = p.connect(100, 4000, Pair::settle);
    let mut out = vec![0u8; 4096];
    for &(c, s) in &conns {
        assert_eq!(p.a.send(c, &[7u8; 3000]).unwrap(), 3000);
        assert_eq!(p.b.send(s, &[9u8; 3000]).unwrap(), 3000);
    }
    p.deliver();
    for &(c, s) in &conns {
        assert_eq!(p.b.recv(s, &mut out).unwrap(), 3000);
        assert_eq!(p.a.recv(c, &mut out).unwrap(), 3000);
    }
    p.deliver();
    let (held, _) = live();
    // Quiet for longer than any RTO of these connections, then a call.
    p.now += Duration::from_secs(3);
    p.a.handle_timeout(p.now);
    p.b.handle_timeout(p.now);
    let (after, _) = live();
    let endpoints = 2 * conns.len() as isize;
    let rings = 2 * endpoints * 4096;
    assert!(
        held - after >= rings,
        "{} bytes given back by {endpoints} idle endpoints; their drained rings hold {rings}",
        held - after
    );
    // The rings come back with the next data.
    for &(c, s) in &conns {
        assert_eq!(p.a.send(c, &[5u8; 100]).unwrap(), 100);
        p.deliver();
        assert_eq!(p.b.recv(s, &mut out).unwrap(), 100);
        assert_eq!(&out[..100], &[5u8; 100][..]);
    }
}

/// A link that keeps datagrams in flight, in buffers allocated once, so that moving
/// them allocates nothing.
struct Wire {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    head: usize,
    count: usize,
}

impl Wire {
    fn new(n: usize) -> Wire {
        Wire {
            bufs: (0..n).map(|_| vec![0; 2048]).collect(),
            lens: vec![0; n],
            head: 0,
            count: 0,
        }
    }

    /// Takes every datagram `from` has to send (as many as the link holds).
    fn fill(&mut self, from: &mut Stack, now: Instant) {
        while self.count < self.bufs.len() {
            let i = (self.head + self.count) % self.bufs.len();
            match from.poll_transmit(now, &mut self.bufs[i]).unwrap() {
                Some(n) => {
                    self.lens[i] = n;
                    self.count += 1;
                }
                None => break,
            }
        }
    }

    /// Delivers the oldest `k` datagrams to `to`.
    fn deliver(&mut self, to: &mut Stack, now: Instant, k: usize) {
        for _ in 0..k.min(self.count) {
            to.handle_packet(now, &self.bufs[self.head][..self.lens[self.head]]);
            self.head = (self.head + 1) % self.bufs.len();
            self.count -= 1;
        }
    }
}

/// A steady transfer allocates nothing per segment: once its rings have grown, a writer
/// that keeps its send buffer full, a link that delivers four segments per 10 us (so
/// data is always in flight), and a reader that reads everything at every step (so
/// the receive ring drains again and again, with no quiet time) make no allocator call
/// but growth by doubling: a drained ring is given back only when the connection is
/// idle.
#[test]
fn a_steady_transfer_allocates_nothing_per_segment() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = pair();
    let conns = p.connect(1, 5000, Pair::settle);
    let (c, s) = conns[0];
    // Fixed buffers (SO_SNDBUF, SO_RCVBUF): the rings reach their size in the warm-up,
    // where autotuning would go on growing them (a few doublings, not per segment).
    p.a.set_option(c, synack::SockOpt::SendBuffer(256 * 1024))
        .unwrap();
    p.b.set_option(s, synack::SockOpt::RecvBuffer(256 * 1024))
        .unwrap();
    let chunk = vec![3u8; 16 * 1024];
    let mut out = vec![0u8; 64 * 1024];
    let (mut a2b, mut b2a) = (Wire::new(1024), Wire::new(1024));
    let mut drains = 0usize;
    let mut step = |p: &mut Pair, drains: &mut usize| {
        while p.a.send(c, &chunk).unwrap_or(0) > 0 {}
        a2b.fill(&mut p.a, p.now);
        a2b.deliver(&mut p.b, p.now, 4);
        let mut read = false;
        while let Ok(n) = p.b.recv(s, &mut out) {
            assert!(out[..n].iter().all(|&b| b == 3));
            read = true;
        }
        *drains += usize::from(read);
        b2a.fill(&mut p.b, p.now);
        b2a.deliver(&mut p.a, p.now, usize::MAX);
        p.now += Duration::from_micros(10);
        p.a.handle_timeout(p.now);
        p.b.handle_timeout(p.now);
    };
    for _ in 0..500 {
        step(&mut p, &mut drains);
    }
    let (before, segs0, drains0) = (calls(), p.b.stats().InSegs, drains);
    for _ in 0..1000 {
        step(&mut p, &mut drains);
    }
    let segments = p.b.stats().InSegs - segs0;
    let made = calls() - before;
    assert!(segments >= 3000, "{segments} segments");
    assert!(drains - drains0 >= 900, "{} drains", drains - drains0);
    // What may still allocate is growth by doubling (the flight's send times, the timer
    // wheel's entries while its first deadlines are still ahead): a handful of calls,
    // not one per segment or per drain.
    assert!(
        made <= 4,
        "{made} allocator calls for {segments} segments and {} drains of the receive ring",
        drains - drains0
    );
}
