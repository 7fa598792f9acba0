//! The shipped Grafana dashboard parses, and every metric its queries name is exported by
//! the tool, the real kube-apiserver or the real etcd (version alternatives allowed).

use capi_loadgen_test_support as common;

use capi_loadgen::measure::expose::ToolMetrics;
use capi_loadgen::measure::metrics::{OBJECT_COUNT_METRICS, WATCHER_METRICS};
use capi_loadgen::measure::{Sample, Verb};
use std::collections::BTreeSet;
use std::time::Duration;

fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    let mut in_string = false;
    for ch in expr.chars().chain(std::iter::once(' ')) {
        if ch == '"' {
            in_string = !in_string;
            word.clear();
            continue;
        }
        if in_string {
            continue;
        }
        if ch.is_ascii_alphanumeric() || ch == '_' || ch == ':' {
            word.push(ch);
        } else {
            if ["capi_loadgen_", "etcd_", "apiserver_"]
                .iter()
                .any(|p| word.starts_with(p))
            {
                out.insert(word.clone());
            }
            word.clear();
        }
    }
    out
}

fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn every_dashboard_query_names_an_exported_metric() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dashboards/capi-loadgen.json"
    ))
    .unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let panels = dash["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for want in [
        "overview",
        "etcd health",
        "performance",
        "queue depth",
        "Throttling",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "row {want} in {titles:?}"
        );
    }
    let exprs: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 15);
    // Variables to pick the data source, a run, its shards and the server instances; every
    // query of the tool's series filters by run and shard, every server query by instance.
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "run", "shard", "instance"]);
    for e in &exprs {
        for n in metric_names(e) {
            let want = if n.starts_with("capi_loadgen_") {
                format!("{n}{{run_id=~\"$run\",shard=~\"$shard\"}}")
            } else {
                "instance=~\"$instance\"".to_string()
            };
            let bucket_or_name = e.contains(&want) || e.contains(&want.replace("{", "_bucket{"));
            assert!(bucket_or_name, "`{e}`: {n} without {want}");
        }
    }
    // The labels those variables read are on every series the tool exports.
    let labelled = ToolMetrics::for_run("run-7", "2/4");

    // What is really exported: the tool, the shared environment's apiserver and etcd.
    let tool = ToolMetrics::new();
    let now = tokio::time::Instant::now();
    tool.record(&Sample {
        phase: "create",
        verb: Verb::Create,
        kind: capi_loadgen::model::Kind::Machine,
        latency: Duration::from_millis(5),
        throttle_wait: Duration::ZERO,
        server: Duration::from_millis(5),
        attempts: 2,
        responses_429: 1,
        first: Err(capi_loadgen::backend::RequestError::http(429)),
        outcome: Ok(()),
        done: now,
    });
    let mut names = exported(&tool.encode());
    labelled.record(&Sample {
        phase: "create",
        verb: Verb::Create,
        kind: capi_loadgen::model::Kind::Machine,
        latency: Duration::from_millis(5),
        throttle_wait: Duration::ZERO,
        server: Duration::from_millis(5),
        attempts: 1,
        responses_429: 0,
        first: Ok(()),
        outcome: Ok(()),
        done: now,
    });
    let text = labelled.encode();
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(series.len() > 10, "{text}");
    for l in series {
        assert!(
            l.contains("run_id=\"run-7\"") && l.contains("shard=\"2/4\""),
            "{l}"
        );
    }
    let env = common::shared_env();
    let admin = capi_loadgen::env::local::client_for(&env.kubeconfig, "capi-loadgen-admin")
        .await
        .unwrap();
    names.extend(exported(
        &admin
            .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
            .await
            .unwrap(),
    ));
    let etcd = {
        let url = env.etcd_metrics_url.strip_prefix("http://").unwrap();
        let (host, path) = url.split_once('/').unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
        s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut b = Vec::new();
        s.read_to_end(&mut b).await.unwrap();
        String::from_utf8_lossy(&b).into_owned()
    };
    names.extend(exported(&etcd));

    for expr in &exprs {
        let used = metric_names(expr);
        assert!(!used.is_empty(), "query names no metric: {expr}");
        // A histogram query names `<name>_bucket`; object counts name every version's metric.
        // Counter vectors appear on their first increment: APF rejections only after a 429
        // (tests/engine.rs reads this very counter after provoking rejections).
        let lazy = ["apiserver_flowcontrol_rejected_requests_total"];
        let ok = |n: &String| {
            names.contains(n)
                || lazy.contains(&n.as_str())
                || OBJECT_COUNT_METRICS.contains(&n.as_str())
                    && OBJECT_COUNT_METRICS.iter().any(|m| names.contains(*m))
                || WATCHER_METRICS.contains(&n.as_str())
                    && WATCHER_METRICS.iter().any(|m| names.contains(*m))
        };
        let missing: Vec<&String> = used.iter().filter(|n| !ok(n)).collect();
        assert!(
            missing.is_empty(),
            "{missing:?} (in `{expr}`) is exported by nothing here"
        );
    }
}
