//! MSG_ZEROCOPY notifications and SO_TIMESTAMPING timestamps: the project's scripts
//! pass, and changing what they expect makes them fail with what was reported.

use std::path::Path;

use synack_pktdrill::{run_str, Options, Outcome};

fn script() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/zerocopy/zerocopy.pkt");
    std::fs::read_to_string(p).expect("the zerocopy script")
}

fn fail_message(src: &str) -> String {
    match run_str("z.pkt", src, &Options::default()) {
        Outcome::Fail(f) => f.message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn notifications_are_checked() {
    let s = script();
    assert!(run_str("z.pkt", &s, &Options::default()).is_pass());
    let wrong_range = s.replacen("ee_info=2, ee_data=3", "ee_info=2, ee_data=2", 1);
    assert_eq!(
        fail_message(&wrong_range),
        "recvmsg(MSG_ERRQUEUE): expected ee_data 2, got 3 (the notification of ids 2..3)"
    );
    // Without SO_ZEROCOPY, MSG_ZEROCOPY is an ordinary send: nothing is notified.
    let off = s.replacen(
        "   +0 setsockopt(3, SOL_SOCKET, SO_ZEROCOPY, [1], 4) = 0\n",
        "",
        1,
    );
    let m = fail_message(&off);
    assert!(m.starts_with("getsockopt(): expected value 1"), "{m}");
    let off = off.replacen("SO_ZEROCOPY, [1], [4]", "SO_ZEROCOPY, [0], [4]", 1);
    // No POLLERR: no notification is queued.
    assert_eq!(
        fail_message(&off),
        "poll(): pollfd 0 (fd 4): expected revents POLLOUT|POLLERR, got POLLOUT"
    );
}

#[test]
fn timestamps_are_checked() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/timestamping/tx-timestamps.pkt");
    let s = std::fs::read_to_string(p).expect("the timestamping script");
    assert!(run_str("t.pkt", &s, &Options::default()).is_pass());
    // The ACK timestamp was taken at 0.2 s.
    let late = s.replacen("scm_nsec=200000000", "scm_nsec=300000000", 1);
    assert_eq!(
        fail_message(&late),
        "recvmsg(MSG_ERRQUEUE): expected a timestamp at 0.300000 s, got timestamp \
         SCM_TSTAMP_ACK of key 999 at 0.200000 s"
    );
    // Keys count from where OPT_ID was set: the last byte is 999, not 1499.
    let key = s.replacen("ee_data=999", "ee_data=1499", 1);
    assert!(fail_message(&key).starts_with("recvmsg(MSG_ERRQUEUE): expected ee_data 1499, got 999"));
}
