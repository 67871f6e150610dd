use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use synack::{Config, EventKind, Instant, Shutdown, Stack, State};
use synack_sim::{LinkConfig, Pair};

/// A connected pair: the client at `ca` connected to a listener at `sa:port` on a
/// server built from `server`; returns the pair, the client socket, the listener and
/// the accepted socket.
fn connected(
    ca: IpAddr,
    sa: IpAddr,
    port: u16,
    server: Config,
    delay: Duration,
) -> (
    Pair<Stack>,
    synack::SocketHandle,
    synack::SocketHandle,
    synack::SocketHandle,
) {
    let mut c = Stack::new(Config::seeded(5));
    c.add_address(ca);
    let mut s = Stack::new(server);
    s.add_address(sa);
    let mut pair = Pair::new(3, c, ca, s, sa, LinkConfig::ideal(delay));
    let l = pair.server().socket();
    // As servers do: Linux lets a restarted server bind beside the TIME-WAIT entries of
    // the old one's connections only if both set SO_REUSEADDR.
    pair.server()
        .set_option(l, synack::SockOpt::ReuseAddr(true))
        .unwrap();
    pair.server().bind(l, SocketAddr::new(sa, port)).unwrap();
    pair.server().listen(l, 8).unwrap();
    let h = pair.client().socket();
    pair.client().connect(h, SocketAddr::new(sa, port)).unwrap();
    let mut child = None;
    assert!(pair.run_until(Instant::from_secs(5), |p| {
        child = p.server().accept(l).ok().map(|(c, _)| c);
        child.is_some()
    }));
    (pair, h, l, child.unwrap())
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

#[test]
fn handshake_transfer_and_close() {
    let ca = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let sa = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut c = Stack::new(Config::seeded(5));
    c.add_address(ca);
    c.set_trace_transitions(true);
    let mut s = Stack::new(Config {
        seed: Some(7),
        ..Config::default()
    });
    s.add_address(sa);
    s.set_trace_transitions(true);
    let mut pair = Pair::new(1, c, ca, s, sa, LinkConfig::ideal(Duration::from_millis(5)));
    pair.net.set_tap(|t, _, _, pkt, fate| {
        if let Ok(d) = synack::wire::SegmentDisplay::from_datagram(pkt) {
            println!("{t} {d} {fate:?}");
        }
    });
    let l = pair.server().socket();
    pair.server().bind(l, SocketAddr::new(sa, 80)).unwrap();
    pair.server().listen(l, 16).unwrap();
    let h = pair.client().socket();
    pair.client().connect(h, SocketAddr::new(sa, 80)).unwrap();
    let deadline = Instant::from_secs(5);
    assert!(pair.run_until(deadline, |p| p.client().state(h).unwrap()
        == State::Established));
    let mut accepted = None;
    assert!(pair.run_until(deadline, |p| {
        accepted = p.server().accept(l).ok();
        accepted.is_some()
    }));
    let (sh, _) = accepted.unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    assert!(pair.run_until(Instant::from_secs(30), |p| {
        if sent < data.len() {
            if let Ok(n) = p.client().send(h, &data[sent..]) {
                sent += n;
            }
        }
        while let Ok(n) = p.server().recv(sh, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == data.len()
    }));
    assert_eq!(got, data);
    pair.client().shutdown(h, Shutdown::Write).unwrap();
    assert!(
        pair.run_until(Instant::from_secs(40), |p| p.server().recv(sh, &mut buf)
            == Ok(0))
    );
    pair.server().close(sh).unwrap();
    assert!(
        pair.run_until(Instant::from_secs(200), |p| p.client().state(h).unwrap()
            == State::Closed
            && p.client()
                .sockets()
                .iter()
                .all(|i| i.state != State::TimeWait))
    );
    while let Some(t) = pair.client().poll_transition() {
        println!("client {:?}", t);
    }
    while let Some(t) = pair.server().poll_transition() {
        println!("server {:?}", t);
    }
    while let Some(e) = pair.client().poll_event() {
        if let EventKind::Closed(e) = e.kind {
            assert_eq!(e, None);
        }
    }
    println!("{:?}", pair.client().stats());
}

/// With `tcp_syncookies = 2` every SYN is answered with a cookie and no request record;
/// the third-step ACK rebuilds the connection, which then carries data (RFC 4987 3.6).
#[test]
fn syn_cookie_handshake_carries_data() {
    let mut cfg = Config {
        seed: Some(9),
        ..Config::default()
    };
    cfg.set_sysctl("net.ipv4.tcp_syncookies", "2").unwrap();
    let (mut pair, h, _, child) = connected(v4(1), v4(2), 80, cfg, Duration::from_millis(5));
    assert!(pair
        .server()
        .sockets()
        .iter()
        .all(|i| i.state != State::SynReceived));
    assert_eq!(pair.server().stats().SyncookiesSent, 1);
    assert_eq!(pair.server().stats().SyncookiesRecv, 1);
    let info = pair.server().socket_info(child).unwrap();
    assert_eq!(
        info.wscale,
        Some((7, 7)),
        "window scale recovered from the timestamp"
    );
    pair.client().send(h, b"hello through a cookie").unwrap();
    let mut buf = [0u8; 64];
    let mut n = 0;
    assert!(pair.run_until(Instant::from_secs(10), |p| {
        n = p.server().recv(child, &mut buf).unwrap_or(0);
        n > 0
    }));
    assert_eq!(&buf[..n], b"hello through a cookie");
}

/// The same engine over IPv6: MSS is derived from the 60-byte headers (1440), and the
/// data arrives intact.
#[test]
fn ipv6_connection_transfers_data() {
    let server = Config {
        seed: Some(11),
        ..Config::default()
    };
    let (ca, sa) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let (mut pair, h, _, child) = connected(ca, sa, 443, server, Duration::from_millis(2));
    assert_eq!(pair.server().socket_info(child).unwrap().mss, 1440 - 12);
    let data = vec![0x5au8; 20_000];
    let mut sent = 0;
    let mut got = 0;
    let mut buf = [0u8; 4096];
    assert!(pair.run_until(Instant::from_secs(10), |p| {
        if sent < data.len() {
            sent += p.client().send(h, &data[sent..]).unwrap_or(0);
        }
        while let Ok(n) = p.server().recv(child, &mut buf) {
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|b| *b == 0x5a));
            got += n;
        }
        got == data.len()
    }));
}

/// The seeds' server restart: when the server closed first, its TIME-WAIT entries hold
/// port 80, so a new socket's bind() fails with EADDRINUSE until SO_REUSEADDR is set.
#[test]
fn time_wait_holds_the_port_until_reuseaddr() {
    let server = Config {
        seed: Some(13),
        ..Config::default()
    };
    let sa = v4(2);
    let (mut pair, h, l, child) = connected(v4(1), sa, 80, server, Duration::from_millis(1));
    // The server closes first; the client reads EOF and closes too.
    pair.server().close(child).unwrap();
    let mut buf = [0u8; 8];
    assert!(
        pair.run_until(Instant::from_secs(10), |p| p.client().recv(h, &mut buf)
            == Ok(0))
    );
    pair.client().close(h).unwrap();
    assert!(pair.run_until(Instant::from_secs(20), |p| p
        .server()
        .sockets()
        .iter()
        .any(|i| i.state == State::TimeWait)));
    pair.server().close(l).unwrap();
    let again = pair.server().socket();
    assert_eq!(
        pair.server().bind(again, SocketAddr::new(sa, 80)),
        Err(synack::Error::AddrInUse)
    );
    pair.server()
        .set_option(again, synack::SockOpt::ReuseAddr(true))
        .unwrap();
    assert_eq!(pair.server().bind(again, SocketAddr::new(sa, 80)), Ok(()));
    assert_eq!(pair.server().listen(again, 8), Ok(()));
    // After 60 s the TIME-WAIT entry is gone and the port is free for anyone.
    pair.run_for(Duration::from_secs(61));
    let third = pair.server().socket();
    pair.server().close(again).unwrap();
    assert_eq!(pair.server().bind(third, SocketAddr::new(sa, 80)), Ok(()));
}
