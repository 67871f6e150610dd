//! Per-route metrics (issue 11; Linux's `ip route ... advmss N mtu [lock] N initcwnd
//! N`): a connection reads its route's when it opens, a locked MTU ignores ICMP and
//! sends without DF, and a route changed under an open connection reaches it once it
//! has sent again (Linux's cached dst, revalidated on transmit).

mod common;
use common::{drain, exchange};

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::wire::icmp::{IcmpRepr, IPPROTO_ICMP};
use synack::wire::ipv4::Ipv4Packet;
use synack::wire::{IpRepr, TcpRepr};
use synack::{Config, Error, Instant, Prefix, RouteMetrics, SocketHandle, Stack};

const ME: &str = "10.0.0.1";
const PEER: &str = "10.0.0.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn tcp(d: &[u8]) -> TcpRepr<'_> {
    let (ipr, payload) = IpRepr::parse(d).unwrap();
    TcpRepr::parse(payload, &ipr.src, &ipr.dst, true).unwrap()
}

/// A client (whose routes the test sets) connected to a server with default config.
struct Pair {
    client: Stack,
    server: Stack,
    c: SocketHandle,
    s: SocketHandle,
    now: Instant,
    /// The client's SYN.
    syn: Vec<u8>,
}

impl Pair {
    fn new(config: Config) -> Pair {
        let mut client = Stack::new(config);
        client.add_address(ip(ME));
        let mut server = Stack::new(Config::seeded(2));
        server.add_address(ip(PEER));
        let addr = SocketAddr::new(ip(PEER), 80);
        let l = server.socket();
        server.bind(l, addr).unwrap();
        server.listen(l, 8).unwrap();
        let c = client.socket();
        client.connect(c, addr).unwrap();
        let now = Instant::ZERO;
        let syn = drain(&mut client, now).remove(0);
        server.handle_packet(now, &syn);
        let mut p = Pair {
            client,
            server,
            c,
            s: l,
            now,
            syn,
        };
        p.exchange();
        p.s = p.server.accept(l).unwrap().0;
        p
    }

    fn exchange(&mut self) {
        exchange(&mut self.client, &mut self.server, self.now, |_| true);
    }

    /// The client sends 3,000 bytes: the datagrams it sends now.
    fn send_burst(&mut self) -> Vec<Vec<u8>> {
        self.client.send(self.c, &[1u8; 3000]).unwrap();
        drain(&mut self.client, self.now)
    }

    /// `datagrams` reach the server, and the two exchange until quiet.
    fn deliver(&mut self, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.server.handle_packet(self.now, d);
        }
        self.exchange();
    }

    /// The server reads everything it has.
    fn read_all(&mut self) -> usize {
        let mut buf = vec![0u8; 65536];
        let mut got = 0;
        while let Ok(n) = self.server.recv(self.s, &mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        got
    }
}

/// "Fragmentation needed" for `d` from a router, Next-Hop MTU `mtu`.
fn frag_needed(d: &[u8], mtu: u16) -> Vec<u8> {
    let m = IcmpRepr::DstUnreachable {
        code: 4,
        mtu,
        invoking: &d[..28],
    };
    let (src, dst) = (ip("192.0.2.1"), ip(ME));
    let mut body = vec![0u8; m.buffer_len()];
    m.emit(false, &src, &dst, &mut body).unwrap();
    let repr = IpRepr {
        src,
        dst,
        protocol: IPPROTO_ICMP,
        payload_len: body.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let h = repr.emit(&mut buf).unwrap();
    buf[h..].copy_from_slice(&body);
    buf
}

/// The route's advmss goes in the SYN, its MTU sizes the segments, its initcwnd the
/// first flight; a locked MTU ignores "fragmentation needed" and clears DF.
#[test]
fn a_connection_opens_with_its_routes_metrics() {
    let mut config = Config::seeded(1);
    let m = RouteMetrics::new()
        .advmss(900)
        .mtu(1000)
        .lock_mtu()
        .initcwnd(4);
    config.routes.set(prefix("10.0.0.0/24"), m).unwrap();
    // A longer prefix elsewhere does not apply to PEER.
    config
        .routes
        .set(prefix("10.0.0.3"), RouteMetrics::new().advmss(500))
        .unwrap();
    let mut p = Pair::new(config);
    assert_eq!(tcp(&p.syn).options.mss, Some(900), "advmss");
    let info = p.client.tcp_info(p.c).unwrap();
    assert_eq!((info.pmtu, info.advmss), (1000, 900));
    assert_eq!(
        info.snd_mss,
        1000 - 52,
        "the route's MTU less headers and timestamps"
    );
    p.client.send(p.c, &[7u8; 20_000]).unwrap();
    let flight = drain(&mut p.client, p.now);
    assert_eq!(flight.len(), 4, "initcwnd 4");
    for d in &flight {
        assert_eq!(d.len(), 1000);
        assert!(
            !Ipv4Packet::new_checked(&d[..]).unwrap().dont_frag(),
            "no DF"
        );
    }
    // A router says 600: the locked MTU stays, nothing goes again at once.
    p.client.handle_packet(p.now, &frag_needed(&flight[0], 600));
    assert!(drain(&mut p.client, p.now).is_empty());
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 1000);
    for d in &flight {
        p.server.handle_packet(p.now, d);
    }
    p.exchange();
    assert!(p.read_all() >= 4 * 948);
}

/// Without a lock, the same ICMP lowers the MSS (the route's MTU is only where the
/// search starts), and DF is set.
#[test]
fn an_unlocked_route_mtu_still_learns_from_icmp() {
    let mut config = Config::seeded(1);
    config
        .routes
        .set(prefix("10.0.0.2"), RouteMetrics::new().mtu(1000))
        .unwrap();
    let mut p = Pair::new(config);
    assert_eq!(
        tcp(&p.syn).options.mss,
        Some(960),
        "advmss from the route's MTU"
    );
    p.client.send(p.c, &[7u8; 5000]).unwrap();
    let flight = drain(&mut p.client, p.now);
    assert!(Ipv4Packet::new_checked(&flight[0][..]).unwrap().dont_frag());
    p.client.handle_packet(p.now, &frag_needed(&flight[0], 600));
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 600);
}

/// `Stack::set_route` on an open connection: the write after the change still uses
/// the old MTU (the cached route), the one after a transmission uses the new one.
#[test]
fn a_changed_route_reaches_open_connections_after_they_send() {
    let mut config = Config::seeded(1);
    config
        .routes
        .set(prefix("10.0.0.2"), RouteMetrics::new().mtu(1000))
        .unwrap();
    let mut p = Pair::new(config);
    assert_eq!(p.client.tcp_info(p.c).unwrap().snd_mss, 948);
    p.client
        .set_route(prefix("10.0.0.2"), RouteMetrics::new().mtu(1400))
        .unwrap();
    let first = p.send_burst();
    assert_eq!(
        first[0].len(),
        1000,
        "the cached route until it is looked up again"
    );
    p.deliver(&first);
    p.now += Duration::from_millis(10);
    let second = p.send_burst();
    assert_eq!(second[0].len(), 1400, "the new route's MTU");
    assert_eq!(p.client.tcp_info(p.c).unwrap().snd_mss, 1348);
    // Removing the route falls back to the link's MTU, again after a transmission.
    assert!(p.client.remove_route(prefix("10.0.0.2")));
    assert!(!p.client.remove_route(prefix("10.0.0.2")));
    p.deliver(&second);
    let third = p.send_burst();
    assert_eq!(third[0].len(), 1400);
    p.deliver(&third);
    let fourth = p.send_burst();
    assert_eq!(fourth[0].len(), 1500);
    p.deliver(&fourth);
    assert_eq!(p.read_all(), 12_000);
}

/// Impossible metrics are EINVAL, and change nothing.
#[test]
fn impossible_routes_are_refused() {
    let mut s = Stack::new(Config::seeded(1));
    let bad = [
        RouteMetrics::new().mtu(60),
        RouteMetrics::new().advmss(40),
        RouteMetrics::new().initcwnd(0),
    ];
    for m in bad {
        assert_eq!(
            s.set_route(prefix("10.0.0.0/8"), m),
            Err(Error::InvalidInput)
        );
    }
    assert!(s.routes().is_empty());
    let wrong_len = Prefix {
        addr: ip("10.0.0.0"),
        len: 33,
    };
    assert_eq!(
        s.set_route(wrong_len, RouteMetrics::new().mtu(1400)),
        Err(Error::InvalidInput)
    );
}

/// A route covers the connections the server accepts too: its SYN-ACK offers the
/// route's advmss and its first flight is the route's initcwnd.
#[test]
fn accepted_connections_read_the_route_too() {
    let mut client = Stack::new(Config::seeded(1));
    client.add_address(ip(ME));
    let mut sconf = Config::seeded(2);
    sconf
        .routes
        .set(
            prefix("10.0.0.1"),
            RouteMetrics::new().advmss(700).initcwnd(3),
        )
        .unwrap();
    let mut server = Stack::new(sconf);
    server.add_address(ip(PEER));
    let addr = SocketAddr::new(ip(PEER), 80);
    let l = server.socket();
    server.bind(l, addr).unwrap();
    server.listen(l, 8).unwrap();
    let c = client.socket();
    client.connect(c, addr).unwrap();
    let now = Instant::ZERO;
    let syn = drain(&mut client, now).remove(0);
    server.handle_packet(now, &syn);
    let synack = drain(&mut server, now).remove(0);
    assert_eq!(tcp(&synack).options.mss, Some(700));
    client.handle_packet(now, &synack);
    for d in drain(&mut client, now) {
        server.handle_packet(now, &d);
    }
    let (s, _) = server.accept(l).unwrap();
    server.send(s, &[3u8; 30_000]).unwrap();
    assert_eq!(drain(&mut server, now).len(), 3, "initcwnd 3");
}
