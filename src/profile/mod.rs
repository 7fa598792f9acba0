//! Profiles: the YAML a user writes, parsed strictly and validated into a [`Plan`].
//!
//! Parsing uses serde-saphyr with `deny_unknown_fields` everywhere; every error, from the
//! parser or from validation, names `file:line: field: problem`. All cross-field checks live
//! in [`validate`]. See `profiles/README.md` for every field, its unit and default.

mod locate;
pub mod phases;
#[cfg(test)]
mod tests;
mod types;
mod validate;

pub use types::*;
pub use validate::{ClientPlan, Plan, TargetPlan};

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

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ProfileError {}

/// Hard cap on the profile's size: a profile is a few KiB; anything larger is a mistake.
pub const MAX_PROFILE_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates a profile file into a plan.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, ProfileError> {
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
pub fn parse_str(path: &Path, text: &str, overrides: &Overrides) -> Result<Plan, ProfileError> {
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
