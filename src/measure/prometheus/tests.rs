use super::snapshot::{by_instance, combine_etcd, exposition, freshness_query, queries};
use super::*;
use crate::measure::metrics::{self, quantile_of_delta, Snapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One kube-apiserver's `/metrics`, as it exports the families the scraper reads.
const APISERVER: &str = "# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{component=\"apiserver\",dry_run=\"\",group=\"cluster.x-k8s.io\",resource=\"machines\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1beta1\",le=\"0.05\"} 10
apiserver_request_duration_seconds_bucket{component=\"apiserver\",dry_run=\"\",group=\"cluster.x-k8s.io\",resource=\"machines\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1beta1\",le=\"0.1\"} 18
apiserver_request_duration_seconds_bucket{component=\"apiserver\",dry_run=\"\",group=\"cluster.x-k8s.io\",resource=\"machines\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1beta1\",le=\"+Inf\"} 20
# TYPE apiserver_request_total counter
apiserver_request_total{code=\"429\",component=\"apiserver\",group=\"\",resource=\"secrets\",scope=\"namespace\",subresource=\"\",verb=\"POST\",version=\"v1\"} 3
# TYPE apiserver_current_inflight_requests gauge
apiserver_current_inflight_requests{request_kind=\"mutating\"} 2
apiserver_current_inflight_requests{request_kind=\"readOnly\"} 1
# TYPE apiserver_flowcontrol_rejected_requests_total counter
apiserver_flowcontrol_rejected_requests_total{flow_schema=\"service-accounts\",priority_level=\"workload-low\",reason=\"queue-full\"} 3
# TYPE apiserver_resource_objects gauge
apiserver_resource_objects{group=\"cluster.x-k8s.io\",resource=\"machines\"} 42
# TYPE apiserver_longrunning_requests gauge
apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"secrets\",scope=\"cluster\",subresource=\"\",verb=\"WATCH\",version=\"v1\"} 4
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 3.2e+08
";

/// What Prometheus answers for the snapshot's queries when it scrapes that apiserver at
/// `instance` (job `apiserver`) and an etcd at `etcd` with `fsync` observations below 8 ms.
fn answers(instance: &str, etcd: &str, fsync: f64) -> Vec<(Vec<Series>, Option<&'static str>)> {
    let s = |labels: &[(&str, &str)], value: f64| Series {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("job".to_string(), "x".to_string())])
            .collect(),
        value,
        at: 1.0e9,
    };
    let i = ("instance", instance);
    let raw = vec![
        s(
            &[
                ("__name__", "apiserver_current_inflight_requests"),
                ("request_kind", "mutating"),
                i,
            ],
            2.0,
        ),
        s(
            &[
                ("__name__", "apiserver_current_inflight_requests"),
                ("request_kind", "readOnly"),
                i,
            ],
            1.0,
        ),
        s(
            &[
                ("__name__", "apiserver_flowcontrol_rejected_requests_total"),
                ("flow_schema", "service-accounts"),
                ("priority_level", "workload-low"),
                ("reason", "queue-full"),
                i,
            ],
            3.0,
        ),
        s(
            &[
                ("__name__", "apiserver_resource_objects"),
                ("group", "cluster.x-k8s.io"),
                ("resource", "machines"),
                i,
            ],
            42.0,
        ),
        s(
            &[
                ("__name__", "apiserver_longrunning_requests"),
                ("component", "apiserver"),
                ("resource", "secrets"),
                ("verb", "WATCH"),
                i,
            ],
            4.0,
        ),
        s(
            &[("__name__", "etcd_server_has_leader"), ("instance", etcd)],
            1.0,
        ),
        s(
            &[
                ("__name__", "etcd_server_leader_changes_seen_total"),
                ("instance", etcd),
            ],
            1.0,
        ),
        s(
            &[
                ("__name__", "etcd_disk_wal_fsync_duration_seconds_bucket"),
                ("le", "0.004"),
                ("instance", etcd),
            ],
            fsync / 2.0,
        ),
        s(
            &[
                ("__name__", "etcd_disk_wal_fsync_duration_seconds_bucket"),
                ("le", "0.008"),
                ("instance", etcd),
            ],
            fsync,
        ),
        s(
            &[
                ("__name__", "etcd_disk_wal_fsync_duration_seconds_bucket"),
                ("le", "+Inf"),
                ("instance", etcd),
            ],
            fsync,
        ),
        s(
            &[
                ("__name__", "etcd_mvcc_db_total_size_in_bytes"),
                ("instance", etcd),
            ],
            2.0e6,
        ),
    ];
    let dur = ["0.05", "0.1", "+Inf"]
        .iter()
        .zip([10.0, 18.0, 20.0])
        .map(|(le, v)| {
            s(
                &[
                    ("group", "cluster.x-k8s.io"),
                    ("instance", instance),
                    ("le", le),
                    ("resource", "machines"),
                    ("verb", "POST"),
                ],
                v,
            )
        })
        .collect();
    let memory = vec![s(
        &[("__name__", "process_resident_memory_bytes"), i],
        3.2e8,
    )];
    vec![
        (raw, None),
        (dur, Some("apiserver_request_duration_seconds_bucket")),
        (
            vec![s(&[("code", "429"), i], 3.0)],
            Some("apiserver_request_total"),
        ),
        (memory, None),
    ]
}

#[test]
fn prometheus_series_make_the_scrapers_snapshot() {
    let mut scraped = Snapshot::default();
    scraped.add_apiserver(&metrics::parse(APISERVER));
    let split = by_instance(&answers("10.0.0.11:6443", "10.0.0.11:2381", 100.0));
    assert_eq!(split.len(), 2, "{:?}", split.keys().collect::<Vec<_>>());
    let (api, etcd) = &split["10.0.0.11:6443"];
    assert!(etcd.is_none());
    assert_eq!(
        api.as_ref().unwrap(),
        &scraped,
        "the same snapshot as scraping"
    );
    // One instance summed is that instance, memory included.
    let one = Snapshot::sum_apiservers(std::slice::from_ref(api.as_ref().unwrap()));
    assert_eq!(one.apiserver_resident, Some(3.2e8));
    assert_eq!(one.mutating_count(), scraped.mutating_count());
    let (api, etcd) = &split["10.0.0.11:2381"];
    assert!(api.is_none());
    let etcd = etcd.as_ref().unwrap();
    assert_eq!(etcd.leader_changes, Some(1.0));
    assert_eq!(etcd.etcd_db_size, Some(2.0e6));
    let p99 = quantile_of_delta(None, etcd.wal_fsync.as_ref().unwrap(), 0.99).unwrap();
    assert!(p99 > 0.004 && p99 <= 0.008, "{p99}");
}

#[test]
fn instances_stay_apart_and_etcd_members_combine() {
    let mut all = answers("a:6443", "e1:2381", 100.0);
    for (i, (series, _)) in answers("b:6443", "e2:2381", 50.0).into_iter().enumerate() {
        all[i].0.extend(series);
    }
    let split = by_instance(&all);
    let apis: Vec<&String> = split
        .iter()
        .filter(|(_, v)| v.0.is_some())
        .map(|(k, _)| k)
        .collect();
    assert_eq!(apis, ["a:6443", "b:6443"]);
    let members: Vec<Snapshot> = split.values().filter_map(|v| v.1.clone()).collect();
    let e = combine_etcd(&members);
    // Buckets summed, leader changes the most any member saw.
    assert_eq!(
        e.wal_fsync.as_ref().unwrap().last(),
        Some(&(f64::INFINITY, 150.0))
    );
    assert_eq!(e.leader_changes, Some(1.0));
    let sum = Snapshot::sum_apiservers(
        &split
            .values()
            .filter_map(|v| v.0.clone())
            .collect::<Vec<_>>(),
    );
    assert_eq!(sum.mutating_count(), Some(40.0));
    assert_eq!(sum.code_429, Some(6.0));
}

#[test]
fn the_queries_carry_the_selector_and_histograms_their_type() {
    for q in queries("cluster=\"mgmt\"") {
        assert!(q.0.contains("cluster=\"mgmt\""), "{}", q.0);
    }
    assert!(!queries("").iter().any(|q| q.0.contains("{,")));
    assert!(freshness_query("").contains("etcd_server_has_leader"));
    let split = answers("a:6443", "e:2381", 10.0);
    let series: Vec<(String, &Series)> = split[1]
        .0
        .iter()
        .map(|s| ("apiserver_request_duration_seconds_bucket".to_string(), s))
        .collect();
    let text = exposition(&series);
    assert!(
        text.starts_with("# TYPE apiserver_request_duration_seconds histogram\n"),
        "{text}"
    );
    assert!(text.contains("le=\"+Inf\""), "{text}");
}

#[test]
fn api_answers_and_errors() {
    let ok = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"__name__":"up","instance":"127.0.0.1:2381","job":"etcd"},"value":[1764460000.123,"1"]},
        {"metric":{},"value":[1764460000.123,"+Inf"]}]}}"#;
    let v = parse_vector(ok).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].labels["instance"], "127.0.0.1:2381");
    assert_eq!((v[0].value, v[0].at), (1.0, 1764460000.123));
    assert_eq!(v[1].value, f64::INFINITY);
    let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
    assert_eq!(parse_vector(bad).unwrap_err(), "parse error at char 3");
    assert!(parse_vector("<html>")
        .unwrap_err()
        .contains("not the HTTP API's JSON"));
    assert_eq!(encode("a{b=\"c d\"}"), "a%7Bb%3D%22c%20d%22%7D");
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `body`, sending each
/// request's head to the returned channel.
async fn fake_prometheus(
    body: &'static str,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_bearer_token_is_sent_and_never_shown() {
    let body = r#"{"status":"success","data":{"version":"2.42.0","resultType":"vector","result":[{"metric":{},"value":[1.5,"1"]}]}}"#;
    let (url, mut heads) = fake_prometheus(body).await;
    let dir = tempfile::tempdir().unwrap();
    let token = "s3cr3t-t0ken-value";
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let p = Prometheus::new(&format!("{url}/"), Some(&file)).unwrap();
    assert_eq!(p.check().await.unwrap(), "2.42.0");
    let first = heads.recv().await.unwrap();
    assert!(
        first.starts_with("GET /api/v1/status/buildinfo "),
        "{first}"
    );
    assert!(
        first
            .to_lowercase()
            .contains(&format!("authorization: bearer {token}\r\n")),
        "{first}"
    );
    let second = heads.recv().await.unwrap();
    assert!(
        second.starts_with("GET /api/v1/query?query=vector%281%29 "),
        "{second}"
    );
    assert!(!format!("{p:?}").contains(token));
    assert_eq!(p.url(), url);
}

#[tokio::test]
async fn an_unreachable_prometheus_is_named() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let e = Prometheus::new(&url, None)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(e, PrometheusError::Unreachable { .. }), "{e:?}");
    let line = e.to_string();
    assert!(
        line.starts_with(&format!("Prometheus {url} unreachable: ")),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
}
