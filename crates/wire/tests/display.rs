//! tcpdump-format golden strings.

use std::net::{IpAddr, Ipv4Addr};

use synack_wire::{
    emit_datagram, Control, Error, IpRepr, SackBlock, SegmentDisplay, SeqNum, TcpOptions, TcpRepr,
    Timestamp,
};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn ip(src: IpAddr, dst: IpAddr) -> IpRepr {
    IpRepr {
        src,
        dst,
        protocol: 6,
        payload_len: 0,
        hop_limit: 64,
    }
}

fn syn_opts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some(Timestamp { tsval, tsecr }),
        sack_blocks: [None; 4],
        fast_open: None,
        md5sig: false,
    }
}

fn seg(sport: u16, dport: u16, seq: u32, ack: Option<u32>, control: Control) -> TcpRepr<'static> {
    TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: SeqNum(seq),
        ack: ack.map(SeqNum),
        control,
        psh: false,
        ece: false,
        cwr: false,
        window: 502,
        urgent: None,
        options: TcpOptions::default(),
        payload: &[],
    }
}

#[test]
fn handshake_and_data_golden() {
    let syn = TcpRepr {
        window: 64240,
        options: syn_opts(1, 0),
        ..seg(49152, 80, 1000, None, Control::Syn)
    };
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &syn).to_string(),
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [S], seq 1000, win 64240, \
         options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"
    );

    let synack = TcpRepr {
        window: 65160,
        options: syn_opts(2, 1),
        ..seg(80, 49152, 5000, Some(1001), Control::Syn)
    };
    assert_eq!(
        SegmentDisplay::new(&ip(B, A), &synack).to_string(),
        "10.0.0.2.80 > 10.0.0.1.49152: Flags [S.], seq 5000, ack 1001, win 65160, \
         options [mss 1460,sackOK,TS val 2 ecr 1,nop,wscale 7], length 0"
    );
    // Relative mode: SYNs still print absolute numbers, like tcpdump.
    assert_eq!(
        SegmentDisplay::new(&ip(B, A), &synack)
            .relative(SeqNum(5000), SeqNum(1000))
            .to_string(),
        "10.0.0.2.80 > 10.0.0.1.49152: Flags [S.], seq 5000, ack 1001, win 65160, \
         options [mss 1460,sackOK,TS val 2 ecr 1,nop,wscale 7], length 0"
    );

    let ts = TcpOptions {
        timestamp: Some(Timestamp { tsval: 3, tsecr: 2 }),
        ..TcpOptions::default()
    };
    let pure_ack = TcpRepr {
        options: ts,
        ..seg(49152, 80, 1001, Some(5001), Control::None)
    };
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &pure_ack)
            .relative(SeqNum(1000), SeqNum(5000))
            .to_string(),
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [.], ack 1, win 502, \
         options [nop,nop,TS val 3 ecr 2], length 0"
    );

    let data = [b'x'; 100];
    let push = TcpRepr {
        psh: true,
        payload: &data,
        options: ts,
        ..pure_ack
    };
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &push)
            .relative(SeqNum(1000), SeqNum(5000))
            .to_string(),
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [P.], seq 1:101, ack 1, win 502, \
         options [nop,nop,TS val 3 ecr 2], length 100"
    );
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &push).to_string(),
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [P.], seq 1001:1101, ack 5001, win 502, \
         options [nop,nop,TS val 3 ecr 2], length 100"
    );

    let fin = seg(49152, 80, 1101, Some(5001), Control::Fin);
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &fin)
            .relative(SeqNum(1000), SeqNum(5000))
            .to_string(),
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [F.], seq 101, ack 1, win 502, length 0"
    );
    let rst = TcpRepr {
        window: 0,
        ..seg(80, 49152, 0, None, Control::Rst)
    };
    assert_eq!(
        SegmentDisplay::new(&ip(B, A), &rst).to_string(),
        "10.0.0.2.80 > 10.0.0.1.49152: Flags [R], seq 0, win 0, length 0"
    );
}

#[test]
fn every_flag_letter_and_urgent() {
    let s = TcpRepr {
        psh: true,
        ece: true,
        cwr: true,
        urgent: Some(7),
        payload: b"abc",
        ..seg(1, 2, 10, Some(20), Control::Fin)
    };
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &s).to_string(),
        "10.0.0.1.1 > 10.0.0.2.2: Flags [FP.UEW], seq 10:13, ack 20, win 502, urg 7, length 3"
    );
    let none = seg(1, 2, 10, None, Control::None);
    assert_eq!(
        SegmentDisplay::new(&ip(A, B), &none).to_string(),
        "10.0.0.1.1 > 10.0.0.2.2: Flags [none], win 502, length 0"
    );
}

#[test]
fn ipv6_and_sack_with_relative_edges() {
    let a: IpAddr = "fe80::1".parse().unwrap();
    let b: IpAddr = "fe80::2".parse().unwrap();
    let blk = |l: u32, r: u32| {
        Some(SackBlock {
            left: SeqNum(l),
            right: SeqNum(r),
        })
    };
    let s = TcpRepr {
        options: TcpOptions {
            timestamp: Some(Timestamp { tsval: 9, tsecr: 8 }),
            sack_blocks: [blk(5100, 5200), blk(5300, 5400), None, None],
            fast_open: None,
            ..TcpOptions::default()
        },
        ..seg(80, 49152, 1001, Some(5001), Control::None)
    };
    assert_eq!(
        SegmentDisplay::new(&ip(a, b), &s).to_string(),
        "fe80::1.80 > fe80::2.49152: Flags [.], ack 5001, win 502, \
         options [nop,nop,TS val 9 ecr 8,nop,nop,sack 2 {5100:5200}{5300:5400}], length 0"
    );
    assert_eq!(
        SegmentDisplay::new(&ip(a, b), &s)
            .relative(SeqNum(1000), SeqNum(5000))
            .to_string(),
        "fe80::1.80 > fe80::2.49152: Flags [.], ack 1, win 502, \
         options [nop,nop,TS val 9 ecr 8,nop,nop,sack 2 {100:200}{300:400}], length 0"
    );
}

#[test]
fn from_datagram_keeps_wire_order() {
    // Emit a SYN, then rewrite its options into a non-Linux order by hand.
    let syn = TcpRepr {
        window: 29200,
        options: syn_opts(1, 0),
        ..seg(40000, 22, 7, None, Control::Syn)
    };
    let mut buf = [0u8; 80];
    let n = emit_datagram(&mut buf, A, B, 64, &syn).unwrap();
    #[rustfmt::skip]
    let opts = [
        1, 3, 3, 7, 2, 4, 5, 180, 8, 10, 0, 0, 0, 1, 0, 0,
        0, 0, 4, 2,
    ];
    buf[40..60].copy_from_slice(&opts);
    assert_eq!(
        SegmentDisplay::from_datagram(&buf[..n])
            .unwrap()
            .to_string(),
        "10.0.0.1.40000 > 10.0.0.2.22: Flags [S], seq 7, win 29200, \
         options [nop,wscale 7,mss 1460,TS val 1 ecr 0,sackOK], length 0"
    );
    // A bad option length is shown, not fatal.
    buf[58] = 0;
    buf[59] = 0;
    assert_eq!(
        SegmentDisplay::from_datagram(&buf[..n])
            .unwrap()
            .to_string(),
        "10.0.0.1.40000 > 10.0.0.2.22: Flags [S], seq 7, win 29200, \
         options [nop,wscale 7,mss 1460,TS val 1 ecr 0,eol], length 0"
    );
    buf[58] = 9;
    buf[59] = 1;
    assert_eq!(
        SegmentDisplay::from_datagram(&buf[..n])
            .unwrap()
            .to_string(),
        "10.0.0.1.40000 > 10.0.0.2.22: Flags [S], seq 7, win 29200, \
         options [nop,wscale 7,mss 1460,TS val 1 ecr 0,[bad opt]], length 0"
    );
    // SYN+FIN cannot be a TcpRepr but still displays (tcpdump's letter order).
    buf[33] = 0x03;
    assert_eq!(
        SegmentDisplay::from_datagram(&buf[..n])
            .unwrap()
            .to_string()
            .split(':')
            .nth(1),
        Some(" Flags [FS], seq 7, win 29200, options [nop,wscale 7,mss 1460,TS val 1 ecr 0,[bad opt]], length 0")
    );
    assert_eq!(
        SegmentDisplay::from_datagram(&buf[..30]).map(|_| ()),
        Err(Error::Truncated)
    );
}
