//! Integration tests that share one local etcd + kube-apiserver (`common::shared_env()`,
//! started on first use, killed at exit): each works on objects labelled with its own run
//! id and counts nothing server-wide, so they may run side by side. One binary (see
//! tests/README.md).

mod cleanup;
mod dashboard;
mod etcd_fidelity;
mod no_secrets_in_output;
mod run_kube;
mod shard;
mod sweep;
