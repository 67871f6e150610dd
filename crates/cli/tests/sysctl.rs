//! `synack sysctl`: every knob listed with Linux's name and default, one knob by any of
//! its names, a setting applied before printing, and errors that say what to do.

use std::process::Command;

/// Runs `synack sysctl` with `args`: exit code, stdout, stderr.
fn sysctl(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .arg("sysctl")
        .args(args)
        .output()
        .expect("run the synack binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dash_a_lists_every_knob_with_linux_defaults() {
    let (code, out, err) = sysctl(&["-a"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), synack::Config::KNOBS.len(), "{out}");
    for want in [
        "net.core.somaxconn = 4096",
        "net.ipv4.tcp_syn_retries = 6",
        "net.ipv4.tcp_fin_timeout = 60",
        "net.ipv4.tcp_rmem = 4096\t131072\t6291456",
        "net.ipv4.ip_local_port_range = 32768\t60999",
        "net.ipv4.tcp_congestion_control = cubic",
        "net.ipv4.tcp_dsack = 1",
    ] {
        assert!(lines.contains(&want), "`{want}` missing from:\n{out}");
    }
    // tcp_mem follows this machine's memory, as Linux's tcp_init_mem.
    let [low, pressure, high] = synack::config::tcp_mem_for(synack::config::machine_pages());
    let want = format!("net.ipv4.tcp_mem = {low}\t{pressure}\t{high}");
    assert!(
        lines.contains(&want.as_str()),
        "`{want}` missing from:\n{out}"
    );
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "sorted by name, as sysctl -a");
}

#[test]
fn one_knob_by_any_name_and_after_a_setting() {
    for name in ["net.ipv4.tcp_sack", "tcp_sack", "net/ipv4/tcp_sack"] {
        let (code, out, _) = sysctl(&[name]);
        assert_eq!((code, out.as_str()), (Some(0), "net.ipv4.tcp_sack = 1\n"));
    }
    let (code, out, _) = sysctl(&["--sysctl", "tcp_sack=0", "-n", "tcp_sack"]);
    assert_eq!((code, out.as_str()), (Some(0), "0\n"));
}

#[test]
fn errors_say_what_to_do() {
    let (code, out, err) = sysctl(&["tcp_nope", "tcp_sack"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        out, "net.ipv4.tcp_sack = 1\n",
        "the known one is still printed"
    );
    assert!(
        err.contains("no knob `tcp_nope`") && err.contains("synack sysctl -a"),
        "{err}"
    );
    let (code, _, err) = sysctl(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("synack sysctl -a"), "{err}");
    let (code, _, err) = sysctl(&["--sysctl", "tcp_sack=7", "tcp_sack"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("expected 0 or 1"), "{err}");
}
