//! TIME-WAIT under a flood of spoofed segments (issue 6, bug 1).
//!
//! Linux answers a segment that TIME-WAIT cannot accept with an ACK, but no more than
//! one per `tcp_invalid_ratelimit` (500 ms) per entry (tcp_timewait_check_oow_rate_limit,
//! counted as TCPACKSkippedTimeWait when skipped), and keeps one timer per entry. A
//! retransmitted FIN or data is not part of an ACK loop and is always answered
//! (tcp_oow_rate_limited spares segments that carry sequence space without SYN).

mod common;

use core::time::Duration;

use common::*;
use synack::wire::{self, SeqNum, TcpRepr};
use synack::{Instant, State};

/// The datagram the peer would send for `p` on connection `c`.
fn datagram(c: &Conn, p: &Pkt) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: c.peer_port,
        dst_port: c.local_port,
        seq: p.seq,
        ack: p.ack,
        control: p.control,
        psh: p.psh,
        ece: false,
        cwr: false,
        window: p.window,
        urgent: None,
        options: p.options,
        payload: &p.payload,
    };
    let mut buf = vec![0u8; 1500];
    let n =
        wire::emit_datagram(&mut buf, PEER_IP.into(), LOCAL_IP.into(), 64, &repr).expect("emit");
    buf.truncate(n);
    buf
}

/// A million spoofed segments (out-of-window ACKs, old duplicate SYNs, ACKs of old
/// sequence numbers) to one TIME-WAIT 4-tuple over 10 s of virtual time: at most one
/// answer per 500 ms, each skipped answer counted, and the expiry structure holds one
/// timer for the one entry throughout, and none once the entry has expired.
#[test]
fn time_wait_flood_is_rate_limited_and_memory_flat() {
    let mut h = Harness::new();
    let c = h.time_wait();
    let spoofed = [
        datagram(&c, &pkt(".", c.p(2) + 1_000_000, c.l(2))),
        datagram(&c, &pkt("S", c.p(0), SeqNum(0))),
        datagram(&c, &pkt(".", c.p(1), c.l(2) + 77)),
    ];
    const N: u64 = 1_000_000;
    const STEP_US: u64 = 10;
    let start = h.now;
    let skipped_before = h.stack.stats().TCPACKSkippedTimeWait;
    let mut buf = vec![0u8; 2048];
    let mut answers: Vec<Instant> = Vec::new();
    let mut max_timers = 0;
    for i in 0..N {
        let now = start + Duration::from_micros(i * STEP_US);
        h.stack.handle_packet(now, &spoofed[(i % 3) as usize]);
        if h.stack.poll_timeout().is_some_and(|t| t <= now) {
            h.stack.handle_timeout(now);
        }
        while let Some(n) = h.stack.poll_transmit(now, &mut buf).expect("fits") {
            let (_, tcp) = wire::parse_datagram(&buf[..n], true).expect("valid answer");
            assert_eq!(tcp.seq, c.l(2), "the answer is TIME-WAIT's ACK");
            assert_eq!(tcp.ack, Some(c.p(2)));
            answers.push(now);
        }
        if i % 1024 == 0 {
            max_timers = max_timers.max(h.stack.time_wait_timers());
        }
    }
    h.now = start + Duration::from_micros(N * STEP_US);
    let flood = Duration::from_micros(N * STEP_US);
    let limit = 1 + (flood.as_micros() / 500_000) as usize;
    assert!(
        answers.len() <= limit,
        "{} answers to {N} spoofed segments in {flood:?}: more than one per 500 ms",
        answers.len()
    );
    assert!(answers.len() >= 2, "TIME-WAIT still answers: {answers:?}");
    for w in answers.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(500),
            "answers {:?} and {:?} closer than tcp_invalid_ratelimit",
            w[0],
            w[1]
        );
    }
    assert_eq!(
        h.stack.stats().TCPACKSkippedTimeWait - skipped_before,
        N - answers.len() as u64,
        "every segment not answered is counted as TCPACKSkippedTimeWait"
    );
    assert_eq!(max_timers, 1, "one timer for one TIME-WAIT entry");
    assert_eq!(h.states_of(&c), vec![State::TimeWait]);
    // The ACKs restarted 2MSL (Linux's inet_twsk_reschedule); once it runs out the entry
    // and its timer are gone.
    h.advance(Duration::from_secs(61));
    assert_eq!(h.states_of(&c), vec![]);
    assert_eq!(h.stack.time_wait_timers(), 0);
}

/// The rate limit is per entry and follows `tcp_invalid_ratelimit`: with 100 ms, an
/// answer every 100 ms.
#[test]
fn time_wait_rate_limit_follows_the_sysctl() {
    let mut h = Harness::with_config(|c| c.tcp_invalid_ratelimit = Duration::from_millis(100));
    let c = h.time_wait();
    let mut answered = Vec::new();
    for ms in 0..1000u64 {
        h.send(&c, pkt(".", c.p(2) + 500_000, c.l(2)));
        if !h.recv().is_empty() {
            answered.push(ms);
        }
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(
        answered,
        vec![0, 100, 200, 300, 400, 500, 600, 700, 800, 900]
    );
}

/// A retransmitted FIN (or data) is always answered, however often it comes: Linux's
/// tcp_oow_rate_limited spares segments with sequence space and no SYN, since the peer
/// needs the ACK to finish its close.
#[test]
fn time_wait_retransmitted_fin_is_always_answered() {
    let mut h = Harness::new();
    let c = h.time_wait();
    for _ in 0..5 {
        h.send(&c, pkt("F.", c.p(1), c.l(2)));
        assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
        h.send(&c, pkt("P.", c.p(2), c.l(2)).data(b"late"));
        assert_eq!(h.recv(), vec![seg(".", c.l(2), c.p(2), 0)]);
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(h.stack.stats().TCPACKSkippedTimeWait, 0);
}

/// The expiry structure holds one timer per entry: entries that end early (a RST)
/// take their timer with them, and many entries flooded at once do not grow it.
#[test]
fn time_wait_timers_follow_the_entries() {
    let mut h = Harness::new();
    let conns: Vec<Conn> = (0..8).map(|_| h.time_wait()).collect();
    assert_eq!(h.stack.time_wait_timers(), 8);
    for round in 0..200u32 {
        for c in &conns {
            h.send(c, pkt(".", c.p(2) + 10_000 + round, c.l(2)));
        }
        h.advance(Duration::from_millis(3));
    }
    h.output();
    assert_eq!(h.stack.time_wait_timers(), 8);
    h.send(&conns[0], pkt("R", conns[0].p(2), SeqNum(0)));
    assert_eq!(h.states_of(&conns[0]), vec![]);
    assert_eq!(h.stack.time_wait_timers(), 7);
    h.advance(Duration::from_secs(61));
    assert_eq!(h.stack.time_wait_timers(), 0);
}
