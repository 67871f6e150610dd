//! TCP parse/emit round trips, Linux option layouts and malformed segments.

use std::net::{IpAddr, Ipv4Addr};

use synack_wire::tcp::{flags, TcpOptionIter};
use synack_wire::{
    emit_datagram, parse_datagram, Control, Error, SackBlock, SackBlocks, SeqNum, TcpOption,
    TcpOptions, TcpPacket, TcpRepr, Timestamp,
};

/// Byte-at-a-time RFC 1071 sum, independent of the crate's word-at-a-time one.
fn reference_checksum(chunks: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let mut acc: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
        acc += word;
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// A Linux SYN as `tcpdump -x` shows it: 10.0.0.1.49152 > 10.0.0.2.80, seq 1000,
/// win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], IP ID 0x8f3a, DF.
#[rustfmt::skip]
const LINUX_SYN: [u8; 60] = [
    // IPv4
    0x45, 0x00, 0x00, 0x3c, 0x8f, 0x3a, 0x40, 0x00, 0x40, 0x06, 0x97, 0x7f,
    10, 0, 0, 1, 10, 0, 0, 2,
    // TCP
    0xc0, 0x00, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xfa, 0xf0, 0x74, 0xd3, 0x00, 0x00,
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some(Timestamp { tsval: 1, tsecr: 0 }),
        sack_blocks: [None; 4],
        fast_open: None,
        md5sig: false,
    }
}

fn syn_repr() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 49152,
        dst_port: 80,
        seq: SeqNum(1000),
        ack: None,
        control: Control::Syn,
        psh: false,
        ece: false,
        cwr: false,
        window: 64240,
        urgent: None,
        options: syn_options(),
        payload: &[],
    }
}

fn data_repr(payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 49152,
        dst_port: 80,
        seq: SeqNum(1001),
        ack: Some(SeqNum(5001)),
        control: Control::None,
        psh: true,
        ece: false,
        cwr: false,
        window: 502,
        urgent: None,
        options: TcpOptions::default(),
        payload,
    }
}

#[test]
fn linux_syn_checksums_are_what_an_independent_sum_says() {
    let mut ip = LINUX_SYN[..20].to_vec();
    ip[10..12].fill(0);
    assert_eq!(reference_checksum(&[&ip]), 0x977f);
    let mut tcp = LINUX_SYN[20..].to_vec();
    tcp[16..18].fill(0);
    let pseudo = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 40];
    assert_eq!(reference_checksum(&[&pseudo, &tcp]), 0x74d3);
}

#[test]
fn linux_syn_parses() {
    let (ip, tcp) = parse_datagram(&LINUX_SYN, true).unwrap();
    assert_eq!(ip.src, A);
    assert_eq!(ip.dst, B);
    assert_eq!(ip.protocol, 6);
    assert_eq!(ip.payload_len, 40);
    assert_eq!(ip.hop_limit, 64);
    assert_eq!(tcp, syn_repr());
    assert_eq!(tcp.seg_len(), 1);
    assert_eq!(tcp.header_len(), 40);
}

#[test]
fn linux_syn_emits_byte_for_byte() {
    let mut buf = [0u8; 100];
    let n = syn_repr().emit(&mut buf, &A, &B).unwrap();
    assert_eq!(&buf[..n], &LINUX_SYN[20..]);

    let n = emit_datagram(&mut buf, A, B, 64, &syn_repr()).unwrap();
    assert_eq!(n, 60);
    // Same datagram except the IP ID (we send 0 with DF) and hence the header checksum.
    let mut expect = LINUX_SYN;
    expect[4..6].fill(0);
    expect[10..12].fill(0);
    let sum = reference_checksum(&[&expect[..20]]);
    expect[10..12].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(&buf[..n], &expect[..]);
}

#[test]
fn packet_view_reads_and_writes_every_field() {
    let p = TcpPacket::new_checked(&LINUX_SYN[20..]).unwrap();
    assert_eq!(p.src_port(), 49152);
    assert_eq!(p.dst_port(), 80);
    assert_eq!(p.seq_number(), SeqNum(1000));
    assert_eq!(p.ack_number(), SeqNum(0));
    assert_eq!(p.header_len(), 40);
    assert_eq!(p.flags(), flags::SYN);
    assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh() && !p.urg());
    assert!(!p.ece() && !p.cwr());
    assert_eq!(p.window_len(), 64240);
    assert_eq!(p.checksum(), 0x74d3);
    assert_eq!(p.urgent_at(), 0);
    assert_eq!(p.options().len(), 20);
    assert!(p.payload().is_empty());
    assert!(p.verify_checksum(&A, &B));
    assert!(!p.verify_checksum(&B, &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))));

    let mut buf = [0u8; 24];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_seq_number(SeqNum(3));
    p.set_ack_number(SeqNum(4));
    p.set_header_len(20);
    p.set_fin(true);
    p.set_syn(true);
    p.set_rst(true);
    p.set_psh(true);
    p.set_ack(true);
    p.set_urg(true);
    p.set_ece(true);
    p.set_cwr(true);
    assert_eq!(p.flags(), 0xff);
    p.set_syn(false);
    assert_eq!(p.flags(), 0xfd);
    p.set_window_len(5);
    p.set_urgent_at(6);
    p.payload_mut().copy_from_slice(b"abcd");
    p.fill_checksum(&A, &B);
    assert!(p.verify_checksum(&A, &B));
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(
        (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number()),
        (1, 2, SeqNum(3), SeqNum(4))
    );
    assert_eq!(
        (p.window_len(), p.urgent_at(), p.payload()),
        (5, 6, &b"abcd"[..])
    );
}

#[test]
fn data_segment_round_trip_and_seg_len() {
    let payload = [7u8; 101]; // odd length exercises the checksum tail
    let mut repr = data_repr(&payload);
    repr.options.timestamp = Some(Timestamp { tsval: 3, tsecr: 2 });
    repr.urgent = Some(9);
    repr.ece = true;
    repr.cwr = true;
    let mut buf = [0u8; 200];
    let n = repr.emit(&mut buf, &A, &B).unwrap();
    assert_eq!(n, 20 + 12 + 101);
    assert_eq!(TcpRepr::parse(&buf[..n], &A, &B, true).unwrap(), repr);
    assert_eq!(repr.seg_len(), 101);
    let fin = TcpRepr {
        control: Control::Fin,
        ..repr
    };
    assert_eq!(fin.seg_len(), 102);
    let rst = TcpRepr {
        control: Control::Rst,
        payload: &[],
        ..repr
    };
    assert_eq!(rst.seg_len(), 0);
}

#[test]
fn emit_into_short_buffer_is_truncated() {
    let mut buf = [0u8; 39];
    assert_eq!(syn_repr().emit(&mut buf, &A, &B), Err(Error::Truncated));
    let mut buf = [0u8; 59];
    assert_eq!(
        emit_datagram(&mut buf, A, B, 64, &syn_repr()),
        Err(Error::Truncated)
    );
}

#[test]
fn ack_and_urgent_fields_are_zero_when_absent() {
    let mut repr = data_repr(&[]);
    repr.ack = None;
    let mut buf = [0xffu8; 20];
    repr.emit(&mut buf, &A, &B).unwrap();
    let p = TcpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(p.ack_number(), SeqNum(0));
    assert_eq!(p.urgent_at(), 0);
    assert_eq!(p.flags(), flags::PSH);
    assert_eq!(buf[12], 0x50, "data offset 5, reserved bits clear");
}

/// `emit_header_sum` writes what `emit` writes (without the payload or the checksum) and
/// returns the sum an independent RFC 1071 sum gives the bytes it wrote, for each
/// option layout: the established `nop,nop,TS` path and the general one.
#[test]
fn emit_header_sum_is_the_sum_of_the_header_written() {
    let ts = Timestamp {
        tsval: 0xfedc_ba98,
        tsecr: 0x0123_4567,
    };
    let sack = |l: u32, r: u32| {
        Some(SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        })
    };
    let ack_ts = TcpRepr {
        options: TcpOptions {
            timestamp: Some(ts),
            ..TcpOptions::default()
        },
        urgent: Some(0x8001),
        ece: true,
        ..data_repr(&[])
    };
    let ack_ts_sack = TcpRepr {
        options: TcpOptions {
            timestamp: Some(ts),
            sack_blocks: [sack(7, 0xffff_fff1), sack(1, 3), None, None],
            ..TcpOptions::default()
        },
        ..data_repr(&[])
    };
    let bare = data_repr(&[]);
    for repr in [syn_repr(), ack_ts, ack_ts_sack, bare] {
        let hlen = repr.header_len();
        let mut buf = [0xa5u8; 64];
        let (n, header_sum) = repr.emit_header_sum(&mut buf).unwrap();
        assert_eq!(n, hlen);
        assert!(
            buf[n..].iter().all(|&b| b == 0xa5),
            "nothing past the header"
        );
        let mut whole = [0u8; 64];
        assert_eq!(repr.emit(&mut whole, &A, &B), Ok(hlen));
        whole[16..18].fill(0);
        assert_eq!(
            buf[..n],
            whole[..n],
            "the header emit writes, checksum zero"
        );
        let folded = synack_wire::checksum::fold(header_sum);
        assert_eq!(!folded, reference_checksum(&[&buf[..n]]), "{repr:?}");
        assert_eq!(
            repr.emit_header_sum(&mut buf[..hlen - 1]),
            Err(Error::Truncated)
        );
    }
}

// ---- Linux option layouts (tcp_options_write) ----

fn emitted(opts: &TcpOptions, syn: bool) -> Vec<u8> {
    let mut buf = [0u8; 40];
    let n = opts.emit(syn, &mut buf);
    assert_eq!(n, opts.buffer_len(syn));
    assert_eq!(n % 4, 0);
    buf[..n].to_vec()
}

#[test]
fn layout_syn_with_everything() {
    let b = emitted(&syn_options(), true);
    assert_eq!(
        b,
        [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
    );
    assert_eq!(TcpOptions::parse(&b), syn_options());
}

#[test]
fn layout_syn_without_timestamps() {
    let opts = TcpOptions {
        timestamp: None,
        ..syn_options()
    };
    let b = emitted(&opts, true);
    assert_eq!(b, [2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);
    assert_eq!(TcpOptions::parse(&b), opts);
}

#[test]
fn layout_syn_with_timestamps_without_sack() {
    let opts = TcpOptions {
        sack_permitted: false,
        ..syn_options()
    };
    let b = emitted(&opts, true);
    assert_eq!(
        b,
        [2, 4, 5, 180, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
    );
    assert_eq!(TcpOptions::parse(&b), opts);
}

#[test]
fn layout_syn_mss_only() {
    let opts = TcpOptions {
        mss: Some(536),
        ..TcpOptions::default()
    };
    assert_eq!(emitted(&opts, true), [2, 4, 2, 24]);
}

#[test]
fn layout_data_with_timestamps() {
    let opts = TcpOptions {
        timestamp: Some(Timestamp {
            tsval: 0x01020304,
            tsecr: 0x0a0b0c0d,
        }),
        ..TcpOptions::default()
    };
    let b = emitted(&opts, false);
    assert_eq!(b, [1, 1, 8, 10, 1, 2, 3, 4, 10, 11, 12, 13]);
    assert_eq!(TcpOptions::parse(&b), opts);
}

fn block(l: u32, r: u32) -> Option<SackBlock> {
    Some(SackBlock {
        left: SeqNum(l),
        right: SeqNum(r),
    })
}

#[test]
fn layout_data_with_timestamps_and_sack() {
    let opts = TcpOptions {
        timestamp: Some(Timestamp { tsval: 5, tsecr: 6 }),
        sack_blocks: [block(100, 200), block(300, 400), None, None],
        fast_open: None,
        ..TcpOptions::default()
    };
    let b = emitted(&opts, false);
    #[rustfmt::skip]
    let expect = [
        1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6,
        1, 1, 5, 18, 0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 1, 44, 0, 0, 1, 144,
    ];
    assert_eq!(b, expect);
    assert_eq!(TcpOptions::parse(&b), opts);
}

#[test]
fn sack_blocks_are_limited_to_fit_forty_bytes() {
    let four = [block(1, 2), block(3, 4), block(5, 6), block(7, 8)];
    let no_ts = TcpOptions {
        sack_blocks: four,
        ..TcpOptions::default()
    };
    let b = emitted(&no_ts, false);
    assert_eq!(b.len(), 36);
    assert_eq!(&b[..4], &[1, 1, 5, 34]);
    assert_eq!(TcpOptions::parse(&b), no_ts);

    let with_ts = TcpOptions {
        timestamp: Some(Timestamp { tsval: 1, tsecr: 1 }),
        ..no_ts
    };
    let b = emitted(&with_ts, false);
    assert_eq!(b.len(), 40);
    assert_eq!(&b[12..16], &[1, 1, 5, 26]);
    let parsed = TcpOptions::parse(&b);
    assert_eq!(parsed.sack_blocks, [four[0], four[1], four[2], None]);
}

#[test]
fn syn_only_options_are_not_sent_on_other_segments_and_sack_not_on_syn() {
    let mut opts = syn_options();
    opts.sack_blocks = [block(1, 2), None, None, None];
    // Not a SYN: only the timestamps and the SACK blocks go out.
    let b = emitted(&opts, false);
    assert_eq!(
        b,
        [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]
    );
    // A SYN: no SACK blocks.
    let b = emitted(&opts, true);
    assert_eq!(
        b,
        [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]
    );
    // Emitting into a short buffer writes nothing.
    let mut short = [0u8; 19];
    assert_eq!(opts.emit(true, &mut short), 0);
    assert_eq!(short, [0u8; 19]);
}

// ---- Option parsing, Linux's rules ----

#[test]
fn options_parse_like_linux() {
    // Unknown kind 253 skipped by its length; MSS with a wrong length ignored;
    // wscale 15 clamped to 14.
    let b = [253, 4, 0xaa, 0xbb, 2, 3, 9, 3, 3, 15, 4, 2];
    let o = TcpOptions::parse(&b);
    assert_eq!(o.mss, None);
    assert_eq!(o.window_scale, Some(14));
    assert!(o.sack_permitted);

    // EOL ends parsing even if options follow.
    let b = [2, 4, 5, 180, 0, 4, 2, 0];
    let o = TcpOptions::parse(&b);
    assert_eq!(o.mss, Some(1460));
    assert!(!o.sack_permitted);

    // A malformed length stops parsing but keeps what came before.
    let b = [2, 4, 5, 180, 4, 1, 4, 2];
    let o = TcpOptions::parse(&b);
    assert_eq!(o.mss, Some(1460));
    assert!(!o.sack_permitted);
    let b = [2, 4, 5, 180, 8, 10, 0, 0];
    let o = TcpOptions::parse(&b);
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.timestamp, None);
    // A kind byte with no length byte after it.
    let o = TcpOptions::parse(&[1, 1, 3]);
    assert_eq!(o, TcpOptions::default());

    // MSS 0 is ignored; a later option overrides an earlier one.
    let b = [2, 4, 0, 0, 3, 3, 2, 3, 3, 5];
    let o = TcpOptions::parse(&b);
    assert_eq!(o.mss, None);
    assert_eq!(o.window_scale, Some(5));

    // SACK with no blocks or a ragged length is ignored.
    let o = TcpOptions::parse(&[5, 2, 5, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0]);
    assert_eq!(o.sack_blocks, [None; 4]);
}

fn collect(iter: TcpOptionIter<'_>) -> Vec<Result<TcpOption<'_>, Error>> {
    iter.collect()
}

#[test]
fn parse_all_yields_wire_order() {
    let b = [
        2, 4, 5, 180, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0,
        2, 77, 3, 9, 0, 99,
    ];
    let got = collect(TcpOption::parse_all(&b));
    let sack = SackBlocks::from_slice(&[SackBlock {
        left: SeqNum(1),
        right: SeqNum(2),
    }]);
    assert_eq!(
        got,
        vec![
            Ok(TcpOption::Mss(1460)),
            Ok(TcpOption::Nop),
            Ok(TcpOption::WindowScale(7)),
            Ok(TcpOption::SackPermitted),
            Ok(TcpOption::Timestamp(Timestamp { tsval: 1, tsecr: 2 })),
            Ok(TcpOption::Sack(sack)),
            Ok(TcpOption::Unknown {
                kind: 77,
                data: &[9]
            }),
            Ok(TcpOption::EndOfList),
        ]
    );
    // Round trip each option through emit.
    let mut out = [0u8; 40];
    let mut at = 0;
    for opt in got.iter().flatten() {
        assert_eq!(opt.buffer_len(), opt.emit(&mut out[at..]));
        at += opt.buffer_len();
    }
    assert_eq!(&out[..at], &b[..at]);
}

#[test]
fn parse_all_stops_after_one_error() {
    assert_eq!(
        collect(TcpOption::parse_all(&[1, 2, 1, 1, 1])),
        vec![Ok(TcpOption::Nop), Err(Error::Malformed)]
    );
    assert_eq!(
        collect(TcpOption::parse_all(&[8, 10, 0, 0])),
        vec![Err(Error::Malformed)]
    );
    assert_eq!(
        collect(TcpOption::parse_all(&[9])),
        vec![Err(Error::Malformed)]
    );
    assert_eq!(collect(TcpOption::parse_all(&[])), vec![]);
    // Wrong length for a known kind: reported as Unknown with its bytes.
    assert_eq!(
        collect(TcpOption::parse_all(&[2, 3, 1])),
        vec![Ok(TcpOption::Unknown {
            kind: 2,
            data: &[1]
        })]
    );
}

#[test]
fn option_display_uses_tcpdump_spelling() {
    let sack = SackBlocks::from_slice(&[
        SackBlock {
            left: SeqNum(100),
            right: SeqNum(200),
        },
        SackBlock {
            left: SeqNum(300),
            right: SeqNum(400),
        },
    ]);
    let cases: [(TcpOption<'_>, &str); 9] = [
        (TcpOption::Mss(1460), "mss 1460"),
        (TcpOption::SackPermitted, "sackOK"),
        (
            TcpOption::Timestamp(Timestamp { tsval: 1, tsecr: 0 }),
            "TS val 1 ecr 0",
        ),
        (TcpOption::Nop, "nop"),
        (TcpOption::EndOfList, "eol"),
        (TcpOption::WindowScale(7), "wscale 7"),
        (TcpOption::Sack(sack), "sack 2 {100:200}{300:400}"),
        (
            TcpOption::Unknown {
                kind: 253,
                data: &[0x12, 0xab],
            },
            "unknown-253 0x12ab",
        ),
        (
            TcpOption::Unknown {
                kind: 99,
                data: &[],
            },
            "unknown-99",
        ),
    ];
    for (opt, text) in cases {
        assert_eq!(opt.to_string(), text);
    }
}

// ---- Malformed segments ----

#[test]
fn syn_fin_is_taken_only_by_parse_syn_fin() {
    let seg = segment_with(|s| s[13] = flags::SYN | flags::FIN | flags::ACK);
    assert_eq!(
        TcpRepr::parse(&seg, &A, &B, true).map(|_| ()),
        Err(Error::Malformed)
    );
    let (repr, fin) = TcpRepr::parse_syn_fin(&seg, &A, &B, true).unwrap();
    assert!(fin);
    assert_eq!(repr.control, Control::Syn);
    assert!(repr.ack.is_some());
    // A plain SYN has no FIN beside it; the other impossible mixes stay malformed.
    let (repr, fin) = TcpRepr::parse_syn_fin(&LINUX_SYN[20..], &A, &B, true).unwrap();
    assert!(!fin && repr.control == Control::Syn);
    for bad in [
        flags::SYN | flags::RST,
        flags::SYN | flags::FIN | flags::RST,
    ] {
        let seg = segment_with(|s| s[13] = bad);
        assert_eq!(
            TcpRepr::parse_syn_fin(&seg, &A, &B, true).map(|_| ()),
            Err(Error::Malformed)
        );
    }
    // The checksum is still checked first.
    let mut seg = segment_with(|s| s[13] = flags::SYN | flags::FIN);
    seg[16] ^= 0xff;
    assert_eq!(
        TcpRepr::parse_syn_fin(&seg, &A, &B, true).map(|_| ()),
        Err(Error::Checksum)
    );
}

fn segment_with(f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut seg = LINUX_SYN[20..].to_vec();
    f(&mut seg);
    let mut p = TcpPacket::new_unchecked(&mut seg[..]);
    p.fill_checksum(&A, &B);
    seg
}

#[test]
fn malformed_segments_give_the_right_error() {
    let parse = |s: &[u8]| TcpRepr::parse(s, &A, &B, true).map(|_| ());
    assert_eq!(parse(&LINUX_SYN[20..39]), Err(Error::Truncated));
    assert_eq!(parse(&[]), Err(Error::Truncated));
    // Data offset 4 (< 5 words).
    assert_eq!(
        parse(&segment_with(|s| s[12] = 0x40)),
        Err(Error::Malformed)
    );
    // Data offset 15 (60 bytes) past a 40-byte buffer.
    assert_eq!(
        parse(&segment_with(|s| s[12] = 0xf0)),
        Err(Error::Truncated)
    );
    // Impossible flag mixes.
    for bad in [
        flags::SYN | flags::FIN,
        flags::SYN | flags::RST,
        flags::RST | flags::FIN,
        flags::SYN | flags::FIN | flags::RST | flags::ACK,
    ] {
        assert_eq!(parse(&segment_with(|s| s[13] = bad)), Err(Error::Malformed));
    }
    // Port zero on either side.
    assert_eq!(
        parse(&segment_with(|s| s[0..2].fill(0))),
        Err(Error::Malformed)
    );
    assert_eq!(
        parse(&segment_with(|s| s[2..4].fill(0))),
        Err(Error::Malformed)
    );
    // Bad option lengths do not fail the segment (Linux keeps it).
    let seg = segment_with(|s| s[25] = 1);
    let repr = TcpRepr::parse(&seg, &A, &B, true).unwrap();
    assert_eq!(repr.options.mss, Some(1460));
    assert!(!repr.options.sack_permitted);
    // Bad checksum: an error when verifying, accepted when not.
    let mut seg = LINUX_SYN[20..].to_vec();
    seg[4] ^= 1;
    assert_eq!(parse(&seg), Err(Error::Checksum));
    assert!(TcpRepr::parse(&seg, &A, &B, false).is_ok());
    // Checksum over the wrong pseudo-header.
    assert_eq!(
        TcpRepr::parse(&LINUX_SYN[20..], &B, &A, true).map(|_| ()),
        Ok(()),
        "swapping src and dst keeps the sum"
    );
    let c = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
    assert_eq!(
        TcpRepr::parse(&LINUX_SYN[20..], &A, &c, true).map(|_| ()),
        Err(Error::Checksum)
    );
}

#[test]
fn error_messages_say_what_went_wrong() {
    assert!(Error::Truncated.to_string().contains("truncated"));
    assert!(Error::Malformed.to_string().contains("malformed"));
    assert!(Error::Checksum.to_string().contains("checksum"));
    assert!(Error::Unsupported.to_string().contains("unsupported"));
    let e: Box<dyn std::error::Error> = Box::new(Error::Checksum);
    assert!(!e.to_string().is_empty());
}

#[test]
fn fast_open_options_in_linux_layout() {
    use synack_wire::FastOpenCookie;
    let cookie = [0x30, 0x21, 0xb9, 0xd8, 0x89, 0x01, 0x7e, 0xeb];
    let syn_opts = |fo| TcpOptions {
        mss: Some(1460),
        fast_open: Some(fo),
        ..TcpOptions::default()
    };
    let mut buf = [0u8; 40];
    // Kind 34 with an 8-byte cookie: length 10, then nop,nop to the word boundary.
    let o = syn_opts(FastOpenCookie::new(false, &cookie).unwrap());
    let n = o.emit(true, &mut buf);
    assert_eq!(n, o.buffer_len(true));
    assert_eq!(&buf[4..6], &[34, 10]);
    assert_eq!(&buf[6..14], &cookie);
    assert_eq!(&buf[14..16], &[1, 1]);
    assert_eq!(TcpOptions::parse(&buf[..n]), o);
    // The experimental form: kind 254, length 12, magic 0xF989, no padding.
    let o = syn_opts(FastOpenCookie::new(true, &cookie).unwrap());
    let n = o.emit(true, &mut buf);
    assert_eq!(n, 16);
    assert_eq!(&buf[4..8], &[254, 12, 0xf9, 0x89]);
    assert_eq!(TcpOptions::parse(&buf[..n]), o);
    // A cookie request is the empty option.
    let o = syn_opts(FastOpenCookie::request(false));
    let n = o.emit(true, &mut buf);
    assert_eq!(&buf[4..n], &[34, 2, 1, 1]);
    assert!(TcpOptions::parse(&buf[..n]).fast_open.unwrap().is_request());
    // Not on segments without SYN.
    assert_eq!(o.emit(false, &mut buf), 0);
    // Odd lengths, too-long cookies and other experiments carry nothing (Linux's
    // tcp_parse_fastopen_option).
    assert!(TcpOptions::parse(&[34, 5, 1, 2, 3]).fast_open.is_none());
    assert!(TcpOptions::parse(&[254, 6, 0x12, 0x34, 1, 2])
        .fast_open
        .is_none());
    assert!(FastOpenCookie::new(false, &[0; 18]).is_none());
}

#[test]
fn md5_signature_option_is_noticed_only_at_its_length() {
    // RFC 2385 3.0: kind 19, length 18, a 16-byte digest; Linux's
    // tcp_parse_md5sig_option ignores any other length.
    let mut signed = vec![1, 1, 19, 18];
    signed.extend_from_slice(&[0xab; 16]);
    assert!(TcpOptions::parse(&signed).md5sig);
    let mut short = vec![19, 10];
    short.extend_from_slice(&[0xab; 8]);
    assert!(!TcpOptions::parse(&short).md5sig);
    assert!(!TcpOptions::parse(&[1, 1, 1, 1]).md5sig);
}
