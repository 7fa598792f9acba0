//! Profiles: the YAML a user writes, parsed strictly and validated into a [`RunPlan`].
//!
//! Parsing uses serde-saphyr with `deny_unknown_fields` everywhere; every error, from the
//! parser or from validation, names `file:line: field: problem`. All cross-field checks live
//! in `validate`. See `profiles/README.md` for every field, its unit and default.

pub mod capi_controllers;
mod class_era;
pub mod constraints;
mod crd_dir;
#[cfg(test)]
mod crd_dir_tests;
pub mod faults;
mod fields;
mod locate;
mod observe;
pub mod phases;
pub mod provider_version;
mod run_plan;
pub mod shard;
mod sweep_section;
mod target;
mod target_section;
#[cfg(test)]
mod tests;
mod types;
mod validate;
pub mod webhooks;

pub use crd_dir::read_dir as read_crd_dir;
pub use observe::{ObserveEtcd, ObservePrometheus};
pub use run_plan::{new_run_id, ClientPlan, RunPlan, TargetPlan, CLIENT_GO_MAX_RETRIES};
pub use sweep_section::SweepPlan;
pub use types::*;
pub use webhooks::{FailurePolicy, LatencyPlan, WebhookPlan};

use std::path::{Path, PathBuf};

/// A profile problem, displayed as `file:line: field: problem`.
#[derive(Debug)]
pub struct ProfileError {
    /// The profile file.
    pub file: PathBuf,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: u64,
    /// Dotted field path (`fleet.clusters`), empty when unknown.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// `s` with control characters escaped (`\n` as the two characters `\` `n`): values
/// echoed from a profile must not break the one-line message or reach the terminal raw.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", one_line(&self.file.display().to_string()))?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", one_line(&self.field))?;
        }
        write!(f, ": {}", one_line(&self.message))
    }
}

impl std::error::Error for ProfileError {}

/// Hard cap on the profile's size: a profile is a few KiB; anything larger is a mistake.
pub const MAX_PROFILE_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates a profile file into a plan.
pub fn load(path: &Path, overrides: &Overrides) -> Result<RunPlan, ProfileError> {
    let file_err = |message: String| ProfileError {
        file: path.to_path_buf(),
        line: 0,
        field: String::new(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_PROFILE_BYTES {
        return Err(file_err(format!(
            "file is {} bytes; a profile may be at most {MAX_PROFILE_BYTES}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        ProfileError {
            file: path.to_path_buf(),
            line,
            field: String::new(),
            message: "not valid UTF-8".into(),
        }
    })?;
    parse_str(path, &text, overrides)
}

/// Parses and validates profile text; `path` is only used in messages and to resolve
/// relative paths.
pub fn parse_str(path: &Path, text: &str, overrides: &Overrides) -> Result<RunPlan, ProfileError> {
    // A byte-order mark (editors on Windows) is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Err(ProfileError {
            file: path.to_path_buf(),
            line: 1,
            field: String::new(),
            message: "the profile is empty: it needs at least `fleet:` (see profiles/README.md)"
                .into(),
        });
    }
    let profile: Profile =
        serde_saphyr::from_str(text).map_err(|e| locate::parse_error(path, text, &e))?;
    let index = locate::LineIndex::new(text);
    validate::validate(
        profile,
        overrides,
        &|field: &str, message: String| ProfileError {
            file: path.to_path_buf(),
            line: index.line_of(field),
            field: field.to_string(),
            message,
        },
        path,
    )
}

/// Loads a profile with one field (`a.b.c`) set to `value` (a YAML scalar, e.g. `600` or
/// `0.5`), as a sweep point does. Errors name the file and the field; lines refer to the
/// original file.
pub fn load_with(
    path: &Path,
    field: &str,
    value: &str,
    overrides: &Overrides,
) -> Result<RunPlan, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_with(path, &text, field, value, overrides),
        Err(e) => Err(ProfileError {
            file: path.to_path_buf(),
            line: 0,
            field: field.to_string(),
            message: format!("cannot read: {e}"),
        }),
    }
}

/// [`load_with`] on a profile's text (`path` names it in errors), e.g. a built-in profile.
pub fn parse_with(
    path: &Path,
    text: &str,
    field: &str,
    value: &str,
    overrides: &Overrides,
) -> Result<RunPlan, ProfileError> {
    let err = |line: u64, message: String| ProfileError {
        file: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).to_string();
    // Validate the file as written first, so its own mistakes are reported with lines.
    parse_str(path, &text, overrides)?;
    let mut tree: serde_json::Value =
        serde_saphyr::from_str(&text).map_err(|e| locate::parse_error(path, &text, &e))?;
    let parsed: serde_json::Value =
        serde_saphyr::from_str(value).map_err(|e| err(0, format!("value `{value}`: {e}")))?;
    let mut node = &mut tree;
    for key in field.split('.') {
        if !node.is_object() {
            *node = serde_json::Value::Object(Default::default());
        }
        node = node
            .as_object_mut()
            .map(|m| m.entry(key.to_string()).or_insert(serde_json::Value::Null))
            .ok_or_else(|| err(0, "not a map".into()))?;
    }
    *node = parsed;
    let line = locate::LineIndex::new(&text).line_of(field);
    let profile: Profile =
        serde_json::from_value(tree).map_err(|e| err(line, format!("cannot be `{value}`: {e}")))?;
    let index = locate::LineIndex::new(&text);
    validate::validate(
        profile,
        overrides,
        &|f: &str, message: String| ProfileError {
            file: path.to_path_buf(),
            line: index.line_of(f),
            field: f.to_string(),
            message: format!("{message} (with {field} = {value})"),
        },
        path,
    )
}
