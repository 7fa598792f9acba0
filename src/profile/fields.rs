//! Field checks shared by the section validators.

use super::ProfileError;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// `v` (or `default`), which must be > 0 and at most `max`.
pub(super) fn positive(
    err: Err,
    field: &str,
    v: Option<u64>,
    default: u64,
    max: u64,
) -> Result<u64, ProfileError> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Err(err(field, "must be > 0".into()));
    }
    if v > max {
        return Err(err(field, format!("{v} is too large (at most {max})")));
    }
    Ok(v)
}
