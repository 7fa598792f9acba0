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

Each measured path (bench_paths.py) is one function taking the shared Bench context (bench_common.py)
and returning its rows; bench_summary.py prints the medians. Another measurement is added
beside them without touching the others.
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
from bench_common import *  # noqa: E402,F401,F403  (bench/bench_common.py)
from bench_paths import *  # noqa: E402,F401,F403  (bench/bench_paths.py)
from bench_summary import *  # noqa: E402,F401,F403  (bench/bench_summary.py)


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
