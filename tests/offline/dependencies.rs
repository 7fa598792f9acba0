//! No unused dependency: every crate a manifest names is used by the code that manifest
//! builds (a `name::` path, a `use name`, or a `name!` macro), so `Cargo.toml` says what
//! the tool really links. The check is textual, like `cargo machete`'s, and needs no tool.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The crate names of one `[section]` of a manifest.
fn deps(manifest: &str, section: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == section;
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            if let Some((name, _)) = t.split_once('=') {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

fn rust_text(dirs: &[PathBuf]) -> String {
    fn walk(p: &Path, out: &mut String) {
        if p.is_file() {
            if p.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(p).unwrap_or_default());
                out.push('\n');
            }
            return;
        }
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name() != "target" {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = String::new();
    for d in dirs {
        walk(d, &mut out);
    }
    out
}

/// Whether `code` uses the crate `name` (its identifier is the name with `-` as `_`).
fn used(code: &str, name: &str) -> bool {
    let id = name.replace('-', "_");
    let boundary = |i: usize| {
        i == 0
            || !code[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    [format!("{id}::"), format!("{id}!"), format!("use {id}")]
        .iter()
        .any(|needle| {
            code.match_indices(needle.as_str())
                .any(|(i, _)| boundary(i))
        })
}

fn unused(manifest_dir: &Path, section: &str, code_dirs: &[&str]) -> Vec<String> {
    let manifest = std::fs::read_to_string(manifest_dir.join("Cargo.toml")).unwrap();
    let code = rust_text(
        &code_dirs
            .iter()
            .map(|d| manifest_dir.join(d))
            .collect::<Vec<_>>(),
    );
    let names = deps(&manifest, section);
    assert!(!names.is_empty(), "{section} of {}", manifest_dir.display());
    names.into_iter().filter(|n| !used(&code, n)).collect()
}

#[test]
fn every_dependency_is_used() {
    let r = root();
    let mut found = unused(&r, "[dependencies]", &["src", "examples"]);
    // Dev-dependencies serve the tests, the benches and the examples; `tokio` is listed
    // again only for its test-util feature.
    found.extend(
        unused(
            &r,
            "[dev-dependencies]",
            &["tests", "src", "benches", "examples"],
        )
        .into_iter()
        .filter(|n| n != "tokio"),
    );
    found.extend(unused(&r.join("tests/support"), "[dependencies]", &["src"]));
    assert!(found.is_empty(), "unused dependencies: {found:?}");
}

#[test]
fn the_check_sees_an_unused_crate() {
    let code = "use serde::Serialize;\nlet x = my_serde_json::to_string(&v);\nformat!(\"{}\", 1);";
    assert!(used(code, "serde"));
    assert!(
        !used(code, "serde-json"),
        "a longer identifier is not the crate"
    );
    assert!(!used(code, "anyhow"));
    assert_eq!(
        deps("[dependencies]\na = \"1\"\n# c\nb-c = { version = \"1\" }\n[dev-dependencies]\nd = \"1\"\n", "[dependencies]"),
        ["a", "b-c"]
    );
}
