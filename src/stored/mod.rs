//! The stored form: the bytes kube-apiserver writes to etcd for an object, reproduced
//! without an apiserver. [`encode`] is the reference encoder (JSON for custom resources,
//! `k8s\0` protobuf for built-ins), [`stored_json`] its fast path for custom resources,
//! [`template`] renders per-fleet byte templates patched per object, [`value`] is one
//! object's stored value, and [`sizing`] sums those bytes per cluster of a fleet.
//! Pure functions, no I/O: the `etcd` backend writes what this module encodes.

pub mod encode;
pub mod sizing;
pub mod stored_json;
pub mod template;
pub mod value;
