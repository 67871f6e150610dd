//! The Linux kernel's packetdrill selftests (`../shared/conformance/linux-selftests/`), run
//! as the kernel's `ksft_runner.sh` runs them: each script in the IP versions its own
//! `--ip_version=` lines name (IPv4 and IPv6 when none), with the runner's addresses,
//! `--mtu=1520` for IPv6 and its `-D` defines; a script passes when every run passes.
//!
//! Every result must be the one `CORPUS.md` lists (`synack pktdrill run --harness ksft
//! --expect crates/pktdrill/CORPUS.md ../shared/conformance/linux-selftests` checks the
//! same), every script that does not pass is listed with why, and the counts are printed
//! beside Linux's (`LINUX-RESULTS.md`: 79 of 93).
//!
//! A missing folder fails the test under `CI=true`; elsewhere the test says so on the
//! terminal (not captured) and passes.
//!
//! Run with `cargo test -p synack-pktdrill --test ksft -- --nocapture` to see the report.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use synack_pktdrill::expect::{Expectations, Verdict};
use synack_pktdrill::harness::{self, Harness};
use synack_pktdrill::{collect_scripts, Options, Outcome};

fn selftests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/linux-selftests")
}

/// What Linux passes here: the "N of the 93 pass" sentence of `LINUX-RESULTS.md`.
fn linux_passes(results_md: &str) -> Option<(usize, usize)> {
    let text = results_md.replace('\n', " ");
    let i = text.find(" pass in every version")?;
    let words: Vec<&str> = text[..i].split_whitespace().collect();
    // "... **79 of the 93"
    let n = words.len();
    let total = words.get(n - 1)?.trim_matches('*').parse().ok()?;
    let pass = words
        .get(n.checked_sub(4)?)?
        .trim_matches('*')
        .parse()
        .ok()?;
    Some((pass, total))
}

#[test]
fn linux_selftests_as_ksft_runner_runs_them() {
    let dir = selftests_dir();
    if !dir.is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the kernel's selftests are missing at {} (CI=true: they must be present)",
                dir.display()
            );
        }
        let _ = writeln!(
            std::io::stderr(),
            "ksft test SKIPPED: no linux-selftests at {} (set CI=true to make this a failure)",
            dir.display()
        );
        return;
    }
    let corpus_md = Path::new(env!("CARGO_MANIFEST_DIR")).join("CORPUS.md");
    let expect = Expectations::load(&corpus_md).unwrap_or_else(|e| panic!("{e}"));
    let scripts = collect_scripts(std::slice::from_ref(&dir)).expect("readable selftests");
    let results_md = std::fs::read_to_string(dir.join("LINUX-RESULTS.md"))
        .expect("linux-selftests/LINUX-RESULTS.md");
    let (linux_pass, linux_total) =
        linux_passes(&results_md).expect("LINUX-RESULTS.md says how many Linux passes");
    assert_eq!(
        scripts.len(),
        linux_total,
        "LINUX-RESULTS.md counts {linux_total} scripts, the folder holds {}",
        scripts.len()
    );
    let (mut pass, mut fail, mut unsupported) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut unexplained = Vec::new();
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &scripts {
        let name = s
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let runs = harness::run_file_with(s, &Options::default(), Harness::Ksft);
        assert!(!runs.is_empty(), "{name}: no runs");
        let outcome = harness::combined(&runs);
        let labels: Vec<&str> = runs.iter().map(|r| r.label).collect();
        match &outcome {
            Outcome::Pass => pass += 1,
            Outcome::Fail(f) => {
                fail += 1;
                reasons
                    .entry(format!("FAIL: {}", f.message))
                    .or_default()
                    .push(name.clone());
            }
            Outcome::Unsupported(why) => {
                unsupported += 1;
                let why = why.split_once(": ").map_or(why.as_str(), |(l, r)| {
                    if l.starts_with("line ") {
                        r
                    } else {
                        why
                    }
                });
                reasons
                    .entry(format!("UNSUPPORTED: {why}"))
                    .or_default()
                    .push(name.clone());
            }
        }
        match expect.judge(s, &outcome) {
            Verdict::AsExpected(_) => {}
            Verdict::UnlistedFailure => {
                unexpected.push(format!("{name} {labels:?}: fails and is not listed"))
            }
            Verdict::Differs(row) => unexpected.push(format!(
                "{name} {labels:?}: {} where line {} says {}",
                outcome.verb(),
                row.line,
                row.result
            )),
        }
        // Not passing is fine only when CORPUS.md says why.
        if !outcome.is_pass() && expect.lookup(s).is_none_or(|r| r.why.trim().is_empty()) {
            unexplained.push(name.clone());
        }
    }
    println!(
        "== linux-selftests as ksft_runner.sh runs them: {} scripts: pass {pass}, fail {fail}, \
         unsupported {unsupported} (Linux: {linux_pass} of {linux_total})",
        scripts.len()
    );
    for (why, names) in &reasons {
        println!("  {} {why}\n      {}", names.len(), names.join(" "));
    }
    // CORPUS.md says how many pass; it must stay true.
    let corpus_text = std::fs::read_to_string(&corpus_md).expect("CORPUS.md");
    let said = stated_count(&corpus_text, "the kernel's selftests ");
    assert_eq!(
        said,
        Some(pass),
        "CORPUS.md's \"Today:\" line says the kernel's selftests pass {said:?} of 93; {pass} do"
    );
    assert!(
        unexplained.is_empty(),
        "scripts that do not pass and that CORPUS.md does not list with why: {unexplained:?}"
    );
    assert!(
        unexpected.is_empty(),
        "results that crates/pktdrill/CORPUS.md does not list (update its rows):\n  {}",
        unexpected.join("\n  ")
    );
}

/// The N of "`prefix`N of" in `text` (CORPUS.md's counts).
pub fn stated_count(text: &str, prefix: &str) -> Option<usize> {
    let flat = text.replace('\n', " ");
    let rest = &flat[flat.find(prefix)? + prefix.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn linux_count_is_read_from_the_results_file() {
    assert_eq!(
        stated_count(
            "Today: Google's corpus 58 of 162 pass; the kernel's selftests 42 of\n93",
            "the kernel's selftests "
        ),
        Some(42)
    );
    let text =
        "93 of ...\ncubic, three full runs: **79 of the 93 pass in every version and every run.**";
    assert_eq!(linux_passes(text), Some((79, 93)));
}
