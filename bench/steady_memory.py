#!/usr/bin/env python3
"""The tool's own memory in the steady phase: flat in the number of simulated workers?

How to run (from the repository root, after `cargo build --release`; needs the local
environment's etcd and kube-apiserver, see scripts/setup.sh):

    python3 bench/steady_memory.py                     # rows at 10 / 400 / 2,000 workers, then a 30-minute soak
    python3 bench/steady_memory.py --soak-minutes 0    # the rows only (about 5 minutes)
    python3 bench/steady_memory.py --skip-rows --soak-minutes 30
    python3 bench/steady_memory.py --binary /tmp/old/capi-loadgen   # measure another build

Each row runs `capi-loadgen run` on a local environment the tool starts itself (etcd and
kube-apiserver are its children): 50 Metal3-shaped clusters are created, then the Cluster
controller runs for 20 s with `concurrency x time_scale` workers. Every row keeps the same
wall sync period (15 s), so the request rate is the same and only the number of workers
changes: 10 workers = concurrency 10 at time scale 1; 400 = 10 x 40 and 2,000 = 50 x 40 (a
CAPI v1.13-like concurrency compressed 40x). Rows run interleaved, `--repeats` times each,
and the table gives medians and the ratio to the 10-worker row of the same invocation.

Memory is the tool's own process only: VmHWM (peak RSS) and VmRSS from /proc/<pid>/status,
open descriptors from /proc/<pid>/fd, CPU from /proc/<pid>/stat. The tool's resource usage
as reported by wait4 (or /usr/bin/time) would be wrong here: that is the largest of the
process and its reaped children, and kube-apiserver (~500 MiB) is one of them.

The soak (`--soak-minutes`, default 30) runs 100 clusters at time scale 10 with the Machine
controller and two watches per kind for that long, samples RSS and descriptors every 5 s,
and fits a line to the samples after the warm-up: the slope with its 95% interval, in MiB
and descriptors per hour.

Standard library only; prints Markdown.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")

# (workers, concurrency, time_scale): rows of the same wall load.
ROWS = {
    10: (10, 1),
    100: (10, 10),
    400: (10, 40),
    2000: (50, 40),
}
WALL_PERIOD_SECONDS = 15

ROW_PROFILE = """\
name: steady-memory-{workers}
target:
  type: local
fleet:
  clusters: {clusters}
  control_plane_replicas: 3
  machine_deployments: 1
  workers_per_machine_deployment: 3
  provider: metal3
client:
  qps: -1
  pool_size: 4
phases:
  create:
    concurrency: 10
  steady:
    duration_seconds: {seconds}
    sync_period_seconds: {period}
    time_scale: {time_scale}
    concurrency: {concurrency}
    calls_per_reconcile: {{get: 10, list: 2, patch_status: 8}}
"""

SOAK_PROFILE = """\
name: steady-memory-soak
target:
  type: local
fleet:
  clusters: 100
  control_plane_replicas: 3
  machine_deployments: 1
  workers_per_machine_deployment: 3
  provider: metal3
client:
  qps: -1
  pool_size: 4
watchers:
  count: 2
  kinds: [cluster, machine]
phases:
  create:
    concurrency: 10
  steady:
    duration_seconds: {seconds}
    sync_period_seconds: 600
    time_scale: 10
    concurrency: 10
    calls_per_reconcile: {{get: 10, list: 2, patch_status: 8}}
    machine_controller:
      concurrency: 10
"""


def read_status(pid):
    """(VmHWM, VmRSS) in KiB, or None once the process has released its memory."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def read_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def read_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 (utime, stime), counted from the state field (3).
        return (int(rest[11]) + int(rest[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return None


def run_tool(binary, profile_text, name, work, interval, on_sample=None):
    """Runs `capi-loadgen run` and watches its own pid until it exits."""
    profile = os.path.join(work, f"{name}.yaml")
    with open(profile, "w") as f:
        f.write(profile_text)
    out = os.path.join(work, f"{name}-results")
    log = open(os.path.join(work, f"{name}.log"), "w")
    cmd = [binary, "run", profile, "--run-id", name.replace("_", "-"), "--out", out]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    peak = rss_max = fds_max = 0
    cpu = 0.0
    while proc.poll() is None:
        s = read_status(proc.pid)
        fds = read_fds(proc.pid)
        c = read_cpu_seconds(proc.pid)
        if s:
            # VmHWM is a high-water mark: any read after the peak reports it.
            peak, rss_max = max(peak, s[0]), max(rss_max, s[1])
        if fds is not None:
            fds_max = max(fds_max, fds)
        if c is not None:
            cpu = c
        if on_sample and s and fds is not None:
            on_sample(time.monotonic() - start, s[1], fds)
        time.sleep(interval)
    log.close()
    if proc.returncode != 0:
        with open(log.name) as f:
            tail = f.read()[-2000:]
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return {
        "peak_kib": peak,
        "rss_max_kib": rss_max,
        "fds_max": fds_max,
        "cpu_s": cpu,
        "wall_s": time.monotonic() - start,
    }


def mib(kib):
    return kib / 1024.0


def fit(points):
    """Least-squares slope of (x, y) and its 95% half-interval (normal approximation)."""
    n = len(points)
    if n < 3:
        return float("nan"), float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan"), float("nan")
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    residual = sum((y - my - slope * (x - mx)) ** 2 for x, y in points)
    se = math.sqrt(residual / (n - 2) / sxx)
    return slope, 1.96 * se


def rows(args, work):
    workers = [int(w) for w in args.workers.split(",")]
    unknown = [w for w in workers if w not in ROWS]
    if unknown:
        sys.exit(f"--workers: no row for {unknown}; known: {sorted(ROWS)}")
    if 10 not in workers:
        workers.insert(0, 10)
    results = {w: [] for w in workers}
    for rep in range(args.repeats):
        for w in workers:
            concurrency, scale = ROWS[w]
            text = ROW_PROFILE.format(
                workers=w,
                clusters=args.clusters,
                seconds=args.steady_seconds,
                period=WALL_PERIOD_SECONDS * scale,
                time_scale=scale,
                concurrency=concurrency,
            )
            r = run_tool(args.binary, text, f"rows-{w}-{rep}", work, 0.05)
            results[w].append(r)
            print(
                f"  run {rep + 1}/{args.repeats}, {w} workers: peak {mib(r['peak_kib']):.1f} MiB,"
                f" {r['cpu_s']:.1f} s CPU, {r['fds_max']} fds",
                file=sys.stderr,
            )
    base = statistics.median(r["peak_kib"] for r in results[10])
    print(
        f"\n### Tool peak RSS in the steady phase ({args.clusters} clusters,"
        f" {args.steady_seconds} s, {WALL_PERIOD_SECONDS} s wall sync period;"
        f" median of {args.repeats})\n"
    )
    print("| workers | concurrency x time_scale | peak RSS MiB | min-max MiB | vs 10 workers | tool CPU s | max fds |")
    print("|---:|---|---:|---|---:|---:|---:|")
    ratio = {}
    for w in workers:
        rs = results[w]
        peaks = [r["peak_kib"] for r in rs]
        med = statistics.median(peaks)
        ratio[w] = med / base
        c, s = ROWS[w]
        print(
            f"| {w:,} | {c} x {s} | {mib(med):.1f} | {mib(min(peaks)):.1f}-{mib(max(peaks)):.1f}"
            f" | {ratio[w]:.2f}x | {statistics.median(r['cpu_s'] for r in rs):.1f}"
            f" | {max(r['fds_max'] for r in rs)} |"
        )
    top = max(workers)
    met = ratio[top] <= 1.10
    print(
        f"\nGoal: peak RSS at {top:,} workers within +10% of 10 workers:"
        f" {'met' if met else 'NOT met'} ({(ratio[top] - 1) * 100:+.1f}%)."
    )
    return met


def soak(args, work):
    samples = []
    seconds = int(args.soak_minutes * 60)
    r = run_tool(
        args.binary,
        SOAK_PROFILE.format(seconds=seconds),
        "soak",
        work,
        5.0,
        on_sample=lambda t, rss, fds: samples.append((t, rss, fds)),
    )
    kept = [s for s in samples if s[0] >= args.soak_warmup_seconds]
    # The end of the run (results written) is not the soak: the steady phase starts after
    # the environment and the create phase, so it is still running at `seconds`.
    kept = [s for s in kept if s[0] <= seconds] or kept
    hours = [(t / 3600.0, mib(rss)) for t, rss, _ in kept]
    rss_slope, rss_ci = fit(hours)
    fd_slope, fd_ci = fit([(t / 3600.0, float(fds)) for t, _, fds in kept])
    print(
        f"\n### Soak: {args.soak_minutes:g} minutes, 100 clusters, time scale 10, Cluster and"
        f" Machine controllers (100 workers each), 2 watches per kind\n"
    )
    print("| samples | RSS first / last MiB | RSS min-max MiB | RSS slope MiB/h (95%) | fds first / last | fd slope /h (95%) | peak MiB | tool CPU s |")
    print("|---:|---|---|---|---|---|---:|---:|")
    if not kept:
        print("| 0 | | | | | | | |")
        return False
    rss = [mib(s[1]) for s in kept]
    print(
        f"| {len(kept)} | {rss[0]:.1f} / {rss[-1]:.1f} | {min(rss):.1f}-{max(rss):.1f}"
        f" | {rss_slope:+.2f} ± {rss_ci:.2f} | {kept[0][2]} / {kept[-1][2]}"
        f" | {fd_slope:+.2f} ± {fd_ci:.2f} | {mib(r['peak_kib']):.1f} | {r['cpu_s']:.0f} |"
    )
    # Growing: the whole 95% interval is above zero and the fitted growth over the soak is
    # at least 1% of the RSS (allocator steps make the interval narrow around a tiny
    # slope) or one descriptor. A falling count (a connection closed) is not growth.
    span_h = (kept[-1][0] - kept[0][0]) / 3600.0
    rss_flat = not (rss_slope - rss_ci > 0 and rss_slope * span_h >= 0.01 * statistics.median(rss))
    fd_flat = not (fd_slope - fd_ci > 0 and fd_slope * span_h >= 1.0)
    print(
        f"\nRSS {'not growing' if rss_flat else 'GROWING'}, descriptors"
        f" {'not growing' if fd_flat else 'GROWING'} (samples from {args.soak_warmup_seconds} s"
        f" to the steady phase's end, every 5 s)."
    )
    return rss_flat and fd_flat


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/capi-loadgen"))
    p.add_argument("--workers", default="10,400,2000", help=f"rows, of {sorted(ROWS)}")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clusters", type=int, default=50)
    p.add_argument("--steady-seconds", type=int, default=20)
    p.add_argument("--skip-rows", action="store_true")
    p.add_argument("--soak-minutes", type=float, default=30, help="0 skips the soak")
    p.add_argument("--soak-warmup-seconds", type=int, default=120)
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary}: not found; run `cargo build --release` first")
    ok = True
    with tempfile.TemporaryDirectory(prefix="steady-memory-") as work:
        if not args.skip_rows:
            ok &= rows(args, work)
        if args.soak_minutes > 0:
            ok &= soak(args, work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
