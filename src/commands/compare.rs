//! `capi-loadgen compare <baseline> <candidate>`: two results folders of the same kind side
//! by side, one row per metric with both values, the change, the tolerance and a verdict
//! (see [`crate::report::compare`]); the Markdown goes to stdout (and `--out`). Exit 1 when
//! a metric regressed beyond its tolerance (like `diff`), 2 on bad input, 11 when the two
//! results are not alike (see [`crate::report::compare::likeness`]).

use crate::cli::CompareArgs;
use crate::error::{Error, UsageError};
use crate::report::compare::inputs::compare;
use crate::report::compare::Tolerances;

fn tolerances(args: &CompareArgs) -> Result<Tolerances, Error> {
    let mut t = match args.tolerance {
        Some(d) if !(d.is_finite() && d >= 0.0) => {
            return Err(UsageError::Value {
                flag: "compare: --tolerance",
                value: d.to_string(),
                expected: "not a percentage (a number >= 0)".into(),
            }
            .into())
        }
        Some(d) => Tolerances::uniform(d),
        None => Tolerances::class_defaults(),
    };
    for s in &args.tolerance_for {
        let (f, pct) = Tolerances::parse_override(s).map_err(UsageError::Tolerance)?;
        t.by_family.insert(f, pct);
    }
    Ok(t)
}

/// Runs `compare`.
pub fn run(args: &CompareArgs) -> Result<(), Error> {
    let tol = tolerances(args)?;
    let cmp = compare(&args.baseline, &args.candidate, &tol)?;
    // A closed stdout (`| head`) is no reason to panic or to lose the exit code.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), cmp.markdown.as_bytes());
    if let Some(out) = &args.out {
        // Not Error::Io: its exit code (1) is the one that means "regressed" here.
        std::fs::write(out, &cmp.markdown).map_err(|source| UsageError::Read {
            command: "compare: --out",
            path: out.clone(),
            source,
        })?;
    }
    if cmp.regressed > 0 {
        return Err(Error::Regressed {
            count: cmp.regressed,
            total: cmp.total,
        });
    }
    Ok(())
}
