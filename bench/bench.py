#!/usr/bin/env python3
"""Benchmark capi-loadgen against the reference clients on the same local target.

Not part of CI; standard library only. Run it niced on a shared machine:
    nice -n 19 bench/bench.py            (scripts/bench.sh runs this)

  1. builds capi-loadgen (cargo build --release --locked); the baselines, etcd's Go benchmark
     and a client-go creator, are built beforehand by `scripts/setup.sh --bench` (Go modules
     under bench/baselines/), and this checks they were built from the sources here;
  2. etcd put path: etcd `benchmark put` vs capi-loadgen's etcd target, each run on a FRESH
     bare etcd (same binary and flags as the local environment's) so that no run inherits
     another's data and kube-apiserver's watch cache does not decode the tool's /registry
     writes (the benchmark's keys would be invisible to it);
  3. apiserver create path: the client-go creator vs `capi-loadgen run`, creating the same
     objects and payloads: the creator replays the tool's own create bodies for the same
     fleet (`run --dry-run --objects-out`, under its own run id), so the server validates and
     stores the same kinds and bytes for both (same concurrency, no client QPS limit, one
     client each), against the local environment (`capi-loadgen env up --detach`), both as
     its load identity (capi-loadgen-load: a ServiceAccount, not system:masters); a
     one-cluster tool run installs the CAPI CRDs first; etcd and kube-apiserver CPU sampled
     from /proc before/after each run (client CPU / server CPU at saturation);
  4. memory: `run --dry-run` (streams every object) at 15,000 clusters x 1,000 machines, and
     real runs of three sizes (peak RSS and CPU of each child process from wait4(2));
  5. CRD schemas and webhooks (bench/schemas.py): the same fleet through inferred and through
     upstream Cluster API schemas (--crd-dir), and through upstream schemas with defaulting
     and validating webhooks on every kind, alternating: server CPU per create, create p99,
     bytes per cluster, and the growth of status and managedFields over N reconciles.
--paths picks some of 2-5 (e.g. --paths schemas); all by default.
Runs alternate baseline/tool, --pairs times; medians and ratios at the end.

Each measured path is one function taking the shared Bench context and returning its rows,
so another measurement can be added beside them without touching the others.
"""
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import schemas  # noqa: E402  (bench/schemas.py, beside this file)

ROOT = Path(__file__).resolve().parent.parent
CACHE_ROOT = Path(os.environ.get("CAPI_LOADGEN_CACHE") or Path.home() / ".cache" / "capi-loadgen")
BASELINE_BIN = CACHE_ROOT / "bench" / "bin"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# How long a fresh bare etcd may take to answer `etcdctl endpoint health` (a loaded machine).
ETCD_READY_DEADLINE_S = 60.0
ETCD_READY_POLL_S = 0.2
# Objects per cluster with 1 control-plane Machine and 1 MachineDeployment of 3 workers:
# Cluster, provider cluster, KubeadmControlPlane, 5 cluster Secrets, MachineDeployment,
# MachineSet, then 4 Machines x (Machine, KubeadmConfig, Metal3Machine, bootstrap Secret) = 26.
PER_CLUSTER = 26
# The fleet the memory goals speak of (15,000 clusters x 1,000 machines).
GOAL_CLUSTERS = 15000
LOAD_CONTEXT = "capi-loadgen-load"


class BenchError(Exception):
    """A failed step: printed as one line, exit status 1."""


def say(msg):
    print(f"\nbench: {msg}", flush=True)


def tail(path, n=20):
    with contextlib.suppress(OSError):
        sys.stderr.write("".join(Path(path).read_text(errors="replace").splitlines(True)[-n:]))


def niced():
    os.nice(19)


# The measured child running now (stopped with the servers if the benchmark is interrupted).
RUNNING = []


def spawn(argv, **kw):
    p = subprocess.Popen(argv, preexec_fn=niced, **kw)
    RUNNING[:] = [p]
    return p


def stop_running():
    for p in RUNNING:
        if p.returncode is None and p.poll() is None:
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=30)
    RUNNING.clear()


# Between two reads of a measured process's VmHWM.
HWM_POLL_S = 0.05


def sample_hwm(pid, peak):
    """Keeps peak[0] at the highest VmHWM (KiB) of /proc/<pid>/status until the process is gone."""
    while True:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
        if not m:  # a zombie: its memory is gone
            return
        peak[0] = max(peak[0], int(m.group(1)))
        time.sleep(HWM_POLL_S)


def measured(argv, out):
    """Runs argv niced, stdout+stderr to `out`; returns wall s, user s, sys s (wait4(2)) and
    peak RSS KiB. The peak is the process's own VmHWM, sampled from /proc: wait4's ru_maxrss
    also keeps the high-water mark of the memory it replaced at exec, which for a child forked
    from this Python process is this process's size, not the measured program's."""
    t0 = time.monotonic()
    peak = [0]
    with open(out, "wb") as f:
        p = spawn(argv, stdout=f, stderr=subprocess.STDOUT)
        sampler = threading.Thread(target=sample_hwm, args=(p.pid, peak), daemon=True)
        sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        sampler.join(timeout=1)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        tail(out)
        raise BenchError(f"{Path(argv[0]).name} {' '.join(argv[1:3])} ... exited {p.returncode} (log: {out})")
    return {"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
            "max_rss_kib": peak[0] or ru.ru_maxrss}


def run_quiet(argv, out, what):
    """Runs argv niced with output to `out`, raising BenchError (and its tail) on failure."""
    with open(out, "wb") as f:
        rc = spawn(argv, stdout=f, stderr=subprocess.STDOUT).wait()
    if rc != 0:
        tail(out)
        raise BenchError(f"{what} failed (log: {out})")


def proc_cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def required(gomod, module):
    """The version a go.mod requires of a module (inside or outside a require block)."""
    for line in Path(gomod).read_text().splitlines():
        w = line.split()
        if len(w) >= 3 and w[0] == "require" and w[1] == module:
            return w[2]
        if len(w) >= 2 and w[0] == module and w[1].startswith("v"):
            return w[1]
    raise BenchError(f"{gomod} names no version of {module}")


def src_key(module_dir):
    """sha256 of a module's go.mod, go.sum and *.go (name order): scripts/bench-baselines.sh's key."""
    files = [module_dir / "go.mod", module_dir / "go.sum"] + sorted(module_dir.glob("*.go"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def baseline(name, module_dir):
    """A baseline binary built by `scripts/setup.sh --bench` from the sources in this checkout."""
    path = BASELINE_BIN / name
    if not os.access(path, os.X_OK):
        raise BenchError(f"{path} missing: run scripts/setup.sh --bench")
    with contextlib.suppress(OSError):
        if (path.parent / (name + ".src-sha256")).read_text().strip() == src_key(module_dir):
            print(f"{name}: {path} ({(path.parent / (name + '.built')).read_text().strip()})")
            return path
    raise BenchError(f"{path} was built from other sources than {module_dir}: run scripts/setup.sh --bench")


def find_asset(name, version):
    """`name` of `version`, in the tool's order: $KUBEBUILDER_ASSETS, $PATH, the cache."""
    dirs = [os.environ["KUBEBUILDER_ASSETS"]] if os.environ.get("KUBEBUILDER_ASSETS") else []
    dirs += os.environ.get("PATH", "").split(os.pathsep) + [str(CACHE_ROOT / "assets" / version)]
    for d in dirs:
        p = Path(d) / name
        if os.access(p, os.X_OK) and p.is_file():
            out = subprocess.run([p, "--version"], capture_output=True, text=True).stdout
            if re.search(rf"(^|[ v]){re.escape(version.lstrip('v'))}([^0-9]|$)", out, re.M):
                return p
    raise BenchError(f"{name} {version} not found in $KUBEBUILDER_ASSETS, $PATH or {CACHE_ROOT / 'assets'}: run scripts/setup.sh")


class Bench:
    """What every measured path shares: options, binaries, the work directory, live servers."""

    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="capi-loadgen-bench."))
        self.etcd = None  # the bare etcd running now: (Popen, endpoint)
        self.env_dir = None  # the local environment's state dir while it is up
        self.tool = Path(args.tool).resolve() if args.tool else ROOT / "target" / "release" / "capi-loadgen"
        self.etcd_version = args.etcd_version or required(ROOT / "servers/etcd/go.mod", "go.etcd.io/etcd/server/v3")
        self.k8s_version = args.kubernetes_version or required(ROOT / "servers/kube-apiserver/go.mod", "k8s.io/kubernetes")

    def prepare(self):
        if self.args.tool:
            if not os.access(self.tool, os.X_OK):
                raise BenchError(f"--tool {self.tool}: not an executable")
            print(f"capi-loadgen: {self.tool} (--tool, not rebuilt)")
        else:
            say("building capi-loadgen (cargo build --release --locked, nice -n 19)")
            t0 = time.monotonic()
            out = self.work / "cargo-build.log"
            run_quiet(["cargo", "build", "--release", "--locked"], out, "cargo build --release --locked")
            print("".join(out.read_text().splitlines(True)[-2:]), end="")
            print(f"cargo build: {time.monotonic() - t0:.1f} s")
        say(f"baselines (scripts/setup.sh --bench) and servers (etcd {self.etcd_version}, kube-apiserver {self.k8s_version})")
        self.etcd_bench = baseline("etcd-benchmark", ROOT / "bench/baselines/etcd-benchmark")
        self.creator = baseline("client-go-creator", ROOT / "bench/baselines/creator")
        self.etcd_bin = find_asset("etcd", self.etcd_version)
        self.etcdctl = find_asset("etcdctl", self.etcd_version)
        print(f"etcd: {self.etcd_bin}, etcdctl: {self.etcdctl}")

    # --- bare etcd ---------------------------------------------------------------------------
    def start_etcd(self, tag):
        """A fresh bare etcd (the local environment's flags, new data dir, free loopback ports)."""
        d = self.work / f"etcd-{tag}"
        cport, pport, mport = free_port(), free_port(), free_port()
        ep = f"http://127.0.0.1:{cport}"
        log = open(f"{d}.log", "wb")
        p = subprocess.Popen(
            [self.etcd_bin, f"--data-dir={d}", "--name=bench",
             f"--listen-client-urls={ep}", f"--advertise-client-urls={ep}",
             f"--listen-peer-urls=http://127.0.0.1:{pport}", f"--initial-advertise-peer-urls=http://127.0.0.1:{pport}",
             f"--initial-cluster=bench=http://127.0.0.1:{pport}", f"--listen-metrics-urls=http://127.0.0.1:{mport}",
             "--quota-backend-bytes=2147483648", "--metrics=extensive"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=niced)
        log.close()
        self.etcd = (p, ep)
        deadline = time.monotonic() + ETCD_READY_DEADLINE_S
        while time.monotonic() < deadline and p.poll() is None:
            if self.etcdctl_run(ep, "endpoint", "health", check=False).returncode == 0:
                return p.pid, ep
            time.sleep(ETCD_READY_POLL_S)
        tail(f"{d}.log")
        raise BenchError(f"bare etcd did not become healthy within {ETCD_READY_DEADLINE_S:.0f} s (log: {d}.log)")

    def stop_etcd(self):
        if self.etcd:
            p = self.etcd[0]
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self.etcd = None

    def etcdctl_run(self, ep, *argv, check=True):
        return subprocess.run([self.etcdctl, f"--endpoints={ep}", *argv], env=dict(os.environ, ETCDCTL_API="3"),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=check)

    def etcd_get(self, ep, prefix, *flags):
        out = self.etcdctl_run(ep, "get", "--prefix", prefix, "-w", "json", *flags).stdout
        return json.loads(out).get("kvs", [])

    def mean_kv_sizes(self, ep, prefix, sub=None):
        """(count, mean key bytes, mean value bytes) of the keys under prefix; with `sub`, only
        keys containing it (a run's namespace, clg-<run-id>-: its Namespace key and every
        namespaced key, /registry/<resource>/<namespace>/<name>), reading just the
        directories holding matching keys, not the whole registry."""
        if sub is None:
            kvs = {base64.b64decode(k["key"]): len(base64.b64decode(k.get("value", ""))) for k in self.etcd_get(ep, prefix)}
        else:
            keys = {base64.b64decode(k["key"]).decode() for k in self.etcd_get(ep, prefix, "--keys-only")}
            keys = {k for k in keys if sub in k}
            dirs = set()
            for k in keys:
                i = k.index(sub)
                seg, slash, _ = k[i:].partition("/")
                dirs.add(k[:i] + seg + slash)
            kvs = {}
            for d in sorted(dirs):
                for kv in self.etcd_get(ep, d):
                    key = base64.b64decode(kv["key"]).decode()
                    if key in keys:
                        kvs[key.encode()] = len(base64.b64decode(kv.get("value", "")))
        n = len(kvs) or 1
        return len(kvs), sum(len(k) for k in kvs) / n, sum(kvs.values()) / n

    # --- the local environment ---------------------------------------------------------------
    def env_up(self):
        self.env_dir = self.work / "env"
        say(f"starting the local environment (capi-loadgen env up --detach --state-dir {self.env_dir})")
        out = self.work / "env-up.log"
        run_quiet([self.tool, "env", "up", "--detach", "--state-dir", self.env_dir,
                   "--kubernetes-version", self.k8s_version, "--etcd-version", self.etcd_version],
                  out, "capi-loadgen env up")
        print(out.read_text(), end="")
        return json.loads((self.env_dir / "state.json").read_text())

    def env_down(self):
        if self.env_dir:
            subprocess.run([self.tool, "env", "down", "--state-dir", self.env_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.env_dir = None

    def profile(self, name, text):
        p = self.work / name
        p.write_text(text)
        return p

    def close(self, failed):
        stop_running()
        self.stop_etcd()
        self.env_down()
        if self.args.keep or failed:
            print(f"bench: work directory kept: {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


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
NOTE = """\
  etcd path: the Go benchmark writes 64-byte keys with 2048-byte random values as plain Puts;
  capi-loadgen has no raw-put mode and writes CAPI objects exactly as kube-apiserver stores them
  (JSON custom resources, protobuf Secrets/Namespaces behind k8s\\0, create-only transactions).
  The "size-matched" rows rerun the benchmark as txn-put (one Put per Txn) with keys and values
  as large as the tool's mean key and value; etcd's own CPU per write (utime+stime from /proc
  over the run) shows what each kind of write costs the server.
  CPU per operation = whole-process user+sys (wait4 or getrusage) / successful writes,
  so the tool's figures include its start-up, CRD check, metric scrapes and result files.
  apiserver path: both clients create the same objects: the creator replays the create bodies
  the tool writes with run --dry-run --objects-out for the same fleet (the Namespaces, then the
  CAPI custom resources and Secrets with the same payloads), so the server does the same work
  per create for both. Both as capi-loadgen-load (ServiceAccount, APF workload-low), one client,
  {workers} requests in flight, no client QPS limit; namespace creates count for both and are
  inside both timed windows (the creator creates them first, one after another). Differences
  left: the creator takes objects from one shared list (the tool works cluster by cluster, each
  cluster's objects in order) and sends the dry run's placeholder owner UIDs (the tool sends
  the server-assigned ones, same length); its stored objects are ~20 B larger (its field
  manager name in managedFields, its longer run id). Server CPU = kube-apiserver + etcd
  utime+stime from /proc over the client's whole process lifetime (the tool's process also
  checks its CRDs and scrapes the apiserver's /metrics; the creator's reads its file and runs
  discovery). Both sides' "mean stored value" is read back from etcd (their run's namespace)."""


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.3g}"
    return s + unit


class GoalTable:
    """The last table: metric, baseline, capi-loadgen, ratio, goal, met?. The goals: throughput
    >= 1.0x the baseline's, client CPU per operation <= 0.5x the baseline's, flat memory,
    client CPU <= 10% of the server's; rows without a goal say "-"."""

    def __init__(self):
        self.rows = []

    def ratio(self, name, base, tool, higher_better, limit, unit=""):
        ratio = (tool / base) if (base and tool is not None) else None
        goal = "-" if limit is None else (f">= {limit:.2f}x" if higher_better else f"<= {limit:.2f}x")
        if ratio is None:
            met = "n/a"
        elif limit is None:
            met = "-"
        else:
            met = "yes" if (ratio >= limit if higher_better else ratio <= limit) else "NO"
        self.rows.append((name, fmt(base, unit), fmt(tool, unit), f"{ratio:.2f}x" if ratio else "n/a", goal, met))

    def add(self, *row):
        self.rows.append(row)

    def print(self):
        print("\n" + " | ".join(["metric", "baseline", "capi-loadgen", "ratio", "goal", "met?"]))
        print("|".join(["---"] * 6))
        for r in self.rows:
            print(" | ".join(r))


def summarize_etcd(by, table):
    b, t, bm = by.get(("etcd_put", "baseline"), []), by.get(("etcd_put", "tool"), []), by.get(("etcd_put_sized", "baseline"), [])
    if not (b or t):
        return
    print(f"\netcd put path (medians of {len(b)} baseline / {len(t)} tool runs):")
    print(f"  etcd benchmark (64 B keys, 2048 B random values, plain Put): {fmt(med(b, 'ops_per_s'))} puts/s, "
          f"{fmt(med(b, 'cpu_us_per_op'))} us client CPU per put")
    if bm:
        print(f"  etcd benchmark txn-put (one Put per Txn) with the tool's mean key ({fmt(med(bm, 'key_size'))} B) and "
              f"value ({fmt(med(bm, 'val_size'))} B): {fmt(med(bm, 'ops_per_s'))} txns/s, "
              f"{fmt(med(bm, 'cpu_us_per_op'))} us client CPU per txn, etcd's own CPU {fmt(med(bm, 'server_cpu_us_per_op'))} us per txn")
    print(f"  capi-loadgen (CAPI objects as kube-apiserver stores them: JSON CRs, protobuf Secrets/Namespaces, "
          f"create-only Txn; mean key {fmt(med(t, 'mean_key_bytes'))} B, mean value {fmt(med(t, 'mean_value_bytes'))} B): "
          f"{fmt(med(t, 'ops_per_s'))} writes/s, {fmt(med(t, 'cpu_us_per_op'))} us client CPU per write, "
          f"peak RSS {fmt(med(t, 'max_rss_mib'))} MiB")
    print(f"  etcd's own CPU per write: {fmt(med(b, 'server_cpu_us_per_op'))} us for the benchmark's puts, "
          f"{fmt(med(t, 'server_cpu_us_per_op'))} us for the tool's create-only Txns of CAPI objects "
          "(client + server CPU per write bound the throughput of a 2-core machine)")
    table.ratio("1. etcd writes/s (2048 B benchmark vs CAPI objects)", med(b, "ops_per_s"), med(t, "ops_per_s"), True, 1.0)
    table.ratio("1. etcd client CPU us/write", med(b, "cpu_us_per_op"), med(t, "cpu_us_per_op"), False, 0.5)
    if bm:
        table.ratio("etcd writes/s (benchmark txn-put, tool's key and value sizes)", med(bm, "ops_per_s"), med(t, "ops_per_s"), True, None)
        table.ratio("etcd client CPU us/write (txn-put, size-matched)", med(bm, "cpu_us_per_op"), med(t, "cpu_us_per_op"), False, None)
        table.ratio("etcd's own CPU us/write (txn-put, size-matched)", med(bm, "server_cpu_us_per_op"),
                    med(t, "server_cpu_us_per_op"), False, None)
        tb, mv, bb, vb = med(t, "ops_per_s"), med(t, "mean_value_bytes"), med(bm, "ops_per_s"), med(bm, "val_size")
        if tb and mv and bb and vb:
            table.ratio("etcd value MB/s (size-matched)", bb * vb / 1e6, tb * mv / 1e6, True, None)


def summarize_apiserver(by, table):
    b, t = by.get(("apiserver_create", "baseline"), []), by.get(("apiserver_create", "tool"), [])
    if not (b or t):
        return
    print(f"\napiserver create path (medians of {len(b)} baseline / {len(t)} tool runs):")
    print("  both create the same objects: the creator replays capi-loadgen's own create bodies "
          "(run --dry-run --objects-out, same fleet, namespaces first)")
    print(f"  client-go creator: {fmt(med(b, 'ops_per_s'))} creates/s, {fmt(med(b, 'cpu_us_per_op'))} us CPU per create, "
          f"client/server CPU {fmt(med(b, 'client_server_cpu_ratio'))}, server busy {fmt(med(b, 'server_cores'))} cores, "
          f"mean create body {fmt(med(b, 'mean_body_bytes'))} B, mean stored value {fmt(med(b, 'mean_value_bytes'))} B")
    print(f"  capi-loadgen:      {fmt(med(t, 'ops_per_s'))} creates/s, {fmt(med(t, 'cpu_us_per_op'))} us CPU per create, "
          f"client/server CPU {fmt(med(t, 'client_server_cpu_ratio'))}, server busy {fmt(med(t, 'server_cores'))} cores, "
          f"mean stored value {fmt(med(t, 'mean_value_bytes'))} B, peak RSS {fmt(med(t, 'max_rss_mib'))} MiB")
    table.ratio("2. apiserver creates/s (same objects)", med(b, "ops_per_s"), med(t, "ops_per_s"), True, 1.0)
    table.ratio("2. apiserver client CPU us/create", med(b, "cpu_us_per_op"), med(t, "cpu_us_per_op"), False, 0.5)
    cs = med(t, "client_server_cpu_ratio")
    table.add("4. client CPU / server CPU at saturation (tool)", fmt(med(b, "client_server_cpu_ratio")), fmt(cs),
              "-", "<= 0.10", "n/a" if cs is None else ("yes" if cs <= 0.10 else "NO"))


def summarize_scrape(by, table):
    e, n = by.get(("scrape", f"every_{SCRAPE_EVERY_S}"), []), by.get(("scrape", f"every_{SCRAPE_NEVER_S}"), [])
    if not (e and n):
        return
    # Per pair: the CPU difference over the scrapes the per-second run made (one a second).
    costs, shares = [], []
    for x in e:
        y = next((r for r in n if r["pair"] == x["pair"]), None)
        if y:
            costs.append((x["cpu_s"] - y["cpu_s"]) * 1e3 / max(x["process_s"], 1.0))
            shares.append((x["cpu_s"] - y["cpu_s"]) / x["cpu_s"])
    cost, share = statistics.median(costs), statistics.median(shares)
    print(f"\nscrape cost: tool CPU {fmt(med(e, 'cpu_s'))} s scraping every {SCRAPE_EVERY_S} s vs {fmt(med(n, 'cpu_s'))} s "
          f"without; per scrape {fmt(cost)} ms (median of the pairs' differences over one scrape a second)")
    table.add("scrape: CPU per scrape / share of the tool's CPU at one scrape a second", "-",
              f"{fmt(cost, ' ms')} / {share * 100:.1f}%", "-", "-", "-")


def summarize_suite(by, table):
    t = by.get(("suite_etcd_writes", "tool"), [])
    if not t:
        return
    best = med(t, "best_writes_per_s")
    print(f"\nbreakpoints suite, etcd-writes sweep: generator CPU {fmt(med(t, 'cpu_s'))} s over {fmt(med(t, 'wall_s'))} s "
          f"on {fmt(med(t, 'cores'))} cores; best point {fmt(best)} writes/s")
    table.add("generator share of the machine, breakpoints etcd-writes sweep (whole sweep / busiest 2 s)", "-",
              f"{med(t, 'share_of_machine') * 100:.0f}% / {med(t, 'peak_share_of_machine') * 100:.0f}%", "-", "-", "-")


def summarize_memory(mem, table):
    if not mem:
        return
    print("\nmemory:")
    for line in mem.get("notes", []):
        print("  " + line)
    for r in mem.get("runs", []):
        print(f"  {r['label']}: {r['objects']:,} objects planned, peak RSS {r['max_rss_mib']:.1f} MiB")
    proj = mem.get("projected_mib")
    if proj is not None:
        table.add(f"peak RSS of a real run, {GOAL_CLUSTERS:,} x 1,000 (linear projection of the last slope)",
                  "-", fmt(proj, " MiB") + (" (projected)" if mem.get("projected") else ""), "-", "-", "-")
    growth = mem.get("growth")
    if growth is not None:
        lo, hi = mem["growth_objects"]
        table.add(f"3. real-run peak RSS growth, {lo:,} -> {hi:,} objects", "-", f"{growth * 100:+.1f}%", "-",
                  "<= +5% (flat)", "yes" if growth <= 0.05 else "NO")
    dry = mem.get("dry_run_mib")
    if dry is not None:
        table.add(f"3. peak RSS, --dry-run streaming {mem.get('dry_run_clusters', GOAL_CLUSTERS):,} x 1,000", "-",
                  fmt(dry, " MiB"), "-", "<= 64 MiB", "yes" if dry <= 64.0 else "NO")


def summarize(runs, mem):
    """Medians per side and the goal table, from the measured runs and the memory results."""
    by = {}
    for r in runs:
        by.setdefault((r["metric"], r["side"]), []).append(r)
    print("\nper-run results (alternating A/B):")
    for r in runs:
        print("  " + json.dumps(r, sort_keys=True))
    table = GoalTable()
    summarize_etcd(by, table)
    summarize_apiserver(by, table)
    summarize_scrape(by, table)
    summarize_suite(by, table)
    summarize_memory(mem, table)
    schemas.summarize(by, table, sys.modules[__name__])
    table.print()


# --- main --------------------------------------------------------------------------------------
def sizes(text):
    try:
        v = [int(x) for x in text.split(",")]
    except ValueError:
        v = []
    if len(v) < 2 or any(n < 1 for n in v) or v != sorted(set(v)):
        raise argparse.ArgumentTypeError(f"'{text}' is not two or more increasing cluster counts like 8,32,96")
    return v


PATHS = ("etcd", "apiserver", "scrape", "suite", "memory", "schemas")


def paths(text):
    v = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in v if x not in PATHS]
    if not v or bad:
        raise argparse.ArgumentTypeError(f"'{text}': paths are {', '.join(PATHS)}")
    return v


def positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive integer")
    return n


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/bench.py", description="Benchmark capi-loadgen against etcd's benchmark tool and a client-go creator "
        "(about 15 minutes with the defaults; build the baselines first with scripts/setup.sh --bench).")
    p.add_argument("--pairs", type=positive, default=3, help="alternating baseline/tool pairs per path (default 3)")
    p.add_argument("--puts", type=positive, default=20000, help="writes per run on the etcd path (default 20000)")
    p.add_argument("--creates", type=positive, default=10000,
                   help="creates per run on the apiserver path (default 10000: start-up, ~0.1 s of CPU for the tool "
                   "and ~0.04 s for the creator, stays a few %% of either run)")
    p.add_argument("--workers", type=positive, default=50, help="requests in flight on the apiserver path (default 50)")
    p.add_argument("--dry-clusters", type=positive, default=GOAL_CLUSTERS,
                   help="clusters of 1,000 machines in the --dry-run memory run (default 15000: ~60 M objects, minutes)")
    p.add_argument("--memory-sizes", type=sizes, default=[8, 32, 96],
                   help="clusters of 1,000 machines in the real memory runs, increasing (default 8,32,96)")
    p.add_argument("--etcd-version", help="etcd to run (default: what servers/etcd/go.mod pins)")
    p.add_argument("--kubernetes-version", help="kube-apiserver to run (default: what servers/kube-apiserver/go.mod pins)")
    p.add_argument("--paths", type=paths, default=None,
                   help=f"measured paths, comma-separated, of {','.join(PATHS)} (default: all; schemas only with --crd-dir)")
    p.add_argument("--tool", help="a capi-loadgen binary to measure instead of building target/release/capi-loadgen")
    p.add_argument("--crd-dir", help="upstream Cluster API CRD YAML/JSON files for the schemas path (e.g. extracted from a "
                   "release's components.yaml); required by it")
    p.add_argument("--schema-clusters", type=positive, default=100,
                   help="clusters (26 objects each) per run on the schemas path (default 100)")
    p.add_argument("--schema-capi-version", choices=["v1beta1", "v1beta2"], default="v1beta2",
                   help="Cluster API version of the schemas path (default v1beta2, which has CEL rules)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    if args.paths is None:
        args.paths = [x for x in PATHS if x != "schemas" or args.crd_dir]
    return args


def main(argv):
    args = parse_args(argv)
    t_start = time.monotonic()

    def terminated(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    b = None
    failed = True
    try:
        b = Bench(args)
        if "schemas" in args.paths and not args.crd_dir:
            raise BenchError("the schemas path needs --crd-dir DIR (upstream Cluster API CRDs)")
        b.prepare()
        runs = etcd_put_path(b) if "etcd" in args.paths else []
        runs += apiserver_create_path(b) if "apiserver" in args.paths else []
        runs += scrape_cost(b) if "scrape" in args.paths else []
        runs += suite_etcd_writes(b) if "suite" in args.paths else []
        mem = memory(b) if "memory" in args.paths else None
        runs += schemas.crd_schemas_path(b, sys.modules[__name__]) if "schemas" in args.paths else []
        say("results (medians; ratio = capi-loadgen / baseline)")
        if {"etcd", "apiserver"} & set(args.paths):
            print(NOTE.format(workers=args.workers))
        summarize(runs, mem)
        print(f"\nbench: done in {time.monotonic() - t_start:.0f} s")
        failed = False
        return 0
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if b:
            b.close(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
