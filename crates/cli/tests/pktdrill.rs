//! Runs the built `synack` binary's `pktdrill run` and checks what it prints and returns.

use std::path::PathBuf;
use std::process::{Command, Output};

fn pktdrill_dir(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pktdrill")
        .join(rel)
        .display()
        .to_string()
}

fn synack(args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run the synack binary");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out, stdout)
}

#[test]
fn own_scripts_pass() {
    let (out, stdout) = synack(&["pktdrill", "run", &pktdrill_dir("scripts")]);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("PASS ") && stdout.contains("passive-open-data-close.pkt"));
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed, 0 unsupported"), "{last}");
}

#[test]
fn a_wrong_script_fails_with_its_mismatch() {
    let (out, stdout) = synack(&[
        "pktdrill",
        "run",
        "--ip_version=ipv6",
        &pktdrill_dir("tests/data/wrong-synack-window.pkt"),
    ]);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.starts_with("FAIL "), "{stdout}");
    assert!(
        stdout.contains("error: bad outbound packet: expected win 1234, got win"),
        "{stdout}"
    );
    assert!(stdout.contains("exchange so far:"), "{stdout}");
    assert!(
        stdout.contains("2001:db8::1.40000 > fd3d:fa7b:d17d::1.8080: Flags [S]"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("0 passed, 1 failed, 0 unsupported\n"),
        "{stdout}"
    );
}

/// Runs `synack` with `args`; returns the exit code, standard output and standard error.
fn synack_all(args: &[&str]) -> (Option<i32>, String, String) {
    let (out, stdout) = synack(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout, stderr)
}

#[test]
fn a_missing_script_is_a_usage_error() {
    let (code, stdout, stderr) = synack_all(&["pktdrill", "run", "/nonexistent.pkt"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "invalid value '/nonexistent.pkt' for '<FILE_OR_DIR>...': no such file or directory"
        ),
        "{stderr}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn a_folder_without_scripts_is_an_error() {
    let empty = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-scripts-here");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("sub/readme.txt"), "not a script").unwrap();
    let shown = empty.display().to_string();
    let (code, stdout, stderr) = synack_all(&["pktdrill", "run", &shown]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("no scripts found: no *.pkt file in {shown}")),
        "{stderr}"
    );
    assert!(!stdout.contains("0 passed"), "{stdout}");
}

/// Writes an expectations file named `name` with `rows`, returns its path.
fn expectations(name: &str, rows: &str) -> String {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(
        &path,
        format!("# expected\n\n| script | result | why |\n|---|---|---|\n{rows}"),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn expected_failures_exit_zero_and_unexpected_results_do_not() {
    let wrong = pktdrill_dir("tests/data/wrong-synack-window.pkt");
    let good = pktdrill_dir("scripts/handshake");
    // The failure is listed: as expected, exit 0.
    let listed = expectations(
        "expect-listed.md",
        "| data/wrong-synack-window.pkt | fail | the window is wrong on purpose |\n",
    );
    let (code, stdout, stderr) =
        synack_all(&["pktdrill", "run", "--expect", &listed, &wrong, &good]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "FAIL {wrong} (expected: {listed}, line 5)\n  error: bad outbound packet: expected \
             win 1234"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(" passed, 1 failed (1 expected), 0 unsupported; 0 unexpected"),
        "{stdout}"
    );
    // Not listed: unexpected, exit 1, named at the end.
    let other = expectations("expect-other.md", "| data/other.pkt | fail | |\n");
    let (code, stdout, _) = synack_all(&["pktdrill", "run", "--expect", &other, &wrong]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "0 passed, 1 failed (0 expected), 0 unsupported; 1 unexpected (against {other})\n  \
             FAIL {wrong} (UNEXPECTED: not listed as failing)\n"
        )),
        "{stdout}"
    );
    // A listed script that passes: unexpected (the row is stale), exit 1.
    let stale = expectations(
        "expect-stale.md",
        "| handshake/passive-open.pkt | fail | fixed since |\n",
    );
    let (code, stdout, _) = synack_all(&["pktdrill", "run", "-q", "--expect", &stale, &good]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("passive-open.pkt (UNEXPECTED: line 5 of"),
        "{stdout}"
    );
    assert!(stdout.contains(" says fail)"), "{stdout}");
}

#[test]
fn a_bad_expectations_file_is_a_usage_error() {
    let bad = expectations("expect-bad.md", "| a.pkt | flaky | |\n");
    let (code, stdout, stderr) = synack_all(&[
        "pktdrill",
        "run",
        "--expect",
        &bad,
        &pktdrill_dir("scripts"),
    ]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "--expect: {bad}:5: the result of a.pkt must be `fail` or `unsupported`, not `flaky`"
        )),
        "{stderr}"
    );
}

#[test]
fn the_corpus_list_is_valid() {
    // The README's corpus command reads this file: it must parse, and name scripts.
    let path = pktdrill_dir("CORPUS.md");
    let e = synack_pktdrill::expect::Expectations::load(std::path::Path::new(&path)).unwrap();
    assert!(e.rows().len() >= 10, "{:?}", e.rows());
    assert!(e
        .rows()
        .iter()
        .all(|r| r.path.starts_with("google-packetdrill/")
            || r.path.starts_with("linux-selftests/")
            || r.path.starts_with("gvisor/")));
}

#[test]
fn unsupported_rows_and_the_ksft_harness() {
    let dir = std::env::temp_dir().join(format!("synack-rows-{}", std::process::id()));
    let corpus = dir.join("conformance/some-corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(
        corpus.join("md5.pkt"),
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 setsockopt(3, SOL_TCP, TCP_MD5SIG, [1], 4) = 0\n",
    )
    .unwrap();
    std::fs::write(
        corpus.join("v6.pkt"),
        "--ip_version=ipv6\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    )
    .unwrap();
    let (out, stdout) = synack(&[
        "pktdrill",
        "run",
        "-q",
        "--harness",
        "ksft",
        "--unsupported-rows",
        &corpus.display().to_string(),
    ]);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("| some-corpus/md5.pkt | unsupported | needs MD5 signatures |"),
        "{stdout}"
    );
    assert!(!stdout.contains("v6.pkt |"), "{stdout}");
    let (_, stdout) = synack(&[
        "pktdrill",
        "run",
        "--harness",
        "ksft",
        &corpus.display().to_string(),
    ]);
    // The script that names IPv6 runs once, in IPv6; the other in both versions.
    assert!(stdout.contains("v6.pkt [ipv6]"), "{stdout}");
    assert!(stdout.contains("md5.pkt [ipv4, ipv6]"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
