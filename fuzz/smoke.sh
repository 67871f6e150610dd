#!/usr/bin/env bash
# Fuzz smoke run: each cargo-fuzz target for a fixed, short time (FUZZ_SECONDS, default 60)
# from the committed seed corpus, on stable Rust (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass
# its nightly-only flags). New inputs go to a temporary directory, so the tree is left as
# it was; a crash stops the run with a non-zero status and its input in fuzz/artifacts/.
#
# The harnesses check for panics and wrong results, not memory errors (synack has no
# unsafe code), so the targets run without a sanitizer (-s none), about five times faster
# than under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "== building the fuzz targets"
cargo fuzz build -s none

echo "== replaying the committed corpus on stable (cargo test)"
cargo test --quiet --test corpus

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in $(cargo fuzz list); do
    echo "== fuzzing $target for ${seconds}s"
    mkdir -p "$work/$target"
    cargo fuzz run -s none "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 >"$work/$target.log" 2>&1 || {
        tail -n 60 "$work/$target.log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    }
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$')"
    new="$(ls "$work/$target" | wc -l)"
    seeds="$(ls "corpus/$target" | wc -l)"
    echo "$target: $runs executions in ${seconds}s, corpus $seeds seeds + $new new inputs, no failure"
done
