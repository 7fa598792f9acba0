//! Size report and generation speed (run with `--nocapture` to see the numbers).

use std::collections::BTreeMap;

use super::*;

const RUN: &str = "20261128-133501-ab12";

#[test]
fn print_object_sizes() {
    for (provider, version) in [
        (Provider::Metal3, CapiVersion::V1beta1),
        (Provider::Metal3, CapiVersion::V1beta2),
        (Provider::Nutanix, CapiVersion::V1beta1),
        (Provider::Docker, CapiVersion::V1beta2),
    ] {
        let mut spec = FleetSpec::example(RUN);
        spec.provider = provider;
        spec.capi_version = version;
        let mut sizes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let ns = namespace_object(&spec, 0);
        let len = |o: &Object| serde_json::to_vec(&o.body).unwrap().len();
        sizes.entry("namespace".into()).or_default().push(len(&ns));
        let mut total = 0;
        for o in cluster_objects(&spec, 0) {
            let label = match (o.kind, o.body["data"].get("format")) {
                (Kind::Secret, Some(_)) => "secret (bootstrap)".to_string(),
                (Kind::Secret, None) => {
                    let kind = o.name.trim_start_matches("c00000-");
                    format!("secret ({kind})")
                }
                (Kind::Machine | Kind::KubeadmConfig | Kind::InfraMachine, _)
                    if o.name.contains("control-plane") =>
                {
                    format!("{} (control plane)", o.kind.label())
                }
                (k, _) => k.label().to_string(),
            };
            total += len(&o);
            sizes.entry(label).or_default().push(len(&o));
        }
        println!("== {provider:?} {version:?}: one cluster = {total} bytes of JSON");
        for (label, v) in sizes {
            let (min, max) = (v.iter().min().unwrap(), v.iter().max().unwrap());
            println!("  {label:32} n={:<3} {min:>6}..{max:<6} bytes", v.len());
        }
    }
}
