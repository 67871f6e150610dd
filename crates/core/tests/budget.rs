//! The stack-wide memory budget, Linux's `tcp_mem` (stack/budget.rs, conn/memory.rs):
//! the pages of ring memory charged stay under the limit however many peers fill
//! connections that are never read (and the process's own allocations say the same),
//! memory pressure is entered and left with its counters, under pressure the window
//! stops growing and out-of-order data is pruned, above the limit data is dropped and
//! counted and comes through later by retransmission, and orphans are reset.

mod common;

use std::time::Duration;

use common::counting::{self, Counting};
use common::pair::Pair;
use common::{pkt, Harness};
use synack::{Error, SeqNum, SocketHandle, Stack};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The allocator test measures the whole process: the tests run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PAGE: u64 = 4096;

/// Two stacks back to back, each with its own `tcp_mem` (the default where `None`).
fn pair(mem_a: Option<[u64; 3]>, mem_b: Option<[u64; 3]>) -> Pair {
    let config = |seed, mem: Option<[u64; 3]>| {
        let mut c = Pair::config(seed);
        if let Some(m) = mem {
            c.tcp_mem = m;
        }
        c
    };
    Pair::new(config(1, mem_a), config(2, mem_b))
}

impl Pair {
    /// Passes until nothing moves, then jumps to the next timer (retransmissions,
    /// probes, delayed ACKs) if it is due within `horizon`; `check` runs before each
    /// pass (what it makes the stacks send goes in that pass). Returns when nothing is left to do within the horizon.
    fn run(&mut self, horizon: Duration, mut check: impl FnMut(&mut Pair)) {
        let end = self.now + horizon;
        for _ in 0..1_000_000 {
            check(self);
            let moved = self.pass(Duration::from_micros(10));
            if moved {
                continue;
            }
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                }
                _ => return,
            }
        }
        panic!("the exchange did not settle");
    }
}

/// Carries handshakes through for [`Pair::connect`].
fn handshakes(p: &mut Pair) {
    p.run(Duration::from_millis(100), |_| {});
}

/// The bytes of stream `i`: distinct per connection and position.
fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (k * 7 + i * 13 + k / 251) as u8).collect()
}

/// Writes as much of `data[*sent..]` as `h` takes.
fn write_some(s: &mut Stack, h: SocketHandle, data: &[u8], sent: &mut usize) {
    while *sent < data.len() {
        match s.send(h, &data[*sent..]) {
            Ok(n) => *sent += n,
            Err(Error::WouldBlock) => return,
            Err(e) => panic!("send: {e:?}"),
        }
    }
}

/// Reads everything `h` has into `got`.
fn read_some(s: &mut Stack, h: SocketHandle, got: &mut Vec<u8>) {
    let mut buf = [0u8; 16384];
    loop {
        match s.recv(h, &mut buf) {
            Ok(0) | Err(Error::WouldBlock) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("recv: {e:?}"),
        }
    }
}

/// Many connections, each filled by a writer whose peer never reads: every ring grows
/// until the budget says no. Both stacks stay under `tcp_mem`'s limit at every step
/// (each charges its rings: the writer's send rings, the reader's receive rings), and
/// the process's allocator agrees: what filling the connections allocated stays under
/// the two limits. Without the budget the receive rings alone grow to about 128 KiB
/// each (tcp_rmem[1]), 8 MiB for the 64 connections, and the send rings more.
#[test]
fn connections_filled_by_a_peer_that_never_reads_stay_under_the_budget() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const HIGH: u64 = 256;
    let mem = [128, 192, HIGH];
    let mut p = pair(Some(mem), Some(mem));
    let conns = p.connect(64, 5000, handshakes);
    let data: Vec<Vec<u8>> = (0..conns.len()).map(|i| pattern(i, 1 << 20)).collect();
    let mut sent = vec![0usize; conns.len()];
    let before = counting::reset_peak();
    let mut peak_pages = (0, 0);
    for _round in 0..20 {
        for (i, &(c, _)) in conns.iter().enumerate() {
            write_some(&mut p.a, c, &data[i], &mut sent[i]);
        }
        p.run(Duration::from_secs(2), |p| {
            peak_pages.0 = peak_pages.0.max(p.a.mem_pages());
            peak_pages.1 = peak_pages.1.max(p.b.mem_pages());
        });
    }
    let grown = counting::peak() - before;
    let total_sent: usize = sent.iter().sum();
    eprintln!(
        "{} KiB written into 64 connections; peak pages {peak_pages:?} of {HIGH} each; \
         peak allocation growth {} KiB; B: {} pressures, {} TCPRcvQDrop",
        total_sent / 1024,
        grown / 1024,
        p.b.stats().TCPMemoryPressures,
        p.b.stats().TCPRcvQDrop,
    );
    // Past the limit, only the page an empty queue is always given (Linux forces the
    // first skb of an empty queue: sk_forced_mem_schedule), at most one per connection.
    let bound = HIGH + conns.len() as u64;
    assert!(
        peak_pages.0 <= bound && peak_pages.1 <= bound,
        "charged pages {peak_pages:?} passed tcp_mem's limit {HIGH} plus a page per connection"
    );
    assert!(
        p.a.mem_pages() > mem[1] && p.b.mem_pages() > mem[1],
        "the budget was used"
    );
    assert!(p.a.under_memory_pressure() && p.b.under_memory_pressure());
    // The process: the rings of both stacks within their limits, plus the per-segment
    // bookkeeping of what is in flight and queued (charges, chunk lists, flight
    // records: a few hundred KiB here).
    let limit = (2 * bound * PAGE) as isize + (1 << 20);
    assert!(
        grown <= limit,
        "filling the connections allocated {grown} bytes; the budget allows {limit}"
    );
    // Every connection got data through (nobody was starved of its minimum).
    for (i, &(_, s)) in conns.iter().enumerate() {
        let mut got = Vec::new();
        read_some(&mut p.b, s, &mut got);
        assert!(!got.is_empty(), "connection {i} received nothing");
        assert_eq!(got[..], data[i][..got.len()], "connection {i}'s bytes");
    }
}

/// Pressure begins when the charge passes `tcp_mem[1]` (TCPMemoryPressures) and ends
/// once it falls under `tcp_mem[0]` (TCPMemoryPressuresChrono adds the milliseconds it
/// lasted): the reader drains its rings, which have been quiet for an RTO, and they
/// are reclaimed.
#[test]
fn pressure_is_entered_and_left_with_the_counters_saying_so() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mem = [16, 32, 4096];
    let mut p = pair(None, Some(mem));
    let conns = p.connect(4, 5100, handshakes);
    let data: Vec<Vec<u8>> = (0..conns.len()).map(|i| pattern(i, 64 << 10)).collect();
    let mut sent = vec![0usize; conns.len()];
    for (i, &(c, _)) in conns.iter().enumerate() {
        write_some(&mut p.a, c, &data[i], &mut sent[i]);
    }
    let mut entered = None;
    p.run(Duration::from_millis(500), |p| {
        if entered.is_none() && p.b.under_memory_pressure() {
            entered = Some(p.now);
        }
    });
    let entered = entered.expect("the receive rings passed tcp_mem[1]: pressure began");
    assert!(p.b.mem_pages() > mem[1]);
    assert_eq!(p.b.stats().TCPMemoryPressures, 1);
    assert_eq!(
        p.b.stats().TCPMemoryPressuresChrono,
        0,
        "still under pressure"
    );
    // The reader takes everything; its drained rings go back after an RTO of quiet.
    for (i, &(_, s)) in conns.iter().enumerate() {
        let mut got = Vec::new();
        read_some(&mut p.b, s, &mut got);
        assert_eq!(got, data[i]);
    }
    // The rings drained have been quiet for longer than an RTO (reclaim.rs): they go
    // back as the reads drain them, and the charge falls under tcp_mem[0].
    assert!(p.b.mem_pages() < mem[0], "{} pages left", p.b.mem_pages());
    assert!(!p.b.under_memory_pressure());
    let lasted = (p.now - entered).as_millis() as u64;
    assert!(lasted > 0);
    assert_eq!(
        (
            p.b.stats().TCPMemoryPressures,
            p.b.stats().TCPMemoryPressuresChrono
        ),
        (1, lasted)
    );
}

/// The windows a receiver that reads everything advertises for `segments` segments of
/// 1000 bytes, with `tcp_mem` set to `mem` (the connection from a scripted peer).
fn advertised_windows(mem: Option<[u64; 3]>, segments: u32) -> (Vec<u16>, Stack) {
    // A buffer larger than the window first offered, so that the window has room to
    // grow (with tcp_rmem[1] of 128 KiB, rcv_ssthresh starts at its clamp).
    let mut h = Harness::with_config(|c| {
        c.tcp_rmem = [4096, 1 << 20, 6 << 20];
        if let Some(m) = mem {
            c.tcp_mem = m;
        }
    });
    let l = h.listen(16);
    let mut syn = pkt("S", SeqNum(common::PEER_ISS), SeqNum(0)).mss(1000);
    syn.options.window_scale = Some(7);
    syn.options.sack_permitted = true;
    let mut c = h.passive_syn(l, common::PEER_PORT, syn);
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    c.handle = h.stack.accept(l).expect("accept").0;
    let mut windows = Vec::new();
    for k in 0..segments {
        let seq = c.p(1 + 1000 * k);
        h.send(&c, pkt("P.", seq, c.l(1)).data(&[k as u8; 1000]));
        h.read_all(c.handle).unwrap();
        // The ACK (now, or when the delayed-ACK timer fires).
        let out = h.next_output(Duration::from_millis(500));
        windows.extend(out.iter().map(|s| s.window));
    }
    (windows, h.stack)
}

/// Under memory pressure the receive window stops growing (Linux's tcp_grow_window
/// grants nothing; rcv_ssthresh holds). With `tcp_mem` 0 0 N the first page charged
/// begins pressure; with the default budget the same exchange opens the window.
#[test]
fn under_pressure_the_advertised_window_stops_growing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (free, _) = advertised_windows(None, 12);
    let (pressed, stack) = advertised_windows(Some([0, 0, 1 << 30]), 12);
    assert!(
        free.last() > free.first(),
        "the default budget lets the window grow: {free:?}"
    );
    assert!(stack.under_memory_pressure());
    assert_eq!(stack.stats().TCPMemoryPressures, 1);
    let first = pressed[0];
    assert!(
        pressed.iter().all(|&w| w <= first),
        "under pressure the window never grows past {first}: {pressed:?} (free: {free:?})"
    );
}

/// Under pressure a connection over its share of the limit that holds out-of-order
/// data prunes it (tcp_prune_ofo_queue: OfoPruned, PruneCalled) and its ring gives the
/// memory back; the pruned data is not acknowledged and comes again from the sender,
/// and the stream arrives whole.
#[test]
fn out_of_order_data_is_pruned_under_pressure() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = Harness::with_config(|c| c.tcp_mem = [4, 8, 16]);
    let (_, c) = h.established_passive();
    let stream = pattern(1, 41_000);
    let seg = |k: usize| &stream[k * 1000..(k + 1) * 1000];
    // Out of order, 40 KB ahead: the ring spans 64 KiB, 16 pages (the socket holds
    // less than tcp_rmem[0], so the budget lets it), and the stack is under pressure.
    h.send(&c, pkt("P.", c.p(40_001), c.l(1)).data(seg(40)));
    h.recv();
    assert_eq!(h.stack.mem_pages(), 16);
    assert!(h.stack.under_memory_pressure());
    assert_eq!(h.stack.stats().OfoPruned, 0);
    // The next in-order segment: the connection holds all 16 pages of the limit, more
    // than its share, so the out-of-order data goes and the ring shrinks to a page.
    h.send(&c, pkt("P.", c.p(1), c.l(1)).data(seg(0)));
    let acks = h.recv();
    assert_eq!(
        acks.last().and_then(|a| a.ack),
        Some(c.p(1001).0),
        "{acks:?}"
    );
    let s = h.stack.stats();
    assert_eq!((s.OfoPruned, s.PruneCalled), (1, 1));
    assert_eq!(h.stack.mem_pages(), 1);
    assert!(!h.stack.under_memory_pressure(), "under tcp_mem[0] again");
    assert_eq!(s.TCPMemoryPressuresChrono, 0, "no time passed");
    // The sender goes on from the ACK; the pruned segment comes again in order.
    let mut got = h.read_all(c.handle).unwrap();
    for k in 1..=40 {
        h.send(&c, pkt("P.", c.p(1 + 1000 * k as u32), c.l(1)).data(seg(k)));
        got.extend(h.read_all(c.handle).unwrap());
    }
    assert_eq!(got, stream);
}

/// Above the limit, data that needs memory is dropped and counted (TCPRcvQDrop, with
/// a zero window), and nothing is lost end to end: the writers retransmit, and once
/// the reader reads, the rings it already holds take the rest.
#[test]
fn above_the_limit_data_is_dropped_and_retransmitted_later() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const HIGH: u64 = 32;
    let mut p = pair(None, Some([16, 24, HIGH]));
    let conns = p.connect(8, 5200, handshakes);
    let data: Vec<Vec<u8>> = (0..conns.len()).map(|i| pattern(i, 200 << 10)).collect();
    let mut sent = vec![0usize; conns.len()];
    let mut peak = 0;
    for (i, &(c, _)) in conns.iter().enumerate() {
        write_some(&mut p.a, c, &data[i], &mut sent[i]);
    }
    p.run(Duration::from_secs(1), |p| peak = peak.max(p.b.mem_pages()));
    let drops = p.b.stats().TCPRcvQDrop + p.b.stats().TCPOFODrop;
    assert!(drops > 0, "the limit dropped nothing: {:?}", p.b.stats());
    assert!(peak <= HIGH, "{peak} pages charged, over the limit {HIGH}");
    // Now the reader reads as data comes; the writers write the rest.
    let mut got = vec![Vec::new(); conns.len()];
    p.run(Duration::from_secs(120), |p| {
        for (i, &(c, s)) in conns.iter().enumerate() {
            write_some(&mut p.a, c, &data[i], &mut sent[i]);
            read_some(&mut p.b, s, &mut got[i]);
        }
        peak = peak.max(p.b.mem_pages());
    });
    for (i, d) in data.iter().enumerate() {
        assert!(
            got[i] == *d,
            "connection {i}: {} of {} bytes, or wrong ones",
            got[i].len(),
            d.len()
        );
    }
    assert!(peak <= HIGH, "{peak} pages charged, over the limit {HIGH}");
    assert!(p.a.stats().RetransSegs > 0, "what was dropped came again");
    // Out-of-order data B had SACKed was pruned: A's retransmission timeout found the
    // data at SND.UNA SACKed and forgot the SACKs (tcp_timeout_mark_lost).
    eprintln!(
        "B: {:?}; A: {} retransmitted, {} SACK renegings",
        p.b.stats()
            .iter()
            .filter(|(_, n, v)| *v != 0
                && (n.contains("Prune") || n.contains("Drop") || n.contains("Memory")))
            .collect::<Vec<_>>(),
        p.a.stats().RetransSegs,
        p.a.stats().TCPSACKReneging
    );
}

/// An orphan on a stack over its limit is reset (tcp_check_oom: "out of memory --
/// consider tuning tcp_mem", TCPAbortOnMemory): at close() once the FIN has been
/// pushed, and on an orphan's retransmission timer.
#[test]
fn orphans_are_reset_when_the_stack_is_out_of_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = pair(None, None);
    let conns = p.connect(2, 5300, handshakes);
    let data = pattern(0, 64 << 10);
    // Unacknowledged data queued on both, well over SOCK_MIN_SNDBUF.
    for &(c, _) in &conns {
        let mut sent = 0;
        write_some(&mut p.a, c, &data, &mut sent);
    }
    assert!(p.a.mem_pages() > 2);
    // At close(), with the stack over its limit: the FIN, then a RST.
    p.a.config_mut().tcp_mem = [1, 1, 1];
    p.a.close(conns[0].0).unwrap();
    let mut reset = false;
    for _ in 0..1000 {
        p.pass(Duration::from_millis(1));
        if let Err(Error::ConnectionReset) = p.b.recv(conns[0].1, &mut [0u8; 65536]) {
            reset = true;
            break;
        }
    }
    assert!(reset, "the peer saw a reset");
    assert_eq!(p.a.stats().TCPAbortOnMemory, 1);
    // On the timer: closed while memory is plentiful, then the limit falls; the next
    // retransmission timeout resets it instead of retransmitting.
    p.a.config_mut().tcp_mem = [1 << 20, 1 << 20, 1 << 20];
    p.a.close(conns[1].0).unwrap();
    let mut buf = vec![0u8; 65536];
    // Nothing reaches the peer: the orphan's data and FIN stay unacknowledged.
    while p.a.poll_transmit(p.now, &mut buf).unwrap().is_some() {}
    assert_eq!(p.a.stats().TCPAbortOnMemory, 1);
    p.a.config_mut().tcp_mem = [1, 1, 1];
    let end = p.now + Duration::from_secs(10);
    while p.a.stats().TCPAbortOnMemory == 1 && p.now < end {
        let next = p.a.poll_timeout().expect("the orphan's timers");
        p.now = p.now.max(next);
        p.a.handle_timeout(p.now);
        while p.a.poll_transmit(p.now, &mut buf).unwrap().is_some() {}
    }
    assert_eq!(p.a.stats().TCPAbortOnMemory, 2);
    assert!(
        p.a.sockets().iter().all(|i| i.handle != Some(conns[1].0)),
        "the orphan is gone"
    );
}
