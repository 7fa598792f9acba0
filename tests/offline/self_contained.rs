//! The checkout is all a user has: no project file may name a path outside it (a sibling
//! folder of the clone, a machine's work directory) or climb out of its crate with
//! `CARGO_MANIFEST_DIR` and `..` beyond the repository root. Data the tests need from
//! elsewhere is fetched by `scripts/setup.sh` into the user's cache.

use std::path::{Component, Path, PathBuf};

/// Folders and top-level files scanned (everything the project ships; `target/` and
/// `results/` are outputs).
const SCANNED: [&str; 20] = [
    "src",
    "tests",
    "scripts",
    "bench",
    "servers",
    "docs",
    "deploy",
    "profiles",
    "examples",
    "kind-configs",
    "dashboards",
    "fuzz",
    ".github",
    ".ci",
    "README.md",
    "Cargo.toml",
    "Dockerfile",
    ".dockerignore",
    ".gitignore",
    "results/README.md",
];

/// Text that names a place outside the checkout; spelled in pieces so that this file does
/// not contain them.
fn outside_needles() -> Vec<String> {
    vec![
        format!("..{}shared", '/'),
        format!("{}work{}", '/', '/'),
        format!("{}mnt{}", '/', '/'),
    ]
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name == "corpus" || name == "artifacts" {
            continue;
        }
        files_under(&p, out);
    }
}

/// The folder of the nearest `Cargo.toml` above `file` (its crate's manifest dir).
fn crate_dir(file: &Path) -> PathBuf {
    let mut dir = file.parent().unwrap_or(file).to_path_buf();
    while !dir.join("Cargo.toml").is_file() {
        if !dir.pop() {
            return root();
        }
    }
    dir
}

/// Cargo's manifest-dir variable, spelled in pieces so that this file does not contain it.
fn manifest_var() -> String {
    format!("CARGO_MANIFEST{}DIR", '_')
}

/// The `..` components of the first string literal after each mention of the manifest-dir
/// variable in `text` (as in a `concat!` of it with "/../x", or a `.join("../..")` of it).
fn manifest_dir_climbs(text: &str) -> Vec<(usize, usize)> {
    let needle = manifest_var();
    let needle = needle.as_str();
    let mut out = Vec::new();
    for (at, _) in text.match_indices(needle) {
        let after = &text[at + needle.len()..];
        let window: String = after.chars().take(60).collect();
        // The first string literal after the macro call: `"), "/../x"` or `")).join("../..")`.
        let literal = window
            .split('"')
            .map(str::trim)
            .find(|s| s.starts_with("/..") || s.starts_with(".."));
        let climbs = literal.map_or(0, |l| {
            Path::new(l.trim_start_matches('/'))
                .components()
                .take_while(|c| matches!(c, Component::ParentDir))
                .count()
        });
        let line = text[..at].matches('\n').count() + 1;
        out.push((line, climbs));
    }
    out
}

fn offences(file: &Path, text: &str) -> Vec<String> {
    let rel = file
        .strip_prefix(root())
        .unwrap_or(file)
        .display()
        .to_string();
    let mut out = Vec::new();
    for needle in outside_needles() {
        for (n, line) in text.lines().enumerate() {
            if line.contains(&needle) {
                out.push(format!(
                    "{rel}:{}: names {needle:?}: {}",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    if rel.ends_with(".rs") {
        let depth = crate_dir(file)
            .strip_prefix(root())
            .map(|p| p.components().count())
            .unwrap_or(0);
        for (line, climbs) in manifest_dir_climbs(text) {
            if climbs > depth {
                out.push(format!(
                    "{rel}:{line}: CARGO_MANIFEST_DIR climbs {climbs} folders up from a crate {depth} below the repository root"
                ));
            }
        }
    }
    out
}

#[test]
fn no_project_file_names_a_path_outside_the_checkout() {
    let mut files = Vec::new();
    for p in SCANNED {
        files_under(&root().join(p), &mut files);
    }
    assert!(files.len() > 100, "only {} files scanned", files.len());
    let mut found = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue; // binary files
        };
        found.extend(offences(f, &text));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_scan_catches_escapes() {
    // `@M` stands for the manifest-dir variable, `@S` for the sibling folder's name.
    let m = |s: &str| s.replace("@M", &manifest_var()).replace("@S", "shared");
    let src = root().join("src/model/x.rs");
    let support = root().join("tests/support/src/lib.rs");
    let sibling = m(r#"const D: &str = concat!(env!("@M"), "/../@S/x");"#);
    assert_eq!(offences(&src, &sibling).len(), 2, "named and climbed out");
    let climb = m(r#"let d = concat!(env!("@M"), "/../other");"#);
    assert_eq!(offences(&src, &climb).len(), 1);
    // The support crate is two folders below the root: `../..` is the root itself.
    let up_to_root = m("Path::new(env!(\"@M\"))\n        .join(\"../..\")");
    assert!(offences(&support, &up_to_root).is_empty());
    let beyond = m(r#"Path::new(env!("@M")).join("../../..")"#);
    assert_eq!(offences(&support, &beyond).len(), 1);
    let machine = format!("cp x {}work{}main/y", '/', '/');
    assert_eq!(offences(&root().join("scripts/x.sh"), &machine).len(), 1);
    let inside = m(r#"concat!(env!("@M"), "/profiles/quickstart.yaml")"#);
    assert!(offences(&src, &inside).is_empty());
}

/// Every schema a test or the tool names (`"<name>.schema.json"`) is in `results/` and is
/// not hidden from git by `.gitignore` (a schema that exists only in one checkout passes
/// here and fails in every fresh clone).
#[test]
fn every_named_schema_is_committed() {
    let mut files = Vec::new();
    files_under(&root().join("src"), &mut files);
    files_under(&root().join("tests"), &mut files);
    let mut names = std::collections::BTreeSet::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for (i, _) in text.match_indices(".schema.json\"") {
            let start = text[..i].rfind('"').map(|q| q + 1).unwrap_or(i);
            let stem = &text[start..i];
            if !stem.is_empty() && stem.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                names.insert(format!("{stem}.schema.json"));
            }
        }
    }
    assert!(
        names.contains("summary.schema.json"),
        "the scan found no schema names: {names:?}"
    );
    let in_git = root().join(".git").exists();
    for name in &names {
        let path = root().join("results").join(name);
        assert!(path.is_file(), "results/{name} is named but missing");
        if in_git {
            let ignored = std::process::Command::new("git")
                .args(["check-ignore", "-q", &format!("results/{name}")])
                .current_dir(root())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                !ignored,
                "results/{name} is ignored by .gitignore: a clone lacks it"
            );
        }
    }
}
