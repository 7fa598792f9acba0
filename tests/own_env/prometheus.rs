//! The observations read from a Prometheus instead of scraped: Debian's `prometheus`
//! (`/usr/bin/prometheus`) scrapes the local environment's two kube-apiservers (TLS with
//! the environment's CA and the admin token, as the tool scrapes them) and etcd's metrics
//! URL every second; the same small run is made once scraping (instances named in
//! `observe.apiserver_urls`, etcd through `--etcd-metrics-url`, as in `apiservers.rs`) and
//! once with `--prometheus-url`. Both must judge etcd from real readings, keep the two
//! apiservers apart, and count the mutating requests the tool sent. Skipped, saying so,
//! when `/usr/bin/prometheus` is not installed (`scripts/setup.sh --for-tests` installs it).

use capi_loadgen_test_support as common;

use super::apiservers::{observed_mutating, round_robin_idle, tool_mutating, PROFILE};
use capi_loadgen::env::{LocalEnv, LocalOptions};
use capi_loadgen::measure::scrape::SourceKind;
use capi_loadgen::report::health::Level;
use capi_loadgen::report::Summary;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// How long Prometheus may take to start and report every target up.
const TARGETS_UP_DEADLINE: Duration = Duration::from_secs(120);
/// Between two looks at its targets.
const TARGETS_POLL: Duration = Duration::from_millis(500);
/// The proxy's idle timeout: as a load balancer's, far longer than a request. (The
/// apiservers test closes idle connections within a scrape interval to mix the scrapes; here
/// nothing is scraped through the proxy, and a connection closed just as a client reuses it
/// fails that request.)
const PROXY_IDLE: Duration = Duration::from_secs(60);

/// A Prometheus child process, killed when dropped.
struct Prometheus {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A plain HTTP GET of `path` on `addr`: the body, or None without an answer.
async fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut c = tokio::net::TcpStream::connect(addr).await.ok()?;
    c.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut text = String::new();
    c.read_to_string(&mut text).await.ok()?;
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

/// Writes prometheus.yml (the apiservers over TLS with the environment's CA and the admin
/// token, etcd over plain HTTP, every second) and starts Prometheus on a free port.
fn start_prometheus(dir: &Path, env: &capi_loadgen::env::LocalInfo) -> Prometheus {
    let state = &env.state_dir;
    let admin_token = std::fs::read_to_string(state.join("tokens.csv"))
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let token = dir.join("scrape-token");
    std::fs::write(&token, &admin_token).unwrap();
    let hostport = |u: &str| {
        u.trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let apiservers: Vec<String> = env
        .apiserver_urls
        .iter()
        .map(|u| format!("'{}'", hostport(u)))
        .collect();
    let config = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
- job_name: apiserver
  scheme: https
  tls_config: {{ca_file: '{ca}'}}
  authorization: {{credentials_file: '{token}'}}
  static_configs: [{{targets: [{apiservers}]}}]
- job_name: etcd
  static_configs: [{{targets: ['{etcd}']}}]
",
        ca = state.join("pki/ca.crt").display(),
        token = token.display(),
        apiservers = apiservers.join(", "),
        etcd = hostport(&env.etcd_metrics_url),
    );
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let addr = free_addr();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = std::process::Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Prometheus { child, addr }
}

/// Waits until Prometheus reports `want` active targets, all up.
async fn targets_up(p: &Prometheus, want: usize, dir: &Path) {
    let started = tokio::time::Instant::now();
    loop {
        if let Some(body) = get(p.addr, "/api/v1/targets").await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let targets = v["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if targets.len() == want && targets.iter().all(|t| t["health"] == "up") {
                return;
            }
            if started.elapsed() > TARGETS_UP_DEADLINE {
                panic!("Prometheus targets not all up within {TARGETS_UP_DEADLINE:?}: {body}");
            }
        } else if started.elapsed() > TARGETS_UP_DEADLINE {
            let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
            panic!("Prometheus did not answer within {TARGETS_UP_DEADLINE:?}: {log}");
        }
        tokio::time::sleep(TARGETS_POLL).await;
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn level(s: &Summary, check: &str) -> (Level, Option<f64>) {
    let v = s.health.iter().find(|v| v.check == check).unwrap();
    (v.level, v.value)
}

/// Mutating requests each instance counted over the run.
fn per_instance(s: &Summary) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for i in s
        .observed
        .as_ref()
        .unwrap()
        .points
        .iter()
        .flat_map(|p| &p.apiservers)
    {
        *out.entry(i.instance.clone()).or_insert(0.0) += i.mutating_requests.unwrap_or(0.0);
    }
    out
}

#[tokio::test]
async fn prometheus_gives_the_same_verdicts_and_instances_as_scraping() {
    if !Path::new(PROMETHEUS).exists() {
        eprintln!("SKIPPED: {PROMETHEUS} is not installed (Debian's `prometheus` package; scripts/setup.sh --for-tests installs it)");
        return;
    }
    let dir = common::state_dir("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let mut env = LocalEnv::start(&LocalOptions {
        state_dir: dir.join("env"),
        apiservers: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let urls = env.info.apiserver_urls.clone();
    assert_eq!(urls.len(), 2);
    let upstreams: Vec<SocketAddr> = urls
        .iter()
        .map(|u| u.trim_start_matches("https://").parse().unwrap())
        .collect();
    let proxy = round_robin_idle(upstreams, PROXY_IDLE).await;
    let kc = dir.join("proxy.kubeconfig");
    let text = std::fs::read_to_string(&env.info.kubeconfig).unwrap();
    std::fs::write(
        &kc,
        text.replace(&env.info.apiserver_url, &format!("https://{proxy}")),
    )
    .unwrap();
    let kcs = kc.to_str().unwrap().to_string();

    // A Prometheus that is not there: one line naming it, exit code 10, before any load.
    let nowhere = format!("http://{}", free_addr());
    let p = common::profile_file(
        "prom-nowhere",
        &format!("{PROFILE}observe: {{interval_seconds: 1}}\n"),
    );
    let e = common::cli(&[
        "run",
        p.to_str().unwrap(),
        "--run-id",
        "prom-nowhere",
        "--out",
        dir.join("prom-nowhere").to_str().unwrap(),
        "--kubeconfig",
        &kcs,
        "--prometheus-url",
        &nowhere,
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), capi_loadgen::exit::OBSERVE_SOURCE, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("Prometheus {nowhere} unreachable")),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'), "{e}");
    assert!(!dir.join("prom-nowhere").join("summary.json").exists());

    let prometheus = start_prometheus(&dir, &env.info);
    targets_up(&prometheus, 3, &dir).await;

    // Never sent anywhere but Prometheus, never written: checked in every result file.
    let secret = format!("not-a-real-token-{}", std::process::id());
    let token_file = dir.join("prometheus-token");
    std::fs::write(&token_file, format!("{secret}\n")).unwrap();
    let instances = format!("[{}]", urls.join(", "));
    let run = |name: &'static str, observe: String, flags: Vec<String>| {
        let (kcs, dir) = (kcs.clone(), dir.clone());
        async move {
            let p = common::profile_file(
                name,
                &format!("{PROFILE}observe: {{interval_seconds: 1{observe}}}\n"),
            );
            let out = dir.join(name);
            let mut args: Vec<String> = [
                "run",
                p.to_str().unwrap(),
                "--run-id",
                name,
                "--out",
                out.to_str().unwrap(),
                "--kubeconfig",
                &kcs,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(flags);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::cli(&args).await.unwrap();
            common::assert_valid_summary(&out.join("summary.json"));
            (Summary::read(&out).unwrap(), out)
        }
    };
    let (scraped, _) = run(
        "prom-scraped",
        format!(", apiserver_urls: {instances}"),
        vec![
            "--etcd-metrics-url".into(),
            env.info.etcd_metrics_url.clone(),
        ],
    )
    .await;
    let prom_url = format!("http://{}", prometheus.addr);
    let (queried, out) = run(
        "prom-queried",
        format!(", prometheus_bearer_token_file: '{}'", token_file.display()),
        vec!["--prometheus-url".into(), prom_url.clone()],
    )
    .await;

    let source = |s: &Summary| s.observed.as_ref().unwrap().source.clone().unwrap();
    assert_eq!(source(&scraped).kind, SourceKind::Scrape);
    let src = source(&queried);
    assert_eq!(src.kind, SourceKind::Prometheus);
    assert_eq!(src.prometheus_url.as_deref(), Some(prom_url.as_str()));
    let fresh = src.prometheus_freshness.unwrap();
    eprintln!(
        "Prometheus: {} snapshots, waited for fresh samples {:.2} s at most, {:.2} s on average",
        fresh.snapshots, fresh.wait_max_seconds, fresh.wait_mean_seconds
    );
    assert!(fresh.snapshots >= 5, "{fresh:?}");
    // A 1 s scrape interval: never near the deadline, never a lagging instance.
    assert!(fresh.wait_max_seconds < 10.0, "{fresh:?}");
    let o = queried.observed.as_ref().unwrap();
    assert!(
        !o.not_observed.iter().any(|n| n.contains("Prometheus")
            || n.contains("etcd")
            || n.contains("went backwards")),
        "{:?}",
        o.not_observed
    );

    // The same checks, observed the same way; the counting ones agree to the verdict.
    let checks = |s: &Summary| -> Vec<(String, bool)> {
        s.health
            .iter()
            .map(|v| (v.check.clone(), v.level == Level::NotObserved))
            .collect()
    };
    assert_eq!(checks(&scraped), checks(&queried));
    for check in [
        "etcd_wal_fsync_p99",
        "etcd_backend_commit_p99",
        "etcd_leader_changes_per_10min",
        "etcd_proposals_failed",
        "apiserver_mutating_p99",
        "rejected_429_rate",
    ] {
        let (a, b) = (level(&scraped, check), level(&queried, check));
        eprintln!(
            "{check}: scraped {:?} {:?}, Prometheus {:?} {:?}",
            a.0, a.1, b.0, b.1
        );
        assert_ne!(b.0, Level::NotObserved, "{check}");
    }
    for check in [
        "etcd_leader_changes_per_10min",
        "etcd_proposals_failed",
        "rejected_429_rate",
    ] {
        assert_eq!(level(&scraped, check), level(&queried, check), "{check}");
    }

    // Per instance: Prometheus' instance labels, each serving part of the load, and
    // together what the tool sent, as when scraping.
    let mut want: Vec<String> = urls
        .iter()
        .map(|u| u.trim_start_matches("https://").to_string())
        .collect();
    want.sort();
    let by_instance = per_instance(&queried);
    assert_eq!(by_instance.keys().cloned().collect::<Vec<_>>(), want);
    assert!(by_instance.values().all(|v| *v > 0.0), "{by_instance:?}");
    let scraped_by_instance = per_instance(&scraped);
    for s in [&scraped, &queried] {
        let (sent, observed) = (tool_mutating(s), observed_mutating(s));
        eprintln!(
            "{}: observed {observed} of {sent} mutating requests",
            s.run_id
        );
        assert!(sent > 200.0, "{sent}");
        assert!(
            (observed - sent).abs() <= sent * 0.10 + 30.0,
            "{}: the apiservers counted {observed} mutating requests, the tool got {sent} answered",
            s.run_id
        );
    }
    // What the apiservers counted beyond the tool's requests (their own lease updates, the
    // tool's set-up) is the same whichever way it is read.
    let excess = |s: &Summary| observed_mutating(s) - tool_mutating(s);
    assert!(
        (excess(&queried) - excess(&scraped)).abs() <= 30.0,
        "beyond the tool's requests: scraped {}, Prometheus {}",
        excess(&scraped),
        excess(&queried)
    );
    eprintln!("per instance: scraped {scraped_by_instance:?}, Prometheus {by_instance:?}");
    let sum: f64 = by_instance.values().sum();
    assert!(
        (sum - observed_mutating(&queried)).abs() < 0.5,
        "{sum} vs {}",
        observed_mutating(&queried)
    );
    let csv = std::fs::read_to_string(out.join("observed.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("apiserver_1_mutating_requests"),
        "{csv}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("read from the Prometheus at {prom_url}")),
        "{report}"
    );
    for f in files(&out) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&secret),
            "{} holds the bearer token",
            f.display()
        );
    }
    drop(prometheus);
    env.stop().await;
}
