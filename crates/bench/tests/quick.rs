//! The quick mode end to end: both stacks move every byte and finish every lifecycle.
//! No timing assertions.

use synack_bench::{run, Params};

#[test]
fn quick_run_moves_the_bytes_and_completes_the_lifecycles() {
    let params = Params::QUICK;
    let report = run(&params).expect("quick run");
    for b in report.synack_bulk.iter().chain(&report.smoltcp_bulk) {
        assert_eq!(b.bytes, params.bytes);
    }
    for c in report.synack_churn.iter().chain(&report.smoltcp_churn) {
        assert_eq!(c.completed, params.conns);
    }
    assert_eq!(report.synack_bulk.len(), params.repeat);
    assert_eq!(report.smoltcp_churn.len(), params.repeat);
    let text = report.render();
    assert!(text.contains("bulk") && text.contains("churn"));
    println!("{text}");
}

#[test]
fn quick_binary_exits_cleanly() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synack-bench"))
        .args(["--quick", "--bytes", "1M", "--conns", "50"])
        .output()
        .expect("run synack-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("MiB/s") && stdout.contains("conn/s"),
        "{stdout}"
    );
}
