//! Every kube-apiserver instance behind one address. A highly available control plane runs
//! several apiservers behind a load balancer; `/metrics` fetched through it may come from a
//! different instance each time, and a delta between two instances' counters or histogram
//! buckets is meaningless. The instances are listed in the `default/kubernetes` Service's
//! EndpointSlices (kube-apiserver's endpoint reconciler writes one address per instance:
//! "Kubernetes API server endpoint reconciler", `--endpoint-reconciler-type`,
//! <https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/>), and
//! each is scraped directly with the kubeconfig's credentials.

use crate::backend::kube::KubeTarget;

/// `https://<address>:<port>` of every ready endpoint of the `default/kubernetes`
/// EndpointSlices, sorted; empty when none lists one.
pub async fn discover(admin: &KubeTarget) -> Result<Vec<String>, String> {
    let path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes";
    let (code, list) = admin.raw("GET", path, None).await.map_err(|e| e.label())?;
    if code != 200 {
        return Err(format!(
            "listing default/kubernetes EndpointSlices: HTTP {code}"
        ));
    }
    Ok(urls_of(&list))
}

/// `https://<address>:<port>` of every ready endpoint in an EndpointSliceList, sorted.
pub fn urls_of(list: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for slice in list["items"].as_array().into_iter().flatten() {
        let ports: Vec<u64> = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] == "https" || p["name"].is_null())
            .filter_map(|p| p["port"].as_u64())
            .collect();
        for ep in slice["endpoints"].as_array().into_iter().flatten() {
            if ep["conditions"]["ready"] == false {
                continue;
            }
            for a in ep["addresses"].as_array().into_iter().flatten() {
                let Some(a) = a.as_str() else { continue };
                let host = if a.contains(':') {
                    format!("[{a}]")
                } else {
                    a.to_string()
                };
                for p in &ports {
                    out.push(format!("https://{host}:{p}"));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Clients for each instance (the admin's credentials and CA), each checked with `/readyz`;
/// an error names the first instance that cannot be reached.
pub async fn connect(
    admin: &KubeTarget,
    urls: &[String],
) -> Result<Vec<(String, kube::Client)>, String> {
    let mut out = Vec::new();
    for url in urls {
        let t = admin.at(url).map_err(|e| format!("{url}: {e}"))?;
        let req = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            t.client().request_text(req),
        )
        .await
        {
            Ok(Ok(_)) => out.push((url.clone(), t.client().clone())),
            Ok(Err(e)) => return Err(format!("{url}: {e}")),
            Err(_) => return Err(format!("{url}: no answer within 5 s")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconcilers_slice_lists_every_ready_instance() {
        // As kube-apiserver's endpoint reconciler writes it for three control-plane nodes,
        // one of them not ready, and a second slice of an IPv6 family.
        let list = serde_json::json!({"items": [
            {"addressType": "IPv4", "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
             "endpoints": [
                {"addresses": ["10.0.0.12"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.11"]},
                {"addresses": ["10.0.0.13"], "conditions": {"ready": false}}]},
            {"addressType": "IPv6", "ports": [{"name": "https", "port": 6443}],
             "endpoints": [{"addresses": ["fd00::11"], "conditions": {"ready": true}}]}
        ]});
        assert_eq!(
            urls_of(&list),
            [
                "https://10.0.0.11:6443",
                "https://10.0.0.12:6443",
                "https://[fd00::11]:6443"
            ]
        );
        assert!(urls_of(&serde_json::json!({"items": []})).is_empty());
    }
}
