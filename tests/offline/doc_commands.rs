//! Every command line shown in a fenced `bash`, `sh`, `shell` or `console` block of
//! README.md and docs/**/*.md is checked, so the documentation cannot drift from the tool:
//!
//! - `capi-loadgen …` is parsed by the tool's own clap [`Cli`]; a profile it names that is
//!   in the repository is loaded by the profile validator (as `run --dry-run` does);
//! - `scripts/*.sh …` names an existing script, and every flag it passes is one the script
//!   (or the Python program it hands its arguments to) handles;
//! - `cargo …` is one of a short list of subcommands;
//! - anything else is in [`OTHER_COMMANDS`] with the reason it cannot be checked here.
//!
//! Paths into the repository (profiles/, kind-configs/, deploy/, scripts/, results/reference)
//! must exist. The commands that really run against the local environment are run by the
//! server tests named in [`RUN_BY_SERVER_TESTS`].

use capi_loadgen::Cli;
use clap::Parser;
use std::path::{Path, PathBuf};

/// Commands other than the tool, its scripts and cargo, with why they are not run here.
const OTHER_COMMANDS: [(&str, &str); 7] = [
    (
        "kubectl",
        "needs a cluster; the flags shown are kubectl's own",
    ),
    (
        "docker",
        "needs a Docker daemon; builds the repository's Dockerfile",
    ),
    (
        "kind",
        "needs Docker; loads the image built by the docker line before it",
    ),
    (
        "helm",
        "installs a third-party chart into a kind cluster (docs/prometheus.md)",
    ),
    (
        "source",
        "a shell builtin reading the .env file scripts/kind-up.sh writes",
    ),
    (
        "wait",
        "a shell builtin: waits for the background shards of the loop before it",
    ),
    (
        "done",
        "closes a shell loop whose body is checked line by line",
    ),
];

/// Cargo subcommands the docs may show.
const CARGO_SUBCOMMANDS: [&str; 6] = ["install", "build", "test", "fmt", "clippy", "doc"];

/// Shell placeholders in the docs and what the check reads them as.
const SUBSTITUTIONS: [(&str, &str); 1] = [("$i", "0")];

/// Profiles shown by name that a reader writes themselves (not in the repository).
const READERS_PROFILES: [&str; 2] = ["my.yaml", "my-webhooks.yaml"];

/// Commands shown that run against the local environment, and the server test that runs
/// each (with the text that test must contain).
const RUN_BY_SERVER_TESTS: [(&str, &str, &str); 3] = [
    (
        "capi-loadgen sizes profiles/quickstart.yaml --clusters 20",
        "tests/own_env/sizes.rs",
        "\"sizes\"",
    ),
    (
        "capi-loadgen run profiles/quickstart.yaml",
        "tests/own_env/rbac.rs",
        "profiles/quickstart.yaml",
    ),
    (
        "scripts/quickstart.sh",
        "tests/own_env/rbac.rs",
        "the quickstart runs",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut out = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut out);
    out.sort();
    out
}

/// A command line and where it was shown.
#[derive(Debug)]
struct Shown {
    at: String,
    line: String,
}

/// The command lines of the shell blocks of `text` (comments dropped, continuations joined,
/// a console block's `$ ` lines only).
fn commands(file: &str, text: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    let mut pending = String::new();
    for (n, raw) in text.lines().enumerate() {
        if let Some(info) = raw.trim_start().strip_prefix("```") {
            block = match block {
                None => Some(info.trim().to_string()),
                Some(_) => None,
            };
            continue;
        }
        let Some(lang) = block.as_deref() else {
            continue;
        };
        if !matches!(lang, "bash" | "sh" | "shell" | "console") {
            continue;
        }
        let mut line = raw.trim().to_string();
        if lang == "console" {
            match line.strip_prefix("$ ") {
                Some(l) => line = l.to_string(),
                None if pending.is_empty() => continue,
                None => {}
            }
        }
        if let Some(i) = line.find(" #") {
            line.truncate(i);
        }
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            pending += head.trim_end();
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        if !full.trim().is_empty() {
            out.push(Shown {
                at: format!("{file}:{}", n + 1),
                line: full.trim().to_string(),
            });
        }
    }
    out
}

/// One line split into simple commands (at `&&`, `||`, `|`, `;`, `&`), each as words,
/// without redirections, `nice -n N` prefixes and a loop's `for … do`.
fn simple_commands(line: &str) -> Vec<Vec<String>> {
    let mut line = line.to_string();
    for (from, to) in SUBSTITUTIONS {
        line = line.replace(from, to);
    }
    let line = line
        .replace("&&", ";")
        .replace("||", ";")
        .replace(['|', '&'], ";");
    let mut out = Vec::new();
    for part in line.split(';') {
        let mut words: Vec<String> = Vec::new();
        let mut it = part.split_whitespace();
        while let Some(w) = it.next() {
            if w == ">" || w == ">>" {
                it.next();
            } else {
                words.push(w.trim_matches('\'').to_string());
            }
        }
        if words.first().is_some_and(|w| w == "nice") && words.get(1).is_some_and(|w| w == "-n") {
            words.drain(..3);
        }
        if words.first().is_some_and(|w| w == "for" || w == "do") {
            continue; // `for i in 0 1 2` / `do`: the body is the next line
        }
        if !words.is_empty() {
            out.push(words);
        }
    }
    out
}

/// Arguments that are paths into the repository must exist.
fn repo_paths(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter(|w| {
            [
                "profiles/",
                "kind-configs/",
                "deploy/",
                "scripts/",
                "bench/",
                "results/reference",
            ]
            .iter()
            .any(|p| w.starts_with(p))
        })
        .filter(|w| !root().join(w.as_str()).exists())
        .map(|w| format!("{w} does not exist"))
        .collect()
}

fn check_tool(words: &[String]) -> Result<(), String> {
    let cli = Cli::try_parse_from(words).map_err(|e| {
        let text = e.to_string();
        text.lines().next().unwrap_or_default().to_string()
    })?;
    use capi_loadgen::cli::Command;
    let profile = match &cli.command {
        Command::Run(a) => Some(a.profile.clone()),
        Command::Sweep(a) => Some(a.profile.clone()),
        Command::Sizes(a) => Some(a.profile.clone()),
        Command::Crds(a) => Some(a.profile.clone()),
        _ => None,
    };
    let Some(profile) = profile else {
        return Ok(());
    };
    let name = profile.to_string_lossy().into_owned();
    if READERS_PROFILES.contains(&name.as_str()) {
        return Ok(());
    }
    let path = root().join(&profile);
    if !path.is_file() {
        return Err(format!("profile {name} is not in the repository"));
    }
    capi_loadgen::profile::load(&path, &Default::default())
        .map(|_| ())
        .map_err(|e| format!("profile {name}: {e}"))
}

/// The flags a script handles: those in its own text and in the Python programs it runs.
fn script_text(script: &Path) -> Result<String, String> {
    let mut text =
        std::fs::read_to_string(script).map_err(|e| format!("{}: {e}", script.display()))?;
    let handed: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .filter(|w| w.ends_with(".py"))
        .map(|w| {
            let w = w.rsplit("../").next().unwrap_or(w);
            w.trim_start_matches("$REPO/")
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    for py in handed {
        if let Ok(t) = std::fs::read_to_string(root().join(&py)) {
            text += &t;
        }
    }
    Ok(text)
}

fn check_script(words: &[String]) -> Result<(), String> {
    let script = root().join(&words[0]);
    if !script.is_file() {
        return Err(format!("{} does not exist", words[0]));
    }
    let text = script_text(&script)?;
    for w in &words[1..] {
        if let Some(flag) = w.strip_prefix("--") {
            let flag = flag.split('=').next().unwrap_or_default();
            if !text.contains(&format!("--{flag}")) && !text.contains(&format!("\"{flag}\"")) {
                return Err(format!("{} does not handle --{flag}", words[0]));
            }
        }
    }
    Ok(())
}

fn check(words: &[String]) -> Result<(), String> {
    let problems = repo_paths(words);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let first = words[0].as_str();
    match first {
        "capi-loadgen" => check_tool(words),
        w if w.starts_with("scripts/") => check_script(words),
        "cargo" => {
            let sub = words.iter().skip(1).find(|w| !w.starts_with('+'));
            match sub {
                Some(s) if CARGO_SUBCOMMANDS.contains(&s.as_str()) => Ok(()),
                other => Err(format!("cargo {other:?} is not in CARGO_SUBCOMMANDS")),
            }
        }
        other if OTHER_COMMANDS.iter().any(|(c, _)| *c == other) => Ok(()),
        other => Err(format!(
            "unknown command {other:?}: add it to OTHER_COMMANDS with a reason"
        )),
    }
}

fn all_shown() -> Vec<Shown> {
    markdown_files()
        .iter()
        .flat_map(|f| {
            let rel = f.strip_prefix(root()).unwrap().display().to_string();
            commands(&rel, &std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

#[test]
fn every_documented_command_is_one_the_tool_or_its_scripts_accept() {
    let shown = all_shown();
    assert!(shown.len() > 40, "only {} commands found", shown.len());
    let mut failures = Vec::new();
    let mut tool = 0;
    for s in &shown {
        for words in simple_commands(&s.line) {
            tool += usize::from(words[0] == "capi-loadgen");
            if let Err(e) = check(&words) {
                failures.push(format!("{}: {}: {e}", s.at, s.line));
            }
        }
    }
    assert!(tool > 20, "only {tool} capi-loadgen commands");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_readme_shows_the_two_setup_commands() {
    let readme: Vec<String> = commands(
        "README.md",
        &std::fs::read_to_string(root().join("README.md")).unwrap(),
    )
    .into_iter()
    .map(|s| s.line)
    .collect();
    assert_eq!(
        readme[..2],
        ["scripts/quickstart.sh", "scripts/test.sh"],
        "{readme:?}"
    );
    let lines = std::fs::read_to_string(root().join("README.md"))
        .unwrap()
        .lines()
        .count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: it is the map, the rest goes to docs/"
    );
}

#[test]
fn commands_run_against_the_local_environment_have_a_server_test() {
    let shown = all_shown();
    for (command, test, needle) in RUN_BY_SERVER_TESTS {
        assert!(
            shown.iter().any(|s| s.line.starts_with(command)),
            "{command}: not shown in the docs any more; update RUN_BY_SERVER_TESTS"
        );
        let text =
            std::fs::read_to_string(root().join(test)).unwrap_or_else(|e| panic!("{test}: {e}"));
        assert!(text.contains(needle), "{test} does not run {command}");
    }
}

#[test]
fn the_checks_catch_wrong_commands() {
    let bad = [
        "capi-loadgen run profiles/quickstart.yaml --no-such-flag",
        "capi-loadgen frobnicate",
        "capi-loadgen run profiles/missing.yaml",
        "capi-loadgen sizes tests/fixtures/bad-profiles/bad-api-group.yaml",
        "scripts/setup.sh --no-such-flag",
        "scripts/missing.sh",
        "kubectl apply -f deploy/missing.yaml",
        "curl https://example.invalid",
        "cargo publish",
    ];
    for line in bad {
        let words = &simple_commands(line)[0];
        assert!(check(words).is_err(), "accepted: {line}");
    }
    let good = [
        "capi-loadgen run profiles/quickstart.yaml --dry-run",
        "scripts/setup.sh --kubernetes v1.20.2 --etcd v3.4.23",
        "nice -n 19 scripts/bench.sh --pairs 1",
    ];
    for line in good {
        for words in simple_commands(line) {
            assert_eq!(check(&words), Ok(()), "{line}");
        }
    }
    let shown = commands(
        "x.md",
        "```bash\nfor i in 0 1; do\n  capi-loadgen run a.yaml \\\n    --shard $i/3 &   # x\ndone; wait\n```\n```console\n$ capi-loadgen env down\noutput line\n```\n",
    );
    let lines: Vec<&str> = shown.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "for i in 0 1; do",
            "capi-loadgen run a.yaml --shard $i/3 &",
            "done; wait",
            "capi-loadgen env down"
        ]
    );
}

#[test]
fn setup_help_lists_every_flag_setup_handles() {
    let script = root().join("scripts/setup.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("--help")
        .output()
        .expect("bash runs scripts/setup.sh --help");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(&script).unwrap();
    // The argument loop's case arms: `    --flag)` or `    --flag=*)`.
    let flags: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split([')', '=', '|']).next())
        .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert!(flags.len() >= 6, "{flags:?}");
    for f in flags {
        assert!(
            help.contains(&format!("--{f}")),
            "--{f} is not in setup.sh --help:\n{help}"
        );
    }
    assert!(help.contains("--for-tests"), "{help}");
}

#[test]
fn every_relative_link_of_the_docs_resolves() {
    let mut broken = Vec::new();
    for f in markdown_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let dir = f.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.contains(' ') {
                continue;
            }
            if !dir.join(target).exists() {
                let rel = f.strip_prefix(root()).unwrap().display();
                broken.push(format!("{rel}: {target}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
