//! Every numeric flag of every command, given a negative number, a word, a fraction where
//! a whole number is expected, or a value out of range: the built `synack` binary exits
//! with status 2 (a usage error) and says what it expects and the allowed range.

use std::process::Command;

/// Runs `synack` with `args`; returns the exit code and standard error.
fn synack(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run the synack binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A directory that exists, for the commands that need a path.
fn scripts() -> String {
    format!("{}/../pktdrill/scripts", env!("CARGO_MANIFEST_DIR"))
}

/// Asserts that `args` is refused as a usage error whose message is `message`.
fn refused(args: &[&str], message: &str) {
    let (code, err) = synack(args);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert!(
        err.contains(message),
        "{args:?}: expected `{message}` in:\n{err}"
    );
    assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    assert!(!err.contains("invalid digit"), "{args:?}: {err}");
}

#[test]
fn demo_numbers_say_what_they_expect() {
    let ms = "expected a whole number of milliseconds from 0 to 60000";
    let p = "expected a probability from 0 to 1";
    let seed = "expected a whole number from 0 to 18446744073709551615";
    let bytes = "expected a whole number of bytes from 0 to 100000000";
    for (args, message) in [
        (
            &["--loss", "-0.1"][..],
            format!("invalid value '-0.1' for '--loss <P>': -0.1 is out of range: {p}"),
        ),
        (&["--loss", "1.5"], format!("1.5 is out of range: {p}")),
        (&["--loss", "lots"], format!("lots is not a number: {p}")),
        (&["--loss=-1"], format!("-1 is out of range: {p}")),
        (
            &["--delay-ms", "-5"],
            format!("invalid value '-5' for '--delay-ms <MS>': -5 is out of range: {ms}"),
        ),
        (&["--delay-ms", "abc"], format!("abc is not a number: {ms}")),
        (
            &["--delay-ms", "2.5"],
            format!("2.5 is not a whole number: {ms}"),
        ),
        (
            &["--delay-ms", "60001"],
            format!("60001 is out of range: {ms}"),
        ),
        (
            &["--seed", "-1"],
            format!("invalid value '-1' for '--seed <SEED>': -1 is out of range: {seed}"),
        ),
        (
            &["--seed", "18446744073709551616"],
            format!("is out of range: {seed}"),
        ),
        (
            &["--request-bytes", "-18"],
            format!("-18 is out of range: {bytes}"),
        ),
        (
            &["--response-bytes", "200000000"],
            format!("200000000 is out of range: {bytes}"),
        ),
        (
            &["--response-bytes", "4k"],
            format!("4k is not a number: {bytes}"),
        ),
    ] {
        refused(&[&["demo"], args].concat(), &message);
    }
}

#[test]
fn pktdrill_numbers_say_what_they_expect() {
    let us = "expected a whole number of microseconds from 0 to 1000000000";
    let pct = "expected a percentage from 0 to 100";
    let tick = "expected a whole number of microseconds from 0 to 1000000";
    let dir = scripts();
    for (args, message) in [
        (
            &["--tolerance_usecs", "-1"][..],
            format!("invalid value '-1' for '--tolerance_usecs <USECS>': -1 is out of range: {us}"),
        ),
        (
            &["--tolerance-usecs", "ten"],
            format!("ten is not a number: {us}"),
        ),
        (
            &["--tolerance_percent", "-12.5"],
            format!("-12.5 is out of range: {pct}"),
        ),
        (
            &["--tolerance_percent", "half"],
            format!("half is not a number: {pct}"),
        ),
        (
            &["--tcp_ts_tick_usecs", "-1000"],
            format!("-1000 is out of range: {tick}"),
        ),
        (
            &["--tcp_ts_tick_usecs", "0.5"],
            format!("0.5 is not a whole number: {tick}"),
        ),
    ] {
        // The value comes before the path, so it cannot be taken for one.
        refused(
            &[&["pktdrill", "run"], args, &[dir.as_str()]].concat(),
            &message,
        );
    }
}

#[test]
fn packetdrill_runner_flags_say_what_they_expect() {
    let dir = scripts();
    for (args, message) in [
        (
            &["--mtu", "576"][..],
            "576 is out of range: expected an MTU in bytes from 1280 to 65535",
        ),
        (
            &["--mss", "0"],
            "0 is out of range: expected an MSS in bytes from 1 to 65535",
        ),
        (
            &["--bind_port", "70000"],
            "70000 is out of range: expected a port from 1 to 65535",
        ),
        (
            &["--local_ip", "192.168.0"],
            "192.168.0 is not an address: expected an IPv4 or IPv6 address",
        ),
        (
            &["--remote_ip", "192.0.2.1/40"],
            "192.0.2.1/40: bad prefix /40: expected 0 to 32",
        ),
        (&["-D", "TFO_COOKIE"], "TFO_COOKIE is not NAME=VALUE"),
        (&["-D", "1X=2"], "`1X` is not a name"),
        (&["--init_scripts", "/no/such/file.sh"], "no such file"),
        (&["--harness", "run_all"], "unknown harness `run_all`"),
    ] {
        refused(
            &[&["pktdrill", "run"], args, &[dir.as_str()]].concat(),
            message,
        );
    }
}

#[test]
fn packetdrill_runner_flags_are_accepted() {
    // ksft_runner.sh's IPv6 command line, on synack's own scripts.
    let dir = scripts();
    let (code, err) = synack(&[
        "pktdrill",
        "run",
        "-q",
        "--ip_version=ipv6",
        "--mtu=1520",
        "--local_ip=fd3d:0a0b:17d6::1",
        "--gateway_ip=fd3d:0a0b:17d6:8888::1",
        "--remote_ip=fd3d:fa7b:d17d::1",
        "-D",
        "TFO_COOKIE=c1d1e9742a47a9bc",
        "-D",
        "CMSG_LEVEL_IP=SOL_IPV6",
        "--send_omit_free",
        &dir,
    ]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn good_numbers_are_accepted() {
    let (code, err) = synack(&["demo", "--loss", "0", "--delay-ms", "0", "--seed", "0"]);
    assert_eq!(code, Some(0), "{err}");
    let dir = scripts();
    let (code, err) = synack(&[
        "pktdrill",
        "run",
        "-q",
        "--tolerance_usecs",
        "4000",
        "--tolerance_percent",
        "12.5",
        &dir,
    ]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn queues_say_what_they_expect() {
    let q = "expected a number of queues from 1 to 64";
    for cmd in ["serve", "get", "connect", "forward"] {
        for bad in ["0", "65", "-1", "two", "1.5"] {
            refused(&[cmd, "--queues", bad], q);
        }
    }
}

#[test]
fn txqueuelen_says_what_it_expects() {
    let q = "expected a number of packets from 0 to 1048576";
    for cmd in ["serve", "get", "connect", "forward"] {
        for bad in ["1048577", "-1", "many", "1.5"] {
            refused(&[cmd, "--txqueuelen", bad], q);
        }
    }
}

#[test]
fn route_says_what_it_expects() {
    let form = "expected PREFIX [mtu [lock] N] [advmss N] [initcwnd N]";
    for cmd in ["serve", "get", "connect", "forward"] {
        for (bad, why) in [
            ("10.0.0.0/8", "no metric for 10.0.0.0/8"),
            ("10.0.0.0/33 mtu 1400", "the prefix length must be 0 to 32"),
            ("ten mtu 1400", "not an address prefix"),
            ("10.0.0.0/8 mtu", "mtu needs a whole number"),
            ("10.0.0.0/8 mtu lock x", "mtu needs a whole number, not `x`"),
            (
                "10.0.0.0/8 rtt 10",
                "`rtt` is not a route metric synack keeps",
            ),
        ] {
            refused(&[cmd, "--route", bad], why);
            refused(&[cmd, "--route", bad], form);
        }
        for bad in [
            "10.0.0.0/8 mtu 67",
            "10.0.0.0/8 advmss 87",
            "10.0.0.0/8 advmss 65536",
            "10.0.0.0/8 initcwnd 0",
        ] {
            refused(
                &[cmd, "--route", bad],
                "a metric is out of range: mtu from 68",
            );
        }
    }
}
