//! The fuzz corpus as a regression test: every file under `fuzz/corpus/profile/` (what
//! `cargo fuzz run profile` found, minimised) goes through the profile parser and validator
//! in-process, without libFuzzer, and must keep the invariants of `fuzz/check.rs` (the same
//! file the fuzz target includes): no panic; a refusal is one line starting with the path,
//! with a problem and exit code 2; an accepted profile has a valid run id.
//!
//! Each file is checked twice: its bytes through the fuzz target's in-memory route, and the
//! file itself through `profile::load`, as `capi-loadgen run <file> --dry-run` reads it.

use std::path::{Path, PathBuf};

include!("../../fuzz/check.rs");

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/profile")
}

/// Runs `f`, turning a panic into an error naming what panicked.
fn no_panic(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|e| {
        let what = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {what}"))
    })
}

#[test]
fn every_corpus_input_keeps_the_invariants() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap_or_else(|e| panic!("{}: {e}", corpus().display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{} is empty: the corpus is gone",
        corpus().display()
    );
    // Quiet the default hook while inputs run: a panic is reported below, with its file.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{name}: cannot read: {e}"));
                continue;
            }
        };
        if let Err(e) = no_panic(|| check_profile_bytes(&bytes)) {
            failures.push(format!("{name} (as bytes): {e}"));
        }
        if let Err(e) = no_panic(|| check_profile_file(file)) {
            failures.push(format!("{name} (as a file): {e}"));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} of {} corpus inputs break an invariant (reproduce one with \
         `cargo +nightly fuzz run profile fuzz/corpus/profile/NAME`):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
