#!/usr/bin/env python3
"""Instruction-count regression guard (Python 3 standard library only).

Runs target/release/examples/instructions under valgrind's callgrind, which dumps one
profile per scenario (the work inside `capi_measure` only), reads each profile's
instruction count (Ir), divides by the iterations, and compares with the committed
baseline: a scenario more than the tolerance above its baseline fails, one line per
scenario. Instruction counts do not depend on the machine's load, so the guard holds on a
shared CI runner where wall time does not.

    bench/instructions.py [--update] [--tolerance PERCENT] [--iterations N] [--old] [--only P]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "bench", "instructions-baseline.json")
# scripts/instructions.sh builds into CARGO_TARGET_DIR when set (a cache kept across runs).
BINARY = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"),
                      "release", "examples", "instructions")


def measure(iterations, old, only):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no",
            "--toggle-collect=capi_measure", "--dump-after=capi_measure",
            "--callgrind-out-file=" + out, BINARY, "--iterations", str(iterations),
        ]
        if old:
            cmd.append("--old")
        if only:
            cmd += ["--only", only]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit("instructions: error: %s failed (exit %d): %s"
                     % (os.path.basename(BINARY), run.returncode, run.stderr.strip()[-500:]))
        names = [line.split()[0] for line in run.stdout.splitlines() if line.strip()]
        dumps = sorted(glob.glob(out + ".*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        if len(dumps) != len(names):
            sys.exit("instructions: error: %d profiles for %d scenarios" % (len(dumps), len(names)))
        result = {}
        for name, path in zip(names, dumps):
            with open(path) as f:
                text = f.read()
            m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if not m:
                sys.exit("instructions: error: no instruction total in " + path)
            result[name] = int(m.group(1)) // iterations
        return result


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--update", action="store_true", help="rewrite the baseline with these counts")
    p.add_argument("--tolerance", type=float, help="percent above the baseline that fails (default: the baseline's)")
    p.add_argument("--iterations", type=int, default=20, help="iterations per scenario (default 20)")
    p.add_argument("--old", action="store_true", help="the reference encoder's path instead (printed, never compared)")
    p.add_argument("--only", default="", help="scenarios starting with this prefix")
    a = p.parse_args()
    counts = measure(a.iterations, a.old, a.only)
    if a.old:
        for name, ir in counts.items():
            print("%-36s %12d Ir/iteration" % (name, ir))
        return 0
    if a.update:
        base = {"tolerance_percent": a.tolerance or 5.0, "iterations": a.iterations,
                "instructions_per_iteration": counts}
        with open(BASELINE, "w") as f:
            json.dump(base, f, indent=2, sort_keys=True)
            f.write("\n")
        print("instructions: baseline written: %s (%d scenarios)" % (os.path.relpath(BASELINE, ROOT), len(counts)))
        return 0
    try:
        with open(BASELINE) as f:
            base = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("instructions: error: %s: %s (write one with --update)" % (BASELINE, e))
    tol = a.tolerance if a.tolerance is not None else base.get("tolerance_percent", 5.0)
    known = base.get("instructions_per_iteration", {})
    failed = 0
    for name, ir in counts.items():
        b = known.get(name)
        if b is None:
            print("instructions: FAIL %s: %d Ir/iteration, not in the baseline (scripts/instructions.sh --update)" % (name, ir))
            failed += 1
            continue
        change = 100.0 * (ir - b) / max(b, 1)
        verdict = "ok"
        if change > tol:
            verdict = "FAIL"
            failed += 1
        print("instructions: %-4s %-32s %10d Ir/iteration, baseline %10d (%+.1f%%, tolerance +%g%%)"
              % (verdict, name, ir, b, change, tol))
    for name in sorted(set(known) - set(counts)):
        if not a.only:
            print("instructions: FAIL %s: in the baseline, not measured" % name)
            failed += 1
    print("instructions: %d scenarios, %d regressed" % (len(counts), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
