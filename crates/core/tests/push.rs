//! The send path's Linux behaviours that shape what goes on the wire: where cwnd
//! restarts, where units end and which segments carry PSH.

mod common;

use core::time::Duration;

use common::*;

/// An established active connection with a 1000-byte MSS and the peer's window scaled
/// by 2^7, as a Linux peer would offer it.
fn connection(h: &mut Harness) -> Conn {
    let c = h.syn_sent();
    let mut synack = pkt("S.", c.p(0), c.l(1)).mss(1000);
    synack.options.window_scale = Some(7);
    h.send(&c, synack);
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    c
}

/// Ten segments out and acknowledged 100 ms later with a zero window: slow start takes
/// cwnd to 20 segments, and the next write waits for the window.
fn grow_then_close_window(h: &mut Harness, c: &Conn) {
    h.stack.send(c.handle, &[0u8; 10_000]).unwrap();
    assert_eq!(h.recv().len(), 10);
    h.advance(Duration::from_millis(100));
    h.send(c, pkt(".", c.p(1), c.l(10_001)).win(0));
    assert_eq!(h.stack.tcp_info(c.handle).unwrap().snd_cwnd, 20);
    assert_eq!(h.stack.send(c.handle, &[0u8; 30_000]).unwrap(), 30_000);
}

/// How many data segments the stack sends when the peer opens its window now.
fn sent_on_window_update(h: &mut Harness, c: &Conn) -> usize {
    h.send(c, pkt(".", c.p(1), c.l(10_001)).win(500));
    h.recv().iter().filter(|s| s.len > 0).count()
}

/// The window stays shut for more than an RTO (zero-window probes carry no data): the
/// update that opens it restarts cwnd at the initial window (Linux's
/// tcp_ack_update_window → tcp_slow_start_after_idle_check, RFC 5681 4.1).
#[test]
fn a_window_update_after_an_idle_rto_restarts_cwnd() {
    let mut h = Harness::new();
    let c = connection(&mut h);
    grow_then_close_window(&mut h, &c);
    let probes = h.advance(Duration::from_secs(1));
    assert!(
        !probes.is_empty() && probes.iter().all(|s| s.payload.is_empty()),
        "only zero-window probes while the window is shut: {probes:?}"
    );
    assert_eq!(sent_on_window_update(&mut h, &c), 10);
    assert_eq!(h.stack.tcp_info(c.handle).unwrap().snd_cwnd, 10);
}

/// The same with `tcp_slow_start_after_idle` off, or an idle time within the RTO: cwnd
/// stays at 20 and all of it goes.
#[test]
fn no_restart_without_the_knob_or_within_an_rto() {
    let mut h = Harness::with_config(|c| c.tcp_slow_start_after_idle = false);
    let c = connection(&mut h);
    grow_then_close_window(&mut h, &c);
    h.advance(Duration::from_secs(1));
    assert_eq!(sent_on_window_update(&mut h, &c), 20);

    let mut h = Harness::new();
    let c = connection(&mut h);
    grow_then_close_window(&mut h, &c);
    h.advance(Duration::from_millis(50));
    assert_eq!(sent_on_window_update(&mut h, &c), 20);
}

/// A Fast Open child that writes before the handshake's ACK has no RTT yet, so Linux's
/// pacing rate is unset (unlimited) and tcp_tso_autosize makes units of half of cwnd:
/// ten segments in two 5-segment units, each ending with PSH; the SYN-ACK, not yet
/// acknowledged, takes no room from the window or cwnd. Once the RTT is known, the
/// pacing rate sizes them (tso.rs).
#[test]
fn a_fast_open_child_sends_units_of_half_of_cwnd_until_an_rtt_is_known() {
    use synack::fastopen::{FastOpenKeys, TFO_SERVER_ENABLE};
    use synack::wire::{FastOpenCookie, SeqNum};
    use synack::SockOpt;
    let keys = FastOpenKeys::parse_sysctl("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4").unwrap();
    let cookie = keys.cookie(PEER_IP.into(), LOCAL_IP.into());
    let mut h = Harness::with_config(|c| {
        c.tcp_fastopen = TFO_SERVER_ENABLE;
        c.tcp_fastopen_key = Some(keys);
    });
    let l = h.listen(16);
    h.stack.set_option(l, SockOpt::FastOpen(16)).unwrap();
    let mut syn = pkt("S", SeqNum(PEER_ISS), SeqNum(0))
        .mss(1000)
        .win(10_000)
        .data(b"hi");
    syn.options.fast_open = Some(FastOpenCookie::new(false, &cookie).unwrap());
    h.inject_ports(LISTEN_PORT, PEER_PORT, &syn);
    let synack = h.output();
    assert_eq!(synack.len(), 1);
    let (child, _) = h.stack.accept(l).unwrap();
    assert_eq!(h.stack.send(child, &[0u8; 15_000]), Ok(15_000));
    let out = h.output();
    assert_eq!(
        out.len(),
        10,
        "the peer's 10000-byte window, past the SYN-ACK"
    );
    assert_eq!(psh_at(&out), vec![4, 9]);

    let c = Conn {
        handle: child,
        local_port: LISTEN_PORT,
        peer_port: PEER_PORT,
        iss: synack[0].seq,
        irs: SeqNum(PEER_ISS),
    };
    h.advance(Duration::from_millis(100));
    h.send(&c, pkt(".", c.p(3), c.l(10_001)).win(60_000));
    let out = h.output();
    assert_eq!(out.len(), 5);
    assert_eq!(
        psh_at(&out),
        vec![1, 3, 4],
        "2-segment units, the write's end"
    );
}

/// Linux's tcp_mss_split_point: a MSG_MORE write larger than the MSS sends its whole
/// segments, and the partial one at its end stays in the queue (a unit that would end
/// with it is cut at the last whole segment, as the cork would hold it), where the
/// next MSG_MORE write appends to it; the ACK that uncorks sends both as one segment,
/// without PSH (no write ended the data).
#[test]
fn msg_more_holds_the_partial_tail_of_a_larger_write() {
    let mut h = Harness::new();
    let c = connection(&mut h);
    h.stack
        .set_option(c.handle, synack::SockOpt::NoDelay(true))
        .unwrap();
    assert_eq!(h.recv(), vec![], "TCP_NODELAY's push finds nothing");
    let more = synack::SendFlags {
        more: true,
        ..Default::default()
    };
    assert_eq!(h.stack.send_with(c.handle, &[0u8; 3100], more), Ok(3100));
    let out = h.output();
    assert_eq!(
        briefs(&out),
        (0..3)
            .map(|i| seg(".", c.l(1 + 1000 * i), c.p(1), 1000))
            .collect::<Vec<_>>()
    );
    h.advance(Duration::from_millis(3));
    assert_eq!(h.stack.send_with(c.handle, &[0u8; 50], more), Ok(50));
    assert_eq!(h.recv(), vec![], "corked: the 150 bytes wait");
    h.advance(Duration::from_millis(10));
    h.send(&c, pkt(".", c.p(1), c.l(2001)));
    let out = h.output();
    assert_eq!(briefs(&out), vec![seg(".", c.l(3001), c.p(1), 150)]);
    assert!(!out[0].psh, "no write ended there");
}

/// Linux's tcp_autocorking: three small writes before the driver polls. The first finds
/// nothing waiting for the device and is pushed (its unit cut off at once, as Linux
/// sends it); the second and third find that unit still waiting for the device (the
/// driver has not polled) and leave their chunk open, so they go as one segment after
/// it, each counted in TCPAutoCorking. With tcp_autocorking 0 each write is pushed on
/// its own, as three segments.
#[test]
fn autocorking_coalesces_writes_while_the_device_holds_an_earlier_one() {
    for (autocork, sizes, counted) in [(true, vec![100, 200], 2), (false, vec![100, 100, 100], 0)] {
        let mut h = Harness::with_config(|c| c.tcp_autocorking = autocork);
        let c = connection(&mut h);
        h.stack
            .set_option(c.handle, synack::SockOpt::NoDelay(true))
            .unwrap();
        assert_eq!(h.recv(), vec![]);
        for _ in 0..3 {
            assert_eq!(h.stack.send(c.handle, &[0u8; 100]), Ok(100));
        }
        let lens: Vec<usize> = h.output().iter().map(|s| s.payload.len()).collect();
        assert_eq!(lens, sizes, "tcp_autocorking {autocork}");
        assert_eq!(h.stack.stats().TCPAutoCorking, counted);
    }
}
