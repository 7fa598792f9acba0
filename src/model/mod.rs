//! The Cluster API fleet model (pure data, no I/O).
//!
//! A [`FleetSpec`] describes a fleet of fake-but-realistic workload clusters. From it this
//! module derives, deterministically:
//!
//! - names (namespaces, clusters, every object of a cluster) and placeholder UIDs;
//! - the complete JSON body of every object, in creation order, streamed lazily by
//!   [`cluster_objects`] so that a fleet of millions of objects never sits in memory;
//! - the CustomResourceDefinitions the fleet needs ([`crds`], [`provider_crds`]),
//!   whose schemas are inferred structurally from example bodies ([`schema_from_example`]).
//!
//! Bodies follow the real Cluster API types of the chosen [`CapiVersion`]
//! (`v1beta1` or `v1beta2`); provider kinds (Metal3, Nutanix, Docker) those of the
//! provider API version the fleet writes ([`FleetSpec::provider_api_version`]: `v1beta1`,
//! or `v1beta2` for the providers that publish it). Same inputs give byte-identical bodies:
//! all "random" content comes from small hashes of (run id, cluster index, object index).
//!
//! Names: namespace `clg-<run id>-<nnnnn>`, cluster `c<nnnnn>`, KubeadmControlPlane
//! `<cluster>-control-plane`, provider cluster `<cluster>-<5 chars>`, MachineDeployment
//! `<cluster>-md-<i>`, MachineSet `<md>-<5 chars>`, Machine `<kcp|machineset>-<5 chars>`,
//! KubeadmConfig and provider machine `<kcp|md>-<5 chars>` (Cluster API's template-clone
//! naming), bootstrap Secret = its KubeadmConfig's name. The 5-character suffixes come from
//! a keyed permutation, so they never collide: within a namespace every name is unique
//! across kinds, except a bootstrap Secret and its KubeadmConfig, which is why
//! [`Object::uid`] (not a recomputed [`placeholder_uid`]) is the UID to store.

/// `{"key": value, ...}` moving each value in: `json!` would copy every interpolated
/// `Value` through serde (a deep copy of metadata and spec per object, a fifth of the
/// generator's time). Values are anything `Value::from` takes.
macro_rules! object {
    ($($k:literal : $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert($k.to_string(), serde_json::Value::from($v)); )*
        serde_json::Value::Object(m)
    }};
}

mod body;
mod capi;
mod cloudinit;
mod crds;
mod kinds;
mod kubeadm;
mod layout;
mod machine;
mod machine_info;
mod meta;
mod names;
mod objects;
mod pem;
mod pools;
mod providers;
mod schema;
mod secrets;
mod spec;
mod status;
mod topology;
mod upstream;
mod values;

#[cfg(test)]
mod class_era_tests;
#[cfg(test)]
mod crd_tests;
#[cfg(test)]
mod provider_crd_tests;
#[cfg(test)]
mod size_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upstream_tests;

pub use body::{create_body, take_create_body};
pub use crds::{check_upstream, crds, provider_crds, upstream_kinds};
pub use kinds::{CapiVersion, ClusterSecret, Kind, Provider, CLASSIC_KINDS, CUSTOM_KINDS};
pub use names::placeholder_uid;
pub use objects::{cluster_objects, namespace_object, namespaces, ClusterObjects};
pub use schema::{merge_schemas, schema_from_example};
pub use spec::CrdSchemas;
pub use spec::{ApiRef, FleetSpec, ModelError, Object, PayloadSizes, Shard, DEFAULT_API_GROUP};
pub use status::{status_patch, RECONCILES_TO_FULL_STATUS};
pub use topology::namespace_objects;
pub use upstream::{UpstreamError, UPSTREAM_CORE_GROUP};
pub use values::{namespace_templated, template_keys, TemplateKey, Templated, Val};

/// Label carrying the run id on every object the tool creates.
pub const RUN_ID_LABEL: &str = "capi-loadgen.io/run-id";
/// The standard "managed by" label, set to [`MANAGED_BY_VALUE`] on every object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "capi-loadgen";
/// Cluster API's cluster-name label, set on every object that belongs to a cluster.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Annotation holding the extra padding bytes requested by [`PayloadSizes::extra`].
pub const PADDING_ANNOTATION: &str = "capi-loadgen.io/padding";
/// The Secret type Cluster API uses for the Secrets it creates.
pub const CAPI_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
