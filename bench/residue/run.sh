#!/usr/bin/env bash
# One configuration of bench/results/residue.md: runs `leo analyze` (or, with
# MPI=K, `mpirun -np K leo analyze`) on one net and domain, and prints one
# Markdown row: label, undecided units, per-stage seconds of split and milp,
# wall and CPU seconds (user + system of every process, from /usr/bin/time
# around the whole command), and the load average before the run.
#
#   bench/residue/run.sh LABEL LEO MODEL DOMAIN-OPTION [leo analyze options...]
#   MPI=2 bench/residue/run.sh ...
# Example:
#   bench/residue/run.sh "256x2 eps0.05 t1" build/leo models/mnistfc/mnist-net_256x2.onnx \
#       --vnnlib=models/mnistfc/prop_1_0.05.vnnlib --time-limit 120 --threads 1
set -euo pipefail
label=$1 leo=$2 model=$3
shift 3
out=$(mktemp) times=$(mktemp)
trap 'rm -f "$out" "$times"' EXIT
load=$(uptime | sed 's/.*load average: //')
cmd=("$leo" analyze "$model" "$@" --json -q)
if [[ -n "${MPI:-}" ]]; then
  cmd=(mpirun --oversubscribe -np "$MPI" "${cmd[@]}")
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
/usr/bin/time -f '%e %U %S' -o "$times" "${cmd[@]}" > "$out"
read -r wall user sys < "$times"
/usr/bin/python3 - "$out" "$label" "$wall" "$user" "$sys" "$load" <<'PY'
import json, sys
path, label, wall, user, sys_, load = sys.argv[1:]
d = json.load(open(path))
st = {s["stage"]: s for s in d["stages"]}
def stage(name):
    s = st.get(name)
    return f"{s['seconds']:.1f} s / {s['decided']}" if s else "—"
print(f"| {label} | {d['totals']['undecided']} | {stage('lp')} | {stage('split')} | {stage('milp')} | "
      f"{float(wall):.1f} | {float(user) + float(sys_):.1f} | {load} |")
PY
