"""The measured paths of bench/bench.py: each takes the shared `Bench` context and returns
its rows (etcd put path, apiserver create path, scrape cost, suite etcd writes, memory)."""
import argparse
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_common import *  # noqa: F401,F403  (the shared helpers and constants)


def emit(rows, row):
    """Appends one measured run and prints it as it happens."""
    rows.append(row)
    print(json.dumps(row), flush=True)


def fleet_yaml(clusters):
    return (f"fleet:\n  clusters: {clusters}\n  clusters_per_namespace: 1000\n  control_plane_replicas: 1\n"
            "  machine_deployments: 1\n  workers_per_machine_deployment: 3\n"
            "  payload_bytes:\n    bootstrap_data: 1024\n")


def tool_summary(path):
    """The tool's summary: ok writes in the create phase and that phase's wall time."""
    d = json.loads(Path(path).read_text())
    ph = [p for p in d.get("phases", []) if p["name"] == "create"]
    secs = ph[0]["duration_seconds"] if ph else d["duration_seconds"]
    return d["totals"]["ok"], secs, d["totals"]["sent"], d["totals"]["failed"]


# --- 2. etcd put path --------------------------------------------------------------------------
def etcd_benchmark(b, metric, ksize, vsize, pair, tag, sub):
    """One run of etcd's Go benchmark on a fresh bare etcd (10 connections, 100 clients,
    --puts requests) with its client and etcd CPU per request."""
    puts = b.args.puts
    pid, ep = b.start_etcd(tag)
    out = b.work / f"etcd-{tag}.txt"
    e0 = proc_cpu_ticks(pid)
    m = measured([b.etcd_bench, f"--endpoints={ep}", "--conns=10", "--clients=100", *sub,
                  f"--key-size={ksize}", f"--val-size={vsize}", f"--total={puts}"], out)
    e1 = proc_cpu_ticks(pid)
    b.stop_etcd()
    rps = re.search(r"Requests/sec:\s*([0-9.]+)", out.read_text(errors="replace"))
    if not rps:
        raise BenchError(f"no Requests/sec in the etcd benchmark output ({out})")
    cpu = m["user_s"] + m["sys_s"]
    return {"metric": metric, "side": "baseline", "pair": pair, "ops_per_s": float(rps.group(1)), "total": float(puts),
            "key_size": float(ksize), "val_size": float(vsize), "cpu_s": cpu, "cpu_us_per_op": cpu * 1e6 / puts,
            "server_cpu_us_per_op": (e1 - e0) / CLK_TCK * 1e6 / puts, "max_rss_mib": m["max_rss_kib"] / 1024}


def etcd_put_path(b):
    a = b.args
    clusters = -(-a.puts // PER_CLUSTER)
    prof = b.profile("etcd-put.yaml", f"name: bench-etcd-put\ndescription: bench/bench.py etcd put path ({clusters} clusters, "
                     f"~{a.puts} objects, 10 clients, 100 in flight)\ntarget: {{type: etcd}}\n{fleet_yaml(clusters)}"
                     "client: {pool_size: 10, qps: -1}\nphases: {create: {concurrency: 100}}\n")
    say(f"etcd put path: {a.pairs} pairs; etcd benchmark --conns=10 --clients=100 put --key-size=64 --val-size=2048 "
        f"--total={a.puts} vs capi-loadgen's etcd target ({clusters} clusters, 10 clients, 100 in flight), each on a fresh bare etcd")
    rows = []
    for pair in range(1, a.pairs + 1):
        # A: etcd's benchmark, 64-byte keys and 2048-byte values as plain Puts.
        emit(rows, etcd_benchmark(b, "etcd_put", 64, 2048, pair, f"b{pair}", ["put"]))
        # B: capi-loadgen writing CAPI objects into a bare etcd.
        pid, ep = b.start_etcd(f"t{pair}")
        out = b.work / f"etcd-tool-{pair}"
        e0 = proc_cpu_ticks(pid)
        m = measured([b.tool, "run", prof, "--etcd-endpoint", ep, "--out", out], f"{out}.log")
        e1 = proc_cpu_ticks(pid)
        ok, secs, sent, failed = tool_summary(out / "summary.json")
        nkeys, mkey, mval = b.mean_kv_sizes(ep, "/registry/")
        b.stop_etcd()
        cpu = m["user_s"] + m["sys_s"]
        emit(rows, {"metric": "etcd_put", "side": "tool", "pair": pair, "server_cpu_us_per_op": (e1 - e0) / CLK_TCK * 1e6 / ok,
                    "ops_per_s": ok / secs, "ok": ok, "sent": sent, "failed": failed, "phase_s": secs, "cpu_s": cpu,
                    "cpu_us_per_op": cpu * 1e6 / ok, "max_rss_mib": m["max_rss_kib"] / 1024, "keys_in_etcd": nkeys,
                    "mean_key_bytes": mkey, "mean_value_bytes": mval})
        # A': the benchmark's txn-put (one Put per Txn, as the tool's create is one Txn) with keys
        # and values as large as the tool's mean key and value: the same shape of write.
        emit(rows, etcd_benchmark(b, "etcd_put_sized", round(mkey), round(mval), pair, f"m{pair}",
                                  ["txn-put", "--txn-ops=1", f"--key-space-size={a.puts}"]))
    return rows


# --- 3. apiserver create path ----------------------------------------------------------------------
def apiserver_create_path(b):
    a = b.args
    state = b.env_up()
    kubeconfig, env_etcd = state["kubeconfig"], state["etcd_endpoint"]
    server_pids = (state["apiserver_pid"], state["etcd_pid"])

    def server_ticks():
        return sum(proc_cpu_ticks(p) for p in server_pids)

    clusters = -(-a.creates // PER_CLUSTER)

    def profile(name, title, description, clusters):
        return b.profile(name, f"name: {title}\ndescription: bench/bench.py apiserver create path {description}\n"
                         f"target: {{type: kube}}\n{fleet_yaml(clusters)}client: {{pool_size: 1, qps: -1}}\n"
                         f"phases: {{create: {{concurrency: {a.workers}}}}}\n")

    prof = profile("apiserver-create.yaml", "bench-apiserver-create",
                   f"({clusters} clusters, ~{a.creates} objects, 1 client, {a.workers} in flight)", clusters)
    say(f"apiserver create path: {a.pairs} pairs; client-go creator vs capi-loadgen creating the same objects (the creator "
        f"replays the tool's create bodies from run --dry-run --objects-out), ~{a.creates} objects, {a.workers} in flight, "
        f"QPS unlimited, one client each, identity {LOAD_CONTEXT} (ServiceAccount, not system:masters)")
    # The creator needs the tool's CRDs, which the tool installs at the start of every run
    # (fleet.install_crds, on by default): a one-cluster run of the same fleet shape installs them
    # once before the pairs. The local environment binds the load identity to cluster-admin, so
    # it can install CRDs as in the pairs' tool runs.
    warm = profile("apiserver-warm.yaml", "bench-apiserver-warmup", "warm-up (installs the CRDs; 1 cluster)", 1)
    kube = ["--kubeconfig", kubeconfig, "--context", LOAD_CONTEXT]
    run_quiet([b.tool, "run", warm, *kube, "--run-id", "benchwarm", "--out", b.work / "warm"], b.work / "warm.log",
              "capi-loadgen warm-up run (CRD install)")
    rows = []
    for pair in range(1, a.pairs + 1):
        # A: the client-go creator, creating the tool's own objects for run id creator<pair>,
        # written by the tool's dry run before (outside the creator's process and timing). Its
        # timed window, like the tool's create phase, includes the namespaces (first, one after
        # another).
        objs = b.work / f"creator-objects-{pair}.jsonl"
        run_quiet([b.tool, "run", prof, "--dry-run", "--run-id", f"creator{pair}", "--objects-out", objs],
                  f"{objs}.log", "capi-loadgen --dry-run --objects-out")
        with open(objs, "rb") as f:
            nobj = sum(1 for line in f if line.strip())
        if nobj == 0:
            raise BenchError(f"capi-loadgen --dry-run --objects-out wrote no objects ({objs})")
        out = b.work / f"creator-{pair}"
        s0 = server_ticks()
        with open(f"{out}.json", "wb") as so, open(f"{out}.err", "wb") as se:
            rc = spawn([b.creator, *kube, "--workers", str(a.workers), "--objects", objs], stdout=so, stderr=se).wait()
        s1 = server_ticks()
        r = json.loads(Path(f"{out}.json").read_text() or "{}")
        if rc != 0 or r.get("ok") != nobj:
            tail(f"{out}.err")
            raise BenchError(f"client-go creator created {r.get('ok', 0)} of {nobj} objects "
                             f"(exit {rc}; {r.get('first_error', 'see ' + str(out) + '.err')})")
        cnkeys, _, cmval = b.mean_kv_sizes(env_etcd, "/registry/", f"clg-creator{pair}-")
        cpu = r["cpu_user_s"] + r["cpu_sys_s"]
        srv = (s1 - s0) / CLK_TCK
        emit(rows, {"metric": "apiserver_create", "side": "baseline", "pair": pair, "ops_per_s": r["creates_per_s"],
                    "ok": r["ok"], "errors": r["errors"], "seconds": r["seconds"], "cpu_s": cpu,
                    "cpu_us_per_op": r["cpu_us_per_create"], "server_cpu_s": srv, "server_cores": srv / r["seconds"],
                    "client_server_cpu_ratio": cpu / srv if srv else None, "mean_body_bytes": r["payload_bytes"],
                    "keys_in_etcd": cnkeys, "mean_value_bytes": cmval, "max_rss_mib": r["max_rss_kib"] / 1024})
        # B: capi-loadgen, the same fleet under run id tool<pair>.
        out = b.work / f"apiserver-tool-{pair}"
        s0 = server_ticks()
        m = measured([b.tool, "run", prof, *kube, "--run-id", f"tool{pair}", "--out", out], f"{out}.log")
        s1 = server_ticks()
        ok, secs, sent, failed = tool_summary(out / "summary.json")
        tnkeys, _, tmval = b.mean_kv_sizes(env_etcd, "/registry/", f"clg-tool{pair}-")
        cpu = m["user_s"] + m["sys_s"]
        srv = (s1 - s0) / CLK_TCK
        emit(rows, {"metric": "apiserver_create", "side": "tool", "pair": pair, "ops_per_s": ok / secs, "ok": ok,
                    "sent": sent, "failed": failed, "phase_s": secs, "process_s": m["wall_s"], "cpu_s": cpu,
                    "cpu_us_per_op": cpu * 1e6 / ok, "server_cpu_s": srv, "server_cores": srv / m["wall_s"],
                    "client_server_cpu_ratio": cpu / srv if srv else None, "keys_in_etcd": tnkeys,
                    "mean_value_bytes": tmval, "max_rss_mib": m["max_rss_kib"] / 1024})
    b.env_down()
    return rows


# --- scrape cost ---------------------------------------------------------------------------------
# Scrape intervals compared: the per-second scrape and one that never comes during the run.
SCRAPE_EVERY_S = 1
SCRAPE_NEVER_S = 3600


def scrape_cost(b):
    """The tool's CPU for its /metrics scrapes: the apiserver create path's run (same fleet, a
    fresh run id each) with `observe.interval_seconds` 1 and 3600 alternately on the local
    environment; the CPU difference over the extra scrapes (one per second of the longer
    run) is the cost of one scrape (fetching the apiserver's and etcd's /metrics and
    parsing what the snapshot reads)."""
    a = b.args
    state = b.env_up()
    kube = ["--kubeconfig", state["kubeconfig"], "--context", LOAD_CONTEXT]
    clusters = -(-a.creates // PER_CLUSTER)

    def profile(interval):
        return b.profile(f"scrape-{interval}.yaml", f"name: bench-scrape-{interval}\ntarget: {{type: kube}}\n"
                         f"{fleet_yaml(clusters)}client: {{pool_size: 1, qps: -1}}\n"
                         f"observe: {{interval_seconds: {interval}}}\nphases: {{create: {{concurrency: {a.workers}}}}}\n")

    # The CRDs installed once before the pairs (a one-cluster run), as on the apiserver path.
    warm = b.profile("scrape-warm.yaml", f"name: bench-scrape-warmup\ntarget: {{type: kube}}\n{fleet_yaml(1)}")
    run_quiet([b.tool, "run", warm, *kube, "--run-id", "scrapewarm", "--out", b.work / "scrape-warm"],
              b.work / "scrape-warm.log", "capi-loadgen warm-up run (CRD install)")
    say(f"scrape cost: {a.pairs} pairs of create runs (~{a.creates} objects) with observe.interval_seconds "
        f"{SCRAPE_EVERY_S} and {SCRAPE_NEVER_S}")
    rows = []
    for pair in range(1, a.pairs + 1):
        for interval in (SCRAPE_EVERY_S, SCRAPE_NEVER_S):
            out = b.work / f"scrape-{interval}-{pair}"
            m = measured([b.tool, "run", profile(interval), *kube, "--run-id", f"scrape{interval}x{pair}", "--out", out],
                         f"{out}.log")
            ok, secs, _, _ = tool_summary(out / "summary.json")
            emit(rows, {"metric": "scrape", "side": f"every_{interval}", "pair": pair, "ok": ok, "process_s": m["wall_s"],
                        "cpu_s": m["user_s"] + m["sys_s"], "cpu_us_per_op": (m["user_s"] + m["sys_s"]) * 1e6 / ok})
    b.env_down()
    return rows


# --- 5. the breakpoints suite's etcd-writes experiment -----------------------------------------------
# How often the generator's own CPU is sampled from /proc/<pid>/stat during the sweep.
SUITE_SAMPLE_S = 0.25
# The window of the peak share (the sweep's points last 6 s; 2 s windows see one point's load).
SUITE_PEAK_WINDOW_S = 2.0


def own_cpu_s(pid):
    """The process's own user+sys seconds (not its children's: the local environment's etcd)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        return proc_cpu_ticks(pid) / CLK_TCK
    return None


def suite_etcd_writes(b):
    """`capi-loadgen sweep profiles/breakpoints/etcd-writes.yaml` (the suite's etcd-writes row:
    open-loop creates into a fresh bare etcd of the local environment at a rising offered rate)
    with the generator's own CPU sampled from /proc: its share of the machine (all cores) over
    the sweep and in the busiest 2-second window."""
    prof = ROOT / "profiles" / "breakpoints" / "etcd-writes.yaml"
    cores = os.cpu_count() or 1
    say(f"breakpoints suite etcd-writes experiment: capi-loadgen sweep {prof.relative_to(ROOT)} "
        f"(generator CPU from /proc every {SUITE_SAMPLE_S} s, {cores} cores)")
    out = b.work / "suite-etcd-writes"
    t0 = time.monotonic()
    with open(f"{out}.log", "wb") as f:
        p = spawn([b.tool, "sweep", prof, "--out", out, "--etcd-version", b.etcd_version,
                   "--kubernetes-version", b.k8s_version], stdout=f, stderr=subprocess.STDOUT)
        samples = []
        while p.poll() is None:
            c = own_cpu_s(p.pid)
            if c is not None:
                samples.append((time.monotonic(), c))
            time.sleep(SUITE_SAMPLE_S)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        tail(f"{out}.log")
        raise BenchError(f"capi-loadgen sweep {prof.name} exited {p.returncode} (log: {out}.log)")
    if len(samples) < 2:
        raise BenchError("the sweep ended before its CPU could be sampled")
    cpu = samples[-1][1]
    peak = 0.0
    j = 0
    for i in range(len(samples)):
        while samples[i][0] - samples[j][0] > SUITE_PEAK_WINDOW_S:
            j += 1
        dt = samples[i][0] - samples[j][0]
        if dt >= SUITE_PEAK_WINDOW_S * 0.75:
            peak = max(peak, (samples[i][1] - samples[j][1]) / dt / cores)
    best = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        pts = json.loads((out / "sweep.json").read_text()).get("points", [])
        best = max((pt.get("writes_per_second") or 0.0) for pt in pts) if pts else None
    row = {"metric": "suite_etcd_writes", "side": "tool", "pair": 1, "wall_s": wall, "cpu_s": cpu,
           "share_of_machine": cpu / wall / cores, "peak_share_of_machine": peak, "cores": cores,
           "best_writes_per_s": best}
    rows = []
    emit(rows, row)
    return rows


# --- 4. memory -------------------------------------------------------------------------------------
def big_fleet(clusters):
    return (f"name: bench-memory\ntarget: {{type: etcd}}\nfleet:\n  clusters: {clusters}\n  clusters_per_namespace: 100\n"
            "  control_plane_replicas: 3\n  machine_deployments: 1\n  workers_per_machine_deployment: 997\n"
            "client: {pool_size: 4, qps: -1}\nphases: {create: {concurrency: 16}}\n")


def memory(b):
    a = b.args
    sizes = a.memory_sizes
    say(f"memory: --dry-run (streams every object) at {a.dry_clusters:,} clusters x 1,000 machines, "
        f"then real runs of {len(sizes)} sizes")
    m = measured([b.tool, "run", b.profile("memory.yaml", big_fleet(a.dry_clusters)), "--dry-run"], b.work / "dry.log")
    dry_log = (b.work / "dry.log").read_text(errors="replace").splitlines()
    for line in dry_log:
        if not re.match(r"^dry run: [0-9]* of [0-9]* objects generated", line):  # no progress lines
            print("  " + line)
    print(f"dry run: {m['wall_s']:.2f} s, peak RSS {m['max_rss_kib'] // 1024} MiB")
    streamed = [l for l in dry_log if re.match(r"^dry run: .* objects generated and serialized", l)]
    if not streamed:
        raise BenchError(f"--dry-run did not stream the plan (no 'objects generated' line in {b.work / 'dry.log'})")
    rows = []
    for n in sizes:
        prof = b.profile(f"memory-{n}.yaml", big_fleet(n))
        _, ep = b.start_etcd(f"mem{n}")
        out = b.work / f"memory-{n}"
        r = measured([b.tool, "run", prof, "--etcd-endpoint", ep, "--out", out], f"{out}.log")
        b.stop_etcd()
        d = json.loads((out / "summary.json").read_text())
        emit(rows, {"label": f"real run, {n} clusters x 1,000 machines", "clusters": n, "objects": d["fleet"]["objects_planned"],
                    "ok": d["totals"]["ok"], "max_rss_mib": r["max_rss_kib"] / 1024})
    first, lo, hi = rows[0], rows[-2], rows[-1]
    notes = [f"--dry-run streams the plan: {streamed[0][len('dry run: '):]}; peak RSS {m['max_rss_kib'] // 1024} MiB",
             f"real runs into a fresh bare etcd with 1,000-machine clusters: {', '.join(map(str, sizes[:-1]))} and {sizes[-1]} "
             f"clusters ({first['objects'] / 1000:.0f} k to {hi['objects'] / 1000:.0f} k objects, same fleet shape); flat = peak "
             f"RSS of the largest within 5% of the smallest's for {hi['objects'] / first['objects']:.0f}x the objects; also a "
             f"linear projection to {GOAL_CLUSTERS:,} clusters from the two largest"]
    target_objects = hi["objects"] / hi["clusters"] * GOAL_CLUSTERS
    slope = (hi["max_rss_mib"] - lo["max_rss_mib"]) / (hi["objects"] - lo["objects"])
    proj = hi["max_rss_mib"] + max(0.0, slope) * (target_objects - hi["objects"])
    notes.append("RSS slope between the two largest real runs: %.1f KiB per 1,000 objects; projected to %d objects "
                 "(%s clusters): %.1f MiB (linear extrapolation, not a measurement)"
                 % (slope * 1024 * 1000, target_objects, f"{GOAL_CLUSTERS:,}", proj))
    growth = hi["max_rss_mib"] / first["max_rss_mib"] - 1.0
    notes.append("peak RSS from %d to %d objects (%.0fx): %.1f -> %.1f MiB (%+.1f%%)"
                 % (first["objects"], hi["objects"], hi["objects"] / first["objects"], first["max_rss_mib"],
                    hi["max_rss_mib"], growth * 100))
    return {"runs": rows, "notes": notes, "projected_mib": proj, "projected": True, "dry_run_mib": m["max_rss_kib"] / 1024,
            "dry_run_clusters": a.dry_clusters, "growth": growth, "growth_objects": [first["objects"], hi["objects"]]}


# --- summary -----------------------------------------------------------------------------------
