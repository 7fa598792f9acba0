//! Integration tests that start no server: profiles, fixtures, the fuzz corpus, committed
//! results and configs, the CI workflow, the documentation's commands, the safety guard.
//! One binary (see tests/README.md).

mod bad_profiles;
mod ci_workflow;
mod compare;
mod dependencies;
mod deploy_manifests;
mod doc_commands;
mod dry_run;
mod fuzz_corpus;
mod guard;
mod kind_configs;
mod run_ids;
mod self_contained;
