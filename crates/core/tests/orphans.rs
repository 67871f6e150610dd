//! `tcp_max_orphans`: connections the program closed while they still had a FIN to get
//! across are orphans; beyond the limit Linux resets them (tcp_check_oom at close(),
//! tcp_out_of_resources on their timers), counting TCPAbortOnMemory. The count checked
//! is Linux's copy, refreshed every 100 ms.

mod common;

use core::time::Duration;

use common::*;
use synack::State;

/// A passive connection from `peer_port`, established at the harness's current time.
fn accepted(h: &mut Harness, l: synack::SocketHandle, peer_port: u16) -> Conn {
    h.established_passive_on(l, peer_port)
}

#[test]
fn close_beyond_the_limit_sends_the_fin_then_a_reset() {
    for (max, reset) in [(0, true), (262_144, false)] {
        let mut h = Harness::with_config(|c| c.tcp_max_orphans = max);
        let l = h.listen(16);
        let a = accepted(&mut h, l, 40001);
        h.stack.close(a.handle).unwrap();
        // The limit is checked against the count of 100 ms ago: nobody was orphaned.
        assert_eq!(h.recv(), vec![seg("F.", a.l(1), a.p(1), 0)], "max {max}");
        assert_eq!(h.stack.orphan_count(), 1);
        assert_eq!(h.advance_ms(100), vec![], "the FIN's RTO is later");

        let b = accepted(&mut h, l, 40002);
        h.stack.close(b.handle).unwrap();
        let mut want = vec![seg("F.", b.l(1), b.p(1), 0)];
        if reset {
            // Linux's __tcp_close: the FIN is pushed, then tcp_check_oom resets.
            want.push(seg("R.", b.l(2), b.p(1), 0));
        }
        assert_eq!(h.recv(), want, "max {max}");
        assert_eq!(h.stack.stats().TCPAbortOnMemory, u64::from(reset));
        assert_eq!(h.stack.orphan_count(), if reset { 1 } else { 2 });
        assert_eq!(h.states_of(&b).is_empty(), reset, "max {max}");
    }
}

#[test]
fn closes_within_one_period_are_judged_by_the_count_before_them() {
    let mut h = Harness::with_config(|c| c.tcp_max_orphans = 1);
    let l = h.listen(16);
    let conns: Vec<Conn> = (0..3).map(|i| accepted(&mut h, l, 40001 + i)).collect();
    for c in &conns {
        h.stack.close(c.handle).unwrap();
    }
    let fins: Vec<Seg> = conns.iter().map(|c| seg("F.", c.l(1), c.p(1), 0)).collect();
    assert_eq!(h.recv(), fins, "tcp_orphan_cache was 0 for the whole burst");
    assert_eq!(h.stack.orphan_count(), 3);
    assert_eq!(h.stack.stats().TCPAbortOnMemory, 0);
}

#[test]
fn an_orphans_timer_resets_it_instead_of_retransmitting() {
    for (max, reset) in [(0, true), (262_144, false)] {
        let mut h = Harness::with_config(|c| c.tcp_max_orphans = max);
        let l = h.listen(16);
        let a = accepted(&mut h, l, 40001);
        h.stack.close(a.handle).unwrap();
        assert_eq!(h.recv(), vec![seg("F.", a.l(1), a.p(1), 0)]);
        let out = briefs(&h.next_output(Duration::from_secs(5)));
        let want = if reset {
            // tcp_write_timeout → tcp_out_of_resources: the orphan sent recently, so it
            // is reset (SEQ = SND.NXT, past the FIN).
            seg("R.", a.l(2), a.p(1), 0)
        } else {
            seg("F.", a.l(1), a.p(1), 0)
        };
        assert_eq!(out, vec![want], "max {max}");
        assert_eq!(h.stack.stats().TCPAbortOnMemory, u64::from(reset));
        assert_eq!(h.stack.orphan_count(), usize::from(!reset));
    }
}

#[test]
fn fin_wait_2_orphans_and_finished_ones_are_not_counted() {
    let mut h = Harness::with_config(|c| c.tcp_max_orphans = 0);
    let c = h.fin_wait_2();
    h.stack.close(c.handle).unwrap();
    // Linux turns a FIN-WAIT-2 orphan into a TIME-WAIT mini-socket (tcp_fin_timeout is
    // not longer than TIME-WAIT): no orphan, no check.
    assert_eq!(h.stack.orphan_count(), 0);
    assert_eq!(h.recv(), vec![]);
    assert_eq!(h.states_of(&c), vec![State::FinWait2]);

    let l = h.listen(16);
    let a = accepted(&mut h, l, 40001);
    h.stack.close(a.handle).unwrap();
    assert_eq!(h.recv(), vec![seg("F.", a.l(1), a.p(1), 0)]);
    assert_eq!(h.stack.orphan_count(), 1);
    // The peer's ACK and FIN finish it: TIME-WAIT is no orphan.
    h.send(&a, pkt("F.", a.p(1), a.l(2)));
    assert_eq!(h.recv(), vec![seg(".", a.l(2), a.p(2), 0)]);
    assert_eq!(h.stack.orphan_count(), 0);
    assert_eq!(h.states_of(&a), vec![State::TimeWait]);
}
