//! Any-address termination (issue 11): a listener made with `Stack::listen_any` takes
//! connections to destinations that are not the stack's own, with the full listen
//! machinery, and each connection's local address is the destination the peer asked for.
//!
//! Two engines talk directly: a client stack at 10.0.0.1 (whose datagrams all reach the
//! terminating stack, as a route into a TUN device would carry them) and the terminating
//! stack, which owns only 10.0.0.9.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::{AnyFilter, Config, Error, EventKind, Instant, SocketHandle, Stack, State};

const CLIENT: &str = "10.0.0.1";
const OWN: &str = "10.0.0.9";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn stacks() -> (Stack, Stack) {
    let mut client = Stack::new(Config::seeded(1));
    client.add_address(CLIENT.parse().unwrap());
    client.add_address("fd00::1".parse().unwrap());
    let mut term = Stack::new(Config::seeded(2));
    term.add_address(OWN.parse().unwrap());
    (client, term)
}

/// Carries datagrams both ways until both stacks are quiet; returns how many moved.
fn exchange(a: &mut Stack, b: &mut Stack, now: Instant) -> usize {
    let mut buf = [0u8; 1500];
    let mut moved = 0;
    loop {
        let before = moved;
        while let Some(n) = a.poll_transmit(now, &mut buf).unwrap() {
            b.handle_packet(now, &buf[..n]);
            moved += 1;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf).unwrap() {
            a.handle_packet(now, &buf[..n]);
            moved += 1;
        }
        if moved == before {
            return moved;
        }
    }
}

fn any_listener(term: &mut Stack, filter: AnyFilter, backlog: u32) -> SocketHandle {
    let l = term.socket();
    term.listen_any(l, filter, backlog).unwrap();
    l
}

fn connect(client: &mut Stack, to: &str) -> SocketHandle {
    let s = client.socket();
    client.connect(s, sa(to)).unwrap();
    s
}

/// Connections to three destinations (two addresses, two ports, one IPv6) are all
/// terminated by one listener, each with its destination as its local address, and
/// carry data both ways.
#[test]
fn three_destinations_terminated_with_their_original_destination() {
    let (mut client, mut term) = stacks();
    let l = any_listener(&mut term, AnyFilter::all(), 128);
    assert_eq!(term.local_addr(l), Ok(sa("0.0.0.0:0")));
    let dests = ["198.51.100.7:80", "203.0.113.20:443", "[2001:db8::5]:8080"];
    let socks: Vec<_> = dests.iter().map(|d| connect(&mut client, d)).collect();
    let now = Instant::ZERO;
    exchange(&mut client, &mut term, now);
    let mut got = Vec::new();
    while let Ok((c, peer)) = term.accept(l) {
        assert_eq!(peer.ip(), term_peer_ip(&peer));
        got.push((term.local_addr(c).unwrap(), c));
    }
    got.sort();
    let mut want: Vec<SocketAddr> = dests.iter().map(|d| sa(d)).collect();
    want.sort();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), want);
    for (i, s) in socks.iter().enumerate() {
        assert_eq!(client.state(*s), Ok(State::Established));
        client.send(*s, format!("hello {i}").as_bytes()).unwrap();
    }
    let now = now + Duration::from_millis(1);
    exchange(&mut client, &mut term, now);
    for (dst, c) in &got {
        let mut buf = [0u8; 32];
        let n = term.recv(*c, &mut buf).unwrap();
        let i = dests.iter().position(|d| sa(d) == *dst).unwrap();
        assert_eq!(&buf[..n], format!("hello {i}").as_bytes());
        term.send(*c, dst.to_string().as_bytes()).unwrap();
    }
    exchange(&mut client, &mut term, now + Duration::from_millis(2));
    for (i, s) in socks.iter().enumerate() {
        let mut buf = [0u8; 64];
        let n = client.recv(*s, &mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), dests[i]);
    }
    assert_eq!(term.stats().PassiveOpens, 3);
}

fn term_peer_ip(peer: &SocketAddr) -> IpAddr {
    if peer.is_ipv4() {
        CLIENT.parse().unwrap()
    } else {
        "fd00::1".parse().unwrap()
    }
}

/// A destination whose address no filter takes is not ours (dropped, counted in
/// InAddrErrors, no answer); one whose address is taken but whose port is not is a
/// closed port (RST: the client's connect is refused).
#[test]
fn the_filter_decides_what_is_taken() {
    let (mut client, mut term) = stacks();
    let filter = AnyFilter::all()
        .prefix("198.51.100.0/24".parse().unwrap())
        .ports(80, 80);
    let l = any_listener(&mut term, filter, 128);
    let taken = connect(&mut client, "198.51.100.7:80");
    let wrong_port = connect(&mut client, "198.51.100.7:81");
    let wrong_net = connect(&mut client, "192.0.2.1:80");
    exchange(&mut client, &mut term, Instant::ZERO);
    assert_eq!(client.state(taken), Ok(State::Established));
    assert!(term.accept(l).is_ok());
    assert_eq!(client.state(wrong_port), Ok(State::Closed));
    assert_eq!(
        client.socket_error(wrong_port),
        Ok(Some(Error::ConnectionRefused))
    );
    assert_eq!(client.state(wrong_net), Ok(State::SynSent));
    assert_eq!(term.stats().IpInAddrErrors, 1);
    assert_eq!(term.accept(l), Err(Error::WouldBlock));
}

/// The stack's own addresses go to ordinary listeners first; the any-address listener
/// gets only what they do not take.
#[test]
fn ordinary_listeners_come_first_for_own_addresses() {
    let (mut client, mut term) = stacks();
    let any = any_listener(&mut term, AnyFilter::all(), 128);
    let own = term.socket();
    term.bind(own, sa("10.0.0.9:80")).unwrap();
    term.listen(own, 128).unwrap();
    connect(&mut client, "10.0.0.9:80");
    connect(&mut client, "10.0.0.9:81");
    exchange(&mut client, &mut term, Instant::ZERO);
    let (c, _) = term.accept(own).unwrap();
    assert_eq!(term.local_addr(c), Ok(sa("10.0.0.9:80")));
    let (c, _) = term.accept(any).unwrap();
    assert_eq!(term.local_addr(c), Ok(sa("10.0.0.9:81")));
}

/// The backlog holds as for any listener: with a backlog of 0 (one queued connection,
/// as Linux's `>` test allows) the second third-step ACK overflows the accept queue.
#[test]
fn the_accept_queue_overflows_as_linux() {
    let (mut client, mut term) = stacks();
    let l = any_listener(&mut term, AnyFilter::all(), 0);
    connect(&mut client, "198.51.100.7:80");
    connect(&mut client, "198.51.100.8:80");
    exchange(&mut client, &mut term, Instant::ZERO);
    assert_eq!(term.stats().ListenOverflows, 1);
    assert!(term.accept(l).is_ok());
    assert_eq!(term.accept(l), Err(Error::WouldBlock));
    assert_eq!(term.poll_event().map(|e| e.kind), Some(EventKind::Incoming));
}

/// With `tcp_syncookies=2` every SYN is answered with a cookie, and the connection
/// rebuilt from the third-step ACK still has the original destination.
#[test]
fn syn_cookies_keep_the_destination() {
    let (mut client, mut term) = stacks();
    term.config_mut().tcp_syncookies = 2;
    let l = any_listener(&mut term, AnyFilter::all(), 128);
    let s = connect(&mut client, "203.0.113.20:443");
    exchange(&mut client, &mut term, Instant::ZERO);
    assert_eq!(term.stats().SyncookiesSent, 1);
    assert_eq!(term.stats().SyncookiesRecv, 1);
    assert_eq!(client.state(s), Ok(State::Established));
    let (c, _) = term.accept(l).unwrap();
    assert_eq!(term.local_addr(c), Ok(sa("203.0.113.20:443")));
}

/// listen_any wants a fresh, unbound socket (EINVAL otherwise, as listen() on a
/// connected socket); closing the listener makes its destinations closed ports, and
/// broadcast or multicast destinations are never taken.
#[test]
fn misuse_close_and_non_unicast() {
    let (mut client, mut term) = stacks();
    let bound = term.socket();
    term.bind(bound, sa("10.0.0.9:0")).unwrap();
    assert_eq!(
        term.listen_any(bound, AnyFilter::all(), 8),
        Err(Error::InvalidInput)
    );
    let l = any_listener(&mut term, AnyFilter::all(), 8);
    assert_eq!(
        term.listen_any(l, AnyFilter::all(), 8),
        Err(Error::InvalidInput)
    );
    let bcast = connect(&mut client, "255.255.255.255:80");
    let mcast = connect(&mut client, "224.0.0.1:80");
    exchange(&mut client, &mut term, Instant::ZERO);
    assert_eq!(client.state(bcast), Ok(State::SynSent));
    assert_eq!(client.state(mcast), Ok(State::SynSent));
    assert_eq!(term.stats().IpInAddrErrors, 2);
    term.close(l).unwrap();
    let after = connect(&mut client, "198.51.100.7:80");
    exchange(&mut client, &mut term, Instant::ZERO);
    assert_eq!(client.state(after), Ok(State::SynSent));
    assert_eq!(term.stats().IpInAddrErrors, 3);
}

/// A terminated connection outlives its listener: closing the any-address listener
/// does not make the connection's (foreign) address stop being ours.
#[test]
fn connections_outlive_their_listener() {
    let (mut client, mut term) = stacks();
    let l = any_listener(&mut term, AnyFilter::all(), 8);
    let s = connect(&mut client, "198.51.100.7:80");
    exchange(&mut client, &mut term, Instant::ZERO);
    let (c, _) = term.accept(l).unwrap();
    term.close(l).unwrap();
    client.send(s, b"still here").unwrap();
    exchange(
        &mut client,
        &mut term,
        Instant::ZERO + Duration::from_millis(1),
    );
    let mut buf = [0u8; 16];
    let n = term.recv(c, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"still here");
    assert_eq!(term.stats().IpInAddrErrors, 0);
}

/// A router's "fragmentation needed" about a terminated connection's segment is
/// addressed to the foreign address the connection answers for: it reaches the
/// connection, which lowers its MSS. An echo request to such an address goes unanswered.
#[test]
fn icmp_errors_reach_terminated_connections() {
    use synack::wire::icmp::IcmpRepr;
    use synack::wire::IpRepr;
    let (mut client, mut term) = stacks();
    let l = any_listener(&mut term, AnyFilter::all(), 8);
    connect(&mut client, "198.51.100.7:80");
    let now = Instant::ZERO;
    exchange(&mut client, &mut term, now);
    let (c, _) = term.accept(l).unwrap();
    term.send(c, &[9u8; 3000]).unwrap();
    let mut buf = [0u8; 1500];
    let n = term.poll_transmit(now, &mut buf).unwrap().unwrap();
    assert_eq!(n, 1500);
    let icmp = |m: &IcmpRepr| {
        let (src, dst): (IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        let ip = IpRepr {
            src,
            dst,
            protocol: 1,
            payload_len: m.buffer_len(),
            hop_limit: 64,
        };
        let mut d = vec![0u8; ip.buffer_len()];
        let h = ip.emit(&mut d).unwrap();
        m.emit(false, &src, &dst, &mut d[h..]).unwrap();
        d
    };
    term.handle_packet(
        now,
        &icmp(&IcmpRepr::DstUnreachable {
            code: 4,
            mtu: 1280,
            invoking: &buf[..28],
        }),
    );
    assert_eq!(term.tcp_info(c).unwrap().pmtu, 1280);
    assert_eq!(term.stats().IpInAddrErrors, 0);
    term.handle_packet(
        now,
        &icmp(&IcmpRepr::EchoRequest {
            ident: 1,
            seq: 1,
            data: b"",
        }),
    );
    let mut rest = Vec::new();
    while let Some(n) = term.poll_transmit(now, &mut buf).unwrap() {
        rest.push(buf[0..n].to_vec());
    }
    assert!(rest.iter().all(|d| d[9] == 6), "no ICMP answered");
    assert_eq!(term.stats().IcmpOutMsgs, 0);
}
