//! Socket options: Linux's ranges and reported values over the engine's options.

use synack_pktdrill::{run_str, Options, Outcome};

fn run(src: &str) -> Outcome {
    run_str("sockopt.pkt", src, &Options::default())
}

fn assert_pass(src: &str) {
    match run(src) {
        Outcome::Pass => {}
        other => panic!("{other:?}"),
    }
}

const SOCKET: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";

#[test]
fn tcp_options_read_back() {
    assert_pass(&format!(
        "{SOCKET}\
         +0 getsockopt(3, SOL_TCP, TCP_MAXSEG, [536], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [40], 4) = -1 EINVAL\n\
         +0 setsockopt(3, SOL_TCP, TCP_CORK, [1], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_CORK, [1], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_USER_TIMEOUT, [3000], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_USER_TIMEOUT, [3000], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_USER_TIMEOUT, [-1], 4) = -1 EINVAL\n\
         +0 setsockopt(3, SOL_TCP, TCP_SYNCNT, [2], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_SYNCNT, [2], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_SYNCNT, [0], 4) = -1 EINVAL\n\
         +0 setsockopt(3, SOL_TCP, TCP_KEEPIDLE, [5], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_KEEPIDLE, [5], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_KEEPINTVL, [7], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_KEEPINTVL, [7], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_KEEPCNT, [4], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_KEEPCNT, [4], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_KEEPCNT, [128], 4) = -1 EINVAL\n\
         +0 setsockopt(3, SOL_TCP, TCP_LINGER2, [1], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_LINGER2, [1], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_LINGER2, [1000], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_LINGER2, [120], [4]) = 0\n\
         +0 setsockopt(3, SOL_TCP, TCP_NODELAY, [1], 4) = 0\n\
         +0 getsockopt(3, SOL_TCP, TCP_NODELAY, [1], [4]) = 0\n"
    ));
}

#[test]
fn buffer_sizes_are_linux_values() {
    // Doubled; capped by wmem_max (4 MiB) before doubling; at least SOCK_MIN_SNDBUF.
    assert_pass(&format!(
        "{SOCKET}\
         +0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [21000], 4) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_SNDBUF, [42000], [4]) = 0\n\
         +0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [5000000], 4) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_SNDBUF, [8388608], [4]) = 0\n\
         +0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [1000], 4) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_SNDBUF, [4608], [4]) = 0\n\
         +0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [100000], 4) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [200000], [4]) = 0\n"
    ));
    // Linux's floors (SOCK_MIN_RCVBUF 2304) and a negative int, read as a huge unsigned
    // value and capped at rmem_max.
    assert_pass(&format!(
        "{SOCKET}\
         +0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [1000], 4) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [2304], [4]) = 0\n\
         +0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [-1], 4) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [8388608], [4]) = 0\n"
    ));
}

#[test]
fn so_error_is_cleared_once_read() {
    assert_pass(&format!(
        "{SOCKET}\
         +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
         +0 connect(3, ..., ...) = -1 EINPROGRESS\n\
         +0 > S 0:0(0) <...>\n\
         +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n\
         +.1 < R. 0:0(0) ack 1 win 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [111], [4]) = 0\n\
         +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n"
    ));
}

#[test]
fn ip_tos_is_unsupported_only_when_a_packet_would_carry_it() {
    // Set and cleared with nothing sent in between: nothing observable differs.
    assert_pass(&format!(
        "{SOCKET}\
         +0 setsockopt(3, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DONT], 1) = 0\n\
         +0 setsockopt(3, SOL_IP, IP_TOS, [4], 1) = 0\n\
         +0 setsockopt(3, SOL_IP, IP_TOS, [0], 1) = 0\n"
    ));
    match run(&format!(
        "{SOCKET}\
         +0 setsockopt(3, SOL_IP, IP_TOS, [4], 1) = 0\n\
         +0 connect(3, ..., ...) = -1 EINPROGRESS\n"
    )) {
        Outcome::Unsupported(r) => assert!(r.contains("IP_TOS"), "{r}"),
        other => panic!("{other:?}"),
    }
}
