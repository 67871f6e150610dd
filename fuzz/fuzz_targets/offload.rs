//! Fuzz target: segmentation and receive offload, the offload paths against the plain
//! one (see `synack_fuzz::offload`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = synack_fuzz::offload::run(data);
});
