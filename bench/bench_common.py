"""Shared parts of bench/bench.py: paths and constants, child processes (spawned niced,
measured with wait4(2)), the baselines' provenance and the `Bench` context."""
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
