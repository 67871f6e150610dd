//! The external corpus (`../shared/conformance/`): every google-packetdrill and gvisor
//! script is run and the pass / fail / unsupported counts are printed, per directory,
//! with each failure's first mismatch. Failing scripts do not fail this test (count
//! assertions come once the engine is tuned); a missing corpus fails it under `CI=true`.
//!
//! Run with `cargo test -p synack-pktdrill --test corpus -- --nocapture` to see the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use synack_pktdrill::{collect_scripts, run_file, Options, Outcome};

#[derive(Default)]
struct Counts {
    pass: usize,
    fail: usize,
    unsupported: usize,
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

#[test]
fn external_corpus() {
    let root = corpus_root();
    if !root.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the conformance corpus is missing at {} (CI=true: it must be present)",
                root.display()
            );
        }
        eprintln!("skipping: no conformance corpus at {}", root.display());
        return;
    }
    let started = Instant::now();
    let mut total = 0;
    for (dir, opts) in [
        ("google-packetdrill", Options::default()),
        // gVisor's own runner (test/packetdrill/packetdrill_test.sh) uses 100 ms.
        (
            "gvisor",
            Options {
                tolerance_usecs: Some(100_000),
                ..Options::default()
            },
        ),
    ] {
        let base = root.join(dir);
        let scripts = collect_scripts(std::slice::from_ref(&base)).expect("readable corpus");
        assert!(!scripts.is_empty(), "no scripts under {}", base.display());
        let mut per_dir: BTreeMap<String, Counts> = BTreeMap::new();
        let mut failures = Vec::new();
        let mut all = Counts::default();
        for s in &scripts {
            let rel = s.strip_prefix(&base).unwrap_or(s);
            let group = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
                _ => ".".to_string(),
            };
            let c = per_dir.entry(group).or_default();
            match run_file(s, &opts) {
                Outcome::Pass => {
                    c.pass += 1;
                    all.pass += 1;
                }
                Outcome::Fail(f) => {
                    c.fail += 1;
                    all.fail += 1;
                    let actual = f
                        .actual
                        .as_deref()
                        .map_or(String::new(), |a| format!("\n      actual: {a}"));
                    failures.push(format!(
                        "  {}:{}: {}\n      {}{actual}",
                        rel.display(),
                        f.line,
                        f.source_line.trim(),
                        f.message
                    ));
                }
                Outcome::Unsupported(_) => {
                    c.unsupported += 1;
                    all.unsupported += 1;
                }
            }
            total += 1;
        }
        println!("== {dir}: {} scripts", scripts.len());
        println!(
            "  {:<28} {:>6} {:>6} {:>12}",
            "directory", "pass", "fail", "unsupported"
        );
        for (d, c) in &per_dir {
            println!(
                "  {d:<28} {:>6} {:>6} {:>12}",
                c.pass, c.fail, c.unsupported
            );
        }
        println!(
            "  {:<28} {:>6} {:>6} {:>12}",
            "total", all.pass, all.fail, all.unsupported
        );
        if !failures.is_empty() {
            println!("  failures (first mismatch):");
            for f in &failures {
                println!("{f}");
            }
        }
    }
    let took = started.elapsed();
    println!("{total} scripts in {took:?}");
}
