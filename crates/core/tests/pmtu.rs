//! Path MTU where no ICMP comes (issue 11): a link that silently drops every datagram
//! over 1280 bytes (an ICMP black hole, RFC 2923 2.1). With `tcp_mtu_probing=0`, as in
//! Linux by default, a bulk transfer stalls; with 1, black-hole detection (RFC 4821 as
//! Linux does it) lowers the MSS to `tcp_base_mss` after `tcp_retries1` timeouts and
//! the transfer completes. With `ip_no_pmtu_disc=1` datagrams leave without DF, with
//! distinct identifications. With `tcp_mtu_probing=2` (RFC 4821 probing, as Linux's
//! tcp_mtu_probe), probes climb from `tcp_base_mss` to the largest size the path
//! carries. All on a virtual clock.

mod common;
use common::{drain, exchange};

use std::net::SocketAddr;
use std::time::Duration;

use synack::wire::ipv4::Ipv4Packet;
use synack::{Config, Instant, SocketHandle, Stack};

const LINK_MTU: usize = 1280;

struct Pair {
    client: Stack,
    server: Stack,
    c: SocketHandle,
    s: SocketHandle,
    now: Instant,
    dropped: usize,
    /// The client's datagrams over this size vanish.
    path_mtu: usize,
}

impl Pair {
    fn new(client_config: Config) -> Pair {
        Pair::through(client_config, LINK_MTU)
    }

    /// A pair whose path drops the client's datagrams over `path_mtu` bytes.
    fn through(client_config: Config, path_mtu: usize) -> Pair {
        let mut client = Stack::new(client_config);
        client.add_address("10.0.0.1".parse().unwrap());
        // A receive buffer that the test's reads keep ahead of: the receiver never
        // drops for memory (that would be a loss of its own, with its own timeouts).
        let mut server_config = Config::seeded(2);
        server_config.tcp_rmem[1] = 4 << 20;
        let mut server = Stack::new(server_config);
        server.add_address("10.0.0.2".parse().unwrap());
        let addr: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let l = server.socket();
        server.bind(l, addr).unwrap();
        server.listen(l, 8).unwrap();
        let c = client.socket();
        client.connect(c, addr).unwrap();
        let mut p = Pair {
            client,
            server,
            c,
            s: l,
            now: Instant::ZERO,
            dropped: 0,
            path_mtu,
        };
        p.exchange();
        p.s = p.server.accept(l).unwrap().0;
        p
    }

    /// Carries datagrams both ways; the client's over the link MTU vanish.
    fn exchange(&mut self) {
        let (path_mtu, dropped) = (self.path_mtu, &mut self.dropped);
        exchange(&mut self.client, &mut self.server, self.now, |d| {
            let fits = d.len() <= path_mtu;
            *dropped += usize::from(!fits);
            fits
        });
    }

    /// Sends `len` bytes and runs the clock until the server has them or `limit` has
    /// passed; returns how many arrived.
    fn transfer(&mut self, len: usize, limit: Duration) -> usize {
        let data = vec![0x5au8; len];
        let mut sent = 0;
        let mut got = 0;
        let mut buf = vec![0u8; 65536];
        let end = self.now + limit;
        while self.now <= end {
            if sent < len {
                sent += self.client.send(self.c, &data[sent..]).unwrap_or(0);
            }
            self.exchange();
            while let Ok(n) = self.server.recv(self.s, &mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
            }
            if got >= len {
                break;
            }
            let Some(next) = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        got
    }
}

#[test]
fn without_mtu_probing_a_black_hole_stalls_the_transfer() {
    let mut p = Pair::new(Config::seeded(1));
    let got = p.transfer(10_000, Duration::from_secs(60));
    assert_eq!(got, 0, "every full-sized segment vanished");
    assert!(p.dropped > 5);
    assert_eq!(p.client.tcp_info(p.c).unwrap().snd_mss, 1448);
}

#[test]
fn mtu_probing_finds_its_way_through_a_black_hole() {
    let mut config = Config::seeded(1);
    config.tcp_mtu_probing = 1;
    let mut p = Pair::new(config);
    let got = p.transfer(10_000, Duration::from_secs(60));
    assert_eq!(got, 10_000, "the transfer completes");
    let info = p.client.tcp_info(p.c).unwrap();
    // tcp_base_mss (1024) of payload: Linux's tcp_mss_to_mtu counts the timestamp
    // option into the MTU it searches from, so the payload keeps the whole 1024.
    assert_eq!(info.snd_mss, 1024);
    // Detected once tcp_retries1 (3) timeouts' worth of time had passed, not before.
    assert!(p.client.stats().TCPTimeouts >= 3);
}

#[test]
fn no_pmtu_disc_sends_without_df() {
    let mut config = Config::seeded(1);
    config.ip_no_pmtu_disc = 1;
    let mut p = Pair::new(config);
    p.client.send(p.c, &[1u8; 4000]).unwrap();
    p.now += Duration::from_millis(1);
    let out = drain(&mut p.client, p.now);
    assert!(out.len() >= 3);
    let mut ids = Vec::new();
    for d in &out {
        let ip = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert!(!ip.dont_frag(), "DF clear");
        assert!(ip.verify_checksum());
        ids.push(ip.ident());
    }
    ids.dedup();
    assert_eq!(ids.len(), out.len(), "each datagram its own identification");
    // With discovery on (the default), DF is set.
    let mut q = Pair::new(Config::seeded(1));
    q.client.send(q.c, &[1u8; 100]).unwrap();
    let d = drain(&mut q.client, q.now).remove(0);
    assert!(Ipv4Packet::new_checked(&d[..]).unwrap().dont_frag());
}

/// The MTU the client's MSS fills (timestamps on: 52 bytes of headers).
fn mtu_of(p: &Pair) -> u32 {
    p.client.tcp_info(p.c).unwrap().snd_mss + 52
}

/// RFC 4821 probing (`tcp_mtu_probing=2`): the search starts at `tcp_base_mss`, probes
/// the middle of what is left and keeps what is acknowledged; probes the path drops
/// lower the upper end (TCPMTUPFail) without a congestion response, until the range is
/// under `tcp_probe_threshold` (8 bytes): the MSS ends within 8 bytes of the path's
/// 1400, every byte delivered.
#[test]
fn mtu_probing_climbs_to_the_path_mtu() {
    let mut config = Config::seeded(1);
    config.tcp_mtu_probing = 2;
    let mut p = Pair::through(config, 1400);
    // An active open starts at tcp_base_mss (tcp_connect_init caps it at search_low).
    assert_eq!(p.client.tcp_info(p.c).unwrap().snd_mss, 1024);
    let got = p.transfer(4_000_000, Duration::from_secs(60));
    assert_eq!(got, 4_000_000, "the transfer completes");
    let st = p.client.stats();
    assert!(st.TCPMTUPSuccess >= 2, "probes got through: {st:?}");
    assert!(st.TCPMTUPFail >= 1, "probes over 1400 were lost: {st:?}");
    let mtu = mtu_of(&p);
    assert!((1392..=1400).contains(&mtu), "converged on {mtu}: {st:?}");
    // No probe is lost to a timeout: lost probes are retransmitted at once.
    assert_eq!(st.TCPTimeouts, 0, "{st:?}");
}

/// Without probing, the same connection stays at the MSS of the link's MTU less
/// what the path drops: with no ICMP, nothing lowers it, so it stalls (the first
/// test); with probing off and the path wide enough, it never grows past what it
/// started with either.
#[test]
fn without_probing_the_mss_never_moves() {
    let mut config = Config::seeded(1);
    config.tcp_base_mss = 512;
    config.tcp_mtu_probing = 0;
    let mut p = Pair::through(config, 1500);
    let got = p.transfer(1_000_000, Duration::from_secs(60));
    assert_eq!(got, 1_000_000);
    let st = p.client.stats();
    assert_eq!((st.TCPMTUPSuccess, st.TCPMTUPFail), (0, 0));
    assert_eq!(mtu_of(&p), 1500);
}

/// `tcp_probe_interval` after the search ends, it starts again from the MSS in use
/// (Linux's tcp_mtu_check_reprobe): a path that grew is found.
#[test]
fn the_search_starts_again_after_the_probe_interval() {
    let mut config = Config::seeded(1);
    config.tcp_mtu_probing = 2;
    config.tcp_probe_interval = Duration::from_secs(30);
    let mut p = Pair::through(config, 1200);
    assert_eq!(p.transfer(2_000_000, Duration::from_secs(20)), 2_000_000);
    let first = mtu_of(&p);
    assert!((1192..=1200).contains(&first), "first search: {first}");
    let done = p.client.stats().TCPMTUPSuccess;
    // The path widens; within the interval nothing probes.
    p.path_mtu = 1500;
    assert_eq!(p.transfer(1_000_000, Duration::from_secs(5)), 1_000_000);
    assert_eq!(
        p.client.stats().TCPMTUPSuccess,
        done,
        "no probe within the interval"
    );
    // Past it, the search runs again from the MSS in use up to the peer's MSS.
    p.now += Duration::from_secs(30);
    assert_eq!(p.transfer(4_000_000, Duration::from_secs(60)), 4_000_000);
    assert!(p.client.stats().TCPMTUPSuccess > done);
    let second = mtu_of(&p);
    assert!(second > 1400, "the second search climbed to {second}");
}
