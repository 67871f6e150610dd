//! What a driver relies on (issue 7, item 1): `poll_transmit` never loses a datagram
//! to a short buffer, events come in the documented order, readiness can be asked per
//! socket, the rings can be lent to a closure, and a `Stack` can move between threads.

mod common;

use std::net::SocketAddr;

use common::*;
use synack::wire::{self, Control, SeqNum};
use synack::{
    BufferTooSmall, Config, Error, Event, EventKind, Readiness, SockOpt, SocketHandle, Stack,
};

/// The kinds of the events drained now, with their sockets.
fn drain(h: &mut Harness) -> Vec<(SocketHandle, EventKind)> {
    h.events().into_iter().map(|e| (e.socket, e.kind)).collect()
}

/// `poll_transmit` into a buffer of `len` bytes.
fn poll_into(h: &mut Harness, len: usize) -> (Result<Option<usize>, BufferTooSmall>, Vec<u8>) {
    let mut buf = vec![0u8; len];
    let r = h.stack.poll_transmit(h.now, &mut buf);
    (r, buf)
}

// ----- poll_transmit and short buffers (issue 6, bug 6) -----

/// A data segment that does not fit stays queued, uncounted, and is the next datagram
/// returned once the buffer is long enough.
#[test]
fn a_short_buffer_keeps_the_data_segment_and_counts_nothing() {
    let mut h = Harness::new();
    let c = h.established_active();
    let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    assert_eq!(h.stack.send(c.handle, &data), Ok(300));
    let before = h.stack.stats().clone();
    // No options were negotiated: 20 bytes of IPv4, 20 of TCP, 300 of payload.
    for _ in 0..2 {
        let (r, _) = poll_into(&mut h, 100);
        assert_eq!(r, Err(BufferTooSmall { needed: 340 }));
        assert_eq!(h.stack.stats(), &before, "nothing counted before it leaves");
    }
    let (r, buf) = poll_into(&mut h, 340);
    assert_eq!(r, Ok(Some(340)));
    let (_, tcp) = wire::parse_datagram(&buf[..340], true).expect("a valid datagram");
    assert_eq!(tcp.seq, c.l(1));
    assert_eq!(tcp.payload, &data[..]);
    assert_eq!(h.stack.stats().OutSegs, before.OutSegs + 1);
    assert_eq!(h.stack.stats().RetransSegs, before.RetransSegs);
    assert_eq!(h.recv(), vec![], "sent once, not twice");
}

/// A RST (a control segment) that does not fit stays queued and uncounted too.
#[test]
fn a_short_buffer_keeps_the_rst() {
    let mut h = Harness::new();
    // A SYN to a port nobody listens on is answered with RST,ACK (40 bytes).
    h.inject_ports(9, PEER_PORT, &pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    let before = h.stack.stats().clone();
    let (r, _) = poll_into(&mut h, 39);
    assert_eq!(r, Err(BufferTooSmall { needed: 40 }));
    assert_eq!(h.stack.stats(), &before);
    let (r, buf) = poll_into(&mut h, 40);
    assert_eq!(r, Ok(Some(40)));
    let (_, tcp) = wire::parse_datagram(&buf[..40], true).expect("a valid datagram");
    assert_eq!(tcp.control, Control::Rst);
    assert_eq!(tcp.ack, Some(SeqNum(PEER_ISS + 1)));
    assert_eq!(h.stack.stats().OutRsts, before.OutRsts + 1);
    assert_eq!(h.stack.stats().OutSegs, before.OutSegs + 1);
    assert_eq!(poll_into(&mut h, 40).0, Ok(None));
}

/// The error says what to do.
#[test]
fn buffer_too_small_says_what_is_needed() {
    let msg = BufferTooSmall { needed: 1500 }.to_string();
    assert!(msg.contains("1500 bytes needed"), "{msg}");
}

// ----- event order (issue 6, "what a new user hit") -----

/// Data that arrives with the third step of the handshake: the listener's `Incoming`
/// comes first, the new connection's events only after accept() returns it.
#[test]
fn incoming_comes_before_any_event_of_the_accepted_connection() {
    let mut h = Harness::new();
    let l = h.listen(128);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello"));
    assert_eq!(drain(&mut h), vec![(l, EventKind::Incoming)]);
    let (child, _) = h.stack.accept(l).expect("accept");
    assert_eq!(
        drain(&mut h),
        vec![(child, EventKind::Readable), (child, EventKind::Writable)]
    );
    assert_eq!(h.read_all(child), Ok(b"hello".to_vec()));
}

/// Data and a FIN that arrive while the connection waits in the accept queue are
/// announced after accept(), never before the listener's `Incoming`.
#[test]
fn events_of_an_unaccepted_connection_wait_for_accept() {
    let mut h = Harness::new();
    let l = h.listen(128);
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"abc"));
    h.send(&c, pkt("F.", c.p(4), c.l(1)));
    assert_eq!(drain(&mut h), vec![(l, EventKind::Incoming)]);
    let (child, _) = h.stack.accept(l).expect("accept");
    let events = drain(&mut h);
    assert_eq!(events.first(), Some(&(child, EventKind::Readable)));
    assert!(events.iter().all(|(s, _)| *s == child), "{events:?}");
    assert_eq!(h.read_all(child), Ok(b"abc".to_vec()));
}

/// `Writable` is reported when the socket becomes writable, not after every ACK: small
/// writes that never fill the buffer give none after the handshake's; filling the
/// buffer and having it drained gives exactly one.
#[test]
fn writable_is_not_repeated_without_a_change() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    h.send(&c, pkt("S.", c.p(0), c.l(1)));
    h.output();
    let kinds: Vec<_> = drain(&mut h).into_iter().map(|e| e.1).collect();
    assert_eq!(kinds, vec![EventKind::Connected, EventKind::Writable]);
    // Small writes, each acknowledged: no Writable.
    let mut una = 1;
    for _ in 0..5 {
        assert_eq!(h.stack.send(c.handle, &[7u8; 100]), Ok(100));
        let out = h.recv();
        assert_eq!(out.len(), 1);
        una += 100;
        h.send(&c, pkt(".", c.p(1), c.l(una)));
        h.output();
        assert_eq!(drain(&mut h), vec![], "no Writable while it stays writable");
    }
    // Fill the send buffer: not writable any more.
    let mut queued = 0;
    while let Ok(n) = h.stack.send(c.handle, &[9u8; 4096]) {
        queued += n;
    }
    assert!(!h.stack.readiness(c.handle).unwrap().writable);
    // Acknowledge everything as it goes out: exactly one Writable.
    let mut writable = 0;
    for _ in 0..1000 {
        let out = h.output();
        let Some(end) = out
            .iter()
            .map(|s| s.seq + s.payload.len() as u32)
            .reduce(|a, b| if b.after(a) { b } else { a })
        else {
            break;
        };
        h.send(&c, pkt(".", c.p(1), end));
        for (s, k) in drain(&mut h) {
            assert_eq!((s, k), (c.handle, EventKind::Writable));
            writable += 1;
        }
    }
    assert!(queued > 0);
    assert_eq!(writable, 1, "one Writable for one change to writable");
    assert!(h.stack.readiness(c.handle).unwrap().writable);
}

// ----- readiness -----

/// The readiness of each kind of socket, as Linux's tcp_poll reports it.
#[test]
fn readiness_follows_tcp_poll() {
    let mut h = Harness::new();
    let fresh = h.stack.socket();
    let r = h.stack.readiness(fresh).unwrap();
    assert!(r.writable && r.hup && !r.readable, "{r:?}");

    let l = h.listen(128);
    assert_eq!(h.stack.readiness(l), Ok(Readiness::default()));
    let c = h.passive_syn(l, PEER_PORT, pkt("S", SeqNum(PEER_ISS), SeqNum(0)));
    h.send(&c, pkt(".", c.p(1), c.l(1)));
    let r = h.stack.readiness(l).unwrap();
    assert!(r.accept_pending && r.readable, "{r:?}");
    let (child, _) = h.stack.accept(l).unwrap();
    assert!(!h.stack.readiness(l).unwrap().accept_pending);

    let r = h.stack.readiness(child).unwrap();
    assert!(r.writable && !r.readable && !r.hup && !r.read_closed && r.error.is_none());
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"xy"));
    assert!(h.stack.readiness(child).unwrap().readable);
    assert_eq!(h.read_all(child), Ok(b"xy".to_vec()));
    assert!(!h.stack.readiness(child).unwrap().readable);
    // The peer's FIN: readable (end of stream) and read-closed, not hung up.
    h.send(&c, pkt("F.", c.p(3), c.l(1)));
    let r = h.stack.readiness(child).unwrap();
    assert!(r.readable && r.read_closed && !r.hup && r.writable, "{r:?}");
    // A RST (in CLOSE-WAIT: EPIPE, as Linux's tcp_reset says): the error is pending
    // until a call reports it, then hang-up remains.
    h.output();
    h.send(&c, pkt("R.", c.p(4), c.l(1)));
    let r = h.stack.readiness(child).unwrap();
    assert_eq!(r.error, Some(Error::BrokenPipe));
    assert!(r.hup && r.readable && r.writable, "{r:?}");
    assert_eq!(h.stack.send(child, b"z"), Err(Error::BrokenPipe));
    let r = h.stack.readiness(child).unwrap();
    assert_eq!(r.error, None);
    assert!(r.hup);

    h.stack.close(child).unwrap();
    assert_eq!(h.stack.readiness(child), Err(Error::BadHandle));
}

/// A connect in progress is neither readable nor writable; a refused one reports its
/// error.
#[test]
fn readiness_while_connecting() {
    let mut h = Harness::new();
    let c = h.syn_sent();
    assert_eq!(h.stack.readiness(c.handle), Ok(Readiness::default()));
    h.send(&c, pkt("R.", SeqNum(0), c.l(1)));
    let r = h.stack.readiness(c.handle).unwrap();
    assert_eq!(r.error, Some(Error::ConnectionRefused));
    assert!(r.hup && r.writable && r.readable);
}

// ----- zero-copy calls -----

/// recv_with lends the in-order bytes; what the closure does not use stays for the next
/// read; with nothing buffered it gives recv()'s answers without calling the closure.
#[test]
fn recv_with_lends_the_ring() {
    let mut h = Harness::new();
    let (_, c) = h.established_passive();
    assert_eq!(
        h.stack
            .recv_with(c.handle, |_, _| panic!("nothing to lend")),
        Err(Error::WouldBlock)
    );
    h.send(&c, pkt(".", c.p(1), c.l(1)).data(b"hello world"));
    let mut seen = Vec::new();
    let n = h
        .stack
        .recv_with(c.handle, |a, b| {
            seen.extend_from_slice(a);
            seen.extend_from_slice(b);
            5
        })
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(seen, b"hello world");
    // The closure cannot consume more than was lent.
    let n = h
        .stack
        .recv_with(c.handle, |a, b| a.len() + b.len() + 10)
        .unwrap();
    assert_eq!(n, 6);
    h.send(&c, pkt("F.", c.p(12), c.l(1)));
    assert_eq!(h.stack.recv_with(c.handle, |_, _| panic!("EOF")), Ok(0));
}

/// send_into lends free space; the bytes written there go out as send() would send
/// them.
#[test]
fn send_into_lends_the_free_space() {
    let mut h = Harness::new();
    let c = h.established_active();
    let n = h
        .stack
        .send_into(c.handle, 5, |a, b| {
            assert_eq!(a.len() + b.len(), 5);
            a[..5].copy_from_slice(b"hello");
            5
        })
        .unwrap();
    assert_eq!(n, 5);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload, b"hello");
    // Full buffer: EAGAIN without calling the closure.
    h.stack
        .set_option(c.handle, SockOpt::SendBuffer(2048))
        .unwrap();
    while h.stack.send(c.handle, &[1u8; 4096]).is_ok() {}
    assert_eq!(
        h.stack.send_into(c.handle, 10, |_, _| panic!("no space")),
        Err(Error::WouldBlock)
    );
    h.stack.shutdown(c.handle, synack::Shutdown::Write).unwrap();
    assert_eq!(
        h.stack.send_into(c.handle, 10, |_, _| panic!("shut")),
        Err(Error::BrokenPipe)
    );
}

// ----- Send, no global state -----

/// A stack can move to another thread (a driver task owns it).
#[test]
fn stack_is_send() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Stack>();
    assert_send::<Event>();
    assert_send::<BufferTooSmall>();
}

/// Two stacks with the same seed, run one after the other in one process, send the
/// same bytes: nothing is shared between stacks (no global counter, port or key).
#[test]
fn stacks_share_no_state() {
    fn run() -> Vec<Vec<u8>> {
        let config = Config {
            seed: Some(99),
            ..Config::default()
        };
        let mut s = Stack::new(config);
        s.add_address(LOCAL_IP.into());
        let mut out = Vec::new();
        for port in [80, 81, 82] {
            let h = s.socket();
            s.connect(h, SocketAddr::new(PEER_IP.into(), port)).unwrap();
            let mut buf = vec![0u8; 1500];
            while let Ok(Some(n)) = s.poll_transmit(synack::Instant::ZERO, &mut buf) {
                out.push(buf[..n].to_vec());
            }
        }
        out
    }
    let first = run();
    assert_eq!(first.len(), 3);
    assert_eq!(first, run());
}
