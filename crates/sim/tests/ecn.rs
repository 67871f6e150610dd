//! ECN end to end over the simulated network (RFC 3168): a bottleneck that marks
//! ECN-capable packets Congestion Experienced once its queue passes a threshold makes
//! the sender reduce its window, with no packet lost and nothing retransmitted; the
//! same bottleneck without ECN negotiated lets the window grow on.

mod harness;

use std::time::Duration;

use synack::congestion::Hystart;
use synack::{tcpi_options, Config, INFINITE_SSTHRESH};
use synack_sim::LinkConfig;

/// 2 MB from client to server through a 20 Mbit/s bottleneck with 10 ms of delay each
/// way and room for 1000 packets (nothing is tail-dropped), marking CE past 20 queued.
/// HyStart as `hystart` says (off, the point is what ECN alone does: its delay test
/// ends slow start as the queue builds, as Linux's does).
/// Returns the client's ssthresh after the transfer, the segments it retransmitted, the
/// packets the link marked, and the server's tcpi_options.
fn transfer(tcp_ecn: u8, hystart: Hystart) -> (u32, u64, u64, u64, u8) {
    let bottleneck = LinkConfig::ideal(Duration::from_millis(10))
        .with_rate(20_000_000)
        .with_queue_limit(1000)
        .with_ce_threshold(20);
    let back = LinkConfig::ideal(Duration::from_millis(10));
    let config = Config {
        tcp_ecn,
        hystart,
        ..Config::default()
    };
    let mut pair = harness::pair_with(7, bottleneck, back, config, false);
    let l = harness::listen(&mut pair);
    let (ch, sh) = harness::connect(&mut pair, l, Duration::from_secs(5));
    let total = 2_000_000usize;
    let data = vec![7u8; total];
    let mut sent = 0;
    let mut got = Vec::new();
    let deadline = pair.now() + Duration::from_secs(30);
    let done = pair.run_until(deadline, |p| {
        if sent < total {
            sent += p.client().send(ch, &data[sent..]).unwrap_or(0);
        }
        harness::read_all(p.server(), sh, &mut got).unwrap();
        got.len() == total
    });
    assert!(
        done,
        "the transfer did not finish: {} of {total} bytes",
        got.len()
    );
    let info = pair.client().tcp_info(ch).unwrap();
    let server = pair.server().tcp_info(sh).unwrap();
    let stats = pair.client().stats().clone();
    if hystart.enabled {
        assert!(
            stats.TCPHystartDelayDetect + stats.TCPHystartTrainDetect > 0,
            "HyStart saw the queue build"
        );
    }
    let link = *pair.client_to_server();
    assert_eq!(
        link.lost + link.queue_drops,
        0,
        "the bottleneck drops nothing"
    );
    (
        info.snd_ssthresh,
        stats.RetransSegs,
        link.ce_marked,
        stats.TCPDeliveredCE,
        server.options,
    )
}

#[test]
fn ce_marks_make_the_sender_reduce_without_loss() {
    let (ssthresh, retrans, marked, delivered_ce, server_opts) = transfer(1, Hystart::OFF);
    assert!(
        marked > 0,
        "the queue passed the threshold: nothing was marked"
    );
    assert!(
        delivered_ce > 0,
        "the receiver echoed the marks (ECE) and the sender counted them"
    );
    assert!(
        ssthresh < INFINITE_SSTHRESH,
        "the sender reduced its window (ssthresh {ssthresh})"
    );
    assert_eq!(retrans, 0, "a reduction without loss retransmits nothing");
    assert_ne!(
        server_opts & tcpi_options::ECN,
        0,
        "ECN agreed: {server_opts:#x}"
    );
    assert_ne!(
        server_opts & tcpi_options::ECN_SEEN,
        0,
        "ECT data seen: {server_opts:#x}"
    );
}

#[test]
fn without_ecn_the_same_queue_marks_nothing_and_the_window_grows_on() {
    // tcp_ecn = 0 on both ends: the packets are not ECN-capable, so the bottleneck
    // queues them unmarked and the sender sees no congestion signal.
    let (ssthresh, retrans, marked, delivered_ce, server_opts) = transfer(0, Hystart::OFF);
    assert_eq!(marked, 0);
    assert_eq!(delivered_ce, 0);
    assert_eq!(ssthresh, INFINITE_SSTHRESH);
    assert_eq!(retrans, 0);
    assert_eq!(server_opts & tcpi_options::ECN, 0);
}

#[test]
fn hystart_ends_slow_start_as_the_queue_builds() {
    // The same path without ECN, HyStart on (Linux's default): the RTT grows with the
    // queue, and HyStart ends slow start before anything is marked or lost.
    let (ssthresh, retrans, marked, _, _) = transfer(0, Hystart::default());
    assert_eq!(marked, 0);
    assert!(ssthresh < INFINITE_SSTHRESH, "ssthresh {ssthresh}");
    assert_eq!(retrans, 0);
}
