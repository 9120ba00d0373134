#!/bin/sh
# Certificate size and check time against analysis time (docs/certificates.md).
# Usage: [COMPRESS_ONLY=1 | CNN_ONLY=1] bench/certificates.sh [BUILD_DIR] [L1_400x2_MODEL]
# CNN_ONLY=1: only the CNN rows (cifar_base_kw, resnet_2b on their VNN-LIB box), both tables.
# Prints a markdown table on stdout; the L1 model is trained by `leo train`
# (see bench/results/certificates.md for the command) when not given.
set -eu
BUILD=${1:-build}
L1=${2:-/tmp/leo-bench-l1-400x2.onnx}
LEO=$BUILD/leo
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
if [ ! -f "$L1" ] && [ -z "${CNN_ONLY:-}" ]; then
  "$LEO" -q train --data mnist --hidden 400,400 --l1 5e-4 --steps 4000 --seed 1 --threads 1 -o "$L1"
fi
[ -z "${COMPRESS_ONLY:-}" ] && echo "| model | domain | analysis without certificate (wall / CPU s) | analysis with certificate (wall / CPU s) | certificate size | leo check (wall / CPU s) | claims | stable / unstable / undecided |"
[ -z "${COMPRESS_ONLY:-}" ] && echo "|---|---|---|---|---|---|---|---|"
run() {  # name model domain-args
  name=$1; model=$2; shift 2
  /usr/bin/time -f "%e %U %S" -o "$OUT/t0" "$LEO" -q analyze "$model" "$@" > /dev/null
  /usr/bin/time -f "%e %U %S" -o "$OUT/t1" "$LEO" -q analyze "$model" "$@" --certificate "$OUT/c" > /dev/null
  /usr/bin/time -f "%e %U %S" -o "$OUT/t2" "$LEO" -q check "$model" "$OUT/c" --json > "$OUT/j"
  size=$(stat -c %s "$OUT/c")
  gz=$(gzip -c "$OUT/c" | wc -c)
  /usr/bin/python3 - "$name" "$OUT" "$size" "$gz" "$*" <<'PY'
import json, sys
name, out, size, gz, dom = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def t(f):
    e, u, s = (float(x) for x in open(f"{out}/{f}").read().split()[-3:])
    return f"{e:.2f} / {u + s:.2f}"
j = json.load(open(f"{out}/j"))
c = j["claims"]
claims = (f"{c['propagate']} propagate, {c['linear']} linear, {c['input_split_trees']} input-split "
          f"({c['input_split_nodes']} nodes), {c['relu_split']} relu-split ({c['relu_split_nodes']} nodes), "
          f"{c['witness_signs']} witness signs")
print(f"| {name} | `{dom}` | {t('t0')} | {t('t1')} | {size/1e6:.2f} MB ({gz/1e6:.2f} MB gzip) | {t('t2')} | {claims} | "
      f"{c['stable_units']} / {c['unstable_units']} / {c['undecided_units']} |")
PY
}
M=models
C=$M/cifar
if [ -n "${CNN_ONLY:-}" ]; then
  run "cifar_base_kw (CNN)" $C/cifar_base_kw.onnx --vnnlib $C/prop_0_eps_0.008.vnnlib --time-limit 60 --threads 1
  run "resnet_2b (CNN, carries)" $C/resnet_2b.onnx --vnnlib $C/prop_0_eps_0.008.vnnlib --time-limit 60 --threads 1
elif [ -z "${COMPRESS_ONLY:-}" ]; then  # COMPRESS_ONLY=1: the compress table only
run "ACAS Xu 1_1" $M/acasxu/ACASXU_run2a_1_1_batch_2000.onnx --vnnlib $M/acasxu/prop_1.vnnlib
run "mnistfc 256x2" $M/mnistfc/mnist-net_256x2.onnx --vnnlib $M/mnistfc/prop_0_0.03.vnnlib
run "mnistfc 256x2" $M/mnistfc/mnist-net_256x2.onnx --vnnlib $M/mnistfc/prop_1_0.05.vnnlib --time-limit 120
run "l1 2x400" "$L1" --box 0,1 --time-limit 300
[ -n "${L1_WEAK:-}" ] && run "l1 2x400 (weakly sparse)" "$L1_WEAK" --box 0,1 --time-limit 300
fi

# Compress certificates: `compress --certificate`, then `check --compressed`,
# which replays every rewrite (folds, merges, ...) from the original.
echo
echo "| model | domain and options | compress (wall / CPU s) | certificate size | rewrites replayed | leo check --compressed (wall / CPU s) | largest residual ratio |"
echo "|---|---|---|---|---|---|---|"
runc() {  # name model args
  name=$1; model=$2; shift 2
  /usr/bin/time -f "%e %U %S" -o "$OUT/t1" "$LEO" -q compress "$model" "$@" -o "$OUT/small.onnx" --certificate "$OUT/c" > /dev/null
  /usr/bin/time -f "%e %U %S" -o "$OUT/t2" "$LEO" -q check "$model" "$OUT/c" --compressed "$OUT/small.onnx" --json > "$OUT/j"
  size=$(stat -c %s "$OUT/c")
  /usr/bin/python3 - "$name" "$OUT" "$size" "$*" <<'PY'
import collections, json, sys
name, out, size, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def t(f):
    e, u, s = (float(x) for x in open(f"{out}/{f}").read().split()[-3:])
    return f"{e:.2f} / {u + s:.2f}"
j = json.load(open(f"{out}/j"))
kinds = collections.Counter(r["kind"] for r in json.load(open(f"{out}/c"))["compress"]["rewrites"])
rw = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
print(f"| {name} | `{args}` | {t('t1')} | {size/1e6:.2f} MB | {rw} | {t('t2')} | {j['compress']['max_residual_ratio']:.2g} |")
PY
}
if [ -n "${CNN_ONLY:-}" ]; then
  runc "cifar_base_kw (CNN)" $C/cifar_base_kw.onnx --vnnlib $C/prop_0_eps_0.008.vnnlib --time-limit 60 --threads 1
  runc "resnet_2b (CNN, carries)" $C/resnet_2b.onnx --vnnlib $C/prop_0_eps_0.008.vnnlib --time-limit 60 --threads 1
  exit 0
fi
runc "mnist l1 50x2 (examples/)" examples/mnist_l1_50x2.onnx --box 0,1
runc "ACAS Xu 1_1" $M/acasxu/ACASXU_run2a_1_1_batch_2000.onnx --vnnlib $M/acasxu/prop_1.vnnlib --stages ibp,samples,attack,crown,alpha --fold-layers always
runc "mnistfc 256x2" $M/mnistfc/mnist-net_256x2.onnx --vnnlib $M/mnistfc/prop_0_0.03.vnnlib --fold-layers always
runc "l1 2x400" "$L1" --box 0,1 --time-limit 300
# Narrow boxes: every layer stable, so whole layers are folded.
runc "mnist l1 50x2 (examples/)" examples/mnist_l1_50x2.onnx --box 0.2,0.21 --fold-layers always
runc "ACAS Xu 1_1" $M/acasxu/ACASXU_run2a_1_1_batch_2000.onnx --box 0,0.01 --fold-layers always
runc "l1 2x400" "$L1" --box 0.1,0.1 --fold-layers always
true
