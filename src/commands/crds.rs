//! `capi-loadgen crds <profile>`: the CustomResourceDefinitions a profile's fleet needs, as
//! one JSON `List` for `kubectl apply -f -`, so that an admin can install them once and the
//! load identity of deploy/rbac.yaml needs no right to create CRDs.

use crate::cli::CrdsArgs;
use crate::error::Error;
use crate::profile::{self, Overrides};

/// Runs `crds`.
pub fn run(args: &CrdsArgs) -> Result<(), Error> {
    let plan = profile::load(&args.profile, &Overrides::default())?;
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": crate::model::crds(&plan.fleet),
    });
    let text = crate::error::to_json(&list)?;
    println!("{text}");
    Ok(())
}
