#!/usr/bin/env bash
# Time per stage and units decided per stage of `leo analyze`, the full cascade
# against the two paper baselines, on ACAS Xu 1_1 / prop_1 and mnistfc 256x2 on
# [0,1]^784. Writes one JSON per run into bench/analyze/results/ and a summary
# (results/summary.txt) with the machine's description.
#   bench/analyze/run.sh [TIME_LIMIT_SECONDS]   (default 600 per run)
set -euo pipefail
cd "$(dirname "$0")/../.."
limit=${1:-600}
leo=build/leo
models=${LEO_MODELS_DIR:-../shared/models}
out=bench/analyze/results
mkdir -p "$out"

run() {  # name, then leo analyze arguments
  local name=$1; shift
  echo "== $name" >&2
  "$leo" -q analyze "$@" --json --time-limit "$limit" --seed 1 > "$out/$name.json"
}

acas="$models/acasxu/ACASXU_run2a_1_1_batch_2000.onnx --vnnlib $models/acasxu/prop_1.vnnlib"
mnist="$models/mnistfc/mnist-net_256x2.onnx"
run acas_1_1_prop_1.cascade $acas
run acas_1_1_prop_1.cascade_network $acas --exact network
run acas_1_1_prop_1.leo2020 $acas --baseline leo2020
run acas_1_1_prop_1.isa2021 $acas --baseline isa2021
run mnistfc_256x2.cascade $mnist
run mnistfc_256x2.isa2021 $mnist --baseline isa2021

python3 - "$out" > "$out/summary.txt" <<'PY'
import json, sys, glob, os, platform, subprocess
out = sys.argv[1]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}")
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    j = json.load(open(f))
    units = sum(l["units"] for l in j["layers"])
    act = sum(l["stably_active"] for l in j["layers"])
    ina = sum(l["stably_inactive"] for l in j["layers"])
    uns = sum(l["unstable"] for l in j["layers"])
    und = sum(l["undecided"] for l in j["layers"])
    print(f"{os.path.basename(f)[:-5]}: {j['time_seconds']:.1f}s{' (time limit)' if j['timed_out'] else ''}; "
          f"{units} units: {act} active, {ina} inactive, {uns} unstable, {und} undecided")
    for s in j["stages"]:
        print(f"    {s['stage']:8s} {s['seconds']:9.2f}s  decided {s['decided']}")
PY
cat "$out/summary.txt"
