//! ICMP as a host (issue 11): echo replies, destination unreachable for what nobody
//! serves (rate limited per destination as Linux's icmp_ratelimit), errors matched to
//! connections with RFC 5927's check, path MTU discovery (RFC 1191, RFC 8201) lowering
//! the MSS with an immediate retransmission, and soft errors during SYN-SENT reported
//! when the connection gives up, as Linux does.

mod common;
use common::{drain, exchange};

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::wire::icmp::{IcmpRepr, IPPROTO_ICMP, IPPROTO_ICMPV6};
use synack::wire::{IpRepr, TcpRepr, IPPROTO_TCP};
use synack::{Config, Error, Instant, SocketHandle, Stack, State};

const ME: &str = "10.0.0.1";
const PEER: &str = "10.0.0.2";
const ROUTER: &str = "192.0.2.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn stack(addr: &str) -> Stack {
    let mut s = Stack::new(Config::seeded(7));
    s.add_address(ip(addr));
    s
}

/// A whole datagram from `src` to `dst` carrying `payload` as `protocol`.
fn datagram(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let repr = IpRepr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let h = repr.emit(&mut buf).unwrap();
    buf[h..].copy_from_slice(payload);
    buf
}

/// An ICMP (or ICMPv6) datagram from `src` to `dst`.
fn icmp(src: IpAddr, dst: IpAddr, msg: &IcmpRepr) -> Vec<u8> {
    let v6 = dst.is_ipv6();
    let mut body = vec![0u8; msg.buffer_len()];
    msg.emit(v6, &src, &dst, &mut body).unwrap();
    let proto = if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP };
    datagram(src, dst, proto, &body)
}

/// A UDP datagram over IPv6, whose checksum is mandatory (RFC 8200 8.1).
fn udp6(src: IpAddr, dst: IpAddr, udp: &[u8]) -> Vec<u8> {
    use synack::wire::checksum;
    let mut u = udp.to_vec();
    u[6..8].fill(0);
    let acc = checksum::sum(&u) + checksum::pseudo_header_sum(&src, &dst, 17, u.len() as u32);
    let c = !checksum::fold(acc);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    datagram(src, dst, 17, &u)
}

/// The ICMP message of a datagram `s` sent (panics if it is not ICMP).
fn sent_icmp(d: &[u8]) -> (IpRepr, IcmpRepr<'_>) {
    let (ipr, payload) = IpRepr::parse(d).unwrap();
    let v6 = ipr.dst.is_ipv6();
    assert_eq!(ipr.protocol, if v6 { IPPROTO_ICMPV6 } else { IPPROTO_ICMP });
    (
        ipr,
        IcmpRepr::parse(v6, &ipr.src, &ipr.dst, payload).unwrap(),
    )
}

#[test]
fn echo_requests_are_answered_in_both_versions() {
    let mut s = stack(ME);
    s.add_address(ip("fd00::1"));
    let now = Instant::ZERO;
    for (me, peer) in [(ip(ME), ip(PEER)), (ip("fd00::1"), ip("fd00::2"))] {
        let req = IcmpRepr::EchoRequest {
            ident: 0x4242,
            seq: 3,
            data: b"ping payload",
        };
        s.handle_packet(now, &icmp(peer, me, &req));
        let out = drain(&mut s, now);
        assert_eq!(out.len(), 1, "one reply");
        let (ipr, reply) = sent_icmp(&out[0]);
        assert_eq!((ipr.src, ipr.dst), (me, peer));
        assert_eq!(
            reply,
            IcmpRepr::EchoReply {
                ident: 0x4242,
                seq: 3,
                data: b"ping payload"
            }
        );
    }
    let st = s.stats();
    assert_eq!(
        (
            st.IcmpInEchos,
            st.IcmpOutEchoReps,
            st.IcmpMsgOutType0,
            st.IcmpOutMsgs
        ),
        (1, 1, 1, 1)
    );
    assert_eq!((st.Icmp6InEchos, st.Icmp6OutEchoReplies), (1, 1));

    // A bad checksum is an error, and icmp_echo_ignore_all silences the replies.
    let req = IcmpRepr::EchoRequest {
        ident: 1,
        seq: 1,
        data: b"x",
    };
    let mut bad = icmp(ip(PEER), ip(ME), &req);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    s.handle_packet(now, &bad);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!((s.stats().IcmpInErrors, s.stats().IcmpInCsumErrors), (1, 1));
    s.config_mut().icmp_echo_ignore_all = true;
    s.handle_packet(now, &icmp(ip(PEER), ip(ME), &req));
    assert!(drain(&mut s, now).is_empty());
}

#[test]
fn unserved_ports_and_protocols_are_unreachable_with_a_rate_limit() {
    let mut s = stack(ME);
    s.add_address(ip("fd00::1"));
    let mut now = Instant::ZERO;
    let udp = [
        0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'd', b'n', b's', b'?',
    ];
    let d = datagram(ip(PEER), ip(ME), 17, &udp);
    for _ in 0..10 {
        s.handle_packet(now, &d);
    }
    let out = drain(&mut s, now);
    // Linux's inet_peer_xrlim_allow: a burst of six, then one per icmp_ratelimit.
    assert_eq!(out.len(), 6);
    for o in &out {
        let (ipr, m) = sent_icmp(o);
        assert_eq!((ipr.src, ipr.dst), (ip(ME), ip(PEER)));
        assert_eq!(
            m,
            IcmpRepr::DstUnreachable {
                code: 3,
                mtu: 0,
                invoking: &d
            }
        );
    }
    assert_eq!(s.stats().UdpNoPorts, 10);
    assert_eq!(s.stats().IcmpOutRateLimitHost, 4);
    now += Duration::from_millis(999);
    s.handle_packet(now, &d);
    assert!(drain(&mut s, now).is_empty());
    now += Duration::from_millis(1);
    s.handle_packet(now, &d);
    assert_eq!(drain(&mut s, now).len(), 1);

    // Another source has its own bucket; an unknown protocol is protocol unreachable.
    let gre = datagram(ip("10.0.0.3"), ip(ME), 47, &[0u8; 8]);
    s.handle_packet(now, &gre);
    let out = drain(&mut s, now);
    let (_, m) = sent_icmp(&out[0]);
    assert!(matches!(m, IcmpRepr::DstUnreachable { code: 2, .. }));
    assert_eq!(s.stats().IpInUnknownProtos, 1);

    // IPv6: port unreachable (code 4), and an unknown Next Header is a parameter
    // problem pointing at it.
    let d6 = udp6(ip("fd00::2"), ip("fd00::1"), &udp);
    s.handle_packet(now, &d6);
    let gre6 = datagram(ip("fd00::2"), ip("fd00::1"), 47, &[0u8; 8]);
    s.handle_packet(now, &gre6);
    let out = drain(&mut s, now);
    assert!(matches!(
        sent_icmp(&out[0]).1,
        IcmpRepr::DstUnreachable { code: 4, .. }
    ));
    assert!(matches!(
        sent_icmp(&out[1]).1,
        IcmpRepr::ParamProblem {
            code: 1,
            pointer: 6,
            ..
        }
    ));
    // Never about a datagram to a broadcast address.
    s.add_address_prefix(ip(ME), 24);
    s.handle_packet(now, &datagram(ip(PEER), ip("10.0.0.255"), 17, &udp));
    assert!(drain(&mut s, now).is_empty());
}

/// A client stack connected to a server stack, with the client's datagrams handed to
/// the test instead of the server while `hold` is set.
struct Pair {
    client: Stack,
    server: Stack,
    c: SocketHandle,
    s: SocketHandle,
    now: Instant,
}

impl Pair {
    fn new(v6: bool) -> Pair {
        let (ca, sa) = if v6 {
            ("fd00::1", "fd00::2")
        } else {
            (ME, PEER)
        };
        let mut client = stack(ca);
        let mut server = stack(sa);
        let l = server.socket();
        let addr = SocketAddr::new(ip(sa), 80);
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
        };
        p.exchange();
        p.s = p.server.accept(l).unwrap().0;
        p
    }

    /// Carries datagrams and runs timers until the server has read `len` bytes.
    fn receive_all(&mut self, len: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        for _ in 0..1000 {
            self.exchange();
            while let Ok(n) = self.server.recv(self.s, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if got.len() >= len {
                return got;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| {
                    panic!(
                        "no timer with {} of {len} bytes: client {:?} server {:?}",
                        got.len(),
                        self.client.socket_info(self.c),
                        self.server.socket_info(self.s)
                    )
                });
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        got
    }

    fn exchange(&mut self) {
        exchange(&mut self.client, &mut self.server, self.now, |_| true);
    }
}

fn tcp_seq(d: &[u8]) -> u32 {
    let (ipr, payload) = IpRepr::parse(d).unwrap();
    assert_eq!(ipr.protocol, IPPROTO_TCP);
    TcpRepr::parse(payload, &ipr.src, &ipr.dst, true)
        .unwrap()
        .seq
        .0
}

/// The start of a datagram, as a router quotes it.
fn quote(d: &[u8], len: usize) -> &[u8] {
    &d[..len.min(d.len())]
}

#[test]
fn frag_needed_lowers_the_mss_and_retransmits_at_once() {
    let mut p = Pair::new(false);
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 1500);
    let data: Vec<u8> = (0..16_000u32).map(|i| i as u8).collect();
    p.client.send(p.c, &data).unwrap();
    p.now += Duration::from_millis(1);
    let first = drain(&mut p.client, p.now);
    assert!(
        first.len() >= 2 && first[0].len() == 1500,
        "full-sized segments"
    );
    let rexmits = p.client.stats().RetransSegs;
    // A router on the path can only carry 1280 bytes (RFC 1191: Next-Hop MTU).
    fn frag(d: &[u8], mtu: u16) -> Vec<u8> {
        let m = IcmpRepr::DstUnreachable {
            code: 4,
            mtu,
            invoking: quote(d, 28),
        };
        icmp(ip(ROUTER), ip(ME), &m)
    }
    // First one whose quoted sequence number is not in flight: ignored (RFC 5927 4.1).
    let mut stale = first[0].clone();
    stale[24..28].copy_from_slice(&(tcp_seq(&first[0]).wrapping_sub(100_000)).to_be_bytes());
    p.client.handle_packet(p.now, &(frag(&stale, 1280)));
    assert_eq!(p.client.stats().OutOfWindowIcmps, 1);
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 1500);
    assert!(drain(&mut p.client, p.now).is_empty());
    // Then the real one.
    p.client.handle_packet(p.now, &(frag(&first[1], 1280)));
    let info = p.client.tcp_info(p.c).unwrap();
    assert_eq!(info.pmtu, 1280);
    assert_eq!(
        info.snd_mss,
        1280 - 40 - 12,
        "IP, TCP and the timestamp option"
    );
    // At once, with no timer: the data in flight again, from SND.UNA, in the new size.
    let again = drain(&mut p.client, p.now);
    assert!(!again.is_empty());
    assert_eq!(tcp_seq(&again[0]), tcp_seq(&first[0]));
    assert!(again.iter().all(|d| d.len() <= 1280));
    assert!(p.client.stats().RetransSegs > rexmits);
    // A larger MTU never raises it (RFC 1191 3), nor does one below 552 go under it.
    p.client.handle_packet(p.now, &(frag(&again[0], 1400)));
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 1280);
    p.client.handle_packet(p.now, &(frag(&again[0], 300)));
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 552);
    // The small segments go through; everything arrives.
    for d in again {
        p.server.handle_packet(p.now, &d);
    }
    let got = p.receive_all(data.len());
    assert!(
        got == data,
        "the server got the 16,000 bytes ({})",
        got.len()
    );
}

#[test]
fn packet_too_big_never_goes_below_1280() {
    let mut p = Pair::new(true);
    p.client.send(p.c, &[7u8; 5000]).unwrap();
    p.now += Duration::from_millis(1);
    let first = drain(&mut p.client, p.now);
    let ptb = IcmpRepr::PacketTooBig {
        mtu: 1000,
        invoking: quote(&first[0], 1232),
    };
    p.client
        .handle_packet(p.now, &icmp(ip("fd00::99"), ip("fd00::1"), &ptb));
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 1280, "RFC 8201 4");
    assert_eq!(p.client.stats().Icmp6InPktTooBigs, 1);
    assert!(drain(&mut p.client, p.now).iter().all(|d| d.len() <= 1280));
}

#[test]
fn syn_sent_errors_as_linux_reports_them() {
    // A soft error (host unreachable) is kept; the connection goes on retrying and,
    // when it gives up, reports it instead of ETIMEDOUT.
    let mut c = stack(ME);
    c.config_mut().tcp_syn_retries = 2;
    let h = c.socket();
    c.connect(h, SocketAddr::new(ip(PEER), 80)).unwrap();
    let mut now = Instant::ZERO;
    let syn = drain(&mut c, now).remove(0);
    fn unreach(from: &str, code: u8, d: &[u8]) -> Vec<u8> {
        let m = IcmpRepr::DstUnreachable {
            code,
            mtu: 0,
            invoking: quote(d, 28),
        };
        icmp(ip(from), ip(ME), &m)
    }
    c.handle_packet(now, &unreach(ROUTER, 1, &syn));
    assert_eq!(c.state(h), Ok(State::SynSent));
    while c.state(h) == Ok(State::SynSent) {
        now = c.poll_timeout().expect("a SYN timer");
        c.handle_timeout(now);
        drain(&mut c, now);
    }
    assert_eq!(c.socket_error(h), Ok(Some(Error::HostUnreachable)));

    // A hard error (port unreachable) ends the attempt at once.
    let h = c.socket();
    c.connect(h, SocketAddr::new(ip(PEER), 81)).unwrap();
    let syn = drain(&mut c, now).remove(0);
    let fails = c.stats().AttemptFails;
    c.handle_packet(now, &unreach(PEER, 3, &syn));
    assert_eq!(c.state(h), Ok(State::Closed));
    assert_eq!(c.socket_error(h), Ok(Some(Error::ConnectionRefused)));
    assert_eq!(c.stats().AttemptFails, fails + 1);
    assert_eq!(c.stats().IcmpInDestUnreachs, 2);
}

#[test]
fn soft_errors_on_an_established_connection_are_kept_not_fatal() {
    let mut p = Pair::new(false);
    p.client.send(p.c, b"hello").unwrap();
    p.now += Duration::from_millis(1);
    let d = drain(&mut p.client, p.now).remove(0);
    let m = IcmpRepr::DstUnreachable {
        code: 1,
        mtu: 0,
        invoking: quote(&d, 28),
    };
    p.client.handle_packet(p.now, &icmp(ip(ROUTER), ip(ME), &m));
    assert_eq!(p.client.state(p.c), Ok(State::Established));
    // SO_ERROR reads the soft error once (Linux's sock_error, then sk_err_soft).
    assert_eq!(p.client.socket_error(p.c), Ok(Some(Error::HostUnreachable)));
    assert_eq!(p.client.socket_error(p.c), Ok(None));
    // Data still flows.
    p.server.handle_packet(p.now, &d);
    p.exchange();
    let mut buf = [0u8; 8];
    assert_eq!(p.server.recv(p.s, &mut buf), Ok(5));
}

/// "Fragmentation needed" for `d` from the router, with Next-Hop MTU `mtu`.
fn frag_needed(d: &[u8], mtu: u16) -> Vec<u8> {
    let m = IcmpRepr::DstUnreachable {
        code: 4,
        mtu,
        invoking: quote(d, 28),
    };
    icmp(ip(ROUTER), ip(ME), &m)
}

/// A learned path MTU belongs to the destination, as Linux keeps it in the route's
/// exception: the next connection to it starts there, until it expires after ten
/// minutes (`ip_rt_mtu_expires`).
#[test]
fn the_path_mtu_is_remembered_for_the_destination() {
    let mut p = Pair::new(false);
    p.client.send(p.c, &[1u8; 5000]).unwrap();
    p.now += Duration::from_millis(1);
    let first = drain(&mut p.client, p.now);
    p.client.handle_packet(p.now, &frag_needed(&first[0], 1280));
    assert_eq!(p.client.tcp_info(p.c).unwrap().pmtu, 1280);
    let peer = SocketAddr::new(ip(PEER), 80);
    let c2 = p.client.socket();
    p.client.connect(c2, peer).unwrap();
    assert_eq!(p.client.tcp_info(c2).unwrap().pmtu, 1280);
    // Another destination is not affected.
    let other = p.client.socket();
    p.client
        .connect(other, SocketAddr::new(ip("10.0.0.3"), 80))
        .unwrap();
    assert_eq!(p.client.tcp_info(other).unwrap().pmtu, 1500);
    p.now += Duration::from_secs(601);
    p.client.handle_timeout(p.now);
    let c3 = p.client.socket();
    p.client.connect(c3, peer).unwrap();
    assert_eq!(p.client.tcp_info(c3).unwrap().pmtu, 1500, "expired");
}
