#!/usr/bin/env python3
"""Summarize scripts/bench.sh runs (issue #9): medians per side and the final table.

Input: a JSON-lines file, one object per measured run, with at least
  {"metric": <path>, "side": "baseline"|"tool", ...numbers...}
Usage: summarize.py RUNS.jsonl MEMORY.json
"""
import json
import statistics
import sys


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


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    mem = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    by = {}
    for r in runs:
        by.setdefault((r["metric"], r["side"]), []).append(r)

    print("\nper-run results (alternating A/B):")
    for r in runs:
        print("  " + json.dumps(r, sort_keys=True))

    table = []  # metric, baseline, tool, ratio, goal, met

    # The goals of issue #9: throughput >= 1.0x the baseline's, client CPU per operation
    # <= 0.5x the baseline's (the numbers); rows without a goal say "-".
    def row(name, base, tool, higher_better, limit, unit=""):
        ratio = (tool / base) if (base and tool is not None) else None
        goal_text = "-" if limit is None else (f">= {limit:.2f}x" if higher_better else f"<= {limit:.2f}x")
        if ratio is None:
            met = "n/a"
        elif limit is None:
            met = "-"
        elif higher_better:
            met = "yes" if ratio >= limit else "NO"
        else:
            met = "yes" if ratio <= limit else "NO"
        table.append((name, fmt(base, unit), fmt(tool, unit), f"{ratio:.2f}x" if ratio else "n/a", goal_text, met))

    # etcd put path
    b = by.get(("etcd_put", "baseline"), [])
    t = by.get(("etcd_put", "tool"), [])
    bm = by.get(("etcd_put_sized", "baseline"), [])
    if b or t:
        print("\netcd put path (medians of {} baseline / {} tool runs):".format(len(b), len(t)))
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
        row("1. etcd writes/s (2048 B benchmark vs CAPI objects)", med(b, "ops_per_s"), med(t, "ops_per_s"), True, 1.0)
        row("1. etcd client CPU us/write", med(b, "cpu_us_per_op"), med(t, "cpu_us_per_op"), False, 0.5)
        if bm:
            row("etcd writes/s (benchmark txn-put, tool's key and value sizes)", med(bm, "ops_per_s"), med(t, "ops_per_s"), True, None)
            row("etcd client CPU us/write (txn-put, size-matched)", med(bm, "cpu_us_per_op"), med(t, "cpu_us_per_op"), False, None)
            row("etcd's own CPU us/write (txn-put, size-matched)", med(bm, "server_cpu_us_per_op"), med(t, "server_cpu_us_per_op"), False, None)
            tb = med(t, "ops_per_s")
            mv = med(t, "mean_value_bytes")
            bb = med(bm, "ops_per_s")
            vb = med(bm, "val_size")
            if tb and mv and bb and vb:
                row("etcd value MB/s (size-matched)", bb * vb / 1e6, tb * mv / 1e6, True, None)

    # apiserver create path
    b = by.get(("apiserver_create", "baseline"), [])
    t = by.get(("apiserver_create", "tool"), [])
    if b or t:
        print("\napiserver create path (medians of {} baseline / {} tool runs):".format(len(b), len(t)))
        print("  both create the same objects: the creator replays capi-loadgen's own create bodies "
              "(run --dry-run --objects-out, same fleet, namespaces first)")
        print(f"  client-go creator: {fmt(med(b, 'ops_per_s'))} creates/s, {fmt(med(b, 'cpu_us_per_op'))} us CPU per create, "
              f"client/server CPU {fmt(med(b, 'client_server_cpu_ratio'))}, server busy {fmt(med(b, 'server_cores'))} cores, "
              f"mean create body {fmt(med(b, 'mean_body_bytes'))} B, mean stored value {fmt(med(b, 'mean_value_bytes'))} B")
        print(f"  capi-loadgen:      {fmt(med(t, 'ops_per_s'))} creates/s, {fmt(med(t, 'cpu_us_per_op'))} us CPU per create, "
              f"client/server CPU {fmt(med(t, 'client_server_cpu_ratio'))}, server busy {fmt(med(t, 'server_cores'))} cores, "
              f"mean stored value {fmt(med(t, 'mean_value_bytes'))} B, peak RSS {fmt(med(t, 'max_rss_mib'))} MiB")
        row("2. apiserver creates/s (same objects)", med(b, "ops_per_s"), med(t, "ops_per_s"), True, 1.0)
        row("2. apiserver client CPU us/create", med(b, "cpu_us_per_op"), med(t, "cpu_us_per_op"), False, 0.5)
        cs = med(t, "client_server_cpu_ratio")
        table.append(("4. client CPU / server CPU at saturation (tool)", fmt(med(b, "client_server_cpu_ratio")), fmt(cs),
                      "-", "<= 0.10", "n/a" if cs is None else ("yes" if cs <= 0.10 else "NO")))

    if mem:
        print("\nmemory:")
        for line in mem.get("notes", []):
            print("  " + line)
        for r in mem.get("runs", []):
            print(f"  {r['label']}: {r['objects']:,} objects planned, peak RSS {r['max_rss_mib']:.1f} MiB")
        proj = mem.get("projected_mib")
        goal = 64.0
        if proj is not None:
            table.append(("peak RSS of a real run, 15,000 x 1,000 (linear projection of the last slope)",
                          "-", fmt(proj, " MiB") + (" (projected)" if mem.get("projected") else ""), "-",
                          "-", "-"))
        growth = mem.get("growth")
        if growth is not None:
            lo, hi = mem["growth_objects"]
            table.append((f"3. real-run peak RSS growth, {lo:,} -> {hi:,} objects", "-", f"{growth * 100:+.1f}%", "-",
                          "<= +5% (flat)", "yes" if growth <= 0.05 else "NO"))
        dry = mem.get("dry_run_mib")
        if dry is not None:
            table.append((f"3. peak RSS, --dry-run streaming {mem.get('dry_run_clusters', 15000):,} x 1,000", "-", fmt(dry, " MiB"), "-",
                          "<= 64 MiB", "yes" if dry <= goal else "NO"))

    print("\n" + " | ".join(["metric", "baseline", "capi-loadgen", "ratio", "goal", "met?"]))
    print("|".join(["---"] * 6))
    for r in table:
        print(" | ".join(r))


if __name__ == "__main__":
    main()
