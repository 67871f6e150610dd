//! Labs about timers and small segments: half-close, retransmission, keepalive,
//! nagle-delack.

use synack_lab::labs::{half_close, keepalive, nagle_delack, retransmission};
use synack_lab::Options;

#[test]
fn half_close_reads_the_whole_response_and_close_resets() {
    let f = half_close::run(&Options::new(1)).unwrap().figures;
    let h = &f.shutdown_wr;
    assert_eq!(h.client_read, h.response_bytes);
    assert!(!h.client_sent_rst && h.server_error.is_none(), "{h:?}");
    let c = &f.close_early;
    assert_eq!(c.client_read, 0);
    assert!(c.client_sent_rst);
    assert_eq!(c.abort_on_data, 1);
    // Linux's tcp_reset reports EPIPE to a socket that had received a FIN.
    assert_eq!(c.server_error.as_deref(), Some("EPIPE"));
    let u = &f.close_unread;
    assert!(u.client_sent_rst);
    assert_eq!(u.abort_on_close, 1);
    assert_eq!(u.server_error.as_deref(), Some("ECONNRESET"));
}

#[test]
fn syn_retries_give_up_after_127_s_and_retries2_bounds_data() {
    let f = retransmission::run(&Options::new(1)).unwrap().figures;
    assert_eq!(f.syn.sent_at_s, [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0]);
    assert_eq!(f.syn.gave_up_after_s, 127.0);
    assert_eq!(f.syn.error, "ETIMEDOUT");
    // RTO doubling, capped at 120 s.
    let gaps = &f.data.gaps_s;
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
    assert_eq!(gaps.last(), Some(&120.0));
    assert_eq!(f.data.error, "ETIMEDOUT");
    // tcp_retries2=15 is about 15 minutes, 8 under two.
    assert!(
        (900.0..1000.0).contains(&f.data.gave_up_after_s),
        "{:?}",
        f.data
    );
    assert!(f.data_retries2_8.gave_up_after_s < 120.0);
    // A reader's knob changes the SYN schedule.
    let f2 = retransmission::run(&Options::new(1).sysctl("net.ipv4.tcp_syn_retries", "2"))
        .unwrap()
        .figures;
    assert_eq!(f2.syn.sent_at_s, [0.0, 1.0, 3.0]);
    assert_eq!(f2.syn.gave_up_after_s, 7.0);
}

#[test]
fn keepalive_detects_after_2h11m15s_tuned_after_90_s_and_never_without() {
    let f = keepalive::run(&Options::new(1)).unwrap().figures;
    assert_eq!(f.keepalive.detected_after, "2:11:15");
    assert_eq!(f.keepalive.probes, 9);
    assert_eq!(f.keepalive.error.as_deref(), Some("ETIMEDOUT"));
    assert_eq!(f.tuned.detected_after, "0:01:30");
    assert_eq!(f.tuned.probes, 3);
    assert_eq!(f.off.detected_after, "never");
    assert_eq!(f.off.final_state, "ESTABLISHED");
    let f2 = keepalive::run(&Options::new(1).sysctl("net.ipv4.tcp_keepalive_time", "600"))
        .unwrap()
        .figures;
    assert_eq!(f2.keepalive.detected_after, "0:21:15");
}

#[test]
fn nagle_and_delayed_ack_stall_40_ms_and_each_option_ends_it() {
    let f = nagle_delack::run(&Options::new(1)).unwrap().figures;
    let s = f.nagle_delack.stall_ms;
    assert!((39.5..=40.5).contains(&s), "stall {s} ms");
    assert_eq!(f.nagle_delack.client_segments_per_request, 2);
    for v in [&f.nodelay, &f.quickack, &f.cork] {
        assert!(v.stall_ms < 1.0, "{v:?}");
    }
    assert_eq!(f.cork.client_segments_per_request, 1);
}
