//! Malformed datagrams of every kind, aimed at an established connection over IPv4 and
//! over IPv6: each is dropped (no data taken, nothing sent) and counted once, in the
//! counter Linux counts it in (`netstat -s`), checked case by case against the exact set
//! of counters that moved. Well-formed oddities that Linux accepts (IPv4 options, IPv6
//! extension headers, link-layer padding, bad TCP options) are taken.
//!
//! Linux's order and counters, from `ip_rcv_core`, `ip6_rcv_core`, `ip6_input` and
//! `tcp_v4_rcv`:
//! - IPv4: fewer than 20 bytes, IHL below 5, a header longer than the datagram, or a
//!   total length shorter than the header: Ip InHdrErrors; a bad header checksum (checked
//!   before the total length): Ip InHdrErrors and IpExt InCsumErrors; fewer bytes than
//!   the total length: IpExt InTruncatedPkts; another protocol: Ip InUnknownProtos; an
//!   address that is not ours (no forwarding): Ip InAddrErrors.
//! - IPv6: fewer than 40 bytes or a bad extension header: Ip6 InHdrErrors; fewer bytes
//!   than the payload length: Ip6 InTruncatedPkts; a Hop-by-Hop header after the first
//!   or an unknown next header: Ip6 InUnknownProtos; not our address: Ip6 InAddrErrors.
//! - Fragments: synack does not reassemble; it drops them as Ip InDiscards.
//! - TCP (counted in InSegs even when bad): fewer than 20 bytes or a data offset past
//!   the segment: dropped with no error counter (`discard_it`); a data offset below 5:
//!   InErrs; a bad checksum: InErrs and InCsumErrors.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use common::*;
use synack::wire::ipv4::Ipv4Packet;
use synack::wire::ipv6::Ipv6Packet;
use synack::wire::{self, Control, SeqNum, TcpOptions, TcpPacket, TcpRepr};
use synack::Stack;

const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const PORT6: u16 = 81;
const PEER_PORT6: u16 = 50000;

/// One established connection as the peer sees it.
#[derive(Clone, Copy)]
struct Peer {
    local: SocketAddr,
    remote: SocketAddr,
    /// The next sequence number the stack expects, and what it sent.
    rcv_nxt: SeqNum,
    snd_nxt: SeqNum,
    handle: synack::SocketHandle,
}

/// Every datagram the stack sends now.
fn drain(stack: &mut Stack, now: synack::Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some(n) = stack.poll_transmit(now, &mut buf).expect("64 KiB buffer") {
        out.push(buf[..n].to_vec());
    }
    out
}

/// A valid datagram from the peer on `p` carrying `data` at RCV.NXT.
fn segment(p: &Peer, data: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: p.remote.port(),
        dst_port: p.local.port(),
        seq: p.rcv_nxt,
        ack: Some(p.snd_nxt),
        control: Control::None,
        psh: true,
        ece: false,
        cwr: false,
        window: 65535,
        urgent: None,
        options: TcpOptions::default(),
        payload: data,
    };
    let mut buf = vec![0u8; 2048];
    let n = wire::emit_datagram(&mut buf, p.remote.ip(), p.local.ip(), 64, &repr).expect("emit");
    buf.truncate(n);
    buf
}

/// The stack with an established IPv4 connection (the common harness) and an
/// established IPv6 one (built here by hand).
fn setup() -> (Harness, Peer, Peer) {
    let mut h = Harness::new();
    h.stack.add_address(LOCAL6.into());
    let (_, c) = h.established_passive();
    let v4 = Peer {
        local: c.local(),
        remote: c.remote(),
        rcv_nxt: c.p(1),
        snd_nxt: c.l(1),
        handle: c.handle,
    };
    let l6 = h.stack.socket();
    let local = SocketAddr::new(LOCAL6.into(), PORT6);
    h.stack.bind(l6, local).expect("bind v6");
    h.stack.listen(l6, 8).expect("listen v6");
    let remote = SocketAddr::new(PEER6.into(), PEER_PORT6);
    let mut p = Peer {
        local,
        remote,
        rcv_nxt: SeqNum(7_000_000),
        snd_nxt: SeqNum(0),
        handle: l6,
    };
    let syn = TcpRepr {
        src_port: PEER_PORT6,
        dst_port: PORT6,
        seq: p.rcv_nxt,
        ack: None,
        control: Control::Syn,
        psh: false,
        ece: false,
        cwr: false,
        window: 65535,
        urgent: None,
        options: TcpOptions {
            mss: Some(1440),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    let mut buf = vec![0u8; 256];
    let n = wire::emit_datagram(&mut buf, remote.ip(), local.ip(), 64, &syn).expect("emit");
    h.stack.handle_packet(h.now, &buf[..n]);
    let out = drain(&mut h.stack, h.now);
    let (_, synack) = wire::parse_datagram(&out[0], true).expect("SYN-ACK");
    assert_eq!(synack.control, Control::Syn);
    p.rcv_nxt += 1;
    p.snd_nxt = synack.seq + 1;
    let ack = segment(&p, &[]);
    h.stack.handle_packet(h.now, &ack);
    p.handle = h.stack.accept(l6).expect("accept v6").0;
    drain(&mut h.stack, h.now);
    h.events();
    (h, v4, p)
}

/// The counters that moved between two snapshots.
fn moved(before: &synack::Stats, after: &synack::Stats) -> BTreeMap<String, u64> {
    before
        .iter()
        .zip(after.iter())
        .filter(|(b, a)| a.2 != b.2)
        .map(|(b, a)| (format!("{}:{}", a.0, a.1), a.2 - b.2))
        .collect()
}

/// One case: a name, the datagram, and the counters it must move (group:name), each by
/// one. `taken` says whether the data must be taken.
struct Case {
    name: &'static str,
    datagram: Vec<u8>,
    counters: &'static [&'static str],
    taken: bool,
}

fn case(
    name: &'static str,
    datagram: Vec<u8>,
    counters: &'static [&'static str],
    taken: bool,
) -> Case {
    Case {
        name,
        datagram,
        counters,
        taken,
    }
}

const DATA: &[u8] = b"0123456789";

fn fix_ipv4_checksum(d: &mut [u8]) {
    let ihl = usize::from(d[0] & 0x0f) * 4;
    Ipv4Packet::new_unchecked(&mut d[..ihl]).fill_checksum();
}

fn fix_tcp_checksum(d: &mut [u8], ip_len: usize) {
    let (ip, seg) = d.split_at_mut(ip_len);
    let (src, dst): (IpAddr, IpAddr) = if ip[0] >> 4 == 4 {
        let p = Ipv4Packet::new_unchecked(&*ip);
        (p.src_addr().into(), p.dst_addr().into())
    } else {
        let p = Ipv6Packet::new_unchecked(&*ip);
        (p.src_addr().into(), p.dst_addr().into())
    };
    TcpPacket::new_unchecked(seg).fill_checksum(&src, &dst);
}

/// IPv4 cases built from a valid datagram `v` (20-byte header, TCP, 10 data bytes).
fn ipv4_cases(v: &[u8], p: &Peer) -> Vec<Case> {
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = v.to_vec();
        f(&mut d);
        d
    };
    let tcp_byte = |at: usize, value: u8| {
        with(&move |d: &mut Vec<u8>| {
            d[20 + at] = value;
            fix_tcp_checksum(d, 20);
        })
    };
    vec![
        case(
            "ipv4: 19 bytes",
            v[..19].to_vec(),
            &["Ip:InHdrErrors"],
            false,
        ),
        case(
            "ipv4: IHL 4",
            with(&|d| {
                d[0] = 0x44;
                fix_ipv4_checksum(d);
            }),
            &["Ip:InHdrErrors"],
            false,
        ),
        case(
            "ipv4: IHL past the datagram",
            with(&|d| {
                // The checksum covers a whole header, which this one is not.
                d.truncate(22);
                d[0] = 0x46;
                d[2..4].copy_from_slice(&22u16.to_be_bytes());
            }),
            &["Ip:InHdrErrors"],
            false,
        ),
        case(
            "ipv4: bad header checksum",
            with(&|d| d[10] ^= 0x01),
            &["Ip:InHdrErrors", "IpExt:InCsumErrors"],
            false,
        ),
        case(
            "ipv4: total length past the datagram",
            with(&|d| {
                let total = d.len() as u16 + 1;
                d[2..4].copy_from_slice(&total.to_be_bytes());
                fix_ipv4_checksum(d);
            }),
            &["IpExt:InTruncatedPkts"],
            false,
        ),
        case(
            "ipv4: total length past the datagram and a bad checksum",
            with(&|d| {
                let total = d.len() as u16 + 1;
                d[2..4].copy_from_slice(&total.to_be_bytes());
                d[10] ^= 0x01;
            }),
            &["Ip:InHdrErrors", "IpExt:InCsumErrors"],
            false,
        ),
        case(
            "ipv4: total length shorter than the header",
            with(&|d| {
                d[2..4].copy_from_slice(&19u16.to_be_bytes());
                fix_ipv4_checksum(d);
            }),
            &["Ip:InHdrErrors"],
            false,
        ),
        case(
            "ipv4: more fragments",
            with(&|d| {
                Ipv4Packet::new_unchecked(&mut d[..20]).set_more_frags(true);
                fix_ipv4_checksum(d);
            }),
            &["Ip:InDiscards"],
            false,
        ),
        case(
            "ipv4: fragment offset",
            with(&|d| {
                Ipv4Packet::new_unchecked(&mut d[..20]).set_frag_offset(1480);
                fix_ipv4_checksum(d);
            }),
            &["Ip:InDiscards"],
            false,
        ),
        case(
            "ipv4: UDP",
            with(&|d| {
                d[9] = 17;
                fix_ipv4_checksum(d);
            }),
            // A TCP segment relabelled UDP: Linux's __udp4_lib_rcv finds its length
            // plausible and its UDP checksum wrong, and drops it unanswered.
            &["Udp:InErrors", "Udp:InCsumErrors"],
            false,
        ),
        case(
            "ipv4: not our address",
            with(&|d| {
                d[19] = 99;
                fix_ipv4_checksum(d);
            }),
            &["Ip:InAddrErrors"],
            false,
        ),
        case(
            "ipv4: TCP segment of 19 bytes",
            with(&|d| {
                d.truncate(39);
                d[2..4].copy_from_slice(&39u16.to_be_bytes());
                fix_ipv4_checksum(d);
            }),
            &["Tcp:InSegs"],
            false,
        ),
        case(
            "ipv4: TCP data offset 4",
            tcp_byte(12, 0x40),
            &["Tcp:InSegs", "Tcp:InErrs"],
            false,
        ),
        case(
            "ipv4: TCP data offset past the segment",
            tcp_byte(12, 0xf0),
            &["Tcp:InSegs"],
            false,
        ),
        case(
            "ipv4: bad TCP checksum",
            with(&|d| d[36] ^= 0x01),
            &["Tcp:InSegs", "Tcp:InErrs", "Tcp:InCsumErrors"],
            false,
        ),
        case(
            "ipv4: IP length cuts the TCP header",
            with(&|d| {
                d[2..4].copy_from_slice(&30u16.to_be_bytes());
                fix_ipv4_checksum(d);
            }),
            &["Tcp:InSegs"],
            false,
        ),
        // Well-formed oddities, taken as Linux takes them.
        case(
            "ipv4: options (NOPs)",
            with(&|d| {
                d.splice(20..20, [1u8; 8]);
                d[0] = 0x47;
                let total = d.len() as u16;
                d[2..4].copy_from_slice(&total.to_be_bytes());
                fix_ipv4_checksum(d);
            }),
            &["Tcp:InSegs"],
            true,
        ),
        case(
            "ipv4: link-layer padding after the total length",
            with(&|d| d.extend_from_slice(&[0; 6])),
            &["Tcp:InSegs"],
            true,
        ),
        case(
            "tcp: bad options (zero length, wrong MSS length)",
            bad_options(p),
            &["Tcp:InSegs"],
            true,
        ),
    ]
}

/// A segment whose option bytes are nonsense: MSS with length 3, then a length-0 option.
fn bad_options(p: &Peer) -> Vec<u8> {
    let mut d = segment(p, DATA);
    let ip_len = if p.local.is_ipv4() { 20 } else { 40 };
    d.splice(ip_len + 20..ip_len + 20, [2, 3, 0, 0, 7, 0, 0, 0]);
    d[ip_len + 12] = 7 << 4;
    if p.local.is_ipv4() {
        let total = d.len() as u16;
        d[2..4].copy_from_slice(&total.to_be_bytes());
        fix_ipv4_checksum(&mut d);
    } else {
        let len = (d.len() - 40) as u16;
        d[4..6].copy_from_slice(&len.to_be_bytes());
    }
    fix_tcp_checksum(&mut d, ip_len);
    d
}

/// Inserts extension headers (already chained to TCP) after the IPv6 fixed header, whose
/// Next Header becomes `first`.
fn with_ext(v: &[u8], first: u8, ext: &[u8]) -> Vec<u8> {
    let mut d = v.to_vec();
    d.splice(40..40, ext.iter().copied());
    let len = (d.len() - 40) as u16;
    d[4..6].copy_from_slice(&len.to_be_bytes());
    d[6] = first;
    d
}

/// An 8-byte option header (Hop-by-Hop or Destination Options) with a PadN.
fn opt_header(next: u8) -> [u8; 8] {
    [next, 0, 1, 4, 0, 0, 0, 0]
}

/// IPv6 cases built from a valid datagram `v` (40-byte header, TCP, 10 data bytes).
fn ipv6_cases(v: &[u8]) -> Vec<Case> {
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = v.to_vec();
        f(&mut d);
        d
    };
    const TCP: u8 = 6;
    let routing = [TCP, 0, 0, 0, 0, 0, 0, 0];
    vec![
        case(
            "ipv6: 39 bytes",
            v[..39].to_vec(),
            &["Ip6:InHdrErrors"],
            false,
        ),
        case(
            "ipv6: payload length past the datagram",
            with(&|d| {
                let len = (d.len() - 40 + 1) as u16;
                d[4..6].copy_from_slice(&len.to_be_bytes());
            }),
            &["Ip6:InTruncatedPkts"],
            false,
        ),
        case(
            "ipv6: extension header past the payload",
            with_ext(v, 0, &[TCP, 200, 1, 0, 0, 0, 0, 0]),
            &["Ip6:InHdrErrors"],
            false,
        ),
        case(
            "ipv6: Hop-by-Hop after a Destination Options header",
            with_ext(v, 60, &[&opt_header(0)[..], &opt_header(TCP)[..]].concat()),
            &["Ip6:InUnknownProtos"],
            false,
        ),
        case(
            "ipv6: Fragment header",
            with_ext(v, 44, &[TCP, 0, 0, 1, 0, 0, 0, 1]),
            &["Ip:InDiscards"],
            false,
        ),
        case(
            "ipv6: UDP",
            with(&|d| d[6] = 17),
            // __udp6_lib_rcv: the "length" (the TCP sequence number's high half) is
            // longer than the datagram: a short packet, dropped unanswered.
            &["Udp6:InErrors"],
            false,
        ),
        case(
            "ipv6: not our address",
            with(&|d| d[39] = 0x99),
            &["Ip6:InAddrErrors"],
            false,
        ),
        case(
            "ipv6: bad TCP checksum",
            with(&|d| d[56] ^= 0x01),
            &["Tcp:InSegs", "Tcp:InErrs", "Tcp:InCsumErrors"],
            false,
        ),
        case(
            "ipv6: payload length cuts the TCP header",
            with(&|d| d[4..6].copy_from_slice(&12u16.to_be_bytes())),
            &["Tcp:InSegs"],
            false,
        ),
        case(
            "ipv6: Hop-by-Hop, Destination Options and Routing headers",
            with_ext(
                v,
                0,
                &[&opt_header(60)[..], &opt_header(43)[..], &routing[..]].concat(),
            ),
            &["Tcp:InSegs"],
            true,
        ),
    ]
}

fn all_cases(v4: &Peer, v6: &Peer) -> Vec<Case> {
    let mut cases = ipv4_cases(&segment(v4, DATA), v4);
    cases.extend(ipv6_cases(&segment(v6, DATA)));
    cases.push(case(
        "ipv6 tcp: bad options",
        bad_options(v6),
        &["Tcp:InSegs"],
        true,
    ));
    cases
}

#[test]
fn malformed_datagrams_are_dropped_and_counted_once_where_linux_counts_them() {
    let (_, v4, v6) = setup();
    let n = all_cases(&v4, &v6).len();
    let mut failures = Vec::new();
    // Each case on a fresh stack (the setup is deterministic), so none sees another's
    // effects.
    for i in 0..n {
        let (mut h, v4, v6) = setup();
        let c = all_cases(&v4, &v6).swap_remove(i);
        let peer = if c.name.starts_with("ipv6") { v6 } else { v4 };
        let queued = h.stack.recv_queue(peer.handle).expect("live connection");
        let before = h.stack.stats().clone();
        h.stack.handle_packet(h.now, &c.datagram);
        let got = moved(&before, h.stack.stats());
        let want: BTreeMap<String, u64> = c.counters.iter().map(|n| (n.to_string(), 1)).collect();
        if got != want {
            failures.push(format!(
                "{}: counted {got:?}, Linux counts {want:?}",
                c.name
            ));
        }
        let out = drain(&mut h.stack, h.now);
        let took = h.stack.recv_queue(peer.handle).expect("live connection") > queued;
        if took != c.taken {
            failures.push(format!(
                "{}: data {} (expected {})",
                c.name,
                if took { "taken" } else { "not taken" },
                if c.taken { "taken" } else { "dropped" }
            ));
        }
        if !c.taken && !out.is_empty() {
            failures.push(format!("{}: a dropped datagram was answered", c.name));
        }
    }
    assert!(n >= 30, "{n} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
