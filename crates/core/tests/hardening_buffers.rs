//! SO_SNDBUF / SO_RCVBUF set before connect() or on a listener (issue 6, bug 2).
//!
//! Linux stores `2 × min(value, net.core.[wr]mem_max)` (at least SOCK_MIN_[SND|RCV]BUF),
//! applies it to the socket, and a listener's to the connections it accepts. The window
//! and window scale of the SYN or SYN-ACK come from the receive buffer
//! (tcp_select_initial_window): half of the buffer (tcp_win_from_space) rounded down to
//! whole segments, at most 65535, and the smallest scale that covers the buffer's room.

mod common;

use core::time::Duration;
use std::net::SocketAddr;

use common::*;
use synack::wire::{Control, SeqNum};
use synack::{SockOpt, SockOptName, State};

/// A listener on [`LISTEN_PORT`] with `opts` set before listen().
fn listener_with(h: &mut Harness, opts: &[SockOpt]) -> synack::SocketHandle {
    let l = h.stack.socket();
    for o in opts {
        h.stack.set_option(l, *o).unwrap();
    }
    h.stack
        .bind(l, SocketAddr::new(LOCAL_IP.into(), LISTEN_PORT))
        .unwrap();
    h.stack.listen(l, 16).unwrap();
    l
}

/// A SYN as Linux sends it (MSS 1460, window scale 7, no timestamps).
fn syn() -> Pkt {
    let mut p = pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1460);
    p.options.window_scale = Some(7);
    p
}

#[test]
fn rcvbuf_on_a_socket_sizes_the_syn_window_before_connect() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    h.stack.set_option(s, SockOpt::RecvBuffer(4096)).unwrap();
    assert_eq!(
        h.stack.get_option(s, SockOptName::RecvBuffer),
        Ok(SockOpt::RecvBuffer(8192))
    );
    h.stack
        .connect(s, SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].control, Control::Syn);
    // Half of 8192 is 4096 bytes of room: two whole 1460-byte segments.
    assert_eq!(out[0].window, 2920, "the SYN's window comes from SO_RCVBUF");
    assert_eq!(
        out[0].options.window_scale,
        Some(0),
        "a small buffer needs no scale"
    );
    assert_eq!(
        h.stack.get_option(s, SockOptName::RecvBuffer),
        Ok(SockOpt::RecvBuffer(8192))
    );
    // The connection honours it: however much the peer sends, what it may send is
    // bounded by the buffer's 4096 bytes of room.
    let c = Conn {
        handle: s,
        local_port: out[0].src_port,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    let mut synack = pkt("S.", c.p(0), c.l(1)).mss(1460);
    synack.options.window_scale = Some(7);
    h.send(&c, synack);
    let ack = h.output();
    assert_eq!(briefs(&ack), vec![seg(".", c.l(1), c.p(1), 0)]);
    assert!(ack[0].window <= 4096, "window {}", ack[0].window);
    let mut taken = 0u32;
    for i in 0..8u32 {
        h.send(&c, pkt(".", c.p(1 + i * 1000), c.l(1)).data(&[7; 1000]));
        for a in h.output() {
            assert!(a.window <= 4096, "advertised window {} > 4096", a.window);
            taken = taken.max((a.ack.unwrap() - c.p(1)) as u32);
        }
    }
    h.advance(Duration::from_millis(300));
    assert!(taken <= 4096, "took {taken} bytes into a 4096-byte room");
    assert_eq!(h.stack.recv_queue(s).unwrap() as u32, taken);
}

#[test]
fn sndbuf_on_a_socket_sizes_the_send_buffer_before_connect() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    h.stack.set_option(s, SockOpt::SendBuffer(5000)).unwrap();
    h.stack
        .connect(s, SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    let out = h.output();
    let c = Conn {
        handle: s,
        local_port: out[0].src_port,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(&c, pkt("S.", c.p(0), c.l(1)).mss(1460));
    h.output();
    assert_eq!(h.state(s), State::Established);
    // Linux's tcp_sendmsg charges skbs against sk_sndbuf (10000, SO_SNDBUF doubled) and
    // opens a new one only below it: the first skb fills to the size goal (32120, half
    // the 65535 window in 1460-byte segments), its first 2-segment unit goes out and the
    // rest is refilled to the goal, which takes the write past half a window since the
    // last PSH (forced_push: units up to cwnd go), the rest is refilled once more, and
    // then the queue is charged beyond the buffer: 32120 + 2920 + 11680 bytes.
    assert_eq!(h.stack.send(s, &[1; 100_000]), Ok(32_120 + 2920 + 11_680));
    assert_eq!(
        h.stack.get_option(s, SockOptName::SendBuffer),
        Ok(SockOpt::SendBuffer(10_000))
    );
}

/// tcp_rcv_toobig.pkt of Linux's selftests: SO_RCVBUF 20000 on the listener gives a
/// SYN-ACK with window 18980 (20000 rounded down to 1460-byte segments) and scale 0.
#[test]
fn listener_buffers_size_the_syn_ack_and_are_inherited() {
    let mut h = Harness::new();
    let l = listener_with(
        &mut h,
        &[SockOpt::RecvBuffer(20_000), SockOpt::SendBuffer(3000)],
    );
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn());
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].control, Control::Syn);
    assert_eq!(out[0].window, 18980);
    assert_eq!(out[0].options.window_scale, Some(0));
    let c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    let (child, _) = h.stack.accept(l).unwrap();
    assert_eq!(
        h.stack.get_option(child, SockOptName::RecvBuffer),
        Ok(SockOpt::RecvBuffer(40_000))
    );
    assert_eq!(
        h.stack.get_option(child, SockOptName::SendBuffer),
        Ok(SockOpt::SendBuffer(6000))
    );
    // The first skb fills to the size goal (64240, the GSO limit in 1460-byte
    // segments); each time the unsent skb at the head is full a 2-segment unit goes
    // out (tcp_push_one) and the rest is refilled, until cwnd (10 segments) is used:
    // then the queue is charged beyond sk_sndbuf (6000) and the write stops.
    assert_eq!(h.stack.send(child, &[1; 100_000]), Ok(64_240 + 14_600));
}

/// Without SO_RCVBUF the SYN-ACK is Linux's default: 65535 rounded down to segments
/// (64240 for MSS 1460) and the scale that covers tcp_rmem[2] (7 for 6 MB).
#[test]
fn default_syn_ack_window_is_linux_default() {
    let mut h = Harness::new();
    h.listen(16);
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn());
    let out = h.output();
    assert_eq!(out[0].window, 64240);
    assert_eq!(out[0].options.window_scale, Some(7));
}

/// packetdrill's profile (tcp_rmem 4096 540000 15728640) with an MSS of 600: Linux
/// rounds the room (270000) down to segments before capping at 65535, so the SYN-ACK
/// offers 65535 and scale 8 (google-packetdrill mtu_probe/basic-v4.pkt).
#[test]
fn syn_ack_window_caps_after_rounding() {
    let mut h = Harness::with_config(|c| c.tcp_rmem = [4096, 540_000, 15_728_640]);
    listener_with(&mut h, &[SockOpt::MaxSegment(600)]);
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn());
    let out = h.output();
    assert_eq!(out[0].options.mss, Some(600));
    assert_eq!(out[0].window, 65535);
    assert_eq!(out[0].options.window_scale, Some(8));
}

/// The limits: at most `rmem_max` / `wmem_max` (4 MiB, Linux's default since upstream
/// commit a6d4f25888b8; 212992 before) before doubling, at least SOCK_MIN_RCVBUF (2304)
/// and SOCK_MIN_SNDBUF (4608) after.
#[test]
fn buffer_sizes_are_bounded_as_linux_bounds_them() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    for (set, got) in [
        (SockOpt::RecvBuffer(1 << 30), SockOpt::RecvBuffer(8 << 20)),
        (SockOpt::RecvBuffer(100), SockOpt::RecvBuffer(2304)),
        (SockOpt::SendBuffer(1 << 30), SockOpt::SendBuffer(8 << 20)),
        (SockOpt::SendBuffer(100), SockOpt::SendBuffer(4608)),
    ] {
        h.stack.set_option(s, set).unwrap();
        let name = match set {
            SockOpt::RecvBuffer(_) => SockOptName::RecvBuffer,
            _ => SockOptName::SendBuffer,
        };
        assert_eq!(h.stack.get_option(s, name), Ok(got), "after {set:?}");
    }
    let mut h = Harness::with_config(|c| c.rmem_max = 1 << 20);
    let s = h.stack.socket();
    h.stack.set_option(s, SockOpt::RecvBuffer(1 << 30)).unwrap();
    assert_eq!(
        h.stack.get_option(s, SockOptName::RecvBuffer),
        Ok(SockOpt::RecvBuffer(2 << 20))
    );
}
