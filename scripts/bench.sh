#!/usr/bin/env bash
# Benchmark capi-loadgen against the reference clients on the same local target.
# Not part of CI. Run it niced on a shared machine:  nice -n 19 scripts/bench.sh
#
#   1. builds capi-loadgen (cargo build --release --locked) and the baselines
#      (scripts/bench-baselines.sh: etcd's Go benchmark, a client-go creator);
#   2. etcd put path: etcd `benchmark put` vs capi-loadgen's etcd target, each run on a FRESH
#      bare etcd (same binary and flags as the local environment's) so that no run inherits
#      another's data and kube-apiserver's watch cache does not decode the tool's /registry
#      writes (the benchmark's random keys would be invisible to it);
#   3. apiserver create path: the client-go creator vs `capi-loadgen run`, creating the same
#      objects and payloads: the creator replays the tool's own create bodies for the same
#      fleet (`run --dry-run --objects-out`, under its own run id), so the server validates and
#      stores the same kinds and bytes for both (same concurrency, no client QPS limit, one
#      client each), against the local environment (`capi-loadgen env up --detach`), both as
#      its load identity (capi-loadgen-load: a ServiceAccount, not system:masters); a
#      one-cluster tool run installs the CAPI CRDs first; etcd and kube-apiserver CPU sampled
#      from /proc before/after each run (client CPU / server CPU at saturation);
#   4. memory: `run --dry-run` (streams every object) at 15,000 clusters x 1,000 machines, and real runs of three
#      sizes (peak RSS from /usr/bin/time).
# Runs alternate baseline/tool, BENCH_PAIRS times; medians and ratios at the end.
#
# Knobs (environment): BENCH_PAIRS (3), BENCH_PUTS (20000), BENCH_CREATES (10000: start-up,
# ~0.1 s of CPU for the tool and ~0.04 s for the creator, stays a few % of either run),
# BENCH_WORKERS (50), BENCH_DRY_CLUSTERS (15000: the dry run streams ~60 M objects, minutes),
# BENCH_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PAIRS="${BENCH_PAIRS:-3}"
PUTS="${BENCH_PUTS:-20000}"
CREATES="${BENCH_CREATES:-10000}"
WORKERS="${BENCH_WORKERS:-50}"
DRY_CLUSTERS="${BENCH_DRY_CLUSTERS:-15000}"
say() { printf '\nbench: %s\n' "$*"; }
die() { printf 'bench: FAILED: %s\n' "$*" >&2; exit 1; }
T_START=$(date +%s)

command -v python3 >/dev/null || die "python3 is needed to parse results"
command -v etcd >/dev/null || die "etcd not on PATH (run scripts/setup.sh)"
command -v etcdctl >/dev/null || die "etcdctl not on PATH (run scripts/setup.sh)"
if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (apt) for peak RSS"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null \
    || die "/usr/bin/time missing and apt-get install time failed"
fi
CLK_TCK=$(getconf CLK_TCK)

# --- 1. builds -------------------------------------------------------------------------------
say "building capi-loadgen (cargo build --release --locked, nice -n 19)"
t0=$(date +%s.%N)
nice -n 19 cargo build --release --locked 2>&1 | tail -n 2 || die "cargo build --release --locked failed"
echo "cargo build: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
TOOL="$ROOT/target/release/capi-loadgen"
say "building the baselines (scripts/bench-baselines.sh)"
BASELINES=$(nice -n 19 "$ROOT/scripts/bench-baselines.sh") || die "baselines could not be built (see above)"
ETCD_BENCH=$(sed -n 's/^ETCD_BENCHMARK=//p' <<<"$BASELINES")
CREATOR=$(sed -n 's/^CLIENT_GO_CREATOR=//p' <<<"$BASELINES")
[ -x "$ETCD_BENCH" ] || die "etcd benchmark binary missing after bench-baselines.sh"
[ -x "$CREATOR" ] || die "client-go creator binary missing after bench-baselines.sh"

# --- work dir, cleanup ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/capi-loadgen-bench.XXXXXX)
ENV_DIR="$WORK/env"
ETCD_PID=""
ENV_UP=0
cleanup() {
  local rc=$?
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  if [ "$ENV_UP" -eq 1 ]; then "$TOOL" env down --state-dir "$ENV_DIR" >/dev/null 2>&1 || true; fi
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    echo "bench: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
RUNS="$WORK/runs.jsonl"
: > "$RUNS"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
time_field() { # file field(1-based) of "/usr/bin/time -f '%e %U %S %M'" output (last line)
  tail -n 1 "$1" | awk -v f="$2" '{print $f}'
}

# A fresh bare etcd (same flags as the local environment's, new data dir, free loopback ports).
start_etcd() {
  local dir="$WORK/etcd-$1" cport pport mport
  cport=$(free_port); pport=$(free_port); mport=$(free_port)
  ETCD_EP="http://127.0.0.1:$cport"
  nice -n 19 etcd --data-dir="$dir" --name=bench \
    --listen-client-urls="$ETCD_EP" --advertise-client-urls="$ETCD_EP" \
    --listen-peer-urls="http://127.0.0.1:$pport" --initial-advertise-peer-urls="http://127.0.0.1:$pport" \
    --initial-cluster="bench=http://127.0.0.1:$pport" --listen-metrics-urls="http://127.0.0.1:$mport" \
    --quota-backend-bytes=2147483648 --metrics=extensive > "$dir.log" 2>&1 &
  ETCD_PID=$!
  local _i
  for _i in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints="$ETCD_EP" endpoint health >/dev/null 2>&1; then return 0; fi
    kill -0 "$ETCD_PID" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$dir.log" >&2
  die "bare etcd did not become healthy (log: $dir.log)"
}
stop_etcd() {
  kill "$ETCD_PID" 2>/dev/null || true
  wait "$ETCD_PID" 2>/dev/null || true
  ETCD_PID=""
}
# Mean key and value bytes of every key under a prefix (what the tool wrote).
mean_kv_sizes() { # endpoint prefix -> "count mean_key mean_value"
  ETCDCTL_API=3 etcdctl --endpoints="$1" get --prefix "$2" -w json | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
n = len(kvs) or 1
print(len(kvs), sum(len(base64.b64decode(k["key"])) for k in kvs) / n,
      sum(len(base64.b64decode(k.get("value", ""))) for k in kvs) / n)'
}

# --- profiles --------------------------------------------------------------------------------------
# Objects per cluster with 1 control-plane Machine and 1 MachineDeployment of 3 workers:
# Cluster, provider cluster, KubeadmControlPlane, 5 cluster Secrets, MachineDeployment,
# MachineSet, then 4 Machines x (Machine, KubeadmConfig, Metal3Machine, bootstrap Secret) = 26.
PER_CLUSTER=26
fleet_yaml() { # clusters
  cat <<YAML
fleet:
  clusters: $1
  clusters_per_namespace: 1000
  control_plane_replicas: 1
  machine_deployments: 1
  workers_per_machine_deployment: 3
  payload_bytes:
    bootstrap_data: 1024
YAML
}
PUT_CLUSTERS=$(( (PUTS + PER_CLUSTER - 1) / PER_CLUSTER ))
CREATE_CLUSTERS=$(( (CREATES + PER_CLUSTER - 1) / PER_CLUSTER ))
{
  echo "name: bench-etcd-put"
  echo "description: scripts/bench.sh etcd put path ($PUT_CLUSTERS clusters, ~$PUTS objects, 10 clients, 100 in flight)"
  echo "target: {type: etcd}"
  fleet_yaml "$PUT_CLUSTERS"
  echo "client: {pool_size: 10, qps: -1}"
  echo "phases: {create: {concurrency: 100}}"
} > "$WORK/etcd-put.yaml"
{
  echo "name: bench-apiserver-create"
  echo "description: scripts/bench.sh apiserver create path ($CREATE_CLUSTERS clusters, ~$CREATES objects, 1 client, $WORKERS in flight)"
  echo "target: {type: kube}"
  fleet_yaml "$CREATE_CLUSTERS"
  echo "client: {pool_size: 1, qps: -1}"
  echo "phases: {create: {concurrency: $WORKERS}}"
} > "$WORK/apiserver-create.yaml"

# The tool's summary: ok writes in the create phase and that phase's wall time.
tool_summary() { # summary.json -> "ok seconds sent failed"
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ph = [p for p in d.get("phases", []) if p["name"] == "create"]
secs = ph[0]["duration_seconds"] if ph else d["duration_seconds"]
print(d["totals"]["ok"], secs, d["totals"]["sent"], d["totals"]["failed"])' "$1"
}

# One run of etcd's Go benchmark on a fresh bare etcd (10 connections, 100 clients, $PUTS
# requests), appended to $RUNS as a JSON line with its client and etcd CPU per request:
#   etcd_benchmark TAG METRIC KEY_SIZE VALUE_SIZE PAIR SUBCOMMAND [FLAGS...]
etcd_benchmark() {
  local tag=$1 metric=$2 ksize=$3 vsize=$4 pair=$5 out="$WORK/etcd-$1.txt" e0 e1 rps u s rss
  shift 5
  start_etcd "$tag"
  e0=$(proc_cpu_ticks "$ETCD_PID")
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" nice -n 19 "$ETCD_BENCH" --endpoints="$ETCD_EP" \
    --conns=10 --clients=100 "$@" --key-size="$ksize" --val-size="$vsize" --total="$PUTS" > "$out" 2>&1 \
    || { tail -n 20 "$out" >&2; die "etcd benchmark $* failed"; }
  e1=$(proc_cpu_ticks "$ETCD_PID")
  stop_etcd
  rps=$(awk '/Requests\/sec:/ {print $2}' "$out")
  [ -n "$rps" ] || die "no Requests/sec in the etcd benchmark output ($out)"
  u=$(time_field "$out.time" 2); s=$(time_field "$out.time" 3); rss=$(time_field "$out.time" 4)
  python3 -c 'import json,sys; r,u,s,n,rss,k,v,e0,e1,tck=map(float,sys.argv[2:12]); print(json.dumps({"metric":sys.argv[1],"side":"baseline","pair":int(sys.argv[12]),"ops_per_s":r,"total":n,"key_size":k,"val_size":v,"cpu_s":u+s,"cpu_us_per_op":(u+s)*1e6/n,"server_cpu_us_per_op":(e1-e0)/tck*1e6/n,"max_rss_mib":rss/1024}))' \
    "$metric" "$rps" "$u" "$s" "$PUTS" "$rss" "$ksize" "$vsize" "$e0" "$e1" "$CLK_TCK" "$pair" | tee -a "$RUNS"
}

# --- 2. etcd put path ----------------------------------------------------------------------------------
say "etcd put path: $PAIRS pairs; etcd benchmark --conns=10 --clients=100 put --key-size=64 --val-size=2048 --total=$PUTS vs capi-loadgen's etcd target ($PUT_CLUSTERS clusters, 10 clients, 100 in flight), each on a fresh bare etcd"
TOOL_MEAN_VAL=""
TOOL_MEAN_KEY=""
for pair in $(seq 1 "$PAIRS"); do
  # A: etcd's benchmark, 64-byte keys and 2048-byte values as plain Puts.
  etcd_benchmark "b$pair" etcd_put 64 2048 "$pair" put

  # B: capi-loadgen writing CAPI objects into a bare etcd.
  start_etcd "t$pair"
  out="$WORK/etcd-tool-$pair"
  e0=$(proc_cpu_ticks "$ETCD_PID")
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" nice -n 19 "$TOOL" run "$WORK/etcd-put.yaml" \
    --etcd-endpoint "$ETCD_EP" --out "$out" > "$out.log" 2>&1 \
    || { tail -n 20 "$out.log" >&2; die "capi-loadgen etcd run failed (log: $out.log)"; }
  e1=$(proc_cpu_ticks "$ETCD_PID")
  read -r ok secs sent failed < <(tool_summary "$out/summary.json")
  read -r nkeys mkey mval < <(mean_kv_sizes "$ETCD_EP" /registry/)
  stop_etcd
  TOOL_MEAN_VAL=$mval
  TOOL_MEAN_KEY=$mkey
  u=$(time_field "$out.time" 2); s=$(time_field "$out.time" 3); rss=$(time_field "$out.time" 4)
  python3 -c 'import json,sys; ok,secs,sent,failed,u,s,rss,nk,mk,mv,e0,e1,tck=map(float,sys.argv[1:14]); print(json.dumps({"metric":"etcd_put","side":"tool","pair":int(sys.argv[14]),"server_cpu_us_per_op":(e1-e0)/tck*1e6/ok,"ops_per_s":ok/secs,"ok":ok,"sent":sent,"failed":failed,"phase_s":secs,"cpu_s":u+s,"cpu_us_per_op":(u+s)*1e6/ok,"max_rss_mib":rss/1024,"keys_in_etcd":nk,"mean_key_bytes":mk,"mean_value_bytes":mv}))' \
    "$ok" "$secs" "$sent" "$failed" "$u" "$s" "$rss" "$nkeys" "$mkey" "$mval" "$e0" "$e1" "$CLK_TCK" "$pair" | tee -a "$RUNS"

  # A': the benchmark's txn-put (one Put per Txn, as the tool's create is one Txn) with keys
  # and values as large as the tool's mean key and value: the same shape of write.
  etcd_benchmark "m$pair" etcd_put_sized "$(printf '%.0f' "$TOOL_MEAN_KEY")" \
    "$(printf '%.0f' "$TOOL_MEAN_VAL")" "$pair" txn-put --txn-ops=1 --key-space-size="$PUTS"
done

# --- 3. apiserver create path ----------------------------------------------------------------------------
say "starting the local environment (capi-loadgen env up --detach --state-dir $ENV_DIR)"
nice -n 19 "$TOOL" env up --detach --state-dir "$ENV_DIR" > "$WORK/env-up.log" 2>&1 \
  || { tail -n 20 "$WORK/env-up.log" >&2; die "capi-loadgen env up failed"; }
ENV_UP=1
cat "$WORK/env-up.log"
read -r KUBECONFIG_F ENV_ETCD APISERVER_PID ENV_ETCD_PID < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s["kubeconfig"], s["etcd_endpoint"], s["apiserver_pid"], s["etcd_pid"])' "$ENV_DIR/state.json")
CTX=capi-loadgen-load
say "apiserver create path: $PAIRS pairs; client-go creator vs capi-loadgen creating the same objects (the creator replays the tool's create bodies from run --dry-run --objects-out), ~$CREATES objects, $WORKERS in flight, QPS unlimited, one client each, identity $CTX (ServiceAccount, not system:masters)"
# The creator needs the tool's CRDs, which the tool installs at the start of every run
# (fleet.install_crds, on by default): a one-cluster run of the same fleet shape installs them
# once before the pairs. The local environment binds the load identity to cluster-admin, so it
# can install CRDs as in the pairs' tool runs.
{
  echo "name: bench-apiserver-warmup"
  echo "description: scripts/bench.sh apiserver create path warm-up (installs the CRDs; 1 cluster)"
  echo "target: {type: kube}"
  fleet_yaml 1
  echo "client: {pool_size: 1, qps: -1}"
  echo "phases: {create: {concurrency: $WORKERS}}"
} > "$WORK/apiserver-warm.yaml"
nice -n 19 "$TOOL" run "$WORK/apiserver-warm.yaml" --kubeconfig "$KUBECONFIG_F" --context "$CTX" \
  --run-id benchwarm --out "$WORK/warm" > "$WORK/warm.log" 2>&1 \
  || { tail -n 20 "$WORK/warm.log" >&2; die "capi-loadgen warm-up run (CRD install) failed (log: $WORK/warm.log)"; }
server_ticks() { echo $(( $(proc_cpu_ticks "$APISERVER_PID") + $(proc_cpu_ticks "$ENV_ETCD_PID") )); }
# Mean key and value bytes of a run's keys in etcd: those under a prefix containing a substring
# (the run's namespace name, clg-<run-id>-: its Namespace key and every namespaced key,
# /registry/<resource or group/resource>/<namespace>/<name>). Lists the keys only, then reads
# just the directories holding matching ones, not the whole registry.
mean_kv_sizes_matching() { # endpoint prefix substring -> "count mean_key mean_value"
  python3 - "$1" "$2" "$3" <<'PY'
import base64, json, os, subprocess, sys
ep, prefix, sub = sys.argv[1:4]
env = dict(os.environ, ETCDCTL_API="3")
def get(p, *flags):
    out = subprocess.run(["etcdctl", "--endpoints=" + ep, "get", "--prefix", p, "-w", "json", *flags],
                         env=env, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out).get("kvs", [])
keys = {base64.b64decode(k["key"]).decode() for k in get(prefix, "--keys-only")}
keys = {k for k in keys if sub in k}
dirs = set()
for k in keys:
    i = k.index(sub)
    seg, slash, _ = k[i:].partition("/")
    dirs.add(k[:i] + seg + slash)
kvs = {}
for d in sorted(dirs):
    for kv in get(d):
        key = base64.b64decode(kv["key"]).decode()
        if key in keys:
            kvs[key] = len(base64.b64decode(kv.get("value", "")))
n = len(kvs) or 1
print(len(kvs), sum(len(k.encode()) for k in kvs) / n, sum(kvs.values()) / n)
PY
}
for pair in $(seq 1 "$PAIRS"); do
  # A: the client-go creator, creating the tool's own objects for run id creator$pair, written
  # by the tool's dry run before (outside the creator's process and timing). Its timed window,
  # like the tool's create phase, includes the namespaces (first, one after another).
  objs="$WORK/creator-objects-$pair.jsonl"
  nice -n 19 "$TOOL" run "$WORK/apiserver-create.yaml" --dry-run --run-id "creator$pair" \
    --objects-out "$objs" > "$objs.log" 2>&1 \
    || { tail -n 20 "$objs.log" >&2; die "capi-loadgen --dry-run --objects-out failed (log: $objs.log)"; }
  nobj=$(grep -c . "$objs" || true)
  [ "$nobj" -gt 0 ] || die "capi-loadgen --dry-run --objects-out wrote no objects ($objs)"
  out="$WORK/creator-$pair"
  s0=$(server_ticks)
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" nice -n 19 "$CREATOR" --kubeconfig "$KUBECONFIG_F" --context "$CTX" \
    --workers "$WORKERS" --objects "$objs" > "$out.json" 2> "$out.err" \
    || { cat "$out.err" "$out.json" >&2; die "client-go creator run failed"; }
  s1=$(server_ticks)
  read -r cnkeys _ cmval < <(mean_kv_sizes_matching "$ENV_ETCD" /registry/ "clg-creator$pair-")
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1])); s0, s1, tck, mv, nobj, nkeys = map(float, sys.argv[2:8])
if r["ok"] != nobj:
    sys.exit("bench: client-go creator created %d of %d objects (%s)" % (r["ok"], nobj, r.get("first_error", "")))
cpu = r["cpu_user_s"] + r["cpu_sys_s"]; srv = (s1 - s0) / tck
print(json.dumps({"metric": "apiserver_create", "side": "baseline", "pair": int(sys.argv[8]), "ops_per_s": r["creates_per_s"],
  "ok": r["ok"], "errors": r["errors"], "seconds": r["seconds"], "cpu_s": cpu, "cpu_us_per_op": r["cpu_us_per_create"],
  "server_cpu_s": srv, "server_cores": srv / r["seconds"], "client_server_cpu_ratio": cpu / srv if srv else None,
  "mean_body_bytes": r["payload_bytes"], "keys_in_etcd": nkeys, "mean_value_bytes": mv, "max_rss_mib": r["max_rss_kib"] / 1024}))' \
    "$out.json" "$s0" "$s1" "$CLK_TCK" "$cmval" "$nobj" "$cnkeys" "$pair" | tee -a "$RUNS" \
    || die "client-go creator run incomplete ($out.json)"

  # B: capi-loadgen, the same fleet under run id tool$pair.
  out="$WORK/apiserver-tool-$pair"
  s0=$(server_ticks)
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" nice -n 19 "$TOOL" run "$WORK/apiserver-create.yaml" \
    --kubeconfig "$KUBECONFIG_F" --context "$CTX" --run-id "tool$pair" --out "$out" > "$out.log" 2>&1 \
    || { tail -n 20 "$out.log" >&2; die "capi-loadgen apiserver run failed (log: $out.log)"; }
  s1=$(server_ticks)
  read -r ok secs sent failed < <(tool_summary "$out/summary.json")
  read -r tnkeys _ tmval < <(mean_kv_sizes_matching "$ENV_ETCD" /registry/ "clg-tool$pair-")
  e=$(time_field "$out.time" 1); u=$(time_field "$out.time" 2); s=$(time_field "$out.time" 3); rss=$(time_field "$out.time" 4)
  python3 -c '
import json, sys
ok, secs, sent, failed, e, u, s, rss, s0, s1, tck, mv, nkeys = map(float, sys.argv[1:14])
cpu = u + s; srv = (s1 - s0) / tck
print(json.dumps({"metric": "apiserver_create", "side": "tool", "pair": int(sys.argv[14]), "ops_per_s": ok / secs,
  "ok": ok, "sent": sent, "failed": failed, "phase_s": secs, "process_s": e, "cpu_s": cpu, "cpu_us_per_op": cpu * 1e6 / ok,
  "server_cpu_s": srv, "server_cores": srv / e, "client_server_cpu_ratio": cpu / srv if srv else None,
  "keys_in_etcd": nkeys, "mean_value_bytes": mv, "max_rss_mib": rss / 1024}))' \
    "$ok" "$secs" "$sent" "$failed" "$e" "$u" "$s" "$rss" "$s0" "$s1" "$CLK_TCK" "$tmval" "$tnkeys" "$pair" | tee -a "$RUNS"
done
"$TOOL" env down --state-dir "$ENV_DIR" >/dev/null 2>&1 || true
ENV_UP=0

# --- 4. memory --------------------------------------------------------------------------------------------
say "memory: --dry-run (streams every object) at $DRY_CLUSTERS clusters x 1,000 machines, then real runs of three sizes"
big_fleet() { # clusters
  cat <<YAML
name: bench-memory
target: {type: etcd}
fleet:
  clusters: $1
  clusters_per_namespace: 100
  control_plane_replicas: 3
  machine_deployments: 1
  workers_per_machine_deployment: 997
client: {pool_size: 4, qps: -1}
phases: {create: {concurrency: 16}}
YAML
}
big_fleet "$DRY_CLUSTERS" > "$WORK/memory.yaml"
/usr/bin/time -f '%e %U %S %M' -o "$WORK/dry.time" nice -n 19 "$TOOL" run "$WORK/memory.yaml" --dry-run \
  > "$WORK/dry.log" 2>&1 \
  || { tail -n 20 "$WORK/dry.log" >&2; die "capi-loadgen --dry-run failed"; }
grep -v '^dry run: [0-9]* of [0-9]* objects generated' "$WORK/dry.log" | sed 's/^/  /'  # no progress lines
DRY_KIB=$(time_field "$WORK/dry.time" 4)
DRY_S=$(time_field "$WORK/dry.time" 1)
echo "dry run: ${DRY_S} s, peak RSS $((DRY_KIB / 1024)) MiB"
DRY_LINE=$(grep '^dry run: .* objects generated and serialized' "$WORK/dry.log" || true)
[ -n "$DRY_LINE" ] || die "--dry-run did not stream the plan (no 'objects generated' line in $WORK/dry.log)"
MEM_NOTES=("--dry-run streams the plan: ${DRY_LINE#dry run: }; peak RSS $((DRY_KIB / 1024)) MiB")
MEM_NOTES+=("real runs into a fresh bare etcd with 1,000-machine clusters: 8, 32 and 96 clusters (32 k to 385 k objects, same fleet shape); flat = peak RSS of the largest within 5% of the smallest's for 12x the objects; also a linear projection to 15,000 clusters from the two largest")
MEM_ROWS="$WORK/memory-rows.jsonl"
: > "$MEM_ROWS"
for n in 8 32 96; do
  big_fleet "$n" > "$WORK/memory-$n.yaml"
  start_etcd "mem$n"
  out="$WORK/memory-$n"
  /usr/bin/time -f '%e %U %S %M' -o "$out.time" nice -n 19 "$TOOL" run "$WORK/memory-$n.yaml" \
    --etcd-endpoint "$ETCD_EP" --out "$out" > "$out.log" 2>&1 \
    || { tail -n 20 "$out.log" >&2; die "capi-loadgen memory run ($n clusters) failed"; }
  stop_etcd
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({"label": "real run, %s clusters x 1,000 machines" % sys.argv[3], "clusters": int(sys.argv[3]),
  "objects": d["fleet"]["objects_planned"], "ok": d["totals"]["ok"], "max_rss_mib": float(sys.argv[2]) / 1024}))' \
    "$out/summary.json" "$(time_field "$out.time" 4)" "$n" | tee -a "$MEM_ROWS"
done
python3 - "$MEM_ROWS" "$WORK/memory.json" "$DRY_KIB" "$DRY_CLUSTERS" "${MEM_NOTES[@]}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
dry_kib = float(sys.argv[3])
dry_clusters = int(sys.argv[4])
notes = sys.argv[5:]
a, b = rows[-2], rows[-1]
per_cluster = b["objects"] / b["clusters"]
target_objects = per_cluster * 15000
slope = (b["max_rss_mib"] - a["max_rss_mib"]) / (b["objects"] - a["objects"])
proj = b["max_rss_mib"] + max(0.0, slope) * (target_objects - b["objects"])
notes.append("RSS slope between the two largest real runs: %.1f KiB per 1,000 objects; projected to %d objects (15,000 clusters): %.1f MiB (linear extrapolation, not a measurement)"
             % (slope * 1024 * 1000, target_objects, proj))
first = rows[0]
growth = b["max_rss_mib"] / first["max_rss_mib"] - 1.0
notes.append("peak RSS from %d to %d objects (%.0fx): %.1f -> %.1f MiB (%+.1f%%)"
             % (first["objects"], b["objects"], b["objects"] / first["objects"], first["max_rss_mib"], b["max_rss_mib"], growth * 100))
json.dump({"runs": rows, "notes": notes, "projected_mib": proj, "projected": True, "dry_run_mib": dry_kib / 1024,
           "dry_run_clusters": dry_clusters,
           "growth": growth, "growth_objects": [first["objects"], b["objects"]]},
          open(sys.argv[2], "w"))
PY

# --- summary --------------------------------------------------------------------------------------------
say "results (medians; ratio = capi-loadgen / baseline)"
cat <<NOTE
  etcd path: the Go benchmark writes random 64-byte keys with 2048-byte random values as plain Puts;
  capi-loadgen has no raw-put mode and writes CAPI objects exactly as kube-apiserver stores them
  (JSON custom resources, protobuf Secrets/Namespaces behind k8s\0, create-only transactions).
  The "size-matched" rows rerun the benchmark as txn-put (one Put per Txn) with keys and values
  as large as the tool's mean key and value; etcd's own CPU per write (utime+stime from /proc
  over the run) shows what each kind of write costs the server.
  CPU per operation = whole-process user+sys (/usr/bin/time or getrusage) / successful writes,
  so the tool's figures include its start-up, CRD check, metric scrapes and result files.
  apiserver path: both clients create the same objects: the creator replays the create bodies
  the tool writes with run --dry-run --objects-out for the same fleet (the Namespaces, then the
  CAPI custom resources and Secrets with the same payloads), so the server does the same work
  per create for both. Both as capi-loadgen-load (ServiceAccount, APF workload-low), one client,
  $WORKERS requests in flight, no client QPS limit; namespace creates count for both and are
  inside both timed windows (the creator creates them first, one after another). Differences
  left: the creator takes objects from one shared list (the tool works cluster by cluster, each
  cluster's objects in order) and sends the dry run's placeholder owner UIDs (the tool sends
  the server-assigned ones, same length); its stored objects are ~20 B larger (its field
  manager name in managedFields, its longer run id). Server CPU = kube-apiserver + etcd
  utime+stime from /proc over the client's whole process lifetime (the tool's process also
  checks its CRDs and scrapes the apiserver's /metrics; the creator's reads its file and runs
  discovery). Both sides' "mean stored value" is read back from etcd (their run's namespace).
NOTE
python3 "$ROOT/bench/summarize.py" "$RUNS" "$WORK/memory.json"
echo
echo "bench: done in $(( $(date +%s) - T_START )) s"
