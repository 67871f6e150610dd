//! TCP Fast Open (RFC 7413) at the client, as Linux does it: a cookie request on the
//! first connection, the cookie cached per destination, data in the SYN once a cookie
//! is known, TCP_FASTOPEN_CONNECT's deferred SYN, and data the SYN-ACK does not
//! acknowledge sent again.

mod common;

use std::net::SocketAddr;

use common::*;
use synack::wire::{Control, FastOpenCookie};
use synack::{tcpi_options, Error, SockOpt, State};

const COOKIE: [u8; 8] = [0xab, 0xcd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];

fn peer() -> SocketAddr {
    SocketAddr::new(PEER_IP.into(), PEER_PORT)
}

/// The peer's SYN-ACK to `syn` acknowledging `acked` bytes of its data, with a cookie.
fn synack(c: &Conn, acked: u32, cookie: Option<FastOpenCookie>) -> Pkt {
    let mut p = pkt("S.", c.p(0), c.l(1 + acked)).mss(1460);
    p.options.fast_open = cookie;
    p
}

/// Learns the cookie on a first connection: MSG_FASTOPEN without a cookie sends a SYN
/// with an empty option (a request) and no data; the SYN-ACK's cookie is cached.
fn learn_cookie(h: &mut Harness) {
    let s = h.stack.socket();
    assert_eq!(h.stack.sendto_fastopen(s, peer(), b"hello"), Ok(0));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].options.fast_open,
        Some(FastOpenCookie::request(false))
    );
    assert!(out[0].payload.is_empty(), "no data without a cookie");
    let c = Conn::active(s, &out[0]);
    h.send(&c, synack(&c, 0, FastOpenCookie::new(false, &COOKIE)));
    assert_eq!(h.state(s), State::Established);
    assert_eq!(briefs(&h.output()), vec![seg(".", c.l(1), c.p(1), 0)]);
}

/// RFC 7413 3: with the cookie cached, the next connection's SYN carries it and the
/// data; the SYN-ACK acknowledges the data (TCPFastOpenActive, TCPI_OPT_SYN_DATA).
#[test]
fn the_cached_cookie_carries_data_in_the_syn() {
    let mut h = Harness::new();
    learn_cookie(&mut h);
    let s = h.stack.socket();
    assert_eq!(h.stack.sendto_fastopen(s, peer(), &[7u8; 100]), Ok(100));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].control, Control::Syn);
    assert_eq!(out[0].payload.len(), 100);
    assert_eq!(
        out[0].options.fast_open,
        FastOpenCookie::new(false, &COOKIE)
    );
    let c = Conn::active(s, &out[0]);
    h.send(&c, synack(&c, 100, None));
    assert_eq!(h.state(s), State::Established);
    assert_eq!(briefs(&h.output()), vec![seg(".", c.l(101), c.p(1), 0)]);
    let info = h.stack.tcp_info(s).unwrap();
    assert_ne!(info.options & tcpi_options::SYN_DATA, 0);
    assert_eq!(h.stack.stats().TCPFastOpenActive, 1);
}

/// RFC 7413 3: data the SYN-ACK does not acknowledge is sent again at once (Linux's
/// tcp_rcv_fastopen_synack), counted as TCPFastOpenActiveFail.
#[test]
fn unacknowledged_syn_data_is_sent_again() {
    let mut h = Harness::new();
    learn_cookie(&mut h);
    let s = h.stack.socket();
    assert_eq!(h.stack.sendto_fastopen(s, peer(), &[7u8; 100]), Ok(100));
    let out = h.output();
    let c = Conn::active(s, &out[0]);
    h.send(&c, synack(&c, 0, None));
    assert_eq!(h.state(s), State::Established);
    assert_eq!(briefs(&h.output()), vec![seg(".", c.l(1), c.p(1), 100)]);
    let info = h.stack.tcp_info(s).unwrap();
    assert_eq!(info.options & tcpi_options::SYN_DATA, 0);
    assert_eq!(h.stack.stats().TCPFastOpenActiveFail, 1);
}

/// TCP_FASTOPEN_CONNECT with a cookie: connect() sends nothing, the socket is
/// writable, and the first write goes in the SYN; later writes wait (EAGAIN), and a
/// second connect() is EISCONN.
#[test]
fn fastopen_connect_defers_the_syn_to_the_first_write() {
    let mut h = Harness::new();
    learn_cookie(&mut h);
    let s = h.stack.socket();
    h.stack
        .set_option(s, SockOpt::FastOpenConnect(true))
        .unwrap();
    h.stack.connect(s, peer()).unwrap();
    assert!(h.stack.fastopen_deferred(s));
    assert!(h.output().is_empty(), "the SYN waits for data");
    assert_eq!(h.stack.connect(s, peer()), Err(Error::AlreadyConnected));
    assert_eq!(
        h.stack.send(s, &[1u8; 2000]),
        Ok(1420),
        "the MSS less 40 bytes"
    );
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 1420);
    assert_eq!(h.stack.send(s, &[1u8; 10]), Err(Error::WouldBlock));
    assert_eq!(
        h.stack.sendto_fastopen(s, peer(), &[1u8; 10]),
        Err(Error::AlreadyInProgress)
    );
}

/// Without the client bit of `tcp_fastopen`, MSG_FASTOPEN and TCP_FASTOPEN_CONNECT are
/// EOPNOTSUPP, as on Linux.
#[test]
fn the_client_bit_is_required() {
    let mut h = Harness::with_config(|c| c.tcp_fastopen = 0);
    let s = h.stack.socket();
    assert_eq!(
        h.stack.sendto_fastopen(s, peer(), b"x"),
        Err(Error::NotSupported)
    );
    assert_eq!(
        h.stack.set_option(s, SockOpt::FastOpenConnect(true)),
        Err(Error::NotSupported)
    );
}

/// A cookie request in kind 34 that goes unanswered is tried once in the experimental
/// form, then kind 34 again for good (Linux's try_exp).
#[test]
fn an_unanswered_request_tries_the_experimental_option_once() {
    let mut h = Harness::new();
    let mut forms = Vec::new();
    for _ in 0..3 {
        let s = h.stack.socket();
        assert_eq!(h.stack.sendto_fastopen(s, peer(), b""), Ok(0));
        let out = h.output();
        forms.push(out[0].options.fast_open.map(|c| c.exp));
        let c = Conn::active(s, &out[0]);
        h.send(&c, synack(&c, 0, None));
        h.stack.abort(s).unwrap();
        h.output();
    }
    assert_eq!(forms, vec![Some(false), Some(true), Some(false)]);
}
