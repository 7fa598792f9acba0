//! The kind cluster of one test run and the commands run against it, each bounded by a
//! deadline: `scripts/kind-up.sh` on creation, `scripts/kind-down.sh` on drop.

use capi_loadgen::model::RUN_ID_LABEL;
use capi_loadgen::report::Summary;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The repository.
pub static ROOT: LazyLock<PathBuf> = LazyLock::new(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
/// `scripts/kind-up.sh`: node start, kubeadm, the load identity (30 s measured; a cold
/// containerd and a loaded machine take longer).
const UP_DEADLINE: Duration = Duration::from_secs(300);
/// `scripts/kind-down.sh`.
const DOWN_DEADLINE: Duration = Duration::from_secs(120);
/// One kubectl call.
pub const KUBECTL_DEADLINE: Duration = Duration::from_secs(60);
/// Between two looks at a child process.
const POLL: Duration = Duration::from_millis(100);

/// The tool under test: `$CAPI_LOADGEN` (the release build `scripts/kind-e2e.sh` makes, also
/// the binary of the Job's image and of `scripts/nightly.sh`), else this test's own build.
pub fn tool_binary() -> PathBuf {
    std::env::var_os("CAPI_LOADGEN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_capi-loadgen")))
}

/// PATH with the kind and kubectl that `scripts/kind-node-image.sh` caches, after the rest.
fn path() -> String {
    let cache = std::env::var("CAPI_LOADGEN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/capi-loadgen")
        });
    format!(
        "{}:{}",
        std::env::var("PATH").unwrap_or_default(),
        cache.join("kind/bin").display()
    )
}

/// A command with the PATH above.
pub fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("PATH", path());
    c
}

/// Runs `c` to its end within `deadline` (killed and failing the test past it) and returns
/// its stdout; a non-zero exit fails the test with the tail of its output.
pub fn cmd(c: Command, deadline: Duration, what: &str) -> String {
    let (status, out, err) = run_bounded(c, deadline, what);
    assert!(
        status.success(),
        "{what}: {status}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
        tail(&out),
        tail(&err)
    );
    out
}

/// stdout of `c`, whatever its exit status (`kubectl auth can-i` exits 1 for "no").
pub fn output_even_if_failed(c: Command, deadline: Duration) -> String {
    run_bounded(c, deadline, "command").1
}

/// Exit status, stdout and stderr of `c`, run within `deadline`.
pub fn run_bounded(
    mut c: Command,
    deadline: Duration,
    what: &str,
) -> (std::process::ExitStatus, String, String) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {c:?}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what}: still running after {deadline:?}; killed\n--- stderr (tail)\n{}",
                tail(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(POLL);
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `summary.json` of a results folder.
pub fn read_summary(dir: &Path) -> Summary {
    let p = dir.join("summary.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A kind cluster made by `scripts/kind-up.sh kind-configs/tuned.yaml`, deleted on drop.
pub struct Cluster {
    pub name: String,
    /// Where the steps write their results (kept after the test).
    pub out: PathBuf,
    /// `.kind/<name>.env`: KUBECONFIG (the load identity) and the etcd metrics URL.
    pub env: Vec<(String, String)>,
    /// The cluster-admin kubeconfig (`kind get kubeconfig`), for what the load identity may
    /// not do (the Job, listing every kind).
    pub admin: PathBuf,
}

impl Cluster {
    pub fn up() -> Self {
        let name = format!("e2e-{}", std::process::id() % 100_000);
        let out = std::env::var("CAPI_LOADGEN_KIND_E2E_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| ROOT.join(".kind").join(format!("{name}-results")));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let mut up = command("bash");
        up.arg(ROOT.join("scripts/kind-up.sh"))
            .arg("kind-configs/tuned.yaml")
            .args(["--name", &name])
            .current_dir(&*ROOT);
        let mut cluster = Cluster {
            name: name.clone(),
            out: out.clone(),
            env: Vec::new(),
            admin: out.join("admin.kubeconfig"),
        };
        let t0 = Instant::now();
        // From here on the cluster is deleted however the test ends (the guard is built first).
        let said = cmd(up, UP_DEADLINE, "scripts/kind-up.sh");
        eprintln!(
            "kind_e2e: cluster {name} up in {:.0} s\n{said}",
            t0.elapsed().as_secs_f64()
        );
        let env_file = ROOT.join(".kind").join(format!("{name}.env"));
        let text = std::fs::read_to_string(&env_file).unwrap();
        cluster.env = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(
            cluster
                .env
                .iter()
                .any(|(k, _)| k == "CAPI_LOADGEN_ETCD_METRICS_URL"),
            "{}: tuned.yaml publishes etcd's metrics, but no URL: {text}",
            env_file.display()
        );
        let mut kc = command("kind");
        kc.args(["get", "kubeconfig", "--name", &name]);
        std::fs::write(
            &cluster.admin,
            cmd(kc, KUBECTL_DEADLINE, "kind get kubeconfig"),
        )
        .unwrap();
        cluster
    }

    /// A run id unique to this test process, `<prefix>-<pid>`.
    pub fn run_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", std::process::id())
    }

    /// The tool with the environment of `.kind/<name>.env`, as after `source`-ing it.
    pub fn tool(&self, args: &[&str]) -> Command {
        let mut c = command(&crate::run::tool_binary().to_string_lossy());
        c.args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("CAPI_LOADGEN_KUBECONFIG")
            .env("RUST_LOG", "warn")
            .current_dir(&*ROOT);
        c
    }

    /// The load identity's kubeconfig (`KUBECONFIG` of the env file).
    pub fn load_kubeconfig(&self) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == "KUBECONFIG")
            .map(|(_, v)| v.clone())
            .expect("no KUBECONFIG in the env file")
    }

    pub fn kubectl_as_load_identity(&self) -> Command {
        let mut c = command("kubectl");
        c.arg("--kubeconfig").arg(self.load_kubeconfig());
        c
    }

    pub fn kubectl_admin(&self) -> Command {
        let mut c = command("kubectl");
        c.arg("--kubeconfig").arg(&self.admin);
        c
    }

    /// Every object (of any listable kind, namespaces included) labelled with run id `id`.
    pub fn labelled(&self, id: &str) -> Vec<String> {
        let mut kinds = self.kubectl_admin();
        kinds.args(["api-resources", "--verbs=list", "-o", "name"]);
        let kinds: Vec<String> = cmd(kinds, KUBECTL_DEADLINE, "kubectl api-resources")
            .lines()
            .filter(|k| !k.is_empty() && *k != "events" && *k != "events.events.k8s.io")
            .map(str::to_string)
            .collect();
        let mut get = self.kubectl_admin();
        get.args([
            "get",
            &kinds.join(","),
            "-A",
            "-o",
            "name",
            "--ignore-not-found",
        ])
        .arg(format!("-l={RUN_ID_LABEL}={id}"));
        cmd(get, KUBECTL_DEADLINE, "kubectl get (labelled)")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The IPv4 gateway of kind's docker network: the host as the node reaches it.
    pub fn gateway(&self) -> String {
        let mut c = command("docker");
        c.args([
            "network",
            "inspect",
            "kind",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        ]);
        let all = cmd(c, KUBECTL_DEADLINE, "docker network inspect kind");
        all.split_whitespace()
            .find(|g| g.contains('.'))
            .unwrap_or_else(|| panic!("no IPv4 gateway on docker network kind: {all}"))
            .to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut down = command("bash");
        down.arg(ROOT.join("scripts/kind-down.sh"))
            .args(["--name", &self.name])
            .current_dir(&*ROOT);
        let (status, out, err) = run_bounded(down, DOWN_DEADLINE, "scripts/kind-down.sh");
        eprintln!("kind_e2e: {status}: {}{}", out.trim(), err.trim());
    }
}
