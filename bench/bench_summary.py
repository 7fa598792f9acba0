"""The summary of bench/bench.py: medians, ratios and the goal table."""
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

import schemas  # bench/schemas.py, beside this file
from bench_common import *  # noqa: F401,F403  (the shared helpers and constants)
from bench_paths import SCRAPE_EVERY_S, SCRAPE_NEVER_S


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
