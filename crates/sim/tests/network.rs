//! The network as a whole: stepping, the clock, routing, taps, capture, determinism.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::{addr, ipv4, seq_of, Call, Host};
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;
use synack::Instant;
use synack_sim::{Endpoint, Fate, LinkConfig, Network, Pair, SharedBuffer};

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const C: [u8; 4] = [10, 0, 0, 3];

/// (time in µs, from, to, bytes, fate) for each tapped packet.
type Entry = (u64, usize, usize, Vec<u8>, Fate);
type Trace = Rc<RefCell<Vec<Entry>>>;

fn tap_into(net: &mut Network<Host>) -> Trace {
    let trace: Trace = Rc::default();
    let t = trace.clone();
    net.set_tap(move |now, from, to, packet, fate| {
        t.borrow_mut().push((
            now.total_micros(),
            from.index(),
            to.index(),
            packet.to_vec(),
            fate,
        ));
    });
    trace
}

/// An echo exchange over a link with every impairment; returns the tap trace and what the
/// client received.
fn impaired_run(seed: u64) -> (Vec<Entry>, Vec<(Instant, Vec<u8>)>) {
    let cfg = LinkConfig::ideal(Duration::from_millis(3))
        .with_jitter(Duration::from_millis(2))
        .with_rate(10_000_000)
        .with_queue_limit(8)
        .with_loss(0.05)
        .with_reorder(0.05, Duration::from_millis(4))
        .with_duplicate(0.05)
        .with_corrupt(0.05);
    let mut p = Pair::new(seed, Host::new(A), addr(A), Host::echoing(B), addr(B), cfg);
    let trace = tap_into(&mut p.net);
    p.client().send_series(B, 0, 300, 700, Instant::ZERO, 300);
    while p.step() {}
    let received = p.client().received.clone();
    let t = trace.borrow().clone();
    (t, received)
}

#[test]
fn same_seed_same_trace_different_seed_different() {
    let (t1, r1) = impaired_run(11);
    let (t2, r2) = impaired_run(11);
    let (t3, r3) = impaired_run(12);
    assert!(t1.len() > 400, "trace too short: {}", t1.len());
    assert_eq!(t1, t2);
    assert_eq!(r1, r2);
    assert_ne!(t1, t3);
    assert_ne!(r1, r3);
    // Every kind of fate showed up, so the comparison covered them all.
    for fate in [
        Fate::Delivered,
        Fate::Lost,
        Fate::QueueFull,
        Fate::Duplicated,
        Fate::Corrupted,
        Fate::Reordered,
    ] {
        assert!(t1.iter().any(|e| e.4 == fate), "no {fate} in the trace");
    }
}

#[test]
fn idle_network_does_not_step_or_move_the_clock() {
    let mut net: Network<Host> = Network::new(0);
    assert!(!net.step());
    let a = net.add_node(Host::new(A), &[addr(A)]);
    let b = net.add_node(Host::new(B), &[addr(B)]);
    net.link(
        a,
        b,
        LinkConfig::ideal(Duration::from_millis(5)),
        LinkConfig::default(),
    );
    assert!(!net.step());
    assert_eq!(net.now(), Instant::ZERO);

    net.node_mut(a)
        .send_series(B, 0, 1, 60, Instant::from_millis(2), 0);
    assert!(net.step(), "the timer at 2 ms is pending");
    assert_eq!(net.now(), Instant::from_millis(2));
    assert_eq!(
        net.node(a).log,
        vec![Call::Timeout(Instant::from_millis(2))]
    );
    assert!(net.step(), "the packet is in flight");
    assert_eq!(net.in_flight(), 0);
    assert_eq!(net.now(), Instant::from_millis(7));
    assert!(!net.step());
    assert_eq!(net.now(), Instant::from_millis(7));
}

#[test]
fn run_until_stops_on_the_condition() {
    let mut p = Pair::new(
        1,
        Host::new(A),
        addr(A),
        Host::new(B),
        addr(B),
        LinkConfig::ideal(Duration::from_millis(10)),
    );
    p.client().send_series(B, 0, 10, 60, Instant::ZERO, 1_000);
    let server = p.server;
    let met = p.net.run_until(Instant::from_secs(60), |net| {
        net.node(server).received.len() >= 5
    });
    assert!(met);
    assert_eq!(p.now(), Instant::from_millis(14));
    assert_eq!(p.server().received.len(), 5);

    // A condition already true takes no step at all.
    assert!(p.net.run_until(Instant::from_secs(60), |_| true));
    assert_eq!(p.now(), Instant::from_millis(14));

    // The Pair's own run_until sees the pair.
    assert!(p.run_until(Instant::from_secs(60), |p| p.server().received.len() == 10));
    assert_eq!(p.now(), Instant::from_millis(19));
}

#[test]
fn run_until_stops_at_the_deadline() {
    let mut p = Pair::new(
        1,
        Host::new(A),
        addr(A),
        Host::new(B),
        addr(B),
        LinkConfig::ideal(Duration::from_millis(10)),
    );
    p.client().send_series(B, 0, 10, 60, Instant::ZERO, 1_000);
    let deadline = Instant::from_millis(13);
    assert!(!p.net.run_until(deadline, |_| false));
    assert_eq!(p.now(), deadline);
    // Arrivals at 10..=13 ms were processed, the one at 14 ms was not.
    assert_eq!(p.server().received_seqs(), vec![0, 1, 2, 3]);

    // Idle before the deadline: returns false and leaves the clock at the last event.
    assert!(!p.net.run_until(Instant::from_secs(5), |_| false));
    assert_eq!(p.now(), Instant::from_millis(19));
    assert_eq!(p.server().received.len(), 10);

    // run_for moves the clock even when idle.
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.now(), Instant::from_millis(119));
}

#[test]
fn all_arrivals_are_delivered_before_the_node_transmits_again() {
    // Two senders, one receiver that echoes: both packets arrive at 5 ms, and both must be
    // handed over before the receiver's first echo is polled.
    let mut net = Network::new(3);
    let a = net.add_node(Host::new(A), &[addr(A)]);
    let b = net.add_node(Host::echoing(B), &[addr(B)]);
    let c = net.add_node(Host::new(C), &[addr(C)]);
    let d5 = LinkConfig::ideal(Duration::from_millis(5));
    net.link(a, b, d5.clone(), d5.clone());
    net.link(c, b, d5.clone(), d5);
    net.node_mut(a).send_series(B, 1, 1, 60, Instant::ZERO, 0);
    net.node_mut(c).send_series(B, 2, 1, 60, Instant::ZERO, 0);
    net.node_mut(c).schedule[0].1[12..16].copy_from_slice(&C);
    while net.step() {}
    let t5 = Instant::from_millis(5);
    assert_eq!(
        net.node(b).log,
        vec![
            Call::Packet(t5, 1),
            Call::Packet(t5, 2),
            Call::Transmit(t5, 1),
            Call::Transmit(t5, 2)
        ]
    );
    // Replies were routed back to their own senders.
    assert_eq!(net.node(a).received_seqs(), vec![1]);
    assert_eq!(net.node(c).received_seqs(), vec![2]);
    assert_eq!(net.now(), Instant::from_millis(10));
}

#[test]
fn unroutable_packets_are_counted_not_delivered() {
    let mut net = Network::new(9);
    let a = net.add_node(Host::new(A), &[addr(A), "fd00::1".parse().unwrap()]);
    let b = net.add_node(Host::new(B), &[addr(B), "fd00::2".parse().unwrap()]);
    let c = net.add_node(Host::new(C), &[addr(C)]);
    let link = net.link(a, b, LinkConfig::default(), LinkConfig::default());
    let trace = tap_into(&mut net);

    net.send_from(a, &ipv4(A, [192, 0, 2, 1], 0, 60)); // nobody owns it
    net.send_from(a, &ipv4(A, C, 1, 60)); // owned, but no link from a to c
    net.send_from(a, &[]);
    net.send_from(a, &[0x45; 19]); // truncated v4 header
    net.send_from(a, &[0x60; 39]); // truncated v6 header
    net.send_from(a, &[0x55; 40]); // version 5
    net.send_from(c, &ipv4(C, A, 2, 60));
    assert_eq!(net.no_route_drops(), 7);

    // An IPv6 datagram routes by its 16-byte destination.
    let mut v6 = vec![0u8; 48];
    v6[0] = 0x60;
    v6[24..40].copy_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
    net.send_from(a, &v6);
    while net.step() {}
    assert_eq!(net.no_route_drops(), 7);
    assert_eq!(net.node(b).received.len(), 1);
    assert!(net.node(c).received.is_empty());
    assert_eq!(net.link_stats(link, a).sent, 1);

    let fates: Vec<(usize, usize, Fate)> = trace.borrow().iter().map(|e| (e.1, e.2, e.4)).collect();
    assert_eq!(fates[0], (0, 0, Fate::NoRoute));
    assert_eq!(
        fates[1],
        (0, 2, Fate::NoRoute),
        "the owner is named when known"
    );
    assert_eq!(fates[7], (0, 1, Fate::Delivered));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let cfg = LinkConfig::ideal(Duration::from_micros(100))
        .with_corrupt(0.5)
        .with_duplicate(0.2)
        .with_reorder(0.2, Duration::from_millis(1))
        .with_rate(100_000_000)
        .with_queue_limit(4)
        .with_mtu(100);
    let mut p = Pair::new(
        21,
        Host::echoing(A),
        addr(A),
        Host::echoing(B),
        addr(B),
        cfg,
    );
    let mut rng = synack_sim::Rng::new(99);
    for _ in 0..100 {
        for _ in 0..20 {
            let len = rng.below(120) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if len >= 20 && rng.chance(0.5) {
                bytes[0] = 0x45;
                bytes[12..16].copy_from_slice(&A);
                bytes[16..20].copy_from_slice(&B);
            }
            p.net.send_from(p.client, &bytes);
        }
        p.run_for(Duration::from_millis(1));
    }
    p.run_for(Duration::from_secs(1));
    for s in [*p.client_to_server(), *p.server_to_client()] {
        let in_flight = s.sent + s.duplicated - s.delivered - s.lost - s.queue_drops - s.too_big;
        assert!(in_flight <= p.net.in_flight() as u64);
        assert!(s.corrupted > 0 && s.delivered > 0);
    }
    assert!(p.client_to_server().too_big > 0);
    assert!(p.server().received.len() > 500);
    assert!(p.net.no_route_drops() > 0);
    assert!(p.server().received.len() > 100);
}

#[test]
fn pcap_capture_parses_with_the_right_packets_and_times() {
    let mut p = Pair::new(
        5,
        Host::new(A),
        addr(A),
        Host::echoing(B),
        addr(B),
        LinkConfig::ideal(Duration::from_millis(20)).with_loss(0.2),
    );
    let buf = SharedBuffer::new();
    p.net.capture(p.link, Box::new(buf.clone()));
    p.client()
        .send_series(B, 0, 50, 100, Instant::from_millis(1), 1_500);
    while p.step() {}
    let up = *p.client_to_server();
    let down = *p.server_to_client();
    assert!(up.lost > 0, "the test wants some loss");

    let bytes = buf.contents();
    let mut reader = PcapReader::new(&bytes[..]).expect("valid pcap header");
    assert_eq!(reader.header().datalink, DataLink::RAW);
    let mut records = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("valid record");
        records.push((packet.timestamp, packet.orig_len, packet.data.into_owned()));
    }
    assert_eq!(records.len() as u64, up.sent + down.sent);
    // Client packets are captured when sent (lost ones too), echoes when sent back.
    let from_client: Vec<_> = records.iter().filter(|r| r.2[12..16] == A).collect();
    assert_eq!(from_client.len(), 50);
    for (i, (ts, len, data)) in from_client.iter().enumerate() {
        assert_eq!(*ts, Duration::from_micros(1_000 + 1_500 * i as u64));
        assert_eq!(*len, 100);
        assert_eq!(data, &ipv4(A, B, i as u32, 100));
    }
    for (ts, _, data) in records.iter().filter(|r| r.2[12..16] == B) {
        let sent = Duration::from_micros(1_000 + 1_500 * u64::from(seq_of(data)));
        assert_eq!(*ts, sent + Duration::from_millis(20));
    }

    // Stopping the capture hands the writer back and records no more.
    assert!(p.net.stop_capture(p.link).is_some());
    let before = buf.len();
    let now = p.now();
    p.client().send_series(B, 99, 1, 60, now, 0);
    while p.step() {}
    assert_eq!(buf.len(), before);
}

/// An endpoint whose timer never moves: a bug the network must report, not hang on.
struct Stuck;

impl Endpoint for Stuck {
    fn handle_packet(&mut self, _: Instant, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(Instant::from_millis(1))
    }
}

#[test]
#[should_panic(expected = "node 0 keeps returning poll_timeout")]
fn a_timer_that_never_moves_is_reported() {
    let mut net = Network::new(0);
    net.add_node(Stuck, &[addr(A)]);
    net.run_until(Instant::from_secs(1), |_| false);
}

#[test]
fn timers_fire_exactly_when_due() {
    let mut net = Network::new(0);
    let a = net.add_node(Host::new(A), &[addr(A)]);
    let b = net.add_node(Host::new(B), &[addr(B)]);
    net.link(a, b, LinkConfig::default(), LinkConfig::default());
    for ms in [3, 250, 7_000] {
        net.node_mut(a)
            .send_series(B, ms, 1, 60, Instant::from_millis(u64::from(ms)), 0);
    }
    while net.step() {}
    let timeouts: Vec<_> = net
        .node(a)
        .log
        .iter()
        .filter_map(|c| match c {
            Call::Timeout(t) => Some(t.total_millis()),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts, vec![3, 250, 7_000]);
    let arrivals: Vec<_> = net
        .node(b)
        .received
        .iter()
        .map(|(t, _)| t.total_millis())
        .collect();
    assert_eq!(
        arrivals,
        vec![3, 250, 7_000],
        "zero-delay links deliver at once"
    );
}

#[test]
fn stack_endpoint_idles() {
    let mut p = Pair::new(
        1,
        synack::Stack::default(),
        addr(A),
        synack::Stack::default(),
        addr(B),
        LinkConfig::default(),
    );
    assert!(!p.step());
    let boxed: Box<dyn Endpoint> = Box::new(Host::new(A));
    let mut net = Network::new(1);
    net.add_node(boxed, &[addr(A)]);
    assert!(!net.step());
}

#[test]
#[should_panic(expected = "without the clock advancing: packets are looping")]
fn a_zero_delay_packet_loop_is_reported() {
    let mut net = Network::new(0);
    let a = net.add_node(Host::echoing(A), &[addr(A)]);
    let b = net.add_node(Host::echoing(B), &[addr(B)]);
    net.link(a, b, LinkConfig::default(), LinkConfig::default());
    net.send_from(a, &ipv4(A, B, 0, 60));
    net.run_until(Instant::from_secs(1), |_| false);
}
