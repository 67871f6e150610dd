//! connect(AF_UNSPEC) as Linux's tcp_disconnect: `Stack::disconnect` resets a
//! connection the peer knows of, drops one being opened, stops a listener, and leaves
//! the socket reusable.

mod common;

use std::net::SocketAddr;

use common::*;
use synack::{Error, SeqNum, State};
use synack_wire::Control;

#[test]
fn an_established_connection_is_reset_and_the_socket_connects_again() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.disconnect(c.handle).unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].control, Control::Rst);
    assert_eq!((out[0].seq, out[0].ack), (c.l(1), Some(c.p(1))));
    assert_ne!(out[0].window, 0, "Linux's RST carries the window it offers");
    assert_eq!(h.state(c.handle), State::Closed);
    assert_eq!(
        h.stack.recv(c.handle, &mut [0u8; 8]),
        Err(Error::NotConnected)
    );
    // The connection's table entry is gone: the peer's next segment draws a RST.
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].control, Control::Rst);
    // The same socket opens a new connection.
    h.stack
        .connect(c.handle, SocketAddr::new(PEER_IP.into(), PEER_PORT + 1))
        .unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].control, out[0].ack), (Control::Syn, None));
    assert_eq!(out[0].dst_port, PEER_PORT + 1);
    assert_eq!(h.state(c.handle), State::SynSent);
}

#[test]
fn a_connection_being_opened_is_dropped_without_a_rst() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.stack.disconnect(c.handle).unwrap();
    assert!(h.output().is_empty(), "the peer knows nothing of it");
    assert_eq!(h.state(c.handle), State::Closed);
    // The peer's late SYN-ACK finds nothing.
    h.send(&c, pkt("S.", c.p(0), c.l(1)));
    assert_eq!(h.output()[0].control, Control::Rst);
}

#[test]
fn a_listener_stops_listening_and_keeps_its_port() {
    let mut h = Harness::new();
    let l = h.listen(8);
    h.stack.disconnect(l).unwrap();
    // A SYN to the port is refused now.
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("S", SeqNum(PEER_ISS), SeqNum(0)),
    );
    assert_eq!(h.output()[0].control, Control::Rst);
    // Still bound: it listens again without a bind(), on the same port.
    h.stack.listen(l, 8).unwrap();
    assert_eq!(
        h.stack.local_addr(l).unwrap(),
        SocketAddr::new(LOCAL_IP.into(), LISTEN_PORT)
    );
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT + 1,
        &pkt("S", SeqNum(PEER_ISS), SeqNum(0)),
    );
    assert_eq!(h.output()[0].control, Control::Syn);
}

#[test]
fn a_fresh_socket_is_left_alone_and_a_bad_handle_is_refused() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    assert_eq!(h.stack.disconnect(s), Ok(()));
    h.stack.close(s).unwrap();
    assert_eq!(h.stack.disconnect(s), Err(Error::BadHandle));
}
