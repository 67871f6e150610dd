//! Path MTU where no ICMP comes (issue 11): a link that silently drops every datagram
//! over 1280 bytes (an ICMP black hole, RFC 2923 2.1). With `tcp_mtu_probing=0`, as in
//! Linux by default, a bulk transfer stalls; with 1, black-hole detection (RFC 4821 as
//! Linux does it) lowers the MSS to `tcp_base_mss` after `tcp_retries1` timeouts and
//! the transfer completes. With `ip_no_pmtu_disc=1` datagrams leave without DF, with
//! distinct identifications. All on a virtual clock.

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
}

fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65535];
    while let Some(n) = s.poll_transmit(now, &mut buf).unwrap() {
        out.push(buf[..n].to_vec());
    }
    out
}

impl Pair {
    fn new(client_config: Config) -> Pair {
        let mut client = Stack::new(client_config);
        client.add_address("10.0.0.1".parse().unwrap());
        let mut server = Stack::new(Config::seeded(2));
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
        };
        p.exchange();
        p.s = p.server.accept(l).unwrap().0;
        p
    }

    /// Carries datagrams both ways; the client's over the link MTU vanish.
    fn exchange(&mut self) {
        loop {
            let a = drain(&mut self.client, self.now);
            let b = drain(&mut self.server, self.now);
            if a.is_empty() && b.is_empty() {
                return;
            }
            for d in a {
                if d.len() > LINK_MTU {
                    self.dropped += 1;
                } else {
                    self.server.handle_packet(self.now, &d);
                }
            }
            for d in b {
                self.client.handle_packet(self.now, &d);
            }
        }
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
    // tcp_base_mss (1024) less the timestamp option.
    assert_eq!(info.snd_mss, 1024 - 12);
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
