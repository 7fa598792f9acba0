//! Integration tests that start no server: profiles, fixtures, the fuzz corpus, committed
//! results and configs, the safety guard. One binary (see tests/README.md).

mod bad_profiles;
mod compare;
mod deploy_manifests;
mod dry_run;
mod fuzz_corpus;
mod guard;
mod kind_configs;
