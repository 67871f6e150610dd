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
