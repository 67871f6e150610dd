//! Congestion control as Linux's `tcp_cubic.c` runs it: HyStart ending slow start (its
//! delay and ACK-train tests, with the `tcp_cubic` module parameters as knobs) and
//! congestion avoidance counted in packets (`snd_cwnd_cnt`).

mod common;

use core::time::Duration;

use common::*;
use synack::{Config, SockOpt, State, INFINITE_SSTHRESH};

const MSS: u32 = 1000;

/// A stack with a large send buffer and `f` applied to its configuration.
fn harness(f: impl FnOnce(&mut Config)) -> Harness {
    Harness::with_config(|c| {
        c.tcp_wmem = [4096, 1 << 20, 4 << 20];
        f(c);
    })
}

/// An established active connection with MSS 1000, no options, and a handshake of
/// `rtt`; `bytes` are written at once.
fn bulk(h: &mut Harness, rtt: Duration, bytes: usize) -> Conn {
    let c = h.syn_sent();
    h.advance(rtt);
    h.send(&c, pkt("S.", c.p(0), c.l(1)).mss(MSS as u16));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert_eq!(h.state(c.handle), State::Established);
    h.stack
        .set_option(c.handle, SockOpt::SendBuffer(4 << 20))
        .unwrap();
    let n = h.stack.send(c.handle, &vec![7u8; bytes]).unwrap();
    assert_eq!(n, bytes);
    c
}

/// (cwnd, ssthresh) in packets, as TCP_INFO gives them.
fn windows(h: &Harness, c: &Conn) -> (u32, u32) {
    let i = h.stack.tcp_info(c.handle).unwrap();
    (i.snd_cwnd, i.snd_ssthresh)
}

/// Data segments sent now.
fn sent(h: &mut Harness) -> usize {
    h.recv().iter().filter(|s| s.len > 0).count()
}

/// The initial window of 10 goes out; after `rtt` one ACK takes cwnd to 20, whose 20
/// segments then go out. Returns the sequence number (relative) acknowledged so far.
fn first_round(h: &mut Harness, c: &Conn, rtt: Duration) -> u32 {
    assert_eq!(sent(h), 10);
    h.advance(rtt);
    h.send(c, pkt(".", c.p(1), c.l(10 * MSS + 1)));
    assert_eq!(windows(h, c), (20, INFINITE_SSTHRESH));
    assert_eq!(sent(h), 20);
    10 * MSS + 1
}

/// HYSTART_DELAY: the second round's samples are 120 ms against a minimum of 100 ms
/// (more than 100 + 100/8 ms); the ninth sample of the round ends slow start with
/// ssthresh = cwnd (36: 20 + 2 per ACK of two segments). With `hystart_detect` 0 (the
/// knob as `/sys/module/tcp_cubic/parameters/hystart_detect` sets it) or `hystart` 0,
/// slow start goes on.
#[test]
fn hystart_delay_ends_slow_start() {
    for (knob, value, exits) in [
        ("tcp_cubic.hystart_detect", "2", true),
        (
            "/sys/module/tcp_cubic/parameters/hystart_detect",
            "0",
            false,
        ),
        ("tcp_cubic.hystart", "0", false),
    ] {
        let mut h = harness(|c| c.set_sysctl(knob, value).unwrap());
        let rtt = Duration::from_millis(100);
        let c = bulk(&mut h, rtt, 200_000);
        let mut acked = first_round(&mut h, &c, rtt);
        h.advance(Duration::from_millis(120));
        for k in 1..=10u32 {
            acked += 2 * MSS;
            h.send(&c, pkt(".", c.p(1), c.l(acked)));
            let (cwnd, ssthresh) = windows(&h, &c);
            if exits && k >= 9 {
                assert_eq!((cwnd, ssthresh), (36, 36), "{knob}={value}, ACK {k}");
            } else {
                assert_eq!((cwnd, ssthresh), (20 + 2 * k, INFINITE_SSTHRESH), "ACK {k}");
            }
            h.advance(Duration::from_millis(1));
        }
        let s = h.stack.stats();
        assert_eq!(s.TCPHystartDelayDetect, u64::from(exits), "{knob}={value}");
        assert_eq!(s.TCPHystartDelayCwnd, if exits { 36 } else { 0 });
        assert_eq!(s.TCPHystartTrainDetect, 0);
    }
}

/// HYSTART_ACK_TRAIN: on a 10 ms path, ACKs 0.5 ms apart (closer than
/// `hystart_ack_delta_us`, 2 ms) that run on for more than half the minimum RTT plus
/// the 1 ms allowance ((10 + 1) / 2 = 5.5 ms) end slow start: the ACK 6 ms into the
/// round, the thirteenth, with ssthresh = cwnd = 32. Spaced 3 ms apart they are no train; with
/// `hystart_ack_delta_us` 4000 they are again.
#[test]
fn hystart_ack_train_ends_slow_start() {
    for (spacing_us, delta_us, exits) in
        [(500, 2000, true), (3000, 2000, false), (3000, 4000, true)]
    {
        let mut h = harness(|c| {
            c.set_sysctl("tcp_cubic.hystart_detect", "1").unwrap();
            c.set_sysctl("tcp_cubic.hystart_ack_delta_us", &delta_us.to_string())
                .unwrap();
        });
        let rtt = Duration::from_millis(10);
        let c = bulk(&mut h, rtt, 200_000);
        let mut acked = first_round(&mut h, &c, rtt);
        h.advance(rtt);
        let mut exit_at = None;
        for k in 1..=20u32 {
            acked += MSS;
            h.send(&c, pkt(".", c.p(1), c.l(acked)));
            let (cwnd, ssthresh) = windows(&h, &c);
            if ssthresh != INFINITE_SSTHRESH && exit_at.is_none() {
                exit_at = Some((k, cwnd, ssthresh));
            }
            h.advance(Duration::from_micros(spacing_us));
        }
        let s = h.stack.stats();
        if !exits {
            assert_eq!(exit_at, None);
            assert_eq!(s.TCPHystartTrainDetect, 0);
            continue;
        }
        // The k-th ACK comes (k - 1) * spacing after the round began at the first; it
        // sets ssthresh to the cwnd the ACKs before it grew (HyStart runs before slow
        // start, as Linux's tcp_clean_rtx_queue before tcp_cong_control).
        let k = (5_500 / spacing_us + 2) as u32;
        assert_eq!(
            exit_at,
            Some((k, 19 + k, 19 + k)),
            "spacing {spacing_us} us"
        );
        assert_eq!(s.TCPHystartTrainDetect, 1);
        assert_eq!(s.TCPHystartTrainCwnd, u64::from(19 + k));
    }
}

/// Congestion avoidance counts packets (Linux's tcp_cong_avoid_ai with snd_cwnd_cnt):
/// after HyStart's exit W_max is 0, so CUBIC's `cnt` is capped at 20 (5% per round
/// trip, bictcp_update), and cwnd grows by exactly one when the twentieth packet since
/// the exit is acknowledged, whatever the ACKs' sizes.
#[test]
fn avoidance_adds_one_packet_per_cnt_acknowledged() {
    let mut h = harness(|c| c.set_sysctl("tcp_cubic.hystart_detect", "2").unwrap());
    let rtt = Duration::from_millis(100);
    let c = bulk(&mut h, rtt, 400_000);
    let mut acked = first_round(&mut h, &c, rtt);
    h.advance(Duration::from_millis(120));
    // Eight ACKs of two segments in slow start, then the ninth (two more) ends it and
    // counts toward avoidance.
    for _ in 0..9 {
        acked += 2 * MSS;
        h.send(&c, pkt(".", c.p(1), c.l(acked)));
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(windows(&h, &c), (36, 36));
    let mut counted = 2;
    // One segment, then three, alternately: 19 packets leave cwnd at 36.
    let mut sizes = [1u32, 3].into_iter().cycle();
    while counted < 20 {
        let n = sizes.next().unwrap().min(20 - counted);
        acked += n * MSS;
        counted += n;
        h.send(&c, pkt(".", c.p(1), c.l(acked)));
        h.recv();
        let want = if counted >= 20 { 37 } else { 36 };
        assert_eq!(windows(&h, &c).0, want, "after {counted} packets");
        h.advance(Duration::from_millis(1));
    }
}

/// TCP_INFO's chronographs (Linux's tcp_chrono_start/stop): busy from the write that
/// finds nothing queued until all is acknowledged; rwnd-limited while the peer's zero
/// window holds the data back (counted in the busy time too); nothing while idle.
#[test]
fn chrono_times_busy_and_rwnd_limited() {
    let mut h = harness(|_| {});
    let c = h.established_active();
    let times = |h: &Harness| {
        let i = h.stack.tcp_info(c.handle).unwrap();
        (i.busy_time, i.rwnd_limited, i.sndbuf_limited)
    };
    h.advance(Duration::from_millis(5));
    assert_eq!(times(&h), (0, 0, 0));
    h.send(&c, pkt(".", c.p(1), c.l(1)).win(0));
    h.stack.send(c.handle, &[1u8; 100]).unwrap();
    assert_eq!(sent(&mut h), 0, "the zero window holds the data");
    h.advance(Duration::from_millis(30));
    assert_eq!(times(&h), (30_000, 30_000, 0));
    h.send(&c, pkt(".", c.p(1), c.l(1)).win(1000));
    assert_eq!(sent(&mut h), 1);
    h.advance(Duration::from_millis(10));
    h.send(&c, pkt(".", c.p(1), c.l(101)).win(1000));
    assert_eq!(times(&h), (40_000, 30_000, 0));
    h.advance(Duration::from_millis(100));
    assert_eq!(times(&h), (40_000, 30_000, 0), "idle time is not busy");
}
