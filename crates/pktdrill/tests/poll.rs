//! poll() and epoll in scripts: a wrong expectation fails with what was reported.

use synack_pktdrill::{run_str, Options, Outcome};

const OPEN: &str = "\
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 epoll_create(1) = 5
";

fn fail_message(src: &str) -> String {
    match run_str("p.pkt", src, &Options::default()) {
        Outcome::Fail(f) => f.message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn edge_triggered_reports_once() {
    let src = format!(
        "{OPEN}+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {{events=EPOLLOUT|EPOLLET, fd=4}}) = 0\n\
         +0 epoll_wait(5, {{events=EPOLLOUT, fd=4}}, 1, 0) = 1\n"
    );
    assert!(run_str("p.pkt", &src, &Options::default()).is_pass());
    let again = format!("{src}+0 epoll_wait(5, {{events=EPOLLOUT, fd=4}}, 1, 0) = 1\n");
    assert_eq!(fail_message(&again), "epoll_wait() returned 0, expected 1");
    // Level-triggered, it would be reported again.
    let lt = again.replace("EPOLLOUT|EPOLLET", "EPOLLOUT");
    assert!(run_str("p.pkt", &lt, &Options::default()).is_pass());
}

#[test]
fn wrong_events_say_what_was_reported() {
    let src = format!(
        "{OPEN}+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {{events=EPOLLIN|EPOLLOUT, fd=4}}) = 0\n\
         +0 epoll_wait(5, {{events=EPOLLIN|EPOLLOUT, fd=4}}, 1, 0) = 1\n"
    );
    assert_eq!(
        fail_message(&src),
        "epoll_wait(): expected events POLLIN|POLLOUT data 4, got events POLLOUT data 4"
    );
    let src =
        format!("{OPEN}+0 poll([{{fd=4, events=POLLIN|POLLOUT, revents=POLLIN}}], 1, 0) = 1\n");
    assert_eq!(
        fail_message(&src),
        "poll(): pollfd 0 (fd 4): expected revents POLLIN, got POLLOUT"
    );
}

#[test]
fn a_timeout_is_waited_for_in_virtual_time() {
    let src = format!("{OPEN}+0...0.250 poll([{{fd=4, events=POLLIN, revents=0}}], 1, 250) = 0\n");
    assert!(run_str("p.pkt", &src, &Options::default()).is_pass());
    let early = src.replace("+0...0.250", "+0...0.100");
    assert!(
        fail_message(&early).starts_with(
            "timing error: expected the blocking call to return at 0.200000 s but it returned \
             at 0.350000 s"
        ),
        "{}",
        fail_message(&early)
    );
}
