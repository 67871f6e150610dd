//! NULL buffers (EFAULT, as Linux's copy to or from a bad address) and TCP_INQ's
//! control message, each checked so that a wrong expectation fails.

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
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
";

fn outcome(src: &str) -> Outcome {
    run_str("t.pkt", src, &Options::default())
}

fn fail_message(src: &str) -> String {
    match outcome(src) {
        Outcome::Fail(f) => f.message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn null_buffers_fault_only_when_something_is_copied() {
    let src = format!(
        "{OPEN}+0 read(4, NULL, 1000) = -1 EAGAIN (Resource temporarily unavailable)\n\
         +0 write(4, NULL, 1000) = -1 EFAULT (Bad address)\n\
         +0 < P. 1:101(100) ack 1 win 257\n\
         +0 > . 1:1(0) ack 101\n\
         +0 recv(4, NULL, 100, 0) = -1 EFAULT (Bad address)\n\
         +0 read(4, ..., 100) = 100\n"
    );
    assert!(outcome(&src).is_pass(), "{:?}", outcome(&src));
    // Nothing went out for the faulting write: the next segment starts at 1.
    let src = format!(
        "{OPEN}+0 write(4, NULL, 1000) = -1 EFAULT (Bad address)\n\
         +0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n"
    );
    assert!(outcome(&src).is_pass());
    let wrong = format!("{OPEN}+0 write(4, NULL, 1000) = 1000\n");
    assert_eq!(
        fail_message(&wrong),
        "write() returned -1 EFAULT, expected 1000"
    );
}

const RECVMSG_INQ: &str = "+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 40}], \
    msg_flags=0, msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=INQ}]}, 0) = 40\n";

#[test]
fn tcp_inq_reports_what_is_left_to_read() {
    let data = "+0 < P. 1:101(100) ack 1 win 257\n+0 > . 1:1(0) ack 101\n";
    let inq = |v: &str| RECVMSG_INQ.replace("INQ}", &format!("{v}}}"));
    let on = format!(
        "{OPEN}+0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n\
         +0 getsockopt(4, SOL_TCP, TCP_INQ, [1], [4]) = 0\n{data}{}",
        inq("60")
    );
    assert!(outcome(&on).is_pass(), "{:?}", outcome(&on));
    assert_eq!(
        fail_message(&on.replace("cmsg_data=60", "cmsg_data=59")),
        "recvmsg(): expected TCP_CM_INQ 59, got 60"
    );
    let off = format!("{OPEN}{data}{}", inq("60"));
    assert!(fail_message(&off).contains("TCP_INQ is off"));
}
