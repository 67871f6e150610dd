//! The wire-format harness: parse, emit, re-parse.
//!
//! Every input is used three ways:
//! 1. as a raw IP datagram: if it parses (with and without TCP checksum verification), it
//!    is emitted again and must parse back to the same IP and TCP fields, with the options
//!    in the canonical form synack emits (Linux's layout), and a second emit must give the
//!    very same bytes;
//! 2. as raw TCP option bytes: every option the iterator yields must emit and parse back
//!    to itself, and the collected [`TcpOptions`] must survive emit and parse;
//! 3. as a structured description ([`WireSpec`], read with `arbitrary`) of an IPv4 or IPv6
//!    datagram with every TCP field and option: emitted, it must parse back to the same
//!    fields, or fail with the documented error (a zero port is `Malformed`).
//!
//! Any mismatch panics, which libFuzzer reports as a crash.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use synack::wire::ipv4::Ipv4Packet;
use synack::wire::ipv6::Ipv6Packet;
use synack::wire::{
    checksum, emit_datagram, parse_datagram, Control, Error, IpRepr, SackBlock, SegmentDisplay,
    SeqNum, TcpOption, TcpOptions, TcpPacket, TcpRepr, Timestamp, IPPROTO_TCP,
};

/// Runs every check on one input.
pub fn run(data: &[u8]) {
    raw_datagram(data);
    raw_options(data);
    checksum_matches_reference(data);
    let mut u = Unstructured::new(data);
    if let Ok(spec) = WireSpec::arbitrary(&mut u) {
        structured(&spec);
    }
}

/// The options [`TcpOptions::emit`] writes for `o`, as [`TcpOptions::parse`] reads them
/// back: on a SYN, MSS (0 is dropped on parse), window scale (clamped to 14),
/// SACK-permitted and timestamps; otherwise timestamps and at most 4 SACK blocks (3 with
/// timestamps), packed from the first slot.
pub fn canonical_options(o: &TcpOptions, syn: bool) -> TcpOptions {
    let mut c = TcpOptions {
        timestamp: o.timestamp,
        ..TcpOptions::default()
    };
    if syn {
        c.mss = o.mss.filter(|m| *m != 0);
        c.window_scale = o.window_scale.map(|w| w.min(14));
        c.sack_permitted = o.sack_permitted;
        c.fast_open = o.fast_open;
    } else {
        let limit = if o.timestamp.is_some() { 3 } else { 4 };
        for (slot, b) in c
            .sack_blocks
            .iter_mut()
            .zip(o.sack_blocks.iter().flatten().take(limit))
        {
            *slot = Some(*b);
        }
    }
    c
}

fn raw_datagram(data: &[u8]) {
    // The display code must cope with anything that gets past the IP layer.
    if let Ok(d) = SegmentDisplay::from_datagram(data) {
        let _ = d.to_string();
    }
    for verify in [true, false] {
        if let Ok((ip, tcp)) = parse_datagram(data, verify) {
            assert_eq!(ip.protocol, IPPROTO_TCP);
            // The TCP segment spans the IP payload exactly: header, then payload.
            let (_, segment) = IpRepr::parse(data).expect("parsed above");
            let hlen = TcpPacket::new_checked(segment)
                .expect("parsed above")
                .header_len();
            assert_eq!(ip.payload_len, segment.len());
            assert_eq!(segment.len(), hlen + tcp.payload.len());
            let _ = SegmentDisplay::new(&ip, &tcp).to_string();
            round_trip(&ip, &tcp);
        }
    }
}

/// Emits `tcp` in an `ip` datagram, parses it back and checks every field.
fn round_trip(ip: &IpRepr, tcp: &TcpRepr<'_>) {
    let syn = tcp.control == Control::Syn;
    let expect = TcpRepr {
        options: canonical_options(&tcp.options, syn),
        ..*tcp
    };
    let total = ip.header_len() + expect.buffer_len();
    let mut buf = vec![0u8; total.max(60) + 8];
    let fits = match ip.src {
        IpAddr::V4(_) => total <= 65535,
        IpAddr::V6(_) => expect.buffer_len() <= 65535,
    };
    let n = match emit_datagram(&mut buf, ip.src, ip.dst, ip.hop_limit, &expect) {
        Ok(n) => {
            assert!(fits, "emitted a datagram too long for its length field");
            n
        }
        Err(e) => {
            assert!(!fits, "emit failed on a datagram that fits: {e:?}");
            assert_eq!(e, Error::Malformed);
            return;
        }
    };
    assert_eq!(n, total);
    let (ip2, tcp2) = parse_datagram(&buf[..n], true).expect("an emitted datagram parses");
    assert_eq!(
        ip2,
        IpRepr {
            payload_len: expect.buffer_len(),
            protocol: IPPROTO_TCP,
            ..*ip
        }
    );
    assert_eq!(tcp2, expect, "TCP fields survive emit and parse");
    // Emitting the re-parsed form gives the same bytes.
    let mut again = vec![0u8; n];
    let m = emit_datagram(&mut again, ip2.src, ip2.dst, ip2.hop_limit, &tcp2).expect("re-emit");
    assert_eq!(&again[..m], &buf[..n], "emit is stable");
}

fn raw_options(data: &[u8]) {
    let bytes = &data[..data.len().min(64)];
    for opt in TcpOption::parse_all(bytes) {
        let Ok(opt) = opt else { break };
        let len = opt.buffer_len();
        let mut buf = [0u8; 300];
        let written = opt.emit(&mut buf);
        assert_eq!(written, len, "{opt:?} emits its buffer_len");
        let back = TcpOption::parse_all(&buf[..written])
            .next()
            .expect("one option")
            .expect("a well-formed option");
        assert_eq!(back, opt, "an option survives emit and parse");
        assert_eq!(opt.emit(&mut buf[..len.saturating_sub(1)]), 0);
        let _ = opt.to_string();
    }
    let parsed = TcpOptions::parse(bytes);
    for syn in [true, false] {
        let canon = canonical_options(&parsed, syn);
        let len = canon.buffer_len(syn);
        assert!(len <= 40 && len.is_multiple_of(4), "options length {len}");
        let mut buf = [0u8; 40];
        assert_eq!(canon.emit(syn, &mut buf), len);
        assert_eq!(TcpOptions::parse(&buf[..len]), canon);
    }
}

fn checksum_matches_reference(data: &[u8]) {
    let bytes = &data[..data.len().min(256)];
    let mut acc: u32 = 0;
    for pair in bytes.chunks(2) {
        acc += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    assert_eq!(checksum::checksum(bytes), !(acc as u16));
}

/// A structured datagram: every field of the IP and TCP headers synack emits, and every
/// option kind.
#[derive(Debug, Clone, Arbitrary)]
pub struct WireSpec {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: Option<u32>,
    control: u8,
    psh: bool,
    ece: bool,
    cwr: bool,
    window: u16,
    urgent: Option<u16>,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamp: Option<(u32, u32)>,
    sack: [Option<(u32, u32)>; 4],
    payload_len: u16,
    ipv4_view: (u8, u16, bool, bool, u16),
    ipv6_view: (u8, u32),
}

fn structured(s: &WireSpec) {
    let (src, dst) = if s.v6 {
        (
            IpAddr::V6(Ipv6Addr::from(s.src)),
            IpAddr::V6(Ipv6Addr::from(s.dst)),
        )
    } else {
        let a = |b: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        (a(&s.src), a(&s.dst))
    };
    let payload: Vec<u8> = (0..s.payload_len % 2048).map(|i| i as u8).collect();
    let mut sack_blocks = [None; 4];
    for (slot, b) in sack_blocks.iter_mut().zip(s.sack.iter()) {
        *slot = b.map(|(l, r)| SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        });
    }
    let tcp = TcpRepr {
        src_port: s.src_port,
        dst_port: s.dst_port,
        seq: SeqNum(s.seq),
        ack: s.ack.map(SeqNum),
        control: [Control::None, Control::Syn, Control::Fin, Control::Rst]
            [usize::from(s.control % 4)],
        psh: s.psh,
        ece: s.ece,
        cwr: s.cwr,
        window: s.window,
        urgent: s.urgent,
        options: TcpOptions {
            mss: s.mss,
            window_scale: s.window_scale,
            sack_permitted: s.sack_permitted,
            timestamp: s.timestamp.map(|(tsval, tsecr)| Timestamp { tsval, tsecr }),
            sack_blocks,
            fast_open: None,
            // Never written: synack holds no MD5 keys to sign with.
            md5sig: false,
        },
        payload: &payload,
    };
    let mut buf = vec![0u8; 2200];
    let n = emit_datagram(&mut buf, src, dst, s.hop_limit, &tcp).expect("a small datagram emits");
    // A buffer one byte short is refused, not overrun.
    let mut short = vec![0u8; n - 1];
    assert_eq!(
        emit_datagram(&mut short, src, dst, s.hop_limit, &tcp),
        Err(Error::Truncated)
    );
    match parse_datagram(&buf[..n], true) {
        Err(Error::Malformed) if s.src_port == 0 || s.dst_port == 0 => {}
        Err(e) => panic!("an emitted datagram fails to parse: {e:?}"),
        Ok((ip, tcp2)) => {
            assert!(s.src_port != 0 && s.dst_port != 0, "port 0 accepted");
            assert_eq!((ip.src, ip.dst, ip.hop_limit), (src, dst, s.hop_limit));
            let syn = tcp.control == Control::Syn;
            let expect = TcpRepr {
                options: canonical_options(&tcp.options, syn),
                ..tcp
            };
            assert_eq!(tcp2, expect);
            round_trip(&ip, &tcp2);
        }
    }
    // Any single corrupted byte is caught by a checksum or a header check, or leaves a
    // datagram that still parses (fields the checksums do not cover: none in TCP, the
    // IPv6 header in IPv6), never a panic.
    let at = usize::from(s.window) % n;
    buf[at] ^= 0x5a;
    let _ = parse_datagram(&buf[..n], true);
    buf[at] ^= 0x5a;
    views(s, &mut buf[..n]);
}

/// Header views: every setter reads back.
fn views(s: &WireSpec, buf: &mut [u8]) {
    if s.v6 {
        let (tc, flow) = s.ipv6_view;
        let mut p = Ipv6Packet::new_checked(&mut *buf).expect("an emitted IPv6 header");
        p.set_traffic_class(tc);
        p.set_flow_label(flow);
        assert_eq!(p.traffic_class(), tc);
        assert_eq!(p.flow_label(), flow & 0xf_ffff);
        assert_eq!(p.version(), 6);
        assert_eq!(usize::from(p.payload_len()) + 40, buf.len());
    } else {
        let (tos, ident, df, mf, off) = s.ipv4_view;
        let mut p = Ipv4Packet::new_checked(&mut *buf).expect("an emitted IPv4 header");
        assert!(p.verify_checksum());
        p.set_tos(tos);
        p.set_ident(ident);
        p.set_dont_frag(df);
        p.set_more_frags(mf);
        p.set_frag_offset(off);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(
            (p.tos(), p.ident(), p.dont_frag(), p.more_frags()),
            (tos, ident, df, mf)
        );
        assert_eq!(p.frag_offset(), off & !7);
        assert_eq!(p.is_fragment(), mf || off >= 8);
        let fragment = p.is_fragment();
        match IpRepr::parse(buf) {
            Err(Error::Unsupported) => assert!(fragment),
            Ok(_) => assert!(!fragment),
            Err(e) => panic!("a valid IPv4 header fails: {e:?}"),
        }
    }
    let hlen = if s.v6 { 40 } else { 20 };
    let t = TcpPacket::new_checked(&buf[hlen..]).expect("an emitted TCP header");
    assert_eq!(t.src_port(), s.src_port);
    assert_eq!(t.dst_port(), s.dst_port);
    assert_eq!(t.seq_number(), SeqNum(s.seq));
    assert_eq!(t.window_len(), s.window);
    assert_eq!(t.ack(), s.ack.is_some());
    assert_eq!(t.urg(), s.urgent.is_some());
}
