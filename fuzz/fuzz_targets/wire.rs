//! Fuzz target: the wire format (parse, emit, re-parse; see `synack_fuzz::wire`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    synack_fuzz::wire::run(data);
});
