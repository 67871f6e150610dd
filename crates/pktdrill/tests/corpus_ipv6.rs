//! Google's corpus in IPv6 and in IPv4-mapped IPv6 (`--ip_version`), with the defines
//! its `run_all.py` passes in those runs: every result must be the one `CORPUS.md`
//! lists for that IP version (its plain rows, with the rows marked `(IPv6)` or
//! `(IPv4-mapped IPv6)` in their place), what `synack pktdrill run --ip_version=...
//! --expect crates/pktdrill/CORPUS.md` checks. The IPv4 run is `corpus.rs`'s.
//!
//! A missing corpus fails the test under `CI=true`; elsewhere the test says so on the
//! terminal (not captured) and passes.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use synack_pktdrill::expect::{Expectations, Verdict};
use synack_pktdrill::{collect_scripts, run_file, IpVersion, Options, Outcome};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}

/// Runs Google's corpus in `version` and returns (passed, the unexpected results).
fn run(version: IpVersion, cookie: &str) -> (usize, Vec<String>) {
    let root = corpus_root();
    let corpus_md = Path::new(env!("CARGO_MANIFEST_DIR")).join("CORPUS.md");
    let expect = Expectations::load_for(&corpus_md, version).unwrap_or_else(|e| panic!("{e}"));
    let opts = Options {
        ip_version: Some(version),
        defines: [
            ("TFO_COOKIE", cookie),
            ("CODE", "host_unreachable"),
            ("CMSG_LEVEL_IP", "SOL_IPV6"),
            ("CMSG_TYPE_RECVERR", "IPV6_RECVERR"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect(),
        ..Options::default()
    };
    let base = root.join("google-packetdrill");
    let scripts = collect_scripts(std::slice::from_ref(&base)).expect("readable corpus");
    assert!(
        scripts.len() >= 160,
        "only {} scripts under {}",
        scripts.len(),
        base.display()
    );
    let mut passed = 0;
    let mut unexpected = Vec::new();
    for s in &scripts {
        let outcome = run_file(s, &opts);
        if matches!(outcome, Outcome::Pass) {
            passed += 1;
        }
        match expect.judge(s, &outcome) {
            Verdict::AsExpected(_) => {}
            Verdict::UnlistedFailure => unexpected.push(format!(
                "{}: fails in {version:?} and is not listed: {}",
                s.display(),
                match &outcome {
                    Outcome::Fail(f) => format!("line {}: {}", f.line, f.message),
                    _ => String::new(),
                }
            )),
            Verdict::Differs(row) => unexpected.push(format!(
                "{}: {} in {version:?} where line {} says {}",
                s.display(),
                outcome.verb(),
                row.line,
                row.result
            )),
        }
    }
    (passed, unexpected)
}

#[test]
fn google_corpus_in_ipv6_and_mapped() {
    if !corpus_root().is_dir() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "the conformance corpus is missing at {} (CI=true: it must be present)",
                corpus_root().display()
            );
        }
        let _ = writeln!(
            std::io::stderr(),
            "IPv6 corpus test SKIPPED: no conformance corpus at {} (set CI=true to make \
             this a failure)",
            corpus_root().display()
        );
        return;
    }
    // run_all.py's cookies: the IPv6 run's is the one Linux computes for the IPv6
    // addresses; a mapped run's packets are IPv4.
    let (v6, mut bad) = run(IpVersion::Ipv6, "e7041978eab92f14");
    let (mapped, bad_mapped) = run(IpVersion::Ipv4MappedIpv6, "3021b9d889017eeb");
    bad.extend(bad_mapped);
    eprintln!("Google's corpus: {v6} of 162 pass in IPv6, {mapped} in IPv4-mapped IPv6");
    assert!(
        bad.is_empty(),
        "{} results CORPUS.md does not predict:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
