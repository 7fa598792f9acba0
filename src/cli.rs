//! Command-line definitions (clap derive). No logic here.
//!
//! The doc comments here are the `--help` text, written for a terminal: placeholders such
//! as `<run-id>` stay as they are, so rustdoc must not read them as HTML.
#![allow(rustdoc::invalid_html_tags)]

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Finds the scaling breakpoints of Kubernetes / Cluster API management clusters.
#[derive(Debug, Parser)]
#[command(name = "capi-loadgen", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags that choose an existing cluster instead of the profile's target.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Kubeconfig of the target cluster (switches the target to `kube`).
    #[arg(long, env = "CAPI_LOADGEN_KUBECONFIG", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig (switches the target to `kube`).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// etcd endpoint (repeatable; switches the target to a bare `etcd`).
    #[arg(long = "etcd-endpoint", global = true)]
    pub etcd_endpoint: Vec<String>,
    /// A kubeconfig context that may take load although it is neither a kind cluster on this
    /// machine nor the local environment (repeatable; the safety guard refuses others).
    #[arg(long = "allow-context", global = true)]
    pub allow_context: Vec<String>,
    /// An etcd endpoint off this machine's loopback that may take load (repeatable).
    #[arg(long = "allow-endpoint", global = true)]
    pub allow_endpoint: Vec<String>,
    /// kube-apiserver version of the local environment, e.g. v1.35.4 (default: the newest
    /// built by scripts/setup.sh; wins over the profile's `local.kubernetes_version`).
    #[arg(long = "kubernetes-version", global = true, value_name = "vX.Y.Z")]
    pub kubernetes_version: Option<String>,
    /// etcd version of the local environment, e.g. v3.6.16 (default: the newest built).
    #[arg(long = "etcd-version", global = true, value_name = "vX.Y.Z")]
    pub etcd_version: Option<String>,
    /// etcd's plain-HTTP metrics URL to observe on a kube target, e.g.
    /// http://127.0.0.1:2381/metrics (kind-configs/tuned.yaml publishes it there); wins over
    /// the profile's observe.etcd_metrics_url. Only read, never written to.
    #[arg(
        long = "etcd-metrics-url",
        env = "CAPI_LOADGEN_ETCD_METRICS_URL",
        global = true,
        value_name = "URL"
    )]
    pub etcd_metrics_url: Option<String>,
    /// A Prometheus that scrapes the target, e.g. http://127.0.0.1:9090: the apiserver's
    /// and etcd's series are queried from it instead of scraped; wins over the profile's
    /// observe.prometheus_url (its bearer token file stays in the profile).
    #[arg(
        long = "prometheus-url",
        env = "CAPI_LOADGEN_PROMETHEUS_URL",
        global = true,
        value_name = "URL"
    )]
    pub prometheus_url: Option<String>,
    /// The address kube-apiserver reaches this machine at, for the profile's `webhooks:`
    /// (default 127.0.0.1; for kind, the docker network's gateway as the node container sees
    /// it, e.g. 172.18.0.1: docs/webhooks.md); wins over `webhooks.host`.
    #[arg(
        long = "webhook-host",
        env = "CAPI_LOADGEN_WEBHOOK_HOST",
        global = true,
        value_name = "HOST"
    )]
    pub webhook_host: Option<String>,
}

/// The jobs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a fleet from a profile and measure the target.
    Run(RunArgs),
    /// Start, inspect or stop the local etcd + kube-apiserver.
    Env(EnvArgs),
    /// Delete the objects of one run (or of every run), and nothing else.
    Cleanup(CleanupArgs),
    /// Measure bytes per kind and per cluster as stored in etcd; project to large fleets.
    Sizes(SizesArgs),
    /// Re-render the Markdown of a results folder (a run, a sweep or a breakpoints suite) from its JSON and print it.
    Report(ReportArgs),
    /// Run a profile over values of one field and find each curve's breakpoint.
    Sweep(SweepArgs),
    /// Run one experiment per documented Cluster API scaling bottleneck and report documented
    /// vs model vs measured breakpoints (docs/breakpoints.md).
    Breakpoints(BreakpointsArgs),
    /// Merge the results of the shards of one run (`run --shard i/n`) into one results
    /// folder: counts summed, histograms added losslessly, time series aligned.
    Merge(MergeArgs),
    /// Size management clusters for a fleet: demand, the breakpoint progression, the
    /// controller flags needed, and how many management clusters, every figure with its
    /// source (a `breakpoints` results folder, or unmeasured defaults).
    Plan(PlanArgs),
    /// Compare two results folders of the same kind (runs, sweeps or breakpoints suites)
    /// metric by metric; exit 1 when a metric regressed beyond its tolerance.
    ///
    /// Prints a Markdown table: each metric's baseline and candidate value, the change, the
    /// tolerance and a verdict (ok, better, REGRESSED, new, missing, inconclusive), ending
    /// with `N metrics, K regressed`. A run (summary.json) is compared per operation
    /// (latency p99, throttle wait p99; operations with fewer than 20 requests on a side are
    /// skipped), by ok requests/s, failure rate, controller queue wait and lag p99 and etcd
    /// db bytes per cluster; a sweep (sweep.json) by each curve's knee and threshold
    /// crossing and the best writes/s; a breakpoints suite (breakpoints.json) by each row's
    /// measured breakpoint. Higher is worse for latencies, waits, failures and bytes; lower
    /// is worse for throughput and breakpoint positions. A breakpoint "not reached" lies
    /// beyond its swept range: never a regression when that range went (within tolerance)
    /// as far as the other side's breakpoint.
    ///
    /// Exit codes: 0 nothing regressed, 1 something regressed, 2 bad input (a missing or
    /// invalid results file, folders of different kinds, a bad flag).
    Compare(CompareArgs),
    /// Print the CustomResourceDefinitions a profile's fleet needs, as a JSON List for
    /// `kubectl apply -f -` (an admin installs them once; deploy/rbac.yaml's identity then
    /// needs no right to create CRDs).
    Crds(CrdsArgs),
    /// Print a shell completion script, e.g. `capi-loadgen completions bash >
    /// /etc/bash_completion.d/capi-loadgen` (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

/// `breakpoints`
#[derive(Debug, Args)]
pub struct BreakpointsArgs {
    /// Where to connect instead of one local environment per experiment.
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Comma-separated experiments to run (client-qps, concurrency, etcd-writes, etcd-size,
    /// apf); default all.
    #[arg(long)]
    pub only: Option<String>,
    /// Run id, at most 16 characters (default: bp-<time>-<random>; experiments' run ids
    /// add a suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Results directory (default results/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run the suite on each of these kube-apiserver versions in turn (comma-separated,
    /// e.g. v1.20.2,v1.37.2), one local environment per experiment and version, and write
    /// a side-by-side versions.md / versions.json with one plot per curve and version.
    #[arg(long, value_name = "vX.Y.Z,...")]
    pub versions: Option<String>,
}

/// `plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Workload clusters in the fleet.
    #[arg(long)]
    pub clusters: u64,
    /// Machines per cluster, control plane included.
    #[arg(long, default_value_t = 10)]
    pub machines_per_cluster: u64,
    /// MachineDeployments per cluster.
    #[arg(long, default_value_t = 1)]
    pub machine_deployments: u32,
    /// Provider shape (metal3, nutanix, docker): what a machine stores.
    #[arg(long, default_value = "metal3")]
    pub provider: String,
    /// Machines replaced per cluster per hour (rolling upgrades, remediation).
    #[arg(long, default_value_t = 0.0)]
    pub churn_machines_per_hour: f64,
    /// Controller defaults: v1.5 (QPS 20 / burst 30, concurrency 10, v1.5-v1.12) or v1.13
    /// (100 / 200, 50).
    #[arg(long, default_value = "v1.5")]
    pub capi_version: String,
    /// A `breakpoints` results folder (or one holding `breakpoints/`) to calibrate with.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// API calls per periodic reconcile of a cluster, all controllers together.
    #[arg(long, default_value_t = 20.0)]
    pub calls_per_reconcile: f64,
    /// Of those, writes (status patches).
    #[arg(long, default_value_t = 8.0)]
    pub writes_per_reconcile: f64,
    /// Seconds one reconcile takes.
    #[arg(long, default_value_t = 6.0)]
    pub reconcile_seconds: f64,
    /// Headroom kept below every breakpoint (0.2 = 20%).
    #[arg(long, default_value_t = 0.2)]
    pub margin: f64,
    /// How to split a fleet over management clusters: namespace, hash or region.
    #[arg(long, default_value = "namespace")]
    pub sharding: String,
    /// Override the preset's `--kube-api-qps` (burst follows in the preset's ratio).
    #[arg(long)]
    pub kube_api_qps: Option<f64>,
    /// Override the preset's `--cluster-concurrency`.
    #[arg(long)]
    pub cluster_concurrency: Option<f64>,
    /// Override the preset's `--sync-period`, in seconds.
    #[arg(long)]
    pub sync_period_seconds: Option<f64>,
    /// Size management clusters for the controller flags as they are: client QPS and
    /// concurrency limit each management cluster too (default: they are tuned as needed).
    #[arg(long)]
    pub keep_flags: bool,
    /// Also write plan.md and plan.json here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `merge`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' results directories (e.g. results/<run-id>/shard-*), or logs of shards
    /// run with `--output archive` (e.g. `kubectl logs -l job-name=capi-loadgen > job.log`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged results (default results/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Merge even if some shards' directories are missing (the report says which).
    #[arg(long)]
    pub allow_partial: bool,
    /// Overwrite a summary.json already in --out.
    #[arg(long)]
    pub force: bool,
}

/// `sweep`
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The profile to sweep.
    pub profile: PathBuf,
    /// Where to connect instead of the profile's target.
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// The dotted profile field to vary, e.g. fleet.clusters or client.qps (default: the
    /// profile's sweep.field).
    #[arg(long)]
    pub field: Option<String>,
    /// Comma-separated values.
    #[arg(long, conflicts_with = "range")]
    pub values: Option<String>,
    /// lo:hi:step.
    #[arg(long)]
    pub range: Option<String>,
    /// What points keep between them (default: the profile's sweep.state, else reset).
    #[arg(long, value_enum)]
    pub state: Option<crate::profile::SweepState>,
    /// Sweep id (default: time + random suffix; points are <id>-p<n>).
    #[arg(long)]
    pub sweep_id: Option<String>,
    /// Results directory (default results/sweep-<id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run the sweep on each of these kube-apiserver versions in turn (comma-separated,
    /// e.g. v1.20.2,v1.37.2; each built by scripts/setup.sh --kubernetes), one local
    /// environment per version, and write versions.md / versions.json with one plot per
    /// curve and one line per version.
    #[arg(long, value_name = "vX.Y.Z,...")]
    pub versions: Option<String>,
    /// The steady phase's controller at every point: `simulated`, `reference`, or `both`
    /// (the sweep once with each into <out>/simulated and <out>/reference, then
    /// <out>/comparison.md and one SVG per metric with both curves). Default: the profile's
    /// phases.steady.controller.
    #[arg(long, value_enum)]
    pub controller: Option<crate::experiments::controller_comparison::SweepController>,
    /// With `--controller both`: keep a controller's sweep already in <out>/simulated or
    /// <out>/reference when its sweep.json is complete and of the same profile and values
    /// (its points are read again from their summary.json files), and run only the other: a
    /// long comparison resumed after one side was interrupted, or re-rendered.
    #[arg(long, requires = "controller")]
    pub reuse_complete: bool,
}

/// `report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results directory (holding summary.json).
    pub dir: PathBuf,
}

/// `sizes`
#[derive(Debug, Args)]
pub struct SizesArgs {
    /// The profile whose fleet shape is measured.
    pub profile: PathBuf,
    /// etcd to measure in (default: the local environment the profile starts).
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Clusters to write for the measurement.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub clusters: u64,
    /// Run id (default: time + random suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Results directory (default results/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// State directory for the local environment.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// `cleanup`
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Where to delete (default: the current kubeconfig context).
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Delete the objects labelled with this run id.
    #[arg(long, conflicts_with = "all_runs")]
    pub run_id: Option<String>,
    /// Delete the objects of every capi-loadgen run.
    #[arg(long)]
    pub all_runs: bool,
    /// Core API group the runs used.
    #[arg(long, default_value = "loadtest.cluster.x-k8s.io")]
    pub api_group: String,
    /// Requests per second per client (<= 0: unlimited).
    #[arg(long, default_value_t = 50.0)]
    pub qps: f64,
    /// Token bucket size per client.
    #[arg(long, default_value_t = 100)]
    pub burst: u32,
    /// Clients in the pool.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub pool_size: u64,
    /// Deletes in flight.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub concurrency: u64,
    /// Per-request timeout.
    #[arg(long, default_value_t = 30.0)]
    pub timeout_seconds: f64,
}

/// `run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The profile (YAML), e.g. profiles/quickstart.yaml.
    pub profile: PathBuf,
    /// Where to connect instead of the profile's target.
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Run id (labels every object; default: time + random suffix).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Override fleet.clusters.
    #[arg(long)]
    pub clusters: Option<u64>,
    /// Results directory (default results/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// State directory for the local environment (default: a temporary directory).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Generate only shard i of n of the fleet (`i/n`, 0-based), split by namespace so
    /// shards never share an object; a bare `n` takes i from $JOB_COMPLETION_INDEX (a
    /// Kubernetes Indexed Job). Needs --run-id; results go to results/<run-id>/shard-<i>
    /// and `merge` joins them. Open-loop create/delete rates are divided by n.
    #[arg(long, env = "CAPI_LOADGEN_SHARD", value_parser = crate::profile::shard::parse)]
    pub shard: Option<crate::model::Shard>,
    /// Validate the profile, print the plan, then stream it without sending: generate and
    /// serialize every object the create phase would send, one at a time (flat memory at
    /// any fleet size), and print objects and bytes per kind.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: only validate and print the plan; generate nothing.
    #[arg(long, requires = "dry_run")]
    pub plan_only: bool,
    /// With --dry-run: also write every create body, one JSON object per line in creation
    /// order (namespaces first), e.g. for a baseline client to replay.
    #[arg(long, requires = "dry_run", conflicts_with = "plan_only")]
    pub objects_out: Option<PathBuf>,
    /// If etcd fills up (NOSPACE), make it usable again afterwards: delete this run's
    /// objects, compact, defragment, disarm the alarm and prove it with a write; written to
    /// recovery.json (needs the local environment or an etcd target).
    #[arg(long)]
    pub recover: bool,
    /// Exit non-zero (9) when a health verdict is at least this bad.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Exit non-zero (12) when more than this percentage of the requests sent failed
    /// (after retries; 429s are counted apart): the summary's status is then `failed`,
    /// its stop_reason says how many. 100 turns the check off.
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0)]
    pub max_failure_ratio: f64,
    /// Serve the tool's own Prometheus metrics here during the run (e.g. 127.0.0.1:9464).
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Keep serving --metrics-addr this many seconds after the run, for a last scrape.
    #[arg(long, default_value_t = 0.0)]
    pub metrics_linger_seconds: f64,
    /// What to print on stdout at the end: the Markdown table, the summary as JSON (valid
    /// against results/summary.schema.json; nothing else goes to stdout), or the table and
    /// the results folder as archive lines.
    #[arg(long, value_enum, default_value_t = OutputFormat::Markdown)]
    pub output: OutputFormat,
    /// Also write the health verdicts and their thresholds as JUnit XML, one test case per
    /// check (failed at --fail-on's level, default degraded; skipped when not observed).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// When stderr is not a terminal (CI, `kubectl logs`), log one progress line per phase
    /// this often instead of drawing progress bars.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0,
          value_parser = parse_log_seconds)]
    pub log_progress_seconds: f64,
}

fn parse_log_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.5..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` must be a number of seconds between 0.5 and 3600"
        )),
    }
}

/// `--output` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The Markdown table of operations.
    Markdown,
    /// summary.json.
    Json,
    /// The table, then the results folder compressed into log lines that `merge` reads
    /// back from `kubectl logs` output (for Job pods whose files die with them).
    Archive,
}

/// `crds`
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// The profile whose fleet (API group, provider, CAPI version) decides the CRDs.
    pub profile: PathBuf,
}

/// `completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--fail-on` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any warning.
    Warning,
    /// Degraded or critical.
    Degraded,
    /// Critical only.
    Critical,
}

/// `env`
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// up, status or down.
    #[command(subcommand)]
    pub action: EnvAction,
}

/// `env` actions.
#[derive(Debug, Subcommand)]
pub enum EnvAction {
    /// Start etcd + kube-apiserver on loopback and print the kubeconfig to use.
    Up(EnvUpArgs),
    /// Show whether the environment in the state directory is running and ready.
    Status(StateDirArg),
    /// Stop an environment started with `env up --detach`.
    Down(StateDirArg),
}

/// The state directory flag.
#[derive(Debug, Args)]
pub struct StateDirArg {
    /// State directory (default ~/.cache/capi-loadgen/local).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// `env up`
#[derive(Debug, Args)]
pub struct EnvUpArgs {
    /// State directory.
    #[command(flatten)]
    pub dir: StateDirArg,
    /// Return once ready and leave the processes running (stop with `env down`).
    #[arg(long)]
    pub detach: bool,
    /// kube-apiserver --max-requests-inflight.
    #[arg(long)]
    pub max_requests_inflight: Option<u32>,
    /// kube-apiserver --max-mutating-requests-inflight.
    #[arg(long)]
    pub max_mutating_requests_inflight: Option<u32>,
    /// etcd --quota-backend-bytes.
    #[arg(long)]
    pub quota_backend_bytes: Option<u64>,
    /// kube-apiserver version to start, e.g. v1.35.4 (default: the newest built by
    /// scripts/setup.sh).
    #[arg(long = "kubernetes-version", value_name = "vX.Y.Z")]
    pub kubernetes_version: Option<String>,
    /// etcd version to start, e.g. v3.6.16 (default: the newest built).
    #[arg(long = "etcd-version", value_name = "vX.Y.Z")]
    pub etcd_version: Option<String>,
}

/// `compare`
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline results folder (holding summary.json, sweep.json or breakpoints.json).
    pub baseline: PathBuf,
    /// The candidate results folder, of the same kind.
    pub candidate: PathBuf,
    /// How much worse (in percent of the baseline) any metric may get before it counts as
    /// regressed. Default: by metric class, since tail latencies vary far more between
    /// identical runs than counts do: 100% for latency, throttle wait, queue wait and lag
    /// p99s, 20% for throughput, 10% for the rest. Whatever the tolerance, a change smaller
    /// than the metric's floor never regresses: 1 ms for latencies, throttle waits and lags,
    /// 10 ms for controller queue waits, 1
    /// request (or write) per second for throughput, 0.1 percentage points for the failure
    /// rate, 1 KiB per cluster for etcd bytes, 1 unit (cluster, write/s, request) for
    /// breakpoints. Two runs that are not alike (profile, fleet size, target kind, shards,
    /// versions) are refused with exit 11.
    #[arg(long, value_name = "PERCENT")]
    pub tolerance: Option<f64>,
    /// The tolerance of one metric family (repeatable), e.g. latency_p99=25. Families:
    /// latency_p99, throttle_wait_p99, throughput, failure_rate, queue_wait_p99, lag_p99,
    /// bytes_per_cluster, breakpoint.
    #[arg(long = "tolerance-for", value_name = "METRIC=PERCENT")]
    pub tolerance_for: Vec<String>,
    /// Also write the Markdown table to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
