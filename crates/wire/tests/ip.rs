//! IPv4 and IPv6 parse/emit, extension headers and whole-datagram helpers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack_wire::ipv4::Ipv4Packet;
use synack_wire::ipv6::Ipv6Packet;
use synack_wire::{
    checksum, emit_datagram, parse_datagram, Control, Error, IpRepr, SeqNum, TcpOptions, TcpRepr,
};

fn v4(a: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 168, 1, a))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

/// An IPv4 header for `payload_len` bytes of protocol 6, checksum filled, followed by the
/// payload bytes 0, 1, 2, ...
fn ipv4_datagram(payload_len: usize) -> Vec<u8> {
    let repr = IpRepr {
        src: v4(1),
        dst: v4(2),
        protocol: 6,
        payload_len,
        hop_limit: 64,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf), Ok(20));
    for (i, b) in buf[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    buf
}

fn refill_v4_checksum(buf: &mut [u8]) {
    Ipv4Packet::new_unchecked(buf).fill_checksum();
}

#[test]
fn ipv4_emit_then_parse() {
    let d = ipv4_datagram(8);
    assert_eq!(
        &d[..20],
        &[0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 6, 0xb7, 0x88, 192, 168, 1, 1, 192, 168, 1, 2]
    );
    assert_eq!(checksum::checksum(&d[..20]), 0, "header sums to all ones");
    let (repr, payload) = IpRepr::parse(&d).unwrap();
    assert_eq!(
        repr,
        IpRepr {
            src: v4(1),
            dst: v4(2),
            protocol: 6,
            payload_len: 8,
            hop_limit: 64
        }
    );
    assert_eq!(payload, &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(repr.header_len(), 20);
    assert_eq!(repr.buffer_len(), 28);
}

#[test]
fn ipv4_trailing_bytes_are_trimmed() {
    let mut d = ipv4_datagram(4);
    d.extend_from_slice(&[0xee; 6]); // Ethernet padding
    let (repr, payload) = IpRepr::parse(&d).unwrap();
    assert_eq!(repr.payload_len, 4);
    assert_eq!(payload, &[0, 1, 2, 3]);
}

#[test]
fn ipv4_options_are_skipped() {
    // IHL 6 with one word of options (NOP NOP NOP EOL).
    let mut d = vec![0x46, 0, 0, 28, 0, 0, 0x40, 0, 64, 6, 0, 0];
    d.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
    refill_v4_checksum(&mut d);
    let p = Ipv4Packet::new_checked(&d[..]).unwrap();
    assert_eq!(p.options(), &[1, 1, 1, 0]);
    let (repr, payload) = IpRepr::parse(&d).unwrap();
    assert_eq!(repr.payload_len, 4);
    assert_eq!(payload, &[0xaa, 0xbb, 0xcc, 0xdd]);
}

#[test]
fn ipv4_malformed_inputs() {
    let good = ipv4_datagram(4);
    let parse = |d: &[u8]| IpRepr::parse(d).map(|(r, _)| r);
    assert_eq!(parse(&[]), Err(Error::Truncated));
    assert_eq!(parse(&good[..19]), Err(Error::Truncated));
    assert_eq!(
        parse(&good[..23]),
        Err(Error::Truncated),
        "total length past end"
    );
    let with = |f: &dyn Fn(&mut Vec<u8>), fix: bool| {
        let mut d = good.clone();
        f(&mut d);
        if fix {
            refill_v4_checksum(&mut d);
        }
        parse(&d)
    };
    assert_eq!(with(&|d| d[0] = 0x44, true), Err(Error::Malformed), "IHL 4");
    assert_eq!(
        with(&|d| d[0] = 0x4f, false),
        Err(Error::Truncated),
        "IHL past end"
    );
    assert_eq!(
        with(&|d| d[0] = 0x55, true),
        Err(Error::Malformed),
        "version 5"
    );
    assert_eq!(
        with(&|d| d[3] = 19, true),
        Err(Error::Malformed),
        "total < IHL"
    );
    assert_eq!(with(&|d| d[8] ^= 1, false), Err(Error::Checksum));
    assert_eq!(with(&|d| d[6] |= 0x20, true), Err(Error::Unsupported), "MF");
    assert_eq!(with(&|d| d[7] = 1, true), Err(Error::Unsupported), "offset");
    assert_eq!(
        with(&|d| d[6] = 0, true).map(|r| r.payload_len),
        Ok(4),
        "DF clear is fine"
    );
}

#[test]
fn emit_rejects_bad_reprs() {
    let mut buf = [0u8; 64];
    let mixed = IpRepr {
        src: v4(1),
        dst: v6("::1"),
        protocol: 6,
        payload_len: 0,
        hop_limit: 1,
    };
    assert_eq!(mixed.emit(&mut buf), Err(Error::Malformed));
    let big = IpRepr {
        dst: v4(2),
        payload_len: 65516,
        ..mixed
    };
    assert_eq!(big.emit(&mut buf), Err(Error::Malformed));
    let ok = IpRepr {
        payload_len: 65515,
        ..big
    };
    assert_eq!(ok.emit(&mut buf), Ok(20));
    assert_eq!(ok.emit(&mut buf[..19]), Err(Error::Truncated));
    let big6 = IpRepr {
        src: v6("::1"),
        dst: v6("::2"),
        payload_len: 65536,
        ..mixed
    };
    assert_eq!(big6.emit(&mut buf), Err(Error::Malformed));
    assert_eq!(big6.emit(&mut buf[..39]), Err(Error::Truncated));
}

/// IPv6 header with the given next header, followed by `rest`.
fn ipv6_datagram(next: u8, rest: &[u8]) -> Vec<u8> {
    let repr = IpRepr {
        src: v6("fe80::1"),
        dst: v6("fe80::2"),
        protocol: next,
        payload_len: rest.len(),
        hop_limit: 255,
    };
    let mut buf = vec![0u8; 40];
    assert_eq!(repr.emit(&mut buf), Ok(40));
    buf.extend_from_slice(rest);
    buf
}

#[test]
fn ipv6_emit_then_parse() {
    let d = ipv6_datagram(6, &[1, 2, 3]);
    assert_eq!(&d[..8], &[0x60, 0, 0, 0, 0, 3, 6, 255]);
    let p = Ipv6Packet::new_checked(&d[..]).unwrap();
    assert_eq!(p.src_addr(), "fe80::1".parse::<Ipv6Addr>().unwrap());
    let (repr, payload) = IpRepr::parse(&d).unwrap();
    assert_eq!(repr.protocol, 6);
    assert_eq!(repr.payload_len, 3);
    assert_eq!(repr.hop_limit, 255);
    assert_eq!(repr.header_len(), 40);
    assert_eq!(payload, &[1, 2, 3]);
    // Trailing bytes beyond the payload length are ignored.
    let mut longer = d.clone();
    longer.push(9);
    assert_eq!(IpRepr::parse(&longer).unwrap().1, &[1, 2, 3]);
    assert_eq!(IpRepr::parse(&d[..42]).map(|_| ()), Err(Error::Truncated));
    let mut bad = d.clone();
    bad[0] = 0x70;
    assert_eq!(IpRepr::parse(&bad).map(|_| ()), Err(Error::Malformed));
}

#[test]
fn ipv6_walks_extension_headers() {
    // Hop-by-Hop (8 bytes) -> Destination Options (16 bytes) -> Routing (8) -> TCP.
    let mut rest = vec![60, 0, 1, 4, 0, 0, 0, 0];
    rest.extend_from_slice(&[43, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    rest.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 0]);
    rest.extend_from_slice(&[0xde, 0xad]);
    let d = ipv6_datagram(0, &rest);
    let (repr, payload) = IpRepr::parse(&d).unwrap();
    assert_eq!(repr.protocol, 6);
    assert_eq!(repr.payload_len, 2);
    assert_eq!(payload, &[0xde, 0xad]);
}

#[test]
fn ipv6_extension_header_errors() {
    let parse = |d: &[u8]| IpRepr::parse(d).map(|(r, _)| r.protocol);
    // Fragment header.
    assert_eq!(
        parse(&ipv6_datagram(44, &[6, 0, 0, 1, 0, 0, 0, 1])),
        Err(Error::Unsupported)
    );
    // Fragment after Destination Options.
    assert_eq!(
        parse(&ipv6_datagram(
            60,
            &[44, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 1]
        )),
        Err(Error::Unsupported)
    );
    // Hop-by-Hop not first.
    assert_eq!(
        parse(&ipv6_datagram(
            60,
            &[0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0]
        )),
        Err(Error::Malformed)
    );
    // Extension header longer than the payload.
    assert_eq!(
        parse(&ipv6_datagram(0, &[6, 1, 1, 4, 0, 0, 0, 0])),
        Err(Error::Truncated)
    );
    assert_eq!(parse(&ipv6_datagram(43, &[6])), Err(Error::Truncated));
    // No Next Header: parsed, reported as protocol 59 with no payload.
    assert_eq!(parse(&ipv6_datagram(59, &[])), Ok(59));
}

fn tcp_repr(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 443,
        dst_port: 50000,
        seq: SeqNum(u32::MAX - 3),
        ack: Some(SeqNum(77)),
        control: Control::Fin,
        psh: true,
        ece: false,
        cwr: false,
        window: 1000,
        urgent: None,
        options: TcpOptions::default(),
        payload,
    }
}

#[test]
fn whole_datagrams_round_trip_v4_and_v6() {
    for (src, dst) in [(v4(1), v4(2)), (v6("2001:db8::1"), v6("2001:db8::2"))] {
        let payload = b"hello, world";
        let tcp = tcp_repr(payload);
        let mut buf = [0u8; 128];
        let n = emit_datagram(&mut buf, src, dst, 63, &tcp).unwrap();
        let (ip, parsed) = parse_datagram(&buf[..n], true).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.hop_limit, ip.protocol),
            (src, dst, 63, 6)
        );
        assert_eq!(ip.payload_len, tcp.buffer_len());
        assert_eq!(parsed, tcp);
        // A corrupted payload byte fails the TCP checksum, unless not verifying.
        buf[n - 1] ^= 0x40;
        assert_eq!(
            parse_datagram(&buf[..n], true).map(|_| ()),
            Err(Error::Checksum)
        );
        assert!(parse_datagram(&buf[..n], false).is_ok());
    }
    let mut buf = [0u8; 64];
    assert_eq!(
        emit_datagram(&mut buf, v4(1), v6("::1"), 1, &tcp_repr(&[])),
        Err(Error::Malformed)
    );
}

#[test]
fn non_tcp_is_unsupported() {
    let d = ipv6_datagram(17, &[0; 8]);
    assert_eq!(
        parse_datagram(&d, true).map(|_| ()),
        Err(Error::Unsupported)
    );
    let mut d = ipv4_datagram(8);
    d[9] = 17;
    refill_v4_checksum(&mut d);
    assert_eq!(
        parse_datagram(&d, true).map(|_| ()),
        Err(Error::Unsupported)
    );
}

#[test]
fn pseudo_header_sums() {
    // IPv4 pseudo-header (RFC 9293 3.1) summed by hand.
    let words: u64 = 0xc0a8 + 0x0101 + 0xc0a8 + 0x0102 + 6 + 20;
    assert_eq!(
        checksum::fold(checksum::pseudo_header_sum(&v4(1), &v4(2), 6, 20)),
        checksum::fold(words)
    );
    // IPv6 (RFC 8200 8.1): 32-bit length, next header in the last byte.
    let mut ph = Vec::new();
    ph.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    ph.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    ph.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 6]);
    assert_eq!(
        checksum::fold(checksum::pseudo_header_sum(
            &v6("2001:db8::1"),
            &v6("2001:db8::2"),
            6,
            0x0001_0004
        )),
        checksum::fold(checksum::sum(&ph))
    );
    // Mixed versions: no panic.
    let _ = checksum::pseudo_header_sum(&v4(1), &v6("::1"), 6, 0);
}
