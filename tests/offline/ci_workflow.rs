//! `.github/workflows/ci.yml`, read statically: it runs on pull requests and pushes, has the
//! four lanes (lint, offline, servers, matrix), each lane runs the commands it is for, every
//! script, test target and folder it names exists, and it caches the server build cache,
//! cargo's registry and `target/`. `.ci/run` stays the one-command `scripts/test.sh`.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn workflow() -> Value {
    let path = root().join(".github/workflows/ci.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `run:` of a job, in order, with its step's `working-directory` and `env`.
fn runs(job: &Value) -> Vec<(String, Option<String>, Value)> {
    job["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("a job without steps: {job}"))
        .iter()
        .filter_map(|s| {
            let run = s["run"].as_str()?;
            let dir = s["working-directory"].as_str().map(str::to_string);
            Some((
                run.split_whitespace().collect::<Vec<_>>().join(" "),
                dir,
                s["env"].clone(),
            ))
        })
        .collect()
}

/// The problems of a workflow: missing lanes, commands, paths or caches.
fn problems(wf: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let on = wf
        .get("on")
        .or_else(|| wf.get("true"))
        .cloned()
        .unwrap_or_default();
    for event in ["pull_request", "push"] {
        if on.get(event).is_none() {
            out.push(format!("not run on {event}"));
        }
    }
    let needs: [(&str, &[&str]); 4] = [
        (
            "lint",
            &[
                "cargo fmt --all -- --check",
                "cargo clippy --workspace --all-targets --locked -- -D warnings",
                "shellcheck scripts/*.sh",
                "cargo doc --no-deps",
            ],
        ),
        (
            "offline",
            &[
                "scripts/setup.sh",
                "cargo test --locked --lib",
                "cargo test --locked --test offline",
            ],
        ),
        (
            "servers",
            &[
                "scripts/setup.sh --for-tests",
                "--test shared",
                "--test own_env",
            ],
        ),
        (
            "matrix",
            &[
                "scripts/setup.sh --all",
                "version_matrix",
                "scripts/instructions.sh",
            ],
        ),
    ];
    for (lane, commands) in needs {
        let job = &wf["jobs"][lane];
        if !job.is_object() {
            out.push(format!("no lane {lane}"));
            continue;
        }
        let lines = runs(job);
        for c in commands {
            if !lines.iter().any(|(r, _, _)| r.contains(c)) {
                out.push(format!("{lane}: no step runs `{c}`"));
            }
        }
        let cached: String = job["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/cache@"))
            })
            .filter_map(|s| s["with"]["path"].as_str())
            .collect();
        let wanted: &[&str] = if lane == "lint" {
            &["~/.cargo/registry", "target"]
        } else {
            &["~/.cache/capi-loadgen", "~/.cargo/registry", "target"]
        };
        for p in wanted {
            if !cached.lines().any(|l| l.trim() == *p) {
                out.push(format!("{lane}: does not cache {p}"));
            }
        }
    }
    // rustdoc with warnings as errors.
    let lint = runs(&wf["jobs"]["lint"]);
    if !lint
        .iter()
        .any(|(r, _, env)| r.contains("cargo doc") && env["RUSTDOCFLAGS"] == "-D warnings")
    {
        out.push("lint: cargo doc without RUSTDOCFLAGS=-D warnings".into());
    }
    // go vet in every Go module under servers/.
    let modules = std::fs::read_dir(root().join("servers")).expect("servers/");
    for m in modules
        .flatten()
        .filter(|m| m.path().join("go.mod").is_file())
    {
        let dir = format!("servers/{}", m.file_name().to_string_lossy());
        let vetted = lint.iter().any(|(r, d, _)| {
            r.contains("go vet ./...") && (d.as_deref() == Some(dir.as_str()) || r.contains(&dir))
        });
        if !vetted {
            out.push(format!("lint: no go vet ./... in {dir}"));
        }
    }
    // Every script, test target and working directory named exists.
    for (lane, job) in wf["jobs"].as_object().into_iter().flatten() {
        for (run, dir, _) in runs(job) {
            for word in run.split_whitespace() {
                if word.starts_with("scripts/")
                    && !word.contains('*')
                    && !root().join(word).is_file()
                {
                    out.push(format!("{lane}: {word} does not exist"));
                }
            }
            let words: Vec<&str> = run.split_whitespace().collect();
            for w in words.windows(2).filter(|w| w[0] == "--test") {
                let name = w[1];
                let exists = root().join(format!("tests/{name}.rs")).is_file()
                    || root().join(format!("tests/{name}/main.rs")).is_file();
                if !exists {
                    out.push(format!("{lane}: no test target {name}"));
                }
            }
            if let Some(d) = dir {
                if !root().join(&d).is_dir() {
                    out.push(format!("{lane}: no folder {d}"));
                }
            }
        }
    }
    out
}

#[test]
fn ci_workflow_has_its_lanes_and_names_real_commands() {
    let p = problems(&workflow());
    assert!(p.is_empty(), "{}", p.join("\n"));
}

#[test]
fn every_server_test_binary_runs_in_a_lane() {
    // A new test binary under tests/ must join a lane (or the offline one).
    let wf = workflow();
    let all: String = wf["jobs"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(runs)
        .map(|(r, _, _)| r)
        .collect::<Vec<_>>()
        .join("\n");
    for e in std::fs::read_dir(root().join("tests")).unwrap().flatten() {
        let p = e.path();
        let name = match p.extension() {
            Some(x) if x == "rs" => p.file_stem().unwrap().to_string_lossy().into_owned(),
            None if p.join("main.rs").is_file() => e.file_name().to_string_lossy().into_owned(),
            _ => continue,
        };
        assert!(
            all.contains(&format!("--test {name}")),
            "tests/{name}: no CI lane runs it (.github/workflows/ci.yml)"
        );
    }
}

#[test]
fn the_checks_catch_a_broken_workflow() {
    let mut wf = workflow();
    assert!(problems(&wf).is_empty());
    wf["jobs"].as_object_mut().unwrap().remove("matrix");
    wf["jobs"]["lint"]["steps"]
        .as_array_mut()
        .unwrap()
        .retain(|s| !s["run"].as_str().is_some_and(|r| r.contains("go vet")));
    wf["jobs"]["offline"]["steps"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"run": "bash scripts/missing.sh && cargo test --test nothing"}));
    let p = problems(&wf).join("\n");
    for expected in [
        "no lane matrix",
        "no go vet ./... in servers/etcd",
        "scripts/missing.sh does not exist",
        "no test target nothing",
    ] {
        assert!(p.contains(expected), "{expected}:\n{p}");
    }
}

#[test]
fn ci_run_is_the_test_script() {
    let text = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let commands: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        commands.last(),
        Some(&"exec bash scripts/test.sh"),
        ".ci/run must end by running scripts/test.sh: {commands:?}"
    );
}
