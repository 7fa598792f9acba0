"""The CRD-schema path of bench/bench.py: what real Cluster API schemas and admission
webhooks cost the apiserver.

The same fleet is created through the tool's CRDs with schemas inferred from its own bodies
(`fleet.crd_schemas: inferred`), with the upstream Cluster API CRDs renamed into its groups
(`fleet.crd_schemas: upstream`, `fleet.crd_dir`), and with those plus defaulting and
validating webhooks on every kind (`webhooks:`, answered after WEBHOOK_LATENCY_MS, no
concurrency limit: the apiserver's side of the round trips, not a webhook bottleneck),
alternating, --pairs times, in one local environment. Each side first installs its CRDs with a one-cluster run (so the CRD
update, and the OpenAPI rebuild it triggers, stays out of the measured window); the measured
run then creates the fleet with `install_crds: false`, and kube-apiserver's and etcd's CPU
is read from /proc before and after it. Rows: server CPU per create, create p99 (Machine,
and the worst kind), stored bytes per cluster.

Then status growth: for each side a small fleet is created and its Cluster and Machine
controllers reconcile every object N times (status patches, `model::status_patch`), and
the Cluster and Machine values in etcd are read back: bytes per object, of which `status`
and `metadata.managedFields`, after N = 0, 1, 4 and 16 reconciles.
"""
import base64
import json
from pathlib import Path

# Reconciles per object in the status-growth runs (0 = just created).
GROWTH_RECONCILES = [0, 1, 4, 16]
# Status-growth fleet: small, every object reconciled once per wall second.
GROWTH_CLUSTERS = 4
GROWTH_WALL_PERIOD_S = 1.0
CRD_GROUP = "loadtest.cluster.x-k8s.io"
# The sides compared, in the order they run within a pair.
SIDES = ("inferred", "upstream", "webhooks")
# Latency of the webhooks side's simulated webhooks (a healthy webhook pod nearby).
WEBHOOK_LATENCY_MS = 2


def fleet(clusters, side, crd_dir, capi_version, install):
    extra = f"  crd_schemas: upstream\n  crd_dir: {crd_dir}\n" if side != "inferred" else "  crd_schemas: inferred\n"
    return (f"fleet:\n  clusters: {clusters}\n  clusters_per_namespace: 1000\n  control_plane_replicas: 1\n"
            f"  machine_deployments: 1\n  workers_per_machine_deployment: 3\n  capi_version: {capi_version}\n"
            f"  install_crds: {'true' if install else 'false'}\n  payload_bytes:\n    bootstrap_data: 1024\n{extra}")


def create_stats(summary):
    """(ok creates, Machine create p99 ms, worst create p99 ms over kinds) of a summary."""
    ops = [o for o in summary["operations"] if o["phase"] == "create" and o["verb"] == "create"]
    machine = [o["latency_ms"]["p99"] for o in ops if o["kind"] == "machine"]
    worst = max((o["latency_ms"]["p99"] for o in ops), default=None)
    return sum(o["ok"] for o in ops), (machine[0] if machine else None), worst


def object_bytes(b, ep, plural, run_id):
    """Mean bytes of the stored values of a run's objects of one kind, and of their status and
    managedFields (compact JSON, as kube-apiserver stores custom resources)."""
    kvs = b.etcd_get(ep, f"/registry/{CRD_GROUP}/{plural}/clg-{run_id}-")
    if not kvs:
        return None
    vals = [json.loads(base64.b64decode(kv["value"])) for kv in kvs]
    n = len(vals)

    def size(v):
        return len(json.dumps(v, separators=(",", ":"))) if v is not None else 0

    return {"objects": n, "bytes": sum(size(v) for v in vals) / n,
            "status_bytes": sum(size(v.get("status")) for v in vals) / n,
            "managed_fields_bytes": sum(size(v["metadata"].get("managedFields")) for v in vals) / n,
            "managed_fields_entries": sum(len(v["metadata"].get("managedFields") or []) for v in vals) / n}


def crd_schemas_path(b, tools):
    """Rows of the inferred-vs-upstream comparison; `tools` is bench.py's helpers."""
    a = b.args
    crd_dir = Path(a.crd_dir).resolve()
    if not crd_dir.is_dir():
        raise tools.BenchError(f"--crd-dir {crd_dir}: not a directory (upstream Cluster API CRD YAML/JSON files)")
    state = b.env_up()
    kubeconfig, ep = state["kubeconfig"], state["etcd_endpoint"]
    pids = {"apiserver": state["apiserver_pid"], "etcd": state["etcd_pid"]}
    kube = ["--kubeconfig", kubeconfig, "--context", tools.LOAD_CONTEXT]
    clusters = a.schema_clusters
    tools.say(f"CRD schemas: inferred vs upstream ({crd_dir}), {a.pairs} pairs, {clusters} clusters "
              f"(~{clusters * tools.PER_CLUSTER} creates) per run, {a.workers} in flight, capi_version {a.schema_capi_version}")

    def install(side, tag):
        prof = b.profile(f"schemas-warm-{tag}.yaml", f"name: bench-schemas-warm\ntarget: {{type: kube}}\n"
                         f"{fleet(1, side, crd_dir, a.schema_capi_version, True)}client: {{pool_size: 1, qps: -1}}\n"
                         "phases: {create: {concurrency: 4}}\n")
        tools.run_quiet([b.tool, "run", prof, *kube, "--run-id", f"w{tag}", "--out", b.work / f"warm-{tag}"],
                        b.work / f"warm-{tag}.log", f"capi-loadgen run ({side} CRD install)")

    rows = []
    for pair in range(1, a.pairs + 1):
        for side in SIDES:
            tag = f"{side[0]}{pair}"
            install(side, tag)
            hooks = f"webhooks: {{latency: {{ms: {WEBHOOK_LATENCY_MS}}}}}\n" if side == "webhooks" else ""
            prof = b.profile(f"schemas-{tag}.yaml", f"name: bench-schemas-{side}\ntarget: {{type: kube}}\n"
                             f"{fleet(clusters, side, crd_dir, a.schema_capi_version, False)}{hooks}"
                             f"client: {{pool_size: 1, qps: -1}}\nphases: {{create: {{concurrency: {a.workers}}}}}\n")
            out = b.work / f"schemas-{tag}"
            t0 = {k: tools.proc_cpu_ticks(p) for k, p in pids.items()}
            m = tools.measured([b.tool, "run", prof, *kube, "--run-id", f"s{tag}", "--out", out], f"{out}.log")
            t1 = {k: tools.proc_cpu_ticks(p) for k, p in pids.items()}
            s = json.loads((out / "summary.json").read_text())
            want = "inferred" if side == "inferred" else "upstream"
            if s["fleet"]["crd_schemas"] != want:
                raise tools.BenchError(f"{out}: ran with {s['fleet']['crd_schemas']} schemas, not {want}")
            calls = (s.get("webhooks") or {}).get("calls_tool", 0)
            if (side == "webhooks") != (calls > 0):
                raise tools.BenchError(f"{out}: {calls} webhook calls on the {side} side")
            ok, p99_machine, p99_worst = create_stats(s)
            if ok != s["fleet"]["objects_planned"] or s["totals"]["failed"]:
                raise tools.BenchError(f"{out}: {ok} of {s['fleet']['objects_planned']} creates ok ({side} schemas)")
            cpu = {k: (t1[k] - t0[k]) / tools.CLK_TCK for k in pids}
            nkeys, mkey, mval = b.mean_kv_sizes(ep, "/registry/", f"clg-s{tag}-")
            tools.emit(rows, {"metric": "crd_schemas", "side": side, "pair": pair, "creates": ok,
                              "process_s": m["wall_s"],
                              "apiserver_cpu_us_per_create": cpu["apiserver"] * 1e6 / ok,
                              "etcd_cpu_us_per_create": cpu["etcd"] * 1e6 / ok,
                              "server_cpu_us_per_create": (cpu["apiserver"] + cpu["etcd"]) * 1e6 / ok,
                              "create_p99_ms_machine": p99_machine, "create_p99_ms_worst_kind": p99_worst,
                              "webhook_calls_per_create": calls / ok,
                              "keys_in_etcd": nkeys, "bytes_per_cluster": nkeys * (mkey + mval) / clusters})
    rows += status_growth(b, tools, kube, ep, crd_dir)
    b.env_down()
    return rows


def status_growth(b, tools, kube, ep, crd_dir):
    """Bytes of Cluster and Machine objects after N reconciles, per schema side."""
    a = b.args
    rows = []
    for side in ("inferred", "upstream"):
        for n in GROWTH_RECONCILES:
            tag = f"g{side[0]}{n}"
            steady = ""
            if n:
                # Spread enqueues without jitter: every object once per wall period, so a phase
                # of n periods less a little reconciles each object n times.
                steady = (f"  steady:\n    duration_seconds: {n * GROWTH_WALL_PERIOD_S - 0.05}\n"
                          f"    sync_period_seconds: 600\n    time_scale: {600 / GROWTH_WALL_PERIOD_S}\n    jitter: 0\n"
                          "    calls_per_reconcile: {get: 1, list: 0, patch_status: 1}\n"
                          "    machine_controller: {concurrency: 4}\n")
            prof = b.profile(f"{tag}.yaml", f"name: bench-status-growth\ntarget: {{type: kube}}\n"
                             f"{fleet(GROWTH_CLUSTERS, side, crd_dir, a.schema_capi_version, True)}"
                             f"client: {{pool_size: 1, qps: -1}}\nphases:\n  create: {{concurrency: 8}}\n{steady}")
            out = b.work / tag
            tools.run_quiet([b.tool, "run", prof, *kube, "--run-id", tag, "--out", out], f"{out}.log",
                            f"capi-loadgen run (status growth, {side}, {n} reconciles)")
            s = json.loads((out / "summary.json").read_text())
            if s["totals"]["failed"]:
                raise tools.BenchError(f"{out}: {s['totals']['failed']} requests failed ({side} schemas)")
            per_item = {c["name"]: c["reconciles"] / c["items"] for c in s.get("controllers", []) if c["items"]}
            nkeys, mkey, mval = b.mean_kv_sizes(ep, "/registry/", f"clg-{tag}-")
            row = {"metric": "status_growth", "side": side, "reconciles": n,
                   "reconciles_per_cluster": per_item.get("cluster", 0.0),
                   "reconciles_per_machine": per_item.get("machine", 0.0),
                   "bytes_per_cluster": nkeys * (mkey + mval) / GROWTH_CLUSTERS}
            for kind, plural in (("cluster", "clusters"), ("machine", "machines")):
                got = object_bytes(b, ep, plural, tag)
                for k, v in (got or {}).items():
                    row[f"{kind}_{k}"] = v
            tools.emit(rows, row)
    return rows


def summarize(by, table, tools):
    inf, up = by.get(("crd_schemas", "inferred"), []), by.get(("crd_schemas", "upstream"), [])
    hooks = by.get(("crd_schemas", "webhooks"), [])
    med, fmt = tools.med, tools.fmt
    if inf or up:
        print(f"\nCRD schemas and webhooks (medians of {len(inf)} inferred / {len(up)} upstream / {len(hooks)} "
              f"upstream + {WEBHOOK_LATENCY_MS} ms webhooks runs, same fleet, same environment):")
        for name, rows in (("inferred", inf), ("upstream", up), ("webhooks", hooks)):
            if not rows:
                continue
            print(f"  {name:8}: server CPU {fmt(med(rows, 'server_cpu_us_per_create'))} us/create "
                  f"(kube-apiserver {fmt(med(rows, 'apiserver_cpu_us_per_create'))}, etcd {fmt(med(rows, 'etcd_cpu_us_per_create'))}), "
                  f"create p99 {fmt(med(rows, 'create_p99_ms_machine'))} ms (Machine), "
                  f"{fmt(med(rows, 'create_p99_ms_worst_kind'))} ms (worst kind), "
                  f"{fmt(med(rows, 'bytes_per_cluster'))} B per cluster in etcd")
        for label, key in (("server CPU us/create", "server_cpu_us_per_create"),
                           ("kube-apiserver CPU us/create", "apiserver_cpu_us_per_create"),
                           ("create p99 ms (Machine)", "create_p99_ms_machine"),
                           ("create p99 ms (worst kind)", "create_p99_ms_worst_kind"),
                           ("stored bytes per cluster", "bytes_per_cluster")):
            table.ratio(f"schemas: {label} (upstream / inferred)", med(inf, key), med(up, key), False, None)
            if hooks:
                table.ratio(f"webhooks: {label} (with / without, upstream schemas)", med(up, key), med(hooks, key),
                            False, None)
    growth = by.get(("status_growth", "inferred"), []) + by.get(("status_growth", "upstream"), [])
    if growth:
        print("\nstatus growth (bytes per object in etcd after N reconciles; status and managedFields are part of it):")
        print("  schemas  | N | reconciles/machine | Cluster B (status, managedFields) | Machine B (status, managedFields) | B per cluster")
        for r in growth:
            print(f"  {r['side']:8} | {r['reconciles']} | {r['reconciles_per_machine']:.1f} | "
                  f"{fmt(r.get('cluster_bytes'))} ({fmt(r.get('cluster_status_bytes'))}, {fmt(r.get('cluster_managed_fields_bytes'))}) | "
                  f"{fmt(r.get('machine_bytes'))} ({fmt(r.get('machine_status_bytes'))}, {fmt(r.get('machine_managed_fields_bytes'))}) | "
                  f"{fmt(r['bytes_per_cluster'])}")
        for side in ("inferred", "upstream"):
            rs = sorted((r for r in growth if r["side"] == side), key=lambda r: r["reconciles"])
            if len(rs) >= 2:
                table.ratio(f"status growth: bytes per cluster after {rs[-1]['reconciles']} reconciles / just created ({side})",
                            rs[0]["bytes_per_cluster"], rs[-1]["bytes_per_cluster"], False, None)
