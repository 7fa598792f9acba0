//! The library's layering, checked on its source: no import cycle between top-level
//! modules, commands reached only from the binary's edge, and no command importing another.
//! A path counts wherever it is written (`use crate::x`, `use crate::{x, y}`, or inline
//! `crate::x::f()`), tests included; comments do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a line of code names through `crate::`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `capi_loadgen::x` in a doc test is not `crate::`; neither is `my_crate::`.
        let before = rest[..i].chars().next_back();
        let after = &rest[i + "crate::".len()..];
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            if let Some(group) = after.strip_prefix('{') {
                // `crate::{a, b::c}`: the first segment of each item (nesting is rare and
                // only adds inner items, whose first segment we also take).
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for item in inner.split(',') {
                    let name = ident(item.trim());
                    if !name.is_empty() {
                        out.push(name.to_string());
                    }
                }
            } else {
                let name = ident(after);
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        }
        rest = after;
    }
    out
}

/// The code of a line, without its `//` comment (string contents are kept: a `//` inside a
/// string literal ends the code early, which can only hide paths, never invent them).
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// The source tree: top-level module → (file, line number, module named) for every
/// `crate::` path, and the set of top-level modules.
struct Tree {
    edges: Vec<(String, String, String, usize)>,
    modules: BTreeSet<String>,
}

fn tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // This file names the paths it looks for.
    files.retain(|f| !f.ends_with("layering_tests.rs"));
    let top = |p: &Path| -> String {
        let rel = p.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| top(p))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut edges = Vec::new();
    for f in &files {
        let from = top(f);
        let rel = f.strip_prefix(&src).unwrap().display().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for to in crate_paths(code_of(line)) {
                if to != from && modules.contains(&to) {
                    edges.push((from.clone(), to, rel.clone(), n + 1));
                }
            }
        }
    }
    Tree { edges, modules }
}

/// A cycle through the graph, if there is one (as the list of modules on it).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_path_parser_sees_every_form() {
    assert_eq!(crate_paths("use crate::profile::RunPlan;"), ["profile"]);
    assert_eq!(
        crate_paths("use crate::{engine::Stop, report};"),
        ["engine", "report"]
    );
    assert_eq!(
        crate_paths("let x = crate::model::f(crate::backend::g());"),
        ["model", "backend"]
    );
    assert!(crate_paths("capi_loadgen::run(x); my_crate::y").is_empty());
    assert_eq!(code_of("use crate::a; // crate::b"), "use crate::a; ");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g = |edges: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            m.entry(a.to_string()).or_default().insert(b.to_string());
        }
        m
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let t = tree();
    assert!(t.modules.contains("runner") && t.modules.contains("profile"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to, _, _) in &t.edges {
        graph.entry(from.clone()).or_default().insert(to.clone());
    }
    if let Some(cycle) = find_cycle(&graph) {
        let witnesses: Vec<String> = cycle
            .windows(2)
            .filter_map(|w| {
                t.edges
                    .iter()
                    .find(|e| e.0 == w[0] && e.1 == w[1])
                    .map(|e| format!("{} -> {} ({}:{})", e.0, e.1, e.2, e.3))
            })
            .collect();
        panic!(
            "import cycle {}:\n{}",
            cycle.join(" -> "),
            witnesses.join("\n")
        );
    }
}

#[test]
fn only_the_binary_edge_reaches_the_commands() {
    let t = tree();
    let bad: Vec<String> = t
        .edges
        .iter()
        .filter(|(from, to, _, _)| to == "commands" && from != "cli")
        .map(|(_, _, f, n)| format!("{f}:{n}"))
        .collect();
    assert!(
        bad.is_empty(),
        "crate::commands used outside cli/commands: {bad:?}"
    );
}

#[test]
fn no_command_imports_another() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .filter(|n| n != "mod")
        .collect();
    let mut bad = Vec::new();
    for f in &files {
        let me = f.file_stem().unwrap().to_string_lossy().to_string();
        if me == "mod" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            for other in &names {
                let named = [
                    format!("super::{other}::"),
                    format!("super::{other};"),
                    format!("commands::{other}"),
                ];
                if other != &me && named.iter().any(|p| code.contains(p.as_str())) {
                    bad.push(format!("{me} -> {other} ({}:{})", f.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "commands importing commands: {bad:?}");
}
