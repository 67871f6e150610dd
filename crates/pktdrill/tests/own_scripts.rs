//! The project's own packetdrill scripts (`scripts/`, one folder per topic).
//!
//! - Every script outside `scripts/known-failing/` passes.
//! - Every script in `scripts/known-failing/` still *fails*: each encodes a Linux
//!   behaviour the engine does not have yet (its first line says which). When the engine
//!   is fixed, this test fails, and the script moves back to its topic folder.
//! - A deliberately wrong script is caught with a clear message.

use std::path::{Path, PathBuf};

use synack_pktdrill::{collect_scripts, run_file, run_str, Options, Outcome};

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

fn is_known_failing(p: &Path) -> bool {
    p.components().any(|c| c.as_os_str() == "known-failing")
}

/// All scripts, split into (expected to pass, known to fail).
fn scripts() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let all = collect_scripts(&[scripts_dir()]).expect("the scripts folder is readable");
    all.into_iter().partition(|p| !is_known_failing(p))
}

#[test]
fn own_scripts_pass() {
    let (passing, _) = scripts();
    assert!(passing.len() >= 40, "only {} scripts found", passing.len());
    let mut failures = Vec::new();
    for s in &passing {
        match run_file(s, &Options::default()) {
            Outcome::Pass => {}
            Outcome::Fail(f) => failures.push(format!("FAIL {}\n{f}", s.display())),
            Outcome::Unsupported(r) => failures.push(format!("UNSUPPORTED {}: {r}", s.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts did not pass:\n\n{}",
        failures.len(),
        passing.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_topic_has_scripts() {
    let (passing, _) = scripts();
    for topic in [
        "handshake",
        "close",
        "timewait",
        "reset",
        "retransmit",
        "flow",
        "listen",
        "keepalive",
        "linger",
        "info",
        "poll",
        "zerocopy",
        "timestamping",
        "sendq",
    ] {
        let dir = scripts_dir().join(topic);
        assert!(
            passing.iter().any(|p| p.starts_with(&dir)),
            "no passing script under scripts/{topic}"
        );
    }
}

#[test]
fn known_failing_scripts_still_fail() {
    let (_, known) = scripts();
    let mut fixed = Vec::new();
    for s in &known {
        let text = std::fs::read_to_string(s).unwrap_or_default();
        assert!(
            text.starts_with("// KNOWN-FAILING"),
            "{}: the first line must say which engine behaviour is wrong",
            s.display()
        );
        match run_file(s, &Options::default()) {
            Outcome::Fail(f) => eprintln!("known failing, as expected: {}\n{f}\n", s.display()),
            Outcome::Pass => fixed.push(s.display().to_string()),
            Outcome::Unsupported(r) => panic!(
                "{} is unsupported ({r}); a known-failing script must run and fail",
                s.display()
            ),
        }
    }
    assert!(
        fixed.is_empty(),
        "these known-failing scripts now pass: move them back to their topic folder \
         (and drop the KNOWN-FAILING line): {fixed:?}"
    );
}

#[test]
fn deliberately_wrong_script_fails_with_its_message() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wrong-synack-window.pkt");
    let Outcome::Fail(f) = run_file(&path, &Options::default()) else {
        panic!("the deliberately wrong script did not fail");
    };
    assert_eq!(f.line, 8, "{f}");
    assert!(
        f.message
            .starts_with("bad outbound packet: expected win 1234, got win "),
        "{}",
        f.message
    );
}

/// Two connections told apart by explicit peer ports.
const TWO_CONNS: &str = "\
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 4) = 0
+0 < 40001>8080 S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > 8080>40001 S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
+.1 < 40002>8080 S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > 8080>40002 S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
";

#[test]
fn explicit_ports_track_several_connections() {
    // The first connection's SYN-ACK is retransmitted at 1 s, the second's at 1.1 s, each
    // on its own connection and with its own sequence numbers.
    let ok = format!(
        "{TWO_CONNS}1 > 8080>40001 S. 0:0(0) ack 1 <...>\n1.1 > 8080>40002 S. 0:0(0) ack 1 <...>\n\
         1.2 < 40002>8080 . 1:1(0) ack 1 win 257\n+0 accept(3, ..., ...) = 4\n"
    );
    let out = run_str("two.pkt", &ok, &Options::default());
    assert!(out.is_pass(), "{out:?}");

    // Expecting the second connection's retransmission first is a mismatch that names
    // both ports.
    let wrong = format!("{TWO_CONNS}1 > 8080>40002 S. 0:0(0) ack 1 <...>\n");
    let Outcome::Fail(f) = run_str("two-wrong.pkt", &wrong, &Options::default()) else {
        panic!("expected a failure");
    };
    assert_eq!(
        f.message,
        "bad outbound packet: expected a packet to port 40002, got one to port 40001"
    );

    // An outbound line for a peer port no inbound line introduced.
    let unknown = format!("{TWO_CONNS}1 > 8080>40009 S. 0:0(0) ack 1 <...>\n");
    let Outcome::Fail(f) = run_str("two-unknown.pkt", &unknown, &Options::default()) else {
        panic!("expected a failure");
    };
    assert_eq!(f.message, "no tracked connection has peer port 40009");
}
