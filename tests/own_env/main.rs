//! Integration tests where every test starts, breaks or measures environments of its own
//! (local etcd + kube-apiserver) and never the shared one: at most `--test-threads`
//! environments at a time, each owned by one test. One binary (see tests/README.md).

mod apiserver_memory;
mod apiservers;
mod capi_controllers;
mod capi_schema;
mod class_era;
mod etcd_cluster;
mod faults;
mod local_env;
mod management_clusters;
mod memory_limit;
mod namespace_controller;
mod nospace;
mod prometheus;
mod provider_versions;
mod rbac;
mod sizes;
mod slow_disk;
mod upstream_schemas;
mod version_matrix;
mod warm_up;
mod webhooks;
