//! The quick mode end to end: both stacks move every byte and finish every lifecycle,
//! and every part of the table is produced. No timing assertions.

use synack_bench::{callgrind, run, Params, RunOptions, Target, Variant};

#[global_allocator]
static ALLOC: synack_bench::memory::Counting = synack_bench::memory::Counting;

#[test]
fn quick_run_moves_the_bytes_and_completes_the_lifecycles() {
    let params = Params::QUICK;
    let report = run(&params, &RunOptions::default()).expect("quick run");
    for (s, m) in &report.bulk {
        for b in s.iter().chain(m) {
            assert_eq!(b.bytes, params.bytes);
        }
        assert_eq!(s.len(), params.repeat);
    }
    for (s, m) in &report.churn {
        for c in s.iter().chain(m) {
            assert_eq!(c.completed, params.conns);
        }
    }
    // Memory and scaling rows are there, with plausible figures: an idle connection
    // costs something, and less than a payload ring would.
    let idle: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.name.starts_with("idle connection"))
        .collect();
    assert_eq!(idle.len(), 2);
    for r in idle {
        let bytes = r.synack.expect("measured");
        assert!(bytes > 16.0 && bytes < 16384.0, "{r:?}");
        assert_eq!(r.target, Target::AtMost(512.0));
    }
    let tw = report
        .rows
        .iter()
        .find(|r| r.name.starts_with("TIME-WAIT entry"))
        .expect("TIME-WAIT row");
    assert!(tw.synack.expect("measured") > 8.0, "{tw:?}");
    assert!(report
        .rows
        .iter()
        .any(|r| r.name.starts_with("per segment")));
    let text = report.render();
    assert!(text.contains("bulk") && text.contains("churn") && text.contains("TIME-WAIT"));
    println!("{text}");
}

#[test]
fn quick_binary_exits_cleanly() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synack-bench"))
        .args([
            "--quick", "--bytes", "1M", "--conns", "50", "--scales", "0,0",
        ])
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

/// The instruction counts: the binary's hidden `--measure` command under callgrind,
/// counting only the workload's timed function.
#[test]
fn callgrind_counts_a_workload() {
    if !callgrind::available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "valgrind is missing (apt-get install valgrind)"
        );
        eprintln!("skipped: valgrind is not installed (apt-get install valgrind)");
        return;
    }
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_synack-bench"));
    let count = |n| {
        let job = callgrind::Job {
            synack: true,
            bulk: false,
            variant: Variant {
                zero_copy: false,
                timestamps: true,
            },
            n,
        };
        callgrind::count(exe, &job).expect("callgrind run")
    };
    let (few, more) = (count(5), count(20));
    assert!(few > 1000, "{few} instructions for 5 lifecycles");
    assert!(
        more > few,
        "20 lifecycles ({more}) cost more than 5 ({few})"
    );
}
