//! Runs the built `synack` binary's `lab` subcommand.

use std::process::{Command, Output};

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run the synack binary")
}

#[test]
fn lab_lists_every_lab() {
    let out = synack(&["lab"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for lab in synack_lab::LABS {
        assert!(
            text.contains(lab.name),
            "{} missing from:\n{text}",
            lab.name
        );
    }
}

#[test]
fn lab_runs_with_knobs_seed_json_and_html() {
    let html = std::env::temp_dir().join(format!("synack-cli-lab-{}.html", std::process::id()));
    let out = synack(&[
        "lab",
        "lost-final-ack",
        "--sysctl",
        "net.ipv4.tcp_timestamps=0",
        "--seed",
        "5",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["lab"], "lost-final-ack");
    assert_eq!(json["seed"], 5);
    assert_eq!(json["sysctls"][0][0], "net.ipv4.tcp_timestamps");
    assert_eq!(json["figures"]["without_time_wait"]["client_answer"], "RST");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg"));
    let _ = std::fs::remove_file(&html);
}

#[test]
fn lab_errors_say_what_to_do() {
    let out = synack(&["lab", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no lab named `nope`") && err.contains("handshake"),
        "{err}"
    );
    let out = synack(&["lab", "handshake", "--sysctl", "tcp_sack"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("name=value"), "{err}");
    let out = synack(&["lab", "handshake", "--sysctl", "tcp_bogus=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown sysctl `tcp_bogus`"));
}
