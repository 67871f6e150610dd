//! TCP Fast Open (RFC 7413) at a listener, as Linux does it: cookies made and checked
//! with the key, data in the SYN accepted and readable before the handshake completes,
//! fallback to the ordinary handshake, the queue limit and the counters.

mod common;

use common::*;
use synack::fastopen::{FastOpenKeys, TFO_SERVER_COOKIE_NOT_REQD, TFO_SERVER_ENABLE};
use synack::wire::{FastOpenCookie, SeqNum};
use synack::{tcpi_options, Error, SockOpt, State};

const KEY: &str = "a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4";

fn keys() -> FastOpenKeys {
    FastOpenKeys::parse_sysctl(KEY).unwrap()
}

/// A server with Fast Open on (`tcp_fastopen` = 0x2 plus `extra`), the key above, and a
/// listener with TCP_FASTOPEN = `qlen`.
fn server(extra: u32, qlen: u32) -> (Harness, synack::SocketHandle) {
    let mut h = Harness::with_config(|c| {
        c.tcp_fastopen = TFO_SERVER_ENABLE | extra;
        c.tcp_fastopen_key = Some(keys());
    });
    let l = h.listen(16);
    h.stack.set_option(l, SockOpt::FastOpen(qlen)).unwrap();
    (h, l)
}

fn syn(cookie: Option<FastOpenCookie>, data: &[u8]) -> Pkt {
    let mut p = pkt("S", SeqNum(PEER_ISS), SeqNum(0)).mss(1460).data(data);
    p.options.fast_open = cookie;
    p
}

fn good_cookie(exp: bool) -> FastOpenCookie {
    let c = keys().cookie(PEER_IP.into(), LOCAL_IP.into());
    FastOpenCookie::new(exp, &c).unwrap()
}

/// RFC 7413 4.1.2 / 4.2.1: a SYN with an empty cookie option gets the cookie in the
/// SYN-ACK (in the option form it used), and the handshake is the ordinary one.
#[test]
fn a_cookie_request_is_answered_with_the_cookie() {
    let (mut h, l) = server(0, 16);
    for exp in [false, true] {
        let port = PEER_PORT + u16::from(exp);
        h.inject_ports(
            LISTEN_PORT,
            port,
            &syn(Some(FastOpenCookie::request(exp)), &[]),
        );
        let out = h.output();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ack, Some(SeqNum(PEER_ISS + 1)));
        assert_eq!(out[0].options.fast_open, Some(good_cookie(exp)));
    }
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock), "no child yet");
    assert_eq!(h.stack.stats().TCPFastOpenCookieReqd, 2);
    assert_eq!(h.stack.stats().TCPFastOpenPassive, 0);
}

/// RFC 7413 4.2.2: with a valid cookie the data is accepted with the SYN: the SYN-ACK
/// acknowledges it, the connection is in the accept queue in SYN-RECEIVED and the data
/// can be read before the third ACK; the server may write at once.
#[test]
fn a_valid_cookie_makes_the_connection_at_once() {
    let (mut h, l) = server(0, 16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &syn(Some(good_cookie(false)), b"hello"),
    );
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].ack,
        Some(SeqNum(PEER_ISS + 6)),
        "the SYN-ACK acks the data"
    );
    assert_eq!(
        out[0].options.fast_open, None,
        "no cookie for a client that has it"
    );
    let (child, _) = h.stack.accept(l).expect("the child is queued at once");
    assert_eq!(h.state(child), State::SynReceived);
    assert_eq!(h.read_all(child).unwrap(), b"hello");
    let info = h.stack.tcp_info(child).unwrap();
    assert_ne!(info.options & tcpi_options::SYN_DATA, 0);
    assert_eq!(h.stack.stats().TCPFastOpenPassive, 1);
    // Writing before the third ACK: the data goes out after the SYN-ACK.
    assert_eq!(h.stack.send(child, b"world"), Ok(5));
    let iss = out[0].seq;
    let c = Conn {
        handle: child,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss,
        irs: SeqNum(PEER_ISS),
    };
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg(".", c.l(1), c.p(6), 5)]);
    // The third ACK acknowledges the SYN-ACK and the data.
    h.send(&c, pkt(".", c.p(6), c.l(6)));
    assert_eq!(h.state(child), State::Established);
}

/// RFC 7413 4.2.2: a wrong cookie is not fatal: the data is not acknowledged, the
/// SYN-ACK carries the right cookie, and the handshake is the ordinary one.
#[test]
fn a_wrong_cookie_falls_back_to_the_ordinary_handshake() {
    let (mut h, l) = server(0, 16);
    let wrong = FastOpenCookie::new(false, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn(Some(wrong), b"hello"));
    let out = h.output();
    assert_eq!(
        out[0].ack,
        Some(SeqNum(PEER_ISS + 1)),
        "the data is not acked"
    );
    assert_eq!(out[0].options.fast_open, Some(good_cookie(false)));
    assert_eq!(h.stack.accept(l), Err(Error::WouldBlock));
    assert_eq!(h.stack.stats().TCPFastOpenPassiveFail, 1);
    // The SYN-ACK's retransmission carries no cookie (Linux's inet_rtx_syn_ack).
    let out = h.next_output(core::time::Duration::from_secs(2));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].options.fast_open, None);
}

/// A cookie made with the backup key is accepted and the primary key's cookie is sent.
#[test]
fn a_backup_key_cookie_is_accepted_and_replaced() {
    let (mut h, l) = server(0, 16);
    let old = FastOpenKeys::parse_sysctl("01020304-05060708-090a0b0c-0d0e0f10").unwrap();
    let mut both = keys();
    both.backup = Some(old.primary);
    h.stack.set_option(l, SockOpt::FastOpenKey(both)).unwrap();
    let c = old.cookie(PEER_IP.into(), LOCAL_IP.into());
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &syn(Some(FastOpenCookie::new(true, &c).unwrap()), b"x"),
    );
    let out = h.output();
    assert_eq!(out[0].ack, Some(SeqNum(PEER_ISS + 2)));
    assert_eq!(out[0].options.fast_open, Some(good_cookie(true)));
    assert!(h.stack.accept(l).is_ok());
    assert_eq!(h.stack.stats().TCPFastOpenPassiveAltKey, 1);
}

/// TCP_FASTOPEN's queue length bounds the children in SYN-RECEIVED: beyond it the SYN
/// falls back (TCPFastOpenListenOverflow); a child that completes frees its place.
#[test]
fn the_queue_length_bounds_pending_children() {
    let (mut h, l) = server(TFO_SERVER_COOKIE_NOT_REQD, 1);
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn(None, b"a"));
    let first = h.output();
    assert_eq!(first[0].ack, Some(SeqNum(PEER_ISS + 2)));
    h.inject_ports(LISTEN_PORT, PEER_PORT + 1, &syn(None, b"b"));
    let out = h.output();
    assert_eq!(
        out[0].ack,
        Some(SeqNum(PEER_ISS + 1)),
        "over the limit: no TFO"
    );
    assert_eq!(h.stack.stats().TCPFastOpenListenOverflow, 1);
    // The first child's handshake completes; a third SYN is a Fast Open one again.
    let c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: first[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(&c, pkt(".", c.p(2), c.l(1)));
    h.inject_ports(LISTEN_PORT, PEER_PORT + 2, &syn(None, b"c"));
    let out = h.output();
    assert_eq!(out[0].ack, Some(SeqNum(PEER_ISS + 2)));
    assert_eq!(h.stack.stats().TCPFastOpenPassive, 2);
}

/// Without TCP_FASTOPEN (and without 0x400) a listener does no Fast Open, even with a
/// valid cookie; without the server bit nothing does.
#[test]
fn fast_open_needs_the_option_and_the_server_bit() {
    let (mut h, _) = server(0, 0);
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn(Some(good_cookie(false)), b"x"));
    let out = h.output();
    assert_eq!(out[0].ack, Some(SeqNum(PEER_ISS + 1)));
    assert_eq!(out[0].options.fast_open, None);
    let mut h = Harness::with_config(|c| c.tcp_fastopen = 0x1);
    let l = h.listen(16);
    h.stack.set_option(l, SockOpt::FastOpen(16)).unwrap();
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &syn(Some(FastOpenCookie::request(false)), &[]),
    );
    assert_eq!(h.output()[0].options.fast_open, None);
}

/// A RST to a Fast Open child that was not yet accepted: accept() still returns it, its
/// data can be read, then ECONNRESET (Linux's reset-before-accept).
#[test]
fn a_reset_child_keeps_its_data() {
    let (mut h, l) = server(0, 16);
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &syn(Some(good_cookie(false)), b"data"),
    );
    let out = h.output();
    let c = Conn {
        handle: l,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(&c, pkt("R.", c.p(5), c.l(1)));
    let (child, _) = h.stack.accept(l).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(h.stack.recv(child, &mut buf), Ok(4));
    assert_eq!(h.stack.recv(child, &mut buf), Err(Error::ConnectionReset));
}

/// A Fast Open child reset after accept() keeps counting against the queue for 60 s
/// (Linux's reqsk_fastopen_remove, against spoofed-SYN floods); then its place is free.
#[test]
fn a_child_reset_after_accept_holds_its_place_for_a_minute() {
    let (mut h, l) = server(TFO_SERVER_COOKIE_NOT_REQD, 1);
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn(None, b"a"));
    let out = h.output();
    let (child, _) = h.stack.accept(l).unwrap();
    let c = Conn {
        handle: child,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.send(&c, pkt("R", c.p(2), SeqNum(0)));
    assert_eq!(h.state(child), State::Closed);
    h.inject_ports(LISTEN_PORT, PEER_PORT + 1, &syn(None, b"b"));
    assert_eq!(h.output()[0].ack, Some(SeqNum(PEER_ISS + 1)), "still held");
    assert_eq!(h.stack.stats().TCPFastOpenListenOverflow, 1);
    h.advance(core::time::Duration::from_secs(61));
    h.output();
    h.inject_ports(LISTEN_PORT, PEER_PORT + 2, &syn(None, b"c"));
    assert_eq!(h.output()[0].ack, Some(SeqNum(PEER_ISS + 2)), "free again");
}
