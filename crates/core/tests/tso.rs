//! Transmission units as Linux sizes and defers them: tcp_tso_autosize from the pacing
//! rate and the minimum RTT (`tcp_tso_rtt_log`), and tcp_tso_should_defer
//! (`tcp_tso_win_divisor`).

mod common;

use core::time::Duration;

use common::*;
use synack::Config;

/// An established active connection with a 1000-byte MSS whose handshake took `rtt`;
/// the peer offers an unscaled 65535-byte window.
fn connection(h: &mut Harness, rtt: Duration) -> Conn {
    let c = h.syn_sent();
    h.advance(rtt);
    h.send(&c, pkt("S.", c.p(0), c.l(1)).mss(1000));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    c
}

/// The first flight of a 20000-byte write after a handshake of `rtt`: where PSH falls.
fn first_flight_units(config: impl FnOnce(&mut Config), rtt: Duration) -> Vec<usize> {
    let mut h = Harness::with_config(config);
    let c = connection(&mut h, rtt);
    assert_eq!(h.stack.send(c.handle, &[0u8; 20_000]), Ok(20_000));
    let out = h.output();
    assert_eq!(out.len(), 10, "the initial window");
    psh_at(&out)
}

/// Linux's tcp_tso_autosize after a 4 ms handshake: the pacing rate, 200% of ten
/// segments per 4 ms (5 MB/s), gives 4882 bytes a millisecond, and the minimum-RTT term
/// `65215 >> (4000 µs >> 9)` adds 509: five 1000-byte segments, the most half of cwnd
/// allows. Without the RTT term (`tcp_tso_rtt_log` 0 shifts it away) the units are four
/// segments; on a 100 ms path the rate gives less than `tcp_min_tso_segs`, so two.
#[test]
fn units_grow_with_the_pacing_rate_and_a_short_minimum_rtt() {
    let ms4 = Duration::from_millis(4);
    assert_eq!(first_flight_units(|_| {}, ms4), vec![4, 9]);
    assert_eq!(
        first_flight_units(|c| c.tcp_tso_rtt_log = 0, ms4),
        vec![3, 7, 9]
    );
    assert_eq!(
        first_flight_units(|_| {}, Duration::from_millis(100)),
        vec![1, 3, 5, 7, 9]
    );
    // The ratio is the slow-start one (cwnd below half of ssthresh): halved, the rate
    // gives two segments a millisecond, and the RTT term makes it two as well.
    assert_eq!(
        first_flight_units(|c| c.tcp_pacing_ss_ratio = 100, ms4),
        vec![1, 3, 5, 7, 9]
    );
}

/// A 100 ms path: ten segments of a 30000-byte write go, the ACK of the first lets two
/// more go (cwnd 11) and opens the window to 12001. Half a millisecond later the ACK
/// of the second opens it by one segment only, while cwnd would allow two.
fn window_cut_short(h: &mut Harness) -> (Conn, Vec<Seg>) {
    let c = connection(h, Duration::from_millis(100));
    assert_eq!(h.stack.send(c.handle, &[0u8; 30_000]), Ok(30_000));
    assert_eq!(h.output().len(), 10);
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(1001)).win(11_000));
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(10_001), c.p(1), 1000),
            seg(".", c.l(11_001), c.p(1), 1000)
        ]
    );
    h.advance(Duration::from_micros(500));
    h.send(&c, pkt(".", c.p(1), c.l(2001)).win(11_000));
    let out = h.recv();
    (c, out)
}

/// Linux's tcp_tso_should_defer: the window lets one segment of a longer chunk go,
/// less than a full unit and less than a third of the window; the last transmission is
/// half a millisecond old and the ACK of the oldest segment in flight is due within a
/// millisecond, so the stack waits for it. That ACK opens room for a whole unit.
#[test]
fn a_unit_cut_short_by_the_window_waits_for_the_next_ack() {
    let mut h = Harness::new();
    let (c, out) = window_cut_short(&mut h);
    assert_eq!(out, vec![], "deferred");
    h.advance(Duration::from_micros(500));
    h.send(&c, pkt(".", c.p(1), c.l(3001)).win(11_000));
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(12_001), c.p(1), 1000),
            seg(".", c.l(13_001), c.p(1), 1000)
        ]
    );
}

/// With `tcp_tso_win_divisor` 100 a hundredth of the window is enough to send now (the
/// slow-start scripts of Linux's corpus set it so); with 0, Linux's other rule defers
/// while at most three segments could go.
#[test]
fn the_divisor_decides_how_much_room_is_enough() {
    let mut h = Harness::with_config(|c| c.tcp_tso_win_divisor = 100);
    let (c, out) = window_cut_short(&mut h);
    assert_eq!(out, vec![seg(".", c.l(12_001), c.p(1), 1000)]);
    let mut h = Harness::with_config(|c| c.tcp_tso_win_divisor = 0);
    let (_, out) = window_cut_short(&mut h);
    assert_eq!(out, vec![], "deferred");
}

/// No deferral once the last transmission is more than a millisecond old (Linux avoids
/// bursts that way): the same ACK two milliseconds after the last send lets the one
/// segment go.
#[test]
fn no_deferral_after_a_millisecond_without_sending() {
    let mut h = Harness::new();
    let c = connection(&mut h, Duration::from_millis(100));
    assert_eq!(h.stack.send(c.handle, &[0u8; 30_000]), Ok(30_000));
    assert_eq!(h.output().len(), 10);
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(1), c.l(1001)).win(11_000));
    assert_eq!(h.recv().len(), 2);
    h.advance(Duration::from_millis(2));
    h.send(&c, pkt(".", c.p(1), c.l(2001)).win(11_000));
    assert_eq!(h.recv(), vec![seg(".", c.l(12_001), c.p(1), 1000)]);
}

/// The knobs are listed and checked as Linux's sysctls are.
#[test]
fn knobs_have_linux_defaults_and_ranges() {
    let c = Config::default();
    assert_eq!(
        (
            c.tcp_tso_win_divisor,
            c.tcp_tso_rtt_log,
            c.tcp_pacing_ss_ratio,
            c.tcp_pacing_ca_ratio
        ),
        (3, 9, 200, 120)
    );
    let listed: Vec<(String, String)> = c.sysctls();
    for (k, v) in [
        ("net.ipv4.tcp_tso_win_divisor", "3"),
        ("net.ipv4.tcp_tso_rtt_log", "9"),
        ("net.ipv4.tcp_pacing_ss_ratio", "200"),
        ("net.ipv4.tcp_pacing_ca_ratio", "120"),
    ] {
        assert!(
            listed.iter().any(|(n, val)| n == k && val == v),
            "{k} = {v} in sysctl -a"
        );
    }
    let mut c = Config::default();
    assert!(c
        .set_sysctl("net.ipv4.tcp_pacing_ss_ratio", "1001")
        .is_err());
    assert!(c.set_sysctl("net.ipv4.tcp_tso_win_divisor", "256").is_err());
    c.set_sysctl("net.ipv4.tcp_tso_win_divisor", "0").unwrap();
    assert_eq!(c.tcp_tso_win_divisor, 0);
}
