//! Fuzz target: arbitrary bytes as the content of a profile file, parsed and validated as
//! `capi-loadgen run <file> --dry-run` does. The invariants live in `fuzz/check.rs`, shared
//! with the regression test `tests/offline/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../check.rs");

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = check_profile_bytes(data) {
        panic!("invariant violated: {violation}");
    }
});
