//! The crate's own scripts pass, and scripts that should fail do fail, with a clear message.

use std::path::{Path, PathBuf};

use synack_pktdrill::{collect_scripts, run_file, run_str, IpVersion, Options, Outcome};

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

fn run_all(opts: &Options) {
    let scripts = collect_scripts(&[scripts_dir()]).unwrap();
    assert!(scripts.len() >= 3, "the crate's scripts are missing");
    // Scripts of Linux behaviours the engine lacks fail on purpose (see own_scripts.rs).
    let known_failing = |p: &Path| p.components().any(|c| c.as_os_str() == "known-failing");
    for s in scripts.into_iter().filter(|p| !known_failing(p)) {
        match run_file(&s, opts) {
            Outcome::Pass => {}
            Outcome::Fail(f) => panic!("{} failed:\n{f}", s.display()),
            Outcome::Unsupported(r) => panic!("{} unsupported: {r}", s.display()),
        }
    }
}

#[test]
fn own_scripts_pass_ipv4() {
    run_all(&Options::default());
}

#[test]
fn own_scripts_pass_ipv6_and_mapped() {
    for v in [IpVersion::Ipv6, IpVersion::Ipv4MappedIpv6] {
        run_all(&Options {
            ip_version: Some(v),
            ..Options::default()
        });
    }
}

fn expect_fail(outcome: Outcome) -> Box<synack_pktdrill::Failure> {
    match outcome {
        Outcome::Fail(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn wrong_window_on_the_syn_ack_fails() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wrong-synack-window.pkt");
    let f = expect_fail(run_file(&path, &Options::default()));
    assert_eq!(f.line, 8);
    assert!(f.source_line.contains("win 1234"), "{f}");
    assert!(
        f.message
            .starts_with("bad outbound packet: expected win 1234, got win "),
        "{}",
        f.message
    );
    let actual = f.actual.clone().unwrap();
    assert!(actual.starts_with("S. 0:0(0) ack 1 win "), "{actual}");
    assert_eq!(f.time_us, 100_000);
    // The exchange so far: the SYN in, the SYN-ACK out, tcpdump-style.
    assert_eq!(f.exchange.len(), 2, "{f}");
    assert!(f.exchange[0].contains("< 192.0.2.1.40000 > 192.168.0.1.8080: Flags [S], seq 0"));
    assert!(f.exchange[1].contains("Flags [S.], seq 0, ack 1"));
    let shown = f.to_string();
    assert!(
        shown.contains("line 8:") && shown.contains("exchange so far:"),
        "{shown}"
    );
}

const HANDSHAKE: &str = "\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
";

#[test]
fn wrong_ack_fails() {
    let src = format!("{HANDSHAKE}+0 > S. 0:0(0) ack 2 <...>\n");
    let f = expect_fail(run_str("wrong-ack.pkt", &src, &Options::default()));
    assert_eq!(f.line, 5);
    assert_eq!(f.message, "bad outbound packet: expected ack 2, got ack 1");
}

#[test]
fn wrong_options_fail_in_order() {
    let src = format!("{HANDSHAKE}+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,nop,nop,nop,wscale 7>\n");
    let f = expect_fail(run_str("wrong-opts.pkt", &src, &Options::default()));
    assert!(
        f.message.contains("expected sackOK, got nop"),
        "{}",
        f.message
    );
}

#[test]
fn late_packet_is_a_timing_error() {
    let src = format!("{HANDSHAKE}+.2 > S. 0:0(0) ack 1 <...>\n");
    let f = expect_fail(run_str("late.pkt", &src, &Options::default()));
    assert!(
        f.message.starts_with(
            "timing error: expected outbound packet at 0.300000 s but it was sent at 0.100000 s"
        ),
        "{}",
        f.message
    );
}

#[test]
fn wrong_syscall_result_fails() {
    let src = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 listen(3, 1) = 0\n\
               +0 accept(3, ..., ...) = -1 EINVAL\n";
    // A non-blocking accept is what the script should have asked for: with a blocking
    // socket and no `...`, the call would block forever.
    let f = expect_fail(run_str("block.pkt", src, &Options::default()));
    assert!(
        f.message.starts_with("call would block: `accept`"),
        "{}",
        f.message
    );
    let src = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
               +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 listen(3, 1) = 0\n\
               +0 accept(3, ..., ...) = -1 EINVAL\n";
    let f = expect_fail(run_str("eagain.pkt", src, &Options::default()));
    assert_eq!(f.message, "accept() returned -1 EAGAIN, expected -1 EINVAL");
}

#[test]
fn unsupported_is_never_passed() {
    let src = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
               +0 setsockopt(3, SOL_TCP, TCP_MD5SIG, [1], 4) = 0\n";
    match run_str("md5.pkt", src, &Options::default()) {
        Outcome::Unsupported(r) => assert!(r.contains("MD5"), "{r}"),
        other => panic!("{other:?}"),
    }
    let src = "`../common/defaults.sh\nsysctl -q net.ipv4.tcp_no_such_knob=1`\n\
               0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
    match run_str("knob.pkt", src, &Options::default()) {
        Outcome::Unsupported(r) => assert!(r.contains("tcp_no_such_knob"), "{r}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn icmp_scripts_of_each_family_pass() {
    // ICMP and ICMPv6 name their messages differently (frag_needed, packet_too_big), so
    // these scripts pin their IP version and run apart from the ones run in every
    // version above.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/icmp");
    let scripts = collect_scripts(&[dir]).unwrap();
    assert!(scripts.len() >= 2, "the ICMP scripts are missing");
    for s in scripts {
        match run_file(&s, &Options::default()) {
            Outcome::Pass => {}
            Outcome::Fail(f) => panic!("{} failed:\n{f}", s.display()),
            Outcome::Unsupported(r) => panic!("{} unsupported: {r}", s.display()),
        }
    }
}
