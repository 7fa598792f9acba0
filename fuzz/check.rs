// The invariants of the profile parser and validator, in one copy: `include!`d by the fuzz
// target (fuzz/fuzz_targets/profile.rs) and by the corpus regression test
// (tests/offline/fuzz_corpus.rs). Plain `//` comments: an included file cannot start with `//!`.
//
// `run <file> --dry-run` loads the profile and, when it has a `sweep:` section, loads it
// once more per sweep point with the swept field set (`profile::load_with`): both are
// checked here, so a point's refusal must keep the same promises.
//
// What the product promises for any profile file (README.md, profiles/README.md):
// - no panic;
// - a refusal is exit code 2 and ONE line `path[:line][: field]: problem` that starts with
//   the path given and has a non-empty problem;
// - an accepted profile is a plan whose run id is valid (1-24 characters of a-z, 0-9 and
//   '-', not starting or ending with '-'), the same in the fleet, and whose fleet passes
//   `FleetSpec::validate` (a `Plan` is "validated: nothing left to check").

/// The path fuzzed bytes are named by in messages (relative, as a user types it).
const FUZZ_PROFILE_PATH: &str = "fuzz-input/profile.yaml";

/// `data` as the content of a profile file, through the in-memory entry point.
///
/// `run <file> --dry-run` calls `profile::load(path)`, which needs a real file: its size cap
/// (`MAX_PROFILE_BYTES`) and its non-UTF-8 check run on the file's bytes, then it calls
/// `profile::parse_str(path, text)`. No public function takes the bytes, so bytes that are
/// not UTF-8 stop here (the corpus test covers them through [`check_profile_file`]).
fn check_profile_bytes(data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let path = std::path::Path::new(FUZZ_PROFILE_PATH);
    let overrides = capi_loadgen::profile::Overrides::default();
    let plan = check_outcome(
        path,
        capi_loadgen::profile::parse_str(path, text, &overrides),
    )?;
    for (field, value) in sweep_points(plan.as_ref()) {
        check_outcome(
            path,
            capi_loadgen::profile::parse_with(path, text, &field, &value, &overrides),
        )
        .map_err(|e| format!("sweep point {field:?} = {value:?}: {e}"))?;
    }
    Ok(())
}

/// A real profile file through `profile::load`, exactly what `run <file> --dry-run` calls
/// (with no flags: default overrides).
#[allow(dead_code)] // the fuzz target only feeds bytes
fn check_profile_file(path: &std::path::Path) -> Result<(), String> {
    let overrides = capi_loadgen::profile::Overrides::default();
    let plan = check_outcome(path, capi_loadgen::profile::load(path, &overrides))?;
    for (field, value) in sweep_points(plan.as_ref()) {
        check_outcome(
            path,
            capi_loadgen::profile::load_with(path, &field, &value, &overrides),
        )
        .map_err(|e| format!("sweep point {field:?} = {value:?}: {e}"))?;
    }
    Ok(())
}

/// The (field, value) of every point of an accepted profile's sweep section, which
/// `run --dry-run` loads one by one (at most 1000: validation caps a range).
fn sweep_points(plan: Option<&capi_loadgen::profile::RunPlan>) -> Vec<(String, String)> {
    let Some(plan) = plan else {
        return Vec::new();
    };
    match (&plan.sweep.field, &plan.sweep.values) {
        (Some(field), Some(values)) => values.iter().map(|v| (field.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

/// Checks one outcome of parsing + validating the profile named `path`; returns the plan
/// when the profile was accepted.
fn check_outcome(
    path: &std::path::Path,
    outcome: Result<capi_loadgen::profile::RunPlan, capi_loadgen::profile::ProfileError>,
) -> Result<Option<capi_loadgen::profile::RunPlan>, String> {
    match outcome {
        Err(e) => {
            let problem = e.message.clone();
            // What the CLI prints and the exit code it returns.
            let err = capi_loadgen::Error::from(e);
            let (msg, code) = (err.to_string(), err.exit_code());
            let prefix = format!("{}:", path.display());
            if msg.contains('\n') {
                return Err(format!("refusal spans several lines: {msg:?}"));
            }
            if msg.chars().any(char::is_control) {
                return Err(format!("refusal holds a raw control character: {msg:?}"));
            }
            if !msg.starts_with(&prefix) {
                return Err(format!("refusal does not start with `{prefix}`: {msg:?}"));
            }
            if problem.trim().is_empty() {
                return Err(format!("refusal has an empty problem: {msg:?}"));
            }
            if code != capi_loadgen::exit::USAGE {
                return Err(format!(
                    "refusal exits {code}, not {}: {msg:?}",
                    capi_loadgen::exit::USAGE
                ));
            }
            Ok(None)
        }
        Ok(plan) => {
            let id = plan.run_id.as_str();
            let valid = !id.is_empty()
                && id.len() <= 24
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !id.starts_with('-')
                && !id.ends_with('-');
            if !valid {
                return Err(format!("accepted plan has an invalid run id {id:?}"));
            }
            if plan.fleet.run_id != plan.run_id {
                return Err(format!(
                    "accepted plan's fleet run id {:?} is not its run id {id:?}",
                    plan.fleet.run_id
                ));
            }
            if let Err(e) = plan.fleet.validate() {
                return Err(format!(
                    "accepted plan's fleet fails FleetSpec::validate: {e}"
                ));
            }
            Ok(Some(plan))
        }
    }
}
