//! `tcp_min_snd_mss` (Linux's default 48): the smallest MSS the stack sends with. A
//! peer's MSS option below it is raised to it, and an ICMP "fragmentation needed" cannot
//! bring the MSS lower (Linux's __tcp_mtu_to_mss).

mod common;

use common::*;
use synack::wire::icmp::{IcmpRepr, IPPROTO_ICMP};
use synack::wire::{IpRepr, SeqNum};
use synack::Config;

/// An accepted connection whose peer offered `mss` (no other option).
fn accepted(h: &mut Harness, mss: u16) -> Conn {
    let l = h.listen(16);
    let mut c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(mss));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    c.handle = h.stack.accept(l).expect("accept").0;
    c
}

#[test]
fn a_peer_mss_below_the_floor_is_raised_to_it() {
    for (floor, want) in [(48, 48), (100, 100)] {
        let mut h = Harness::with_config(|c| c.tcp_min_snd_mss = floor);
        let c = accepted(&mut h, 12);
        assert_eq!(h.stack.tcp_info(c.handle).unwrap().snd_mss, want);
        h.stack.send(c.handle, &[1u8; 300]).unwrap();
        let out = h.output();
        assert_eq!(out[0].payload.len(), want as usize, "floor {floor}");
        assert!(out.iter().all(|s| s.payload.len() <= want as usize));
    }
    // A peer MSS above the floor stands.
    let mut h = Harness::new();
    let c = accepted(&mut h, 536);
    assert_eq!(h.stack.tcp_info(c.handle).unwrap().snd_mss, 536);
}

#[test]
fn frag_needed_does_not_lower_the_mss_below_the_floor() {
    for (floor, want) in [(48, 600 - 40), (1000, 1000)] {
        let mut h = Harness::with_config(|c| c.tcp_min_snd_mss = floor);
        let c = accepted(&mut h, 1460);
        h.stack.send(c.handle, &[1u8; 4000]).unwrap();
        let out = h.output();
        assert_eq!(out[0].payload.len(), 1460);
        // A router with a 600-byte next hop quotes the first segment.
        let mut seg = [0u8; 40];
        seg[..20].copy_from_slice(&[
            0x45, 0, 5, 0xdc, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        seg[20..22].copy_from_slice(&c.local_port.to_be_bytes());
        seg[22..24].copy_from_slice(&c.peer_port.to_be_bytes());
        seg[24..28].copy_from_slice(&out[0].seq.0.to_be_bytes());
        let msg = IcmpRepr::DstUnreachable {
            code: 4,
            mtu: 600,
            invoking: &seg[..28],
        };
        let router = "10.0.0.254".parse().unwrap();
        let mut body = vec![0u8; msg.buffer_len()];
        msg.emit(false, &router, &LOCAL_IP.into(), &mut body)
            .unwrap();
        let ip = IpRepr {
            src: router,
            dst: LOCAL_IP.into(),
            protocol: IPPROTO_ICMP,
            payload_len: body.len(),
            hop_limit: 64,
        };
        let mut d = vec![0u8; ip.buffer_len()];
        let n = ip.emit(&mut d).unwrap();
        d[n..].copy_from_slice(&body);
        h.stack.handle_packet(h.now, &d);
        let info = h.stack.tcp_info(c.handle).unwrap();
        assert_eq!((info.pmtu, info.snd_mss), (600, want), "floor {floor}");
    }
}

#[test]
fn the_knob_takes_what_linux_takes() {
    let mut c = Config::default();
    assert_eq!(c.tcp_min_snd_mss, 48);
    assert!(c.set_sysctl("net.ipv4.tcp_min_snd_mss", "47").is_err());
    assert!(c.set_sysctl("tcp_min_snd_mss", "65536").is_err());
    c.set_sysctl("tcp_min_snd_mss", "536").unwrap();
    assert_eq!(c.sysctl("tcp_min_snd_mss").unwrap(), "536");
}
