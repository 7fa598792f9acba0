//! Validation of `sweep:` into [`SweepPlan`]: what `capi-loadgen sweep` varies by default.

use super::types::{SweepSection, SweepState};
use super::ProfileError;

type Err<'a> = &'a dyn Fn(&str, String) -> ProfileError;

/// The profile's `sweep:` section, resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepPlan {
    /// Field to vary.
    pub field: Option<String>,
    /// Values as YAML scalars.
    pub values: Option<Vec<String>>,
    /// Reset or accumulate.
    pub state: SweepState,
}

pub(super) fn sweep_plan(s: Option<SweepSection>, err: Err) -> Result<SweepPlan, ProfileError> {
    let Some(s) = s else {
        return Ok(SweepPlan::default());
    };
    let values = match (s.values, s.range) {
        (Some(_), Some(_)) => {
            return Err(err("sweep.range", "give values or range, not both".into()))
        }
        (Some(v), None) => {
            if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
                return Err(err(
                    "sweep.values",
                    "give at least one finite number".into(),
                ));
            }
            Some(v.iter().map(|x| format!("{x}")).collect::<Vec<_>>())
        }
        (None, Some(r)) => Some(
            crate::sweep::values::parse(None, Some(&r))
                .map_err(|m| err("sweep.range", m.to_string()))?,
        ),
        (None, None) => None,
    };
    let state = s.state.unwrap_or_default();
    if state == SweepState::Accumulate {
        if s.field.as_deref().is_some_and(|f| f != "fleet.clusters") {
            return Err(err(
                "sweep.state",
                "accumulate only applies to a fleet.clusters sweep (other fields change what exists)".into(),
            ));
        }
        if let Some(v) = &values {
            crate::sweep::values::ascending(v).map_err(|m| err("sweep.values", m.to_string()))?;
        }
    }
    Ok(SweepPlan {
        field: s.field,
        values,
        state,
    })
}
