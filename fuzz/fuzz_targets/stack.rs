//! Fuzz target: the whole stack driven by datagrams, crafted segments, time jumps and
//! socket calls (see `synack_fuzz::stack`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = synack_fuzz::stack::run(data);
});
