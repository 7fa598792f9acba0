//! Shared helpers for the integration tests (`tests/README.md` says which binary a test
//! joins): a real local etcd + kube-apiserver per test binary, temp directories removed at
//! exit, the CLI run in-process, schema checks of result files.
//!
//! A library rather than a `mod common;` in every test binary: its public functions are
//! never dead code in a binary that happens not to call some of them.

pub mod own_memory;

use capi_loadgen::env::{LocalEnv, LocalInfo, LocalOptions};
use std::path::PathBuf;
use std::sync::OnceLock;

const PREFIX: &str = "capi-loadgen-test-";

/// A fresh state directory for this test process. Every such directory (an etcd data dir
/// holds ~130 MB of preallocated WAL) is removed when the test process exits, and ones left
/// by test processes that died are removed on first use.
pub fn state_dir(name: &str) -> PathBuf {
    let d = test_dir(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// This process's temp directory `name` (not emptied), registered for removal at exit.
fn test_dir(name: &str) -> PathBuf {
    static CLEANUP: std::sync::Once = std::sync::Once::new();
    CLEANUP.call_once(|| {
        remove_dirs(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        extern "C" fn at_exit() {
            let me = std::process::id();
            remove_dirs(|pid| pid == me);
        }
        // SAFETY: registers a plain function with no captured state.
        unsafe { libc::atexit(at_exit) };
    });
    std::env::temp_dir().join(format!("{PREFIX}{}-{name}", std::process::id()))
}

/// Removes this suite's temp directories whose owning pid matches `owned`.
fn remove_dirs(owned: impl Fn(u32) -> bool) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(&owned) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// One local environment shared by every test of this binary. It is started on first use
/// and killed with the test process (its processes carry PR_SET_PDEATHSIG).
pub fn shared_env() -> &'static LocalInfo {
    static ENV: OnceLock<LocalEnv> = OnceLock::new();
    &ENV.get_or_init(|| {
        let opts = LocalOptions {
            state_dir: state_dir("shared"),
            ..Default::default()
        };
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(LocalEnv::start(&opts))
                .expect("local environment starts")
        })
        .join()
        .expect("env start thread")
    })
    .info
}

/// The profile YAML given, written to a temp file.
pub fn profile_file(name: &str, yaml: &str) -> PathBuf {
    let dir = test_dir("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Validates a summary.json against results/summary.schema.json.
pub fn assert_valid_summary(path: &std::path::Path) -> serde_json::Value {
    assert_valid(path, "summary.schema.json")
}

/// Validates a JSON file against `results/<schema>`.
pub fn assert_valid(path: &std::path::Path, schema: &str) -> serde_json::Value {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("results").join(schema)).unwrap(),
    )
    .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{} does not match the schema: {errors:#?}",
        path.display()
    );
    doc
}

/// The capi-loadgen repository: this crate lives at `tests/support/` in it.
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository holding tests/support")
}

/// True when a process with this pid is alive and its command line contains `needle`.
pub fn alive(pid: u32, needle: &str) -> bool {
    capi_loadgen::env::process::pid_alive_as(pid, needle)
}

/// Runs the CLI in-process with these arguments (as `capi-loadgen <args>`).
pub async fn cli(args: &[&str]) -> Result<(), capi_loadgen::Error> {
    use clap::Parser;
    let mut argv = vec!["capi-loadgen"];
    argv.extend_from_slice(args);
    // On the heap, as the binary's future is in its 8 MiB main thread: a test thread has
    // 2 MiB of stack.
    Box::pin(capi_loadgen::run(capi_loadgen::Cli::parse_from(argv))).await
}

/// The fleet a profile (YAML text) yields for a run id.
pub fn fleet(name: &str, yaml: &str, run_id: &str) -> capi_loadgen::model::FleetSpec {
    let p = profile_file(name, yaml);
    let o = capi_loadgen::profile::Overrides {
        run_id: Some(run_id.into()),
        ..Default::default()
    };
    capi_loadgen::profile::load(&p, &o).unwrap().fleet
}

/// A summary's totals as (sent, ok, failed, throttled), after checking that every request
/// is accounted for (sent = ok + failed + throttled).
pub fn accounted(summary: &serde_json::Value) -> (u64, u64, u64, u64) {
    let t = &summary["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("totals.{k} in {t}"));
    let (sent, ok, failed, throttled) = (n("sent"), n("ok"), n("failed"), n("throttled"));
    assert_eq!(
        sent,
        ok + failed + throttled,
        "every request accounted for: {t}"
    );
    (sent, ok, failed, throttled)
}

/// `namespace/name` of the objects at `path` (e.g. `/api/v1/secrets`) labelled with the run id,
/// read as the local environment's admin.
pub async fn names_with_label(
    kubeconfig: &std::path::Path,
    path: &str,
    run_id: &str,
) -> Vec<String> {
    let client = capi_loadgen::env::local::client_for(kubeconfig, "capi-loadgen-admin")
        .await
        .unwrap();
    let req = http::Request::get(format!(
        "{path}?labelSelector=capi-loadgen.io%2Frun-id%3D{run_id}"
    ))
    .body(Vec::new())
    .unwrap();
    let list: serde_json::Value = client.request(req).await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// The largest value of `f` over a summary's operations (e.g. the worst p99).
pub fn max_over_ops(
    s: &capi_loadgen::report::Summary,
    f: impl Fn(&capi_loadgen::report::summary::Operation) -> f64,
) -> f64 {
    s.operations.iter().map(f).fold(0.0, f64::max)
}

/// `capi-loadgen run <profile> [--kubeconfig K] --run-id <id> --out <out>`, in-process.
pub async fn run_profile_to(
    profile: &std::path::Path,
    kubeconfig: Option<&std::path::Path>,
    run_id: &str,
    out: &std::path::Path,
) -> Result<(), capi_loadgen::Error> {
    let (p, o) = (profile.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["run", p, "--run-id", run_id, "--out", o];
    if let Some(k) = kubeconfig {
        args.extend(["--kubeconfig", k.to_str().unwrap()]);
    }
    cli(&args).await
}

/// The Cluster API release's CRDs `scripts/setup.sh` fetches from the Go module proxy
/// (`$CAPI_LOADGEN_CAPI_CRDS`, else `~/.cache/capi-loadgen/assets/capi-crds/<release>`): the
/// ClusterClass-era kinds (ClusterClass, the templates, MachineHealthCheck, MachinePool)
/// besides the classic ones.
pub fn capi_release_crds() -> PathBuf {
    let dir = capi_loadgen::env::capi_crds::release_crds_dir();
    assert!(
        dir.join("cluster.x-k8s.io_clusterclasses.yaml").is_file(),
        "{}: no Cluster API CRDs; run scripts/setup.sh (it fetches them from the Go module proxy)",
        dir.display()
    );
    dir
}

/// The release's six classic CRDs (Cluster, Machine, MachineSet, MachineDeployment,
/// KubeadmConfig, KubeadmControlPlane) prepared to serve and store only `version`
/// (`capi_loadgen::env::capi_crds::prepare`), in their real `cluster.x-k8s.io` groups.
pub fn prepared_capi_crds(version: &str) -> Vec<serde_json::Value> {
    capi_loadgen::env::capi_crds::prepared_crds(&capi_release_crds(), version)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Request timeout of [`own_env_with_admin`]'s admin client.
pub const ADMIN_CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A fresh local environment of its own (state directory `name`) and a kube client as its
/// admin, for tests that install CRDs and inspect what a run stored.
pub async fn own_env_with_admin(name: &str) -> (LocalEnv, capi_loadgen::backend::kube::KubeTarget) {
    let env = LocalEnv::start(&LocalOptions {
        state_dir: state_dir(name),
        ..Default::default()
    })
    .await
    .expect("local environment");
    let admin = capi_loadgen::backend::kube::KubeTarget::from_kubeconfig(
        Some(&env.info.kubeconfig),
        Some("capi-loadgen-admin"),
        ADMIN_CLIENT_TIMEOUT,
    )
    .await
    .expect("admin client");
    (env, admin)
}
