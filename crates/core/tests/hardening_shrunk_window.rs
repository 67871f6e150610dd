//! Data in flight when the peer's window closes (seeds 954146, 538191 and 698687 of the
//! integrity soak): a receiver with a small buffer takes part of a segment and answers
//! with a zero window, and its window update is lost. The persist timer runs only with
//! nothing in flight, so the retransmission timer must do the probing: Linux's
//! tcp_retransmit_timer retransmits the first unacknowledged segment anyway
//! (__tcp_retransmit_skb lets one segment at SND.UNA past a closed window) and, while
//! the peer answers, does not count the probing against `tcp_retries2`
//! (tcp_rtx_probe0_timed_out). The engine used to send nothing at each expiry and time
//! the connection out after 15 silent minutes.

mod common;

use core::time::Duration;

use common::*;
use synack::{Error, EventKind, State};

/// ESTABLISHED (peer MSS 536), 1000 bytes sent as 536 + 464; the peer acknowledges the
/// first segment only and closes its window, so 464 bytes stay in flight.
fn closed_with_data_in_flight(h: &mut Harness) -> Conn {
    let c = h.established_active();
    h.stack.send(c.handle, &[7; 1000]).unwrap();
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(1), c.p(1), 536),
            seg(".", c.l(537), c.p(1), 464)
        ]
    );
    h.send(&c, pkt(".", c.p(1), c.l(537)).win(0));
    assert_eq!(
        h.recv(),
        vec![],
        "nothing goes into a closed window at once"
    );
    c
}

fn timed_out(h: &mut Harness, c: &Conn) -> bool {
    h.events()
        .iter()
        .any(|e| e.socket == c.handle && e.kind == EventKind::Closed(Some(Error::TimedOut)))
}

/// Each expiry of the retransmission timer sends the segment at SND.UNA although the
/// window is closed, with the usual backoff; once the window opens the rest follows.
#[test]
fn rto_retransmits_the_head_into_a_closed_window() {
    let mut h = Harness::new();
    let c = closed_with_data_in_flight(&mut h);
    let rto = h.stack.socket_info(c.handle).unwrap().rto;
    let mut last = h.now;
    for k in 0..4u32 {
        let out = h.next_output(Duration::from_secs(120));
        assert_eq!(
            briefs(&out),
            vec![seg(".", c.l(537), c.p(1), 464)],
            "expiry {k} retransmits the head as a zero-window probe"
        );
        assert!(
            h.now - last >= rto * (1 << k),
            "expiry {k} after {:?}, backed off from {rto:?}",
            h.now - last
        );
        last = h.now;
        // The peer still has no room: it drops the data and repeats its window.
        h.send(&c, pkt(".", c.p(1), c.l(537)).win(0));
        assert_eq!(h.recv(), vec![]);
    }
    // The window opens and the next probe is taken: nothing more to resend.
    h.send(&c, pkt(".", c.p(1), c.l(537)).win(4000));
    let out = h.next_output(Duration::from_secs(120));
    assert_eq!(briefs(&out), vec![seg(".", c.l(537), c.p(1), 464)]);
    h.send(&c, pkt(".", c.p(1), c.l(1001)).win(4000));
    assert_eq!(briefs(&h.next_output(Duration::from_secs(600))), vec![]);
    assert_eq!(h.state(c.handle), State::Established);
}

/// A window that reopens only a little (less than half the largest one offered, which
/// sender-side SWS avoidance would hold new data for) takes the retransmission's first
/// bytes: retransmissions are limited by the window alone.
#[test]
fn rto_retransmits_what_a_small_window_takes() {
    let mut h = Harness::new();
    let c = closed_with_data_in_flight(&mut h);
    h.send(&c, pkt(".", c.p(1), c.l(537)).win(100));
    assert_eq!(h.recv(), vec![]);
    let out = h.next_output(Duration::from_secs(120));
    assert_eq!(briefs(&out), vec![seg(".", c.l(537), c.p(1), 100)]);
}

/// While the peer answers, probing a closed window by retransmission goes on past
/// `tcp_retries2`'s 924.6 s; once the peer is silent for twice `rto_max` (240 s), the
/// connection times out.
#[test]
fn closed_window_probing_lasts_while_the_peer_answers() {
    let mut h = Harness::new();
    let c = closed_with_data_in_flight(&mut h);
    let start = h.now;
    let mut probes = 0;
    while h.now - start < Duration::from_secs(1800) {
        let out = h.next_output(Duration::from_secs(121));
        assert_eq!(
            briefs(&out),
            vec![seg(".", c.l(537), c.p(1), 464)],
            "probe {probes} at {}",
            h.now
        );
        probes += 1;
        h.send(&c, pkt(".", c.p(1), c.l(537)).win(0));
        assert_eq!(h.recv(), vec![]);
    }
    assert!(!timed_out(&mut h, &c), "timed out while the peer answered");
    assert_eq!(h.state(c.handle), State::Established);
    // The peer goes silent: the probes at rto_max intervals go unanswered.
    let silent_from = h.now;
    let mut last_probe = h.now;
    while !timed_out(&mut h, &c) {
        assert!(
            h.now - silent_from < Duration::from_secs(600),
            "still probing at {}",
            h.now
        );
        let out = h.next_output(Duration::from_secs(1));
        if !out.is_empty() {
            last_probe = h.now;
        }
    }
    let gave_up = h.now - silent_from;
    assert!(
        gave_up > Duration::from_secs(240) && gave_up <= Duration::from_secs(360),
        "gave up {gave_up:?} after the last answer"
    );
    assert!(last_probe > silent_from);
}

/// Seed 698687: the peer retransmits a segment (with a lower sequence number than its
/// last ACK, which carried its SND.MAX) that acknowledges new data and closes its
/// window. Linux takes the window of any ACK that advances SND.UNA
/// (tcp_may_update_window); RFC 9293's SND.WL1 test alone ignored it, and the sender
/// went on sending into the closed window.
#[test]
fn an_ack_that_advances_snd_una_updates_the_window() {
    let mut h = Harness::new();
    let c = h.established_active();
    // The peer's second segment arrives first (SND.WL1 moves to it).
    h.send(&c, pkt(".", c.p(101), c.l(1)).data(&[1; 100]));
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 0)]);
    h.stack.send(c.handle, &[7; 1000]).unwrap();
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(1), c.p(1), 536),
            seg(".", c.l(537), c.p(1), 464)
        ]
    );
    // Its first segment, sent again, acknowledges our first 536 bytes with no room left.
    h.send(&c, pkt(".", c.p(1), c.l(537)).data(&[1; 100]).win(0));
    assert_eq!(h.recv(), vec![seg(".", c.l(1001), c.p(201), 0)]);
    h.stack.send(c.handle, &[8; 1000]).unwrap();
    assert_eq!(h.recv(), vec![], "nothing goes into the closed window");
}

/// Linux's tcp_may_update_window: a segment with the same sequence number as the last
/// window update and no new acknowledgment may only widen the window.
#[test]
fn the_same_segment_cannot_shrink_the_window() {
    let mut h = Harness::new();
    let c = h.established_active();
    h.stack.send(c.handle, &[7; 536]).unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 536)]);
    h.send(&c, pkt(".", c.p(1), c.l(537)).win(1000));
    h.send(&c, pkt(".", c.p(1), c.l(537)).win(300));
    h.stack.send(c.handle, &[8; 1000]).unwrap();
    assert_eq!(
        h.recv(),
        vec![
            seg(".", c.l(537), c.p(1), 536),
            seg(".", c.l(1073), c.p(1), 464)
        ],
        "the window is still 1000"
    );
}
