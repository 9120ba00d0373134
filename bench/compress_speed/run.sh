#!/bin/bash
# compress before/after (bench/results/compress_speed.md). Usage:
#   [THREADS="1 2 default"] [NETS="l1 cifar resnet"] bench/compress_speed/run.sh OLD_LEO NEW_LEO L1_2X800.onnx [NOSTABLE_2X800.onnx]
# OLD/NEW: two leo binaries; the l1 net from e.g.
#   leo train --data mnist --hidden 800,800 --l1 5e-4 --epochs 200 --time-limit 480 --threads 1 --seed 1 -o L1.onnx
# THREADS: the --threads values to run ("default": no --threads option).
# Prints one line per run: exit code, load average, /usr/bin/time (wall, user, sys, peak KB), and from --json
# the analysis time, the whole command's time, both deviations, the proven double bound, the points checked
# and the widths.
set -u
OLD=$1 NEW=$2 L1=$3 FLAT=${4:-}
THREADS=${THREADS:-1}
NETS=${NETS:-l1 cifar resnet}
M=$(dirname "$0")/../../models/cifar
OUT=${OUT:-/tmp/compress_speed}
mkdir -p "$OUT"
run() { # name bin threads args...
  local name=$1 bin=$2 threads=$3; shift 3
  local opt=(--threads "$threads")
  [ "$threads" = default ] && opt=()
  name=$name.t$threads
  local load=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/time -f '%e %U %S %M' -o "$OUT/t.$name" "$bin" compress "$@" "${opt[@]}" --json -o "$OUT/out.$name.onnx" \
    > "$OUT/j.$name.json" 2> "$OUT/e.$name.err"
  echo "$name rc=$? load=[$load] time(wall user sys KB)=$(cat "$OUT/t.$name") $(python3 -c "
import json; j=json.load(open('$OUT/j.$name.json')); c=j['check']; print('analysis', round(j['analysis']['time_seconds'],2), 'total', round(j['time_seconds'],2), 'dev', c['max_abs_deviation_double'], c['max_abs_deviation_stored'], 'proven', c.get('proven_bound_double'), 'points', c['points_checked'], 'units', j['units_before'], '->', j['units_after'])")"
}
for t in $THREADS; do
  for v in old new; do
    bin=$OLD; [ $v = new ] && bin=$NEW
    for net in $NETS; do
      case $net in
        l1) run l1_$v "$bin" "$t" "$L1" ;;
        flat) [ -n "$FLAT" ] && run flat_$v "$bin" "$t" "$FLAT" ;;
        cifar) run cifar_base_$v "$bin" "$t" $M/cifar_base_kw.onnx --vnnlib $M/prop_0_eps_0.008.vnnlib --stages ibp,samples ;;
        resnet) run resnet_$v "$bin" "$t" $M/resnet_2b.onnx --vnnlib $M/prop_0_eps_0.008.vnnlib --stages ibp,samples ;;
      esac
    done
  done
done
