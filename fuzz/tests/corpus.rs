//! The seed corpus: every seed is committed, decodes to the operations it was written
//! as, does what it is meant to, and the whole committed corpus (seeds and anything a
//! fuzzing run added) replays through both harnesses without a failure.
//!
//! After changing `src/corpus.rs`, rewrite the files with `fuzz/gen-corpus.sh` (this
//! file's ignored `write_seed_corpus` test).

use std::fs;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use synack_fuzz::corpus::{offload_seeds, stack_seeds, wire_seeds};
use synack_fuzz::stack::{self, StackInput};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn files(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("corpus/{target}: {e}"))
        .map(|e| {
            let p = e.expect("dir entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).expect("read corpus file"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn stack_seeds_decode_to_their_operations() {
    for (name, input) in stack_seeds() {
        let bytes = input.encode();
        let back = StackInput::arbitrary(&mut Unstructured::new(&bytes)).expect("decodes");
        assert_eq!(
            back, input,
            "seed {name} does not survive encode and decode"
        );
    }
}

#[test]
fn seeds_reach_what_they_are_for() {
    let seeds: std::collections::HashMap<_, _> = stack_seeds().into_iter().collect();
    let setup = stack::run_input(&seeds["setup-only"]);
    assert_eq!(setup.accepted, 2, "the setup accepts two connections");
    assert_eq!(
        setup.stats.CurrEstab, 3,
        "three connections are established"
    );
    let data = stack::run_input(&seeds["data-both-ways"]);
    assert_eq!(data.received, 1000 + 100, "the crafted data is read");
    let flood = stack::run_input(&seeds["syn-flood-cookies"]);
    assert!(flood.stats.SyncookiesSent > 0, "the flood triggers cookies");
    assert_eq!(
        flood.stats.SyncookiesRecv, 1,
        "the crafted ACK carries a valid cookie"
    );
    let ooo = stack::run_input(&seeds["out-of-order-pieces"]);
    assert!(
        ooo.stats.TCPOFOQueue > 0,
        "pieces go to the out-of-order queue"
    );
    assert!(ooo.received >= 300, "the hole is filled and the data read");
    let sack = stack::run_input(&seeds["sack-recovery"]);
    assert!(sack.stats.TCPSACKRecv > 0, "the SACK blocks are taken");
    let blind = stack::run_input(&seeds["blind-rst-syn-data"]);
    assert!(
        blind.stats.TCPChallengeACK > 0,
        "blind segments earn challenge ACKs"
    );
    assert_eq!(blind.stats.EstabResets, 1, "only the exact RST resets");
    let bad = stack::run_input(&seeds["mangle-flip"]);
    assert!(
        bad.stats.InCsumErrors > 0,
        "a flipped bit fails the checksum"
    );
}

#[test]
fn every_seed_is_committed() {
    let stack_files = files("stack");
    for (name, input) in stack_seeds() {
        let file = format!("seed-{name}");
        let found = stack_files.iter().find(|(n, _)| *n == file);
        assert_eq!(
            found.map(|(_, b)| b.clone()),
            Some(input.encode()),
            "corpus/stack/{file} is missing or stale: run fuzz/gen-corpus.sh"
        );
    }
    let offload_files = files("offload");
    for (name, bytes) in offload_seeds() {
        let file = format!("seed-{name}");
        assert!(
            offload_files.iter().any(|(n, b)| *n == file && *b == bytes),
            "corpus/offload/{file} is missing or stale: run fuzz/gen-corpus.sh"
        );
    }
    let wire_files = files("wire");
    for (name, bytes) in wire_seeds() {
        let file = format!("seed-{name}");
        assert!(
            wire_files.iter().any(|(n, b)| *n == file && *b == bytes),
            "corpus/wire/{file} is missing or stale: run fuzz/gen-corpus.sh"
        );
    }
}

#[test]
fn committed_corpus_replays() {
    for (_, bytes) in files("wire") {
        synack_fuzz::wire::run(&bytes);
    }
    for (_, bytes) in files("stack") {
        stack::run(&bytes);
    }
    for (_, bytes) in files("offload") {
        synack_fuzz::offload::run(&bytes);
    }
}

#[test]
fn offload_seeds_reach_what_they_are_for() {
    let seeds: std::collections::HashMap<_, _> = offload_seeds().into_iter().collect();
    let sack = synack_fuzz::offload::run(&seeds["sack-recovery-full"]);
    assert!(
        sack.tso.super_segments > 0,
        "the stack's data goes out in super-segments"
    );
    assert_eq!(
        sack.tso.sent, sack.plain.sent,
        "cut into the plain path's segments"
    );
    let full = synack_fuzz::offload::run(&seeds["data-both-ways-full"]);
    assert!(
        full.gro.gso_packets > 0,
        "crafted data arrives as GSO packets"
    );
    assert_eq!(full.gro.received, full.plain.received, "and is read whole");
    let small = synack_fuzz::offload::run(&seeds["data-both-ways-small"]);
    assert!(small.gro.gso_packets > 0);
    let bad = synack_fuzz::offload::run(&seeds["mangle-flip-full"]);
    assert!(bad.plain.stats.InCsumErrors > 0);
}

/// Rewrites the seed files (`fuzz/gen-corpus.sh`).
#[test]
#[ignore]
fn write_seed_corpus() {
    for target in ["stack", "wire", "offload"] {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).expect("create corpus dir");
        for entry in fs::read_dir(&dir).expect("read corpus dir") {
            let p = entry.expect("dir entry").path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                fs::remove_file(p).expect("remove old seed");
            }
        }
    }
    for (name, input) in stack_seeds() {
        fs::write(
            corpus_dir("stack").join(format!("seed-{name}")),
            input.encode(),
        )
        .expect("write seed");
    }
    for (name, bytes) in wire_seeds() {
        fs::write(corpus_dir("wire").join(format!("seed-{name}")), bytes).expect("write seed");
    }
    for (name, bytes) in offload_seeds() {
        fs::write(corpus_dir("offload").join(format!("seed-{name}")), bytes).expect("write seed");
    }
}
