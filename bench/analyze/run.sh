#!/usr/bin/env bash
# The full cascade of `leo analyze` against the two paper baselines
# (--baseline leo2020: interval big-M + per-unit MILPs; --baseline isa2021:
# samples + network MILP), one thread each, run back to back, on:
#   - ACAS Xu 1_1 on the prop_1 box,
#   - mnistfc 256x2 on [0,1]^784,
#   - an MNIST 2x100 net trained by leo with l1 = 5e-4 (trained first if
#     missing: ~2 min on a quiet machine).
# Each run gets a wall-clock limit (default 600 s; a time-out counts as the
# limit, as in the 2021 paper). Writes one JSON per run, its wall/user/sys
# seconds (/usr/bin/time) and the load average before and after, into
# bench/analyze/results/, then summary.txt (machine, loads, times, verdict
# counts, and whether the verdicts equal the cascade's).
#   - the same net trained with l1 = 2e-4 and 1e-4 (names mnistl1-2e-4, mnistl1-1e-4).
#   bench/analyze/run.sh [TIME_LIMIT_SECONDS] [NAMES...]   (names: acas mnistfc mnistl1 mnistl1-2e-4 mnistl1-1e-4)
set -euo pipefail
cd "$(dirname "$0")/../.."
limit=${1:-600}
shift || true
nets=("$@")
[ ${#nets[@]} -eq 0 ] && nets=(acas mnistfc mnistl1 mnistl1-2e-4 mnistl1-1e-4)
leo=build/leo
models=${LEO_MODELS_DIR:-models}
out=bench/analyze/results
mkdir -p "$out"
l1net=${LEO_L1_NET:-/tmp/leo-bench-mnist-l1.onnx}

run() {  # name, then leo analyze arguments
  local name=$1; shift
  echo "== $name" >&2
  cut -d' ' -f1-3 /proc/loadavg > "$out/$name.load"
  /usr/bin/time -f "%e %U %S" -o "$out/$name.time" \
    "$leo" -q analyze "$@" --json --time-limit "$limit" --seed 1 --threads 1 > "$out/$name.json"
  cut -d' ' -f1-3 /proc/loadavg >> "$out/$name.load"
  # The witnesses (inputs) make the files large; keep their number only.
  python3 -c 'import json,sys; f=sys.argv[1]; j=json.load(open(f)); j["witnesses_count"]=len(j.pop("witnesses",[])); json.dump(j,open(f,"w"),indent=0)' "$out/$name.json"
}

for net in "${nets[@]}"; do
  case $net in
    acas) args=("$models/acasxu/ACASXU_run2a_1_1_batch_2000.onnx" --vnnlib "$models/acasxu/prop_1.vnnlib") ;;
    mnistfc) args=("$models/mnistfc/mnist-net_256x2.onnx") ;;
    mnistl1)
      [ -f "$l1net" ] || "$leo" -q train --data mnist --hidden 100,100 --l1 5e-4 --steps 56000 --seed 1 -o "$l1net"
      args=("$l1net") ;;
    mnistl1-2e-4|mnistl1-1e-4)  # weaker l1: more units for the exact stages
      f=/tmp/leo-bench-mnist-l1-${net#mnistl1-}.onnx
      [ -f "$f" ] || "$leo" -q train --data mnist --hidden 100,100 --l1 "${net#mnistl1-}" --steps 56000 --seed 1 -o "$f"
      args=("$f") ;;
    *) echo "unknown net $net" >&2; exit 2 ;;
  esac
  run "$net.cascade" "${args[@]}"
  run "$net.leo2020" "${args[@]}" --baseline leo2020
  run "$net.isa2021" "${args[@]}" --baseline isa2021
done

python3 - "$out" "$limit" > "$out/summary.txt" <<'PY'
import json, sys, glob, os, platform, subprocess
out, limit = sys.argv[1], float(sys.argv[2])
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; limit {limit:.0f} s wall per run")
def verdicts(j):
    return [v["status"] for l in j["layers"] for v in l["verdicts"]]
for net in sorted({os.path.basename(f).split(".")[0] for f in glob.glob(os.path.join(out, "*.json"))}):
    base = None
    for method in ("cascade", "leo2020", "isa2021"):
        f = os.path.join(out, f"{net}.{method}.json")
        if not os.path.exists(f): continue
        j = json.load(open(f))
        wall, user, sys_ = (float(x) for x in open(f[:-5] + ".time").read().split()[-3:])
        load = " -> ".join(l.split()[0] for l in open(f[:-5] + ".load").read().splitlines())
        L = j["layers"]
        c = [sum(l[k] for l in L) for k in ("stably_active", "stably_inactive", "unstable", "undecided")]
        v = verdicts(j)
        if method == "cascade": base = v
        if base is None or method == "cascade":
            same = ""
        else:
            wrong = sum(a != b and "undecided" not in (a, b) for a, b in zip(v, base))
            same = ("same verdicts" if v == base else
                    f"same verdicts on every unit both decided ({c[3]} undecided here)" if wrong == 0 else
                    f"DIFFERENT verdicts on {wrong} units decided by both")
        print(f"{net}.{method}: wall {wall:.2f}s{' (TIME LIMIT)' if j['timed_out'] else ''}, cpu {user + sys_:.2f}s, "
              f"load {load}; active {c[0]}, inactive {c[1]}, unstable {c[2]}, undecided {c[3]}; {same}")
        for s in j["stages"]:
            print(f"    {s['stage']:8s} {s['seconds']:9.3f}s  decided {s['decided']}")
PY
cat "$out/summary.txt"
