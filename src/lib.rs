//! capi-loadgen: finds the scaling breakpoints of Kubernetes / Cluster API management
//! clusters empirically. The binary is a thin wrapper: tests call [`run`] in-process.
//!
//! A request's way through the code: `profile` (parse + validate into a
//! [`profile::RunPlan`]) → `runner` (connect, drive the phases) → `engine` (phases, workers,
//! the rate-limited client `pool`) → `backend` (kube-apiserver or etcd) → `measure`
//! (collector: histograms, counters) → `report` (summary.json, tables, merge, compare).
//! `env` starts the local etcd + kube-apiserver; `stored` encodes objects as kube-apiserver
//! stores them in etcd; `model` generates the CAPI objects;
//! `sweep` finds breakpoints on curves; `plan` sizes management clusters from measurements.
//! `docs/` explains the models behind the numbers.

#![warn(missing_docs)]

pub mod backend;
pub mod cli;
mod commands;
pub mod engine;
pub mod env;
pub mod error;
pub mod exit;
pub mod experiments;
pub mod measure;
pub mod model;
pub mod plan;
pub mod profile;
pub(crate) mod real_controllers;
pub mod report;
pub mod runner;
pub mod stored;
pub mod sweep;
pub mod thresholds;
pub(crate) mod webhook;

#[cfg(test)]
mod layering_tests;

pub use cli::Cli;
pub use error::Error;

/// Runs one command.
pub async fn run(cli: Cli) -> Result<(), Error> {
    commands::dispatch(cli).await
}
