//! Runs the built `synack` binary and checks what `synack demo` prints.

use std::process::{Command, Output};

/// Runs `synack` with `args`.
fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run the synack binary")
}

/// Runs `synack demo` with `args`, asserts success and returns its standard output.
fn demo_ok(args: &[&str]) -> String {
    let out = synack(&[&["demo"], args].concat());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "synack demo {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Asserts that `needles` occur in `hay` in this order, and returns the position of each.
fn assert_in_order(hay: &str, needles: &[&str]) -> Vec<usize> {
    let mut from = 0;
    let mut found = Vec::new();
    for n in needles {
        match hay[from..].find(n) {
            Some(i) => {
                from += i + n.len();
                found.push(from - n.len());
            }
            None => panic!("`{n}` not found (in order, after {needles:?} up to it) in:\n{hay}"),
        }
    }
    found
}

/// The line of `out` that contains `needle`.
fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with `{needle}` in:\n{out}"))
}

#[test]
fn default_demo_shows_handshake_data_and_four_way_close() {
    let out = demo_ok(&[]);
    // The segments, in order, with the seeds' names.
    assert_in_order(
        &out,
        &[
            "Flags [S], seq",
            "[SYN seq=x]",
            "Flags [S.], seq",
            "[SYN-ACK seq=y ack=x+1]",
            "Flags [.], ack 1,",
            "[ACK seq=x+1 ack=y+1]",
            "Flags [P.], seq 1:19, ack 1,",
            "seq 1:1449, ack 19,",
            "seq 1449:2897, ack 19,",
            "seq 2897:4001, ack 19,",
            "Flags [F.], seq 19, ack 4001,",
            "[FIN seq=u]",
            "Flags [.], ack 20,",
            "[ACK seq=v ack=u+1]",
            "Flags [F.], seq 4001, ack 20,",
            "[FIN seq=w ack=u+1]",
            "Flags [.], ack 4002,",
            "[ACK seq=u+1 ack=w+1]",
        ],
    );
    // Each end's transitions, in order.
    assert_in_order(
        &out,
        &[
            "client  CLOSED -> SYN_SENT",
            "client  SYN_SENT -> ESTABLISHED",
            "client  ESTABLISHED -> FIN_WAIT1",
            "client  FIN_WAIT1 -> FIN_WAIT2",
            "client  FIN_WAIT2 -> TIME_WAIT",
            "client  TIME_WAIT -> CLOSED",
        ],
    );
    assert_in_order(
        &out,
        &[
            "server  CLOSED -> LISTEN",
            "server  LISTEN -> SYN_RECV",
            "server  SYN_RECV -> ESTABLISHED",
            "server  ESTABLISHED -> CLOSE_WAIT",
            "server  CLOSE_WAIT -> LAST_ACK",
            "server  LAST_ACK -> CLOSED",
        ],
    );
    // Segments and transitions interleaved on one timeline.
    assert_in_order(
        &out,
        &[
            "client  CLOSED -> SYN_SENT",
            "[SYN seq=x]",
            "server  LISTEN -> SYN_RECV",
            "[SYN-ACK seq=y ack=x+1]",
            "client  SYN_SENT -> ESTABLISHED",
            "[ACK seq=x+1 ack=y+1]",
            "server  SYN_RECV -> ESTABLISHED",
            "client  ESTABLISHED -> FIN_WAIT1",
            "[FIN seq=u]",
            "server  ESTABLISHED -> CLOSE_WAIT",
            "[ACK seq=v ack=u+1]",
            "client  FIN_WAIT1 -> FIN_WAIT2",
            "server  CLOSE_WAIT -> LAST_ACK",
            "[FIN seq=w ack=u+1]",
            "client  FIN_WAIT2 -> TIME_WAIT",
            "[ACK seq=u+1 ack=w+1]",
            "server  LAST_ACK -> CLOSED",
            "client  TIME_WAIT -> CLOSED",
        ],
    );
    // The client leaves TIME_WAIT 60 s after entering it.
    let tw = line_with(&out, "client  FIN_WAIT2 -> TIME_WAIT");
    let closed = line_with(&out, "client  TIME_WAIT -> CLOSED");
    let secs = |l: &str| l.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    assert!(
        (secs(closed) - secs(tw) - 60.0).abs() < 1e-6,
        "{tw}\n{closed}"
    );
    // Timestamps never go backwards.
    let times: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(times.len() > 20);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{out}");
    // Counters and summary.
    assert_in_order(
        &out,
        &[
            "client counters (netstat -s):",
            "Tcp: ActiveOpens 1",
            "TcpExt: TW 1",
            "server counters (netstat -s):",
            "Tcp: PassiveOpens 1",
            "summary:",
            "client -> server:",
            "18 payload bytes",
            "server -> client:",
            "4000 payload bytes",
            "client CLOSED, server CLOSED",
        ],
    );
    assert!(!out.contains("retransmission"), "{out}");
}

#[test]
fn server_closes_first_puts_time_wait_on_the_server() {
    let out = demo_ok(&["--server-closes-first"]);
    assert_in_order(
        &out,
        &[
            "server  ESTABLISHED -> FIN_WAIT1",
            "[FIN seq=u]",
            "client  ESTABLISHED -> CLOSE_WAIT",
            "[ACK seq=v ack=u+1]",
            "server  FIN_WAIT1 -> FIN_WAIT2",
            "client  CLOSE_WAIT -> LAST_ACK",
            "[FIN seq=w ack=u+1]",
            "server  FIN_WAIT2 -> TIME_WAIT",
            "[ACK seq=u+1 ack=w+1]",
            "client  LAST_ACK -> CLOSED",
            "server  TIME_WAIT -> CLOSED",
        ],
    );
    assert!(line_with(&out, "[FIN seq=u]").contains("10.0.0.2.80 > 10.0.0.1."));
    assert!(!out.contains("client  FIN_WAIT2 -> TIME_WAIT"));
    assert_in_order(&out, &["server counters", "TcpExt: TW 1"]);
}

#[test]
fn lossy_link_retransmits_and_still_completes() {
    // Seed 1 with 20% loss loses the first SYN, the request twice, a response segment
    // and the last ACK.
    let out = demo_ok(&["--loss", "0.2", "--seed", "1"]);
    let syn_lost = line_with(&out, "[SYN seq=x]");
    assert!(syn_lost.contains("** lost **"), "{out}");
    assert_in_order(&out, &["[SYN seq=x]", "[SYN seq=x]  (retransmission)"]);
    assert!(out.contains("Tcp: RetransSegs"), "{out}");
    assert!(out.contains("client  TIME_WAIT -> CLOSED"), "{out}");
    assert!(out.contains("server  LAST_ACK -> CLOSED"), "{out}");
    // The same seed gives the same run.
    assert_eq!(out, demo_ok(&["--loss", "0.2", "--seed", "1"]));
}

#[test]
fn total_loss_fails_with_a_clear_message() {
    let out = synack(&["demo", "--loss", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("handshake") && err.contains("ETIMEDOUT"),
        "{err}"
    );
}

#[test]
fn bad_options_are_refused_by_clap() {
    for (args, expect) in [
        (
            &["demo", "--loss", "2"][..],
            "2 is out of range: expected a probability from 0 to 1",
        ),
        (&["demo", "--delay-ms", "ten"], "--delay-ms"),
        (&["demo", "--bogus"], "unexpected argument '--bogus'"),
        (&["demo", "--response-bytes=200000000"], "--response-bytes"),
        (&["nonsense"], "unrecognized subcommand"),
    ] {
        let out = synack(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: a usage error");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn ipv6_and_pcap() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("synack-demo.pcap");
    let out = demo_ok(&["--ipv6", "--pcap", path.to_str().unwrap()]);
    assert!(
        line_with(&out, "[SYN seq=x]").contains("IP6 fd00::1."),
        "{out}"
    );
    assert!(out.contains("client  TIME_WAIT -> CLOSED"));
    let pcap = std::fs::read(&path).unwrap();
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "pcap magic");
    assert!(pcap.len() > 24 + 10 * 16, "{} bytes", pcap.len());
}

#[test]
fn half_the_packets_lost_never_strands_an_end() {
    // At 50% loss the demo's programs behave as real ones: the second closer closes once
    // it has read end of stream and done its work, whatever the first closer's
    // connection is doing. Before, it waited for the first closer's FIN_WAIT2, and a lost
    // ACK of the FIN plus the orphan's timeout left it in CLOSE_WAIT (seeds 2 and 12).
    for order in [&[][..], &["--server-closes-first"]] {
        let mut completed = 0;
        for seed in 1..=12 {
            let seed = seed.to_string();
            let args = [&["demo", "--loss", "0.5", "--seed", &seed][..], order].concat();
            let out = synack(&args);
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            let summary = line_with(&stdout, "duration:");
            assert!(!summary.contains("CLOSE_WAIT"), "{args:?}: {summary}");
            if out.status.success() {
                completed += 1;
                assert!(
                    summary.ends_with("TIME_WAIT included; client CLOSED, server CLOSED"),
                    "{args:?}: {summary}"
                );
            } else {
                assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
                assert!(
                    stderr.contains("The link loses 50% of the packets")
                        && stderr.contains("try a lower --loss or another --seed"),
                    "{args:?}: {stderr}"
                );
            }
        }
        // Only a handshake whose every SYN or SYN-ACK is lost fails among these seeds.
        assert!(completed >= 11, "{order:?}: {completed} of 12 completed");
    }
}
