#!/bin/bash
# compress before/after (bench/results/compress_speed.md). Usage:
#   bench/compress_speed/run.sh OLD_LEO NEW_LEO L1_2X800.onnx [NOSTABLE_2X800.onnx]
# OLD/NEW: two leo binaries; the l1 net from e.g.
#   leo train --data mnist --hidden 800,800 --l1 5e-4 --epochs 200 --time-limit 480 --threads 1 --seed 1 -o L1.onnx
# Prints one line per run: exit code, load average, /usr/bin/time (wall, user, sys, peak KB), and from --json
# the analysis time, both deviations, the proven double bound, the points checked and the widths.
set -u
OLD=$1 NEW=$2 L1=$3 FLAT=${4:-}
M=$(dirname "$0")/../../models/cifar
OUT=${OUT:-/tmp/compress_speed}
mkdir -p "$OUT"
run() { # name bin args...
  local name=$1 bin=$2; shift 2
  local load=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/time -f '%e %U %S %M' -o "$OUT/t.$name" "$bin" compress "$@" --json -o "$OUT/out.$name.onnx" \
    > "$OUT/j.$name.json" 2> "$OUT/e.$name.err"
  echo "$name rc=$? load=[$load] time(wall user sys KB)=$(cat "$OUT/t.$name") $(python3 -c "
import json; j=json.load(open('$OUT/j.$name.json')); c=j['check']; print('analysis', round(j['analysis']['time_seconds'],2), 'dev', c['max_abs_deviation_double'], c['max_abs_deviation_stored'], 'proven', c.get('proven_bound_double'), 'points', c['points_checked'], 'units', j['units_before'], '->', j['units_after'])")"
}
for v in old new; do
  bin=$OLD; [ $v = new ] && bin=$NEW
  run l1_$v "$bin" "$L1" --threads 1
  [ -n "$FLAT" ] && run flat_$v "$bin" "$FLAT" --threads 1
  run cifar_base_$v "$bin" $M/cifar_base_kw.onnx --vnnlib $M/prop_0_eps_0.008.vnnlib --stages ibp,samples --threads 1
  run resnet_$v "$bin" $M/resnet_2b.onnx --vnnlib $M/prop_0_eps_0.008.vnnlib --stages ibp,samples --threads 1
done
