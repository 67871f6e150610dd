#!/usr/bin/env bash
# Rewrites the seed corpus (fuzz/corpus/<target>/seed-*) from fuzz/src/corpus.rs.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --test corpus -- --ignored write_seed_corpus
ls corpus/stack | wc -l | xargs echo "stack seeds:"
ls corpus/wire | wc -l | xargs echo "wire seeds:"
ls corpus/offload | wc -l | xargs echo "offload seeds:"
