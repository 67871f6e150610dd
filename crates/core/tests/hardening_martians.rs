//! Datagrams from martian sources (issue 6, bug 3): Linux drops them before TCP sees
//! them, so a SYN from a broadcast, multicast, unspecified or loopback address, or from
//! the stack's own address, gets no SYN-ACK and leaves no request behind.
//!
//! IPv4 (ip_route_input_slow, fib_validate_source): limited and subnet broadcast,
//! multicast, 0.0.0.0/8, loopback arriving from outside, a local address; counted as
//! `InMartianSrc` (Linux's in_martian_src). IPv6 (ip6_rcv_core, tcp_v6_conn_request):
//! multicast, ::1 from outside and v4-mapped sources are header errors (Ip6
//! `InHdrErrors`); the unspecified address and our own are counted as `InMartianSrc`.

use std::net::{IpAddr, SocketAddr};

use synack::wire::{self, Control, SeqNum, TcpOptions, TcpRepr};
use synack::{Config, Instant, Stack, State};

/// A stack at `local` (with `prefix` when given) listening on port 80.
fn listening_stack(local: IpAddr, prefix: Option<u8>) -> Stack {
    let mut s = Stack::new(Config::seeded(1));
    match prefix {
        Some(p) => s.add_address_prefix(local, p),
        None => s.add_address(local),
    }
    let l = s.socket();
    s.bind(l, SocketAddr::new(local, 80)).unwrap();
    s.listen(l, 128).unwrap();
    s
}

/// A SYN from `src` to `dst` port 80.
fn syn(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: SeqNum(1000),
        ack: None,
        control: Control::Syn,
        psh: false,
        ece: false,
        cwr: false,
        window: 65535,
        urgent: None,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; 200];
    let n = wire::emit_datagram(&mut buf, src, dst, 64, &repr).expect("emit");
    buf.truncate(n);
    buf
}

/// Feeds a SYN from `src` and returns how many datagrams the stack sent back.
fn answers_to_syn(s: &mut Stack, src: &str, dst: IpAddr) -> usize {
    let src: IpAddr = src.parse().unwrap();
    s.handle_packet(Instant::ZERO, &syn(src, dst));
    let mut buf = [0u8; 1500];
    std::iter::from_fn(|| {
        s.poll_transmit(Instant::ZERO, &mut buf)
            .expect("1500 bytes fit")
    })
    .count()
}

/// Half-open requests in the stack.
fn requests(s: &Stack) -> usize {
    s.sockets()
        .iter()
        .filter(|i| i.state == State::SynReceived)
        .count()
}

#[test]
fn ipv4_martian_syns_are_dropped_and_counted() {
    let local: IpAddr = "10.0.0.1".parse().unwrap();
    let mut s = listening_stack(local, Some(24));
    for src in [
        "255.255.255.255",
        "10.0.0.255",
        "224.0.0.1",
        "239.1.2.3",
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
    ] {
        let before = s.stats().InMartianSrc;
        assert_eq!(answers_to_syn(&mut s, src, local), 0, "a SYN from {src}");
        assert_eq!(s.stats().InMartianSrc, before + 1, "{src} counted");
    }
    assert_eq!(requests(&s), 0);
    assert_eq!(s.stats().InSegs, 0, "TCP never saw them");
    // An ordinary source still gets its SYN-ACK.
    assert_eq!(answers_to_syn(&mut s, "10.0.0.2", local), 1);
    assert_eq!(
        answers_to_syn(&mut s, "10.0.1.255", local),
        1,
        "not our subnet"
    );
    assert_eq!(requests(&s), 2);
}

#[test]
fn subnet_broadcast_is_only_known_with_a_prefix() {
    let local: IpAddr = "10.0.0.1".parse().unwrap();
    let mut s = listening_stack(local, None);
    assert_eq!(answers_to_syn(&mut s, "10.0.0.255", local), 1);
    let mut s = listening_stack(local, Some(16));
    assert_eq!(answers_to_syn(&mut s, "10.0.255.255", local), 0);
    assert_eq!(answers_to_syn(&mut s, "10.0.0.255", local), 1);
}

#[test]
fn ipv6_martian_syns_are_dropped_and_counted() {
    let local: IpAddr = "fd00::1".parse().unwrap();
    let mut s = listening_stack(local, None);
    for src in ["ff02::1", "ff05::2", "::1", "::ffff:10.0.0.2"] {
        let before = s.stats().Ip6InHdrErrors;
        assert_eq!(answers_to_syn(&mut s, src, local), 0, "a SYN from {src}");
        assert_eq!(s.stats().Ip6InHdrErrors, before + 1, "{src} counted");
    }
    for src in ["::", "fd00::1"] {
        let before = s.stats().InMartianSrc;
        assert_eq!(answers_to_syn(&mut s, src, local), 0, "a SYN from {src}");
        assert_eq!(s.stats().InMartianSrc, before + 1, "{src} counted");
    }
    assert_eq!(requests(&s), 0);
    assert_eq!(answers_to_syn(&mut s, "fd00::2", local), 1);
    assert_eq!(requests(&s), 1);
}

/// A stack that lives on a loopback address talks to itself: there, loopback sources
/// (its own address included) are inside, as on Linux's `lo`.
#[test]
fn loopback_stack_accepts_loopback_sources() {
    for local in ["127.0.0.1", "::1"] {
        let local: IpAddr = local.parse().unwrap();
        let mut s = listening_stack(local, None);
        let src = local.to_string();
        assert_eq!(
            answers_to_syn(&mut s, &src, local),
            1,
            "{src} over loopback"
        );
        assert_eq!(requests(&s), 1);
    }
}
