//! Socket options with Linux's names and effects: TCP_MAXSEG, TCP_CORK,
//! TCP_USER_TIMEOUT, TCP_SYNCNT, TCP_LINGER2, SO_ERROR, and getsockopt() values.

mod common;

use core::time::Duration;
use std::net::SocketAddr;

use common::*;
use synack::wire::Control;
use synack::{Error, SockOpt, SockOptName, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// TCP_MAXSEG set before connect() caps the MSS option of the SYN, and getsockopt()
/// reads 536 (TCP_MSS_DEFAULT) before the connection and the MSS in use after.
#[test]
fn maxseg_caps_the_syn_mss_and_reads_back() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    assert_eq!(
        h.stack.get_option(s, SockOptName::MaxSegment),
        Ok(SockOpt::MaxSegment(536))
    );
    h.stack.set_option(s, SockOpt::MaxSegment(1000)).unwrap();
    h.stack
        .connect(s, SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    let out = h.output();
    assert_eq!(out[0].control, Control::Syn);
    assert_eq!(out[0].options.mss, Some(1000));
    let c = Conn {
        handle: s,
        local_port: out[0].src_port,
        peer_port: PEER_PORT,
        iss: out[0].seq,
        irs: synack::wire::SeqNum(PEER_ISS),
    };
    h.send(&c, pkt("S.", c.p(0), c.l(1)).mss(1460));
    assert_eq!(h.state(s), State::Established);
    assert_eq!(
        h.stack.get_option(s, SockOptName::MaxSegment),
        Ok(SockOpt::MaxSegment(1000))
    );
}

/// TCP_MAXSEG on a listener caps the MSS of its SYN-ACKs.
#[test]
fn maxseg_on_listener_caps_the_synack_mss() {
    let mut h = Harness::new();
    let l = h.stack.socket();
    h.stack.set_option(l, SockOpt::MaxSegment(700)).unwrap();
    h.stack
        .bind(l, SocketAddr::new(LOCAL_IP.into(), LISTEN_PORT))
        .unwrap();
    h.stack.listen(l, 8).unwrap();
    h.inject_ports(
        LISTEN_PORT,
        PEER_PORT,
        &pkt("S", synack::wire::SeqNum(PEER_ISS), synack::wire::SeqNum(0)).mss(1460),
    );
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].options.mss, Some(700));
}

/// TCP_CORK holds a partial segment even with nothing in flight; uncorking sends it.
#[test]
fn cork_holds_partial_segments_until_uncorked() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.set_option(c.handle, SockOpt::Cork(true)).unwrap();
    h.stack.send(c.handle, b"hello").unwrap();
    assert_eq!(h.recv(), vec![], "corked: nothing goes out");
    h.advance(ms(100));
    assert_eq!(h.recv(), vec![]);
    h.stack.set_option(c.handle, SockOpt::Cork(false)).unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 5)]);
}

/// Linux's 200 ms ceiling on corking: with nothing in flight, the probe timer sends
/// the corked partial segment after the RTO (200 ms here), with PSH. Left
/// unacknowledged, it is retransmitted by the retransmission timer, which the cork does
/// not hold (Linux's __tcp_retransmit_skb).
#[test]
fn cork_is_released_by_the_probe_timer() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.set_option(c.handle, SockOpt::Cork(true)).unwrap();
    h.stack.send(c.handle, b"hello").unwrap();
    let t0 = h.now.total_millis();
    let out = h.advance(ms(1000));
    assert!(out.len() >= 2, "{out:?}");
    assert_eq!(out[0].at.total_millis() - t0, 200);
    assert!(out[0].psh, "the forced segment carries PSH");
    for s in &out {
        assert_eq!(s.brief(), seg(".", c.l(1), c.p(1), 5));
    }
}

/// TCP_USER_TIMEOUT (RFC 5482): unacknowledged data fails the connection with
/// ETIMEDOUT once the timeout has passed, long before tcp_retries2 would.
#[test]
fn user_timeout_fails_the_connection_early() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack
        .set_option(c.handle, SockOpt::UserTimeout(ms(1500)))
        .unwrap();
    h.stack.send(c.handle, b"x").unwrap();
    assert_eq!(h.recv().len(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.state(c.handle), State::Established);
    h.advance(Duration::from_secs(5));
    assert_eq!(h.state(c.handle), State::Closed);
    // As on Linux, the error is reported once (here by SO_ERROR), then reads see the
    // end of the stream and writes EPIPE.
    assert_eq!(h.stack.socket_error(c.handle), Ok(Some(Error::TimedOut)));
    assert_eq!(h.stack.socket_error(c.handle), Ok(None));
    let mut buf = [0u8; 4];
    assert_eq!(h.stack.recv(c.handle, &mut buf), Ok(0));
    assert_eq!(h.stack.send(c.handle, b"x"), Err(Error::BrokenPipe));
}

/// TCP_SYNCNT: two SYN retransmissions (at 1 s and 3 s), then ETIMEDOUT at 7 s.
#[test]
fn syncnt_limits_syn_retransmissions() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    h.stack.set_option(s, SockOpt::SynCount(2)).unwrap();
    h.stack
        .connect(s, SocketAddr::new(PEER_IP.into(), PEER_PORT))
        .unwrap();
    assert_eq!(h.output().len(), 1);
    let retrans = h.advance_ms(6_900);
    assert_eq!(
        retrans.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![1000, 3000]
    );
    assert_eq!(h.state(s), State::SynSent);
    h.advance(ms(200));
    assert_eq!(h.state(s), State::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(
        h.stack.recv(s, &mut buf),
        Err(Error::TimedOut),
        "reported once"
    );
    assert_eq!(h.stack.socket_error(s), Ok(None));
}

/// TCP_LINGER2 replaces tcp_fin_timeout for an orphaned FIN-WAIT-2.
#[test]
fn linger2_shortens_orphaned_fin_wait_2() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack
        .set_option(c.handle, SockOpt::Linger2(Duration::from_secs(5)))
        .unwrap();
    h.stack.close(c.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", c.l(1), c.p(1), 0)]);
    h.send(&c, pkt(".", c.p(1), c.l(2)));
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);
    h.advance(Duration::from_millis(4_900));
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);
    h.advance(ms(200));
    assert_eq!(h.states_of(&c), Vec::<State>::new());
}

/// getsockopt() reads back what setsockopt() set, with SO_SNDBUF doubled as Linux does.
#[test]
fn options_read_back() {
    let mut h = Harness::new();
    let s = h.stack.socket();
    h.stack.set_option(s, SockOpt::SendBuffer(10_000)).unwrap();
    h.stack
        .set_option(s, SockOpt::KeepIdle(Duration::from_secs(30)))
        .unwrap();
    h.stack.set_option(s, SockOpt::NoDelay(true)).unwrap();
    assert_eq!(
        h.stack.get_option(s, SockOptName::SendBuffer),
        Ok(SockOpt::SendBuffer(20_000))
    );
    assert_eq!(
        h.stack.get_option(s, SockOptName::KeepIdle),
        Ok(SockOpt::KeepIdle(Duration::from_secs(30)))
    );
    assert_eq!(
        h.stack.get_option(s, SockOptName::NoDelay),
        Ok(SockOpt::NoDelay(true))
    );
    assert_eq!(
        h.stack.get_option(s, SockOptName::KeepCount),
        Ok(SockOpt::KeepCount(9)),
        "unset options read the sysctl default"
    );
}

/// MSG_EOR: a record's end is a segment boundary, and it carries PSH; later data starts
/// a new segment instead of filling the previous one (Linux's tcp_skb_can_collapse_to).
#[test]
fn eor_records_end_segments() {
    let mut h = Harness::new();
    let c = h.established_active();
    let eor = synack::SendFlags {
        eor: true,
        ..Default::default()
    };
    h.stack.set_option(c.handle, SockOpt::Cork(true)).unwrap();
    h.stack.send_with(c.handle, &[1u8; 300], eor).unwrap();
    h.stack.send_with(c.handle, &[2u8; 300], eor).unwrap();
    h.stack.send(c.handle, &[3u8; 100]).unwrap();
    h.stack.set_option(c.handle, SockOpt::Cork(false)).unwrap();
    let out = h.output();
    let sizes: Vec<(usize, bool)> = out.iter().map(|s| (s.payload.len(), s.psh)).collect();
    // The 100-byte tail is small and small segments are in flight: Nagle holds it
    // until the ACK.
    assert_eq!(sizes, vec![(300, true), (300, true)]);
    h.send(&c, pkt(".", c.p(1), c.l(601)));
    assert_eq!(h.recv(), vec![seg(".", c.l(601), c.p(1), 100)]);
}

/// MSG_MORE holds a partial segment until a send without it, which then carries PSH;
/// full segments still go at once.
#[test]
fn msg_more_holds_the_partial_segment() {
    let mut h = Harness::new();
    let c = h.established_active();
    let more = synack::SendFlags {
        more: true,
        ..Default::default()
    };
    h.stack.send_with(c.handle, &[1u8; 40], more).unwrap();
    assert_eq!(h.recv(), vec![], "MSG_MORE: the partial segment waits");
    h.advance(ms(50));
    assert_eq!(h.recv(), vec![]);
    h.stack.send(c.handle, &[2u8; 40]).unwrap();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].brief(), seg(".", c.l(1), c.p(1), 80));
    assert!(out[0].psh);
}

/// TCP_QUICKACK (Linux's __tcp_sock_set_quickack). A reply sent soon after a request
/// makes the connection interactive: the next request's ACK is held to ride on the
/// reply, and reading the request does not send it. Setting TCP_QUICKACK leaves
/// interactive mode and sends the held ACK at once; the option does not stick (the
/// next reply makes the connection interactive again). Clearing it enters interactive
/// mode; the delayed-ACK timer firing leaves it.
#[test]
fn quickack_sends_the_held_ack_now_and_does_not_stick() {
    let mut h = Harness::new();
    let c = h.established_active();
    let quickack = |h: &mut Harness| match h.stack.get_option(c.handle, SockOptName::QuickAck) {
        Ok(SockOpt::QuickAck(on)) => on,
        other => panic!("{other:?}"),
    };
    let mut off = 1;
    let mut sent = 1;
    // A request, read, and a reply at once: the reply carries the ACK.
    let exchange = |h: &mut Harness, off: &mut u32, sent: &mut u32| {
        h.send(
            &c,
            common::pkt("P.", c.p(*off), c.l(*sent)).data(&[0x55; 10]),
        );
        *off += 10;
        h.read_all(c.handle).unwrap();
        h.output()
    };
    exchange(&mut h, &mut off, &mut sent);
    assert!(quickack(&mut h));
    h.stack.send(c.handle, b"reply").unwrap();
    h.output();
    sent += 5;
    assert!(!quickack(&mut h), "a reply within ato makes it interactive");
    h.send(&c, common::pkt(".", c.p(off), c.l(sent)));
    // The next request is read, its ACK held.
    assert_eq!(exchange(&mut h, &mut off, &mut sent).len(), 0);
    // TCP_QUICKACK sends it now.
    h.stack
        .set_option(c.handle, SockOpt::QuickAck(true))
        .unwrap();
    assert_eq!(h.recv(), vec![common::seg(".", c.l(sent), c.p(off), 0)]);
    assert!(quickack(&mut h));
    // A reply makes it interactive again.
    h.stack.send(c.handle, b"reply").unwrap();
    h.output();
    sent += 5;
    h.send(&c, common::pkt(".", c.p(off), c.l(sent)));
    assert!(!quickack(&mut h));
    assert_eq!(exchange(&mut h, &mut off, &mut sent).len(), 0);
    // No reply in time: the delayed-ACK timer sends the ACK and ends interactive mode.
    let out = h.advance(ms(200));
    assert_eq!(briefs(&out), vec![common::seg(".", c.l(sent), c.p(off), 0)]);
    assert!(quickack(&mut h));
    // Cleared: interactive again.
    h.stack
        .set_option(c.handle, SockOpt::QuickAck(false))
        .unwrap();
    assert!(!quickack(&mut h));
}
