//! Link impairments, observed end to end through mock hosts.

mod common;

use std::time::Duration;

use common::{addr, ipv4, Host};
use synack::Instant;
use synack_sim::{LinkConfig, Network, NodeId, Pair};

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// A pair whose client sends through `cfg` to a server that only records.
fn pair(seed: u64, cfg: LinkConfig) -> Pair<Host> {
    Pair::new(seed, Host::new(A), addr(A), Host::new(B), addr(B), cfg)
}

fn run_to_idle(p: &mut Pair<Host>) {
    while p.step() {}
}

#[test]
fn delay_is_honoured_exactly() {
    let mut p = pair(1, LinkConfig::ideal(Duration::from_millis(7)));
    p.client().send_series(B, 0, 3, 100, Instant::ZERO, 3_000);
    run_to_idle(&mut p);
    let times: Vec<_> = p.server().received.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times,
        vec![
            Instant::from_millis(7),
            Instant::from_millis(10),
            Instant::from_millis(13)
        ]
    );
    assert_eq!(p.now(), Instant::from_millis(13));
}

#[test]
fn echo_round_trip_is_twice_the_delay() {
    let mut p = Pair::new(
        3,
        Host::new(A),
        addr(A),
        Host::echoing(B),
        addr(B),
        LinkConfig::ideal(Duration::from_micros(1_234)),
    );
    p.client()
        .send_series(B, 9, 1, 60, Instant::from_millis(1), 0);
    run_to_idle(&mut p);
    let got = &p.client().received;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, Instant::from_micros(1_000 + 2 * 1_234));
    assert_eq!(common::seq_of(&got[0].1), 9);
    assert_eq!(&got[0].1[16..20], &A, "echo goes back to the client");
}

#[test]
fn rate_serializes_back_to_back_packets() {
    // 1000-byte packets at 8 Mbit/s take exactly 1 ms each; 5 ms of propagation on top.
    let cfg = LinkConfig::ideal(Duration::from_millis(5)).with_rate(8_000_000);
    let mut p = pair(1, cfg);
    p.client().send_series(B, 0, 10, 1000, Instant::ZERO, 0);
    run_to_idle(&mut p);
    let times: Vec<u64> = p
        .server()
        .received
        .iter()
        .map(|(t, _)| t.total_micros())
        .collect();
    let expected: Vec<u64> = (1..=10).map(|i| 5_000 + i * 1_000).collect();
    assert_eq!(times, expected);

    // A packet sent once the link is idle again is not delayed by the earlier burst.
    let mut p = pair(1, LinkConfig::ideal(Duration::ZERO).with_rate(8_000_000));
    p.client().send_series(B, 0, 2, 1000, Instant::ZERO, 0);
    p.client()
        .send_series(B, 2, 1, 500, Instant::from_millis(10), 0);
    run_to_idle(&mut p);
    let times: Vec<u64> = p
        .server()
        .received
        .iter()
        .map(|(t, _)| t.total_micros())
        .collect();
    assert_eq!(times, vec![1_000, 2_000, 10_500]);
}

#[test]
fn queue_limit_tail_drops() {
    let cfg = LinkConfig::ideal(Duration::ZERO)
        .with_rate(8_000_000)
        .with_queue_limit(3);
    let mut p = pair(1, cfg);
    p.client().send_series(B, 0, 10, 1000, Instant::ZERO, 0);
    run_to_idle(&mut p);
    // One on the wire and three waiting; the other six fall off the tail.
    assert_eq!(p.server().received_seqs(), vec![0, 1, 2, 3]);
    let s = *p.client_to_server();
    assert_eq!((s.sent, s.delivered, s.queue_drops, s.lost), (10, 4, 6, 0));
    assert_eq!(s.bytes, 10_000);
}

#[test]
fn loss_rate_is_close_to_configured() {
    let mut p = pair(
        77,
        LinkConfig::ideal(Duration::from_millis(1)).with_loss(0.1),
    );
    p.client().send_series(B, 0, 10_000, 60, Instant::ZERO, 10);
    run_to_idle(&mut p);
    let s = *p.client_to_server();
    assert_eq!(s.sent, 10_000);
    assert!((850..=1150).contains(&s.lost), "lost {} of 10000", s.lost);
    assert_eq!(s.delivered + s.lost, s.sent);
    assert_eq!(p.server().received.len() as u64, s.delivered);
    // Survivors arrive in order.
    let seqs = p.server().received_seqs();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn duplication_delivers_extra_copies() {
    let mut p = pair(
        5,
        LinkConfig::ideal(Duration::from_millis(2)).with_duplicate(0.2),
    );
    p.client().send_series(B, 0, 1000, 80, Instant::ZERO, 100);
    run_to_idle(&mut p);
    let s = *p.client_to_server();
    assert!(
        (120..=280).contains(&s.duplicated),
        "duplicated {}",
        s.duplicated
    );
    assert_eq!(s.delivered, 1000 + s.duplicated);
    let mut seqs = p.server().received_seqs();
    assert_eq!(seqs.len() as u64, s.delivered);
    seqs.dedup();
    assert_eq!(
        seqs,
        (0..1000).collect::<Vec<_>>(),
        "copies arrive right behind"
    );
}

#[test]
fn reordering_lets_later_packets_overtake() {
    let cfg =
        LinkConfig::ideal(Duration::from_millis(2)).with_reorder(0.2, Duration::from_millis(5));
    let mut p = pair(6, cfg);
    p.client().send_series(B, 0, 1000, 80, Instant::ZERO, 1_000);
    run_to_idle(&mut p);
    let s = *p.client_to_server();
    assert!(
        (120..=280).contains(&s.reordered),
        "reordered {}",
        s.reordered
    );
    let seqs = p.server().received_seqs();
    let inversions = seqs.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 100, "only {inversions} inversions");
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "each exactly once");
    // A held-back packet arrives delay + reorder_delay after it was sent.
    for (t, pkt) in &p.server().received {
        let sent = u64::from(common::seq_of(pkt)) * 1_000;
        let lateness = t.total_micros() - sent;
        assert!(
            lateness == 2_000 || lateness == 7_000,
            "lateness {lateness}"
        );
    }
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let mut p = pair(
        8,
        LinkConfig::ideal(Duration::from_millis(1)).with_corrupt(0.5),
    );
    p.client().send_series(B, 0, 500, 200, Instant::ZERO, 10);
    run_to_idle(&mut p);
    let s = *p.client_to_server();
    let received = p.server().received.clone();
    assert_eq!(received.len(), 500);
    let mut flipped = 0;
    for (i, (_, got)) in received.iter().enumerate() {
        let sent = ipv4(A, B, i as u32, 200);
        let bits: u32 = sent
            .iter()
            .zip(got)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert!(bits <= 1, "packet {i} differs in {bits} bits");
        flipped += bits as u64;
    }
    assert_eq!(flipped, s.corrupted);
    assert!((180..=320).contains(&flipped), "corrupted {flipped}");
}

#[test]
fn jitter_spreads_arrivals_without_reordering() {
    let cfg = LinkConfig::ideal(Duration::from_millis(10)).with_jitter(Duration::from_millis(4));
    let mut p = pair(2, cfg);
    p.client().send_series(B, 0, 200, 60, Instant::ZERO, 2_000);
    run_to_idle(&mut p);
    let rx = &p.server().received;
    let seqs: Vec<u32> = rx.iter().map(|(_, q)| common::seq_of(q)).collect();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    let lateness: Vec<u64> = rx
        .iter()
        .map(|(t, q)| t.total_micros() - u64::from(common::seq_of(q)) * 2_000)
        .collect();
    assert!(lateness.iter().all(|&l| (10_000..=14_000).contains(&l)));
    assert!(
        lateness.iter().any(|&l| l != lateness[0]),
        "no jitter at all"
    );
}

#[test]
fn oversized_packets_are_dropped_and_counted() {
    let mut p = pair(1, LinkConfig::ideal(Duration::ZERO).with_mtu(1280));
    p.client().send_series(B, 0, 1, 1281, Instant::ZERO, 0);
    p.client().send_series(B, 1, 1, 1280, Instant::ZERO, 0);
    run_to_idle(&mut p);
    assert_eq!(p.server().received_seqs(), vec![1]);
    assert_eq!(p.client_to_server().too_big, 1);
}

#[test]
fn directions_are_configured_independently() {
    let mut net = Network::new(4);
    let a = net.add_node(Host::new(A), &[addr(A)]);
    let b = net.add_node(Host::echoing(B), &[addr(B)]);
    let link = net.link(
        a,
        b,
        LinkConfig::ideal(Duration::from_millis(1)),
        LinkConfig::ideal(Duration::from_millis(30)).with_loss(1.0),
    );
    net.node_mut(a).send_series(B, 0, 5, 60, Instant::ZERO, 0);
    while net.step() {}
    assert_eq!(net.node(b).received.len(), 5);
    assert!(net.node(a).received.is_empty());
    assert_eq!(net.link_stats(link, a).delivered, 5);
    assert_eq!(net.link_stats(link, b).lost, 5);

    // Healing the partition mid-run.
    net.link_config_mut(link, b).loss = 0.0;
    let now = net.now();
    net.node_mut(a).send_series(B, 5, 1, 60, now, 0);
    while net.step() {}
    assert_eq!(common::seq_of(&net.node(a).received[0].1), 5);
    let _: NodeId = a;
}
