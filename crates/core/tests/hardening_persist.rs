//! The zero-window probe timer (issue 6, bug 5): when the peer answers a probe with the
//! window still closed, Linux re-arms the probe timer from the answer's arrival with
//! the backed-off interval (tcp_ack_probe), so the next probe comes one interval after
//! the answer, not after the previous probe.

mod common;

use core::time::Duration;

use common::*;

/// ESTABLISHED with 100 bytes acknowledged, the peer's window closed and 100 more bytes
/// queued.
fn zero_window(h: &mut Harness) -> Conn {
    let c = h.established_active();
    h.stack.send(c.handle, &[1; 100]).unwrap();
    assert_eq!(h.recv(), vec![seg(".", c.l(1), c.p(1), 100)]);
    h.send(&c, pkt(".", c.p(1), c.l(101)).win(0));
    h.stack.send(c.handle, &[2; 100]).unwrap();
    assert_eq!(h.recv(), vec![], "nothing fits in a zero window");
    c
}

/// Each probe is answered after a delay `d`; probe k+1 comes RTO << k after the answer
/// to probe k.
#[test]
fn probe_timer_restarts_from_the_answer() {
    for delay_ms in [10u64, 100, 150] {
        let mut h = Harness::new();
        let c = zero_window(&mut h);
        let rto = h.stack.socket_info(c.handle).unwrap().rto;
        let mut answered_at = h.now;
        for k in 0..5u32 {
            let out = h.next_output(Duration::from_secs(120));
            assert_eq!(
                briefs(&out),
                vec![seg(".", c.l(100), c.p(1), 0)],
                "probe {k}"
            );
            assert_eq!(
                h.now - answered_at,
                rto * (1 << k),
                "probe {k} comes {:?} after the last answer (delay {delay_ms} ms)",
                rto * (1 << k)
            );
            assert!(h.advance(Duration::from_millis(delay_ms)).is_empty());
            h.send(&c, pkt(".", c.p(1), c.l(101)).win(0));
            assert_eq!(h.recv(), vec![]);
            answered_at = h.now;
        }
        // The window opens: the data goes at once, and the backoff is over.
        h.send(&c, pkt(".", c.p(1), c.l(101)).win(65535));
        assert_eq!(h.recv(), vec![seg(".", c.l(101), c.p(1), 100)]);
        assert_eq!(h.stack.socket_info(c.handle).unwrap().rto, rto);
    }
}
