//! Whether two runs may be compared at all: a gate between a 20-cluster and a 12-cluster
//! run, two profiles, a local environment and a kind cluster, or two Kubernetes or etcd
//! versions would flag (or hide) differences of the set-up, not of the code under test.
//! `compare` refuses such a pair with one line naming what differs
//! ([`crate::exit::UNLIKE`]).

use crate::report::summary::Summary;

/// The first difference between `b` and `c` that makes their metrics incomparable, in
/// words (`fleet.clusters: 20 vs 12`), or None when they are alike.
pub fn unlike(b: &Summary, c: &Summary) -> Option<String> {
    // An etcd version known on one side only (its metrics not reached) is no difference.
    let (be, ce) = match (&b.target.etcd_version, &c.target.etcd_version) {
        (Some(x), Some(y)) => (x.clone(), y.clone()),
        _ => (String::new(), String::new()),
    };
    let shards = |s: &Summary| s.shard.as_ref().map(|x| x.count).unwrap_or(1);
    let checks: [(&str, String, String); 10] = [
        ("profile", b.profile.name.clone(), c.profile.name.clone()),
        ("target kind", b.target.kind.clone(), c.target.kind.clone()),
        (
            "fleet.clusters",
            b.fleet.clusters.to_string(),
            c.fleet.clusters.to_string(),
        ),
        (
            "fleet.namespaces",
            b.fleet.namespaces.to_string(),
            c.fleet.namespaces.to_string(),
        ),
        (
            "objects planned",
            b.fleet.objects_planned.to_string(),
            c.fleet.objects_planned.to_string(),
        ),
        (
            "fleet.provider",
            b.fleet.provider.clone(),
            c.fleet.provider.clone(),
        ),
        (
            "fleet.capi_version",
            b.fleet.capi_version.clone(),
            c.fleet.capi_version.clone(),
        ),
        ("shards", shards(b).to_string(), shards(c).to_string()),
        (
            "kube-apiserver version",
            b.target.server_version.clone(),
            c.target.server_version.clone(),
        ),
        ("etcd version", be, ce),
    ];
    checks
        .into_iter()
        .find(|(_, x, y)| x != y)
        .map(|(what, x, y)| format!("{what}: {x} vs {y}"))
}
