#!/usr/bin/env bash
# Training benchmark of issue 5: leo train against PyTorch (torch_train.py),
# and stability after training with l1 (stability.py).
#
#   bench/train/run.sh compare     accuracy and time per epoch, 784-100-100-10 and
#                                  784-400-400-10 on MNIST and Fashion-MNIST; leo then
#                                  torch, back to back for each configuration
#   bench/train/run.sh stability   2x100 on MNIST with l1 in {0,1e-4,2e-4,5e-4}
#   bench/train/run.sh quiet       compare, short (MNIST 5 epochs, Fashion 2), into
#                                  bench/results/train-quiet: run it on an idle machine
#   bench/train/run.sh analyze     leo analyze on the models of `stability` (samples
#                                  alone, then the full cascade), probes = the digits
#   bench/train/run.sh cnn         compare for CNNs: ERAN's ConvSmall (--arch
#                                  conv16x4s2,conv32x4s2,fc100) with l1 1e-4 on MNIST and
#                                  Fashion-MNIST, into bench/results/train-cnn (SEEDS="1 2 3":
#                                  more seeds)
#   bench/train/run.sh summary     bench/results/train.md from the JSON results
#
# Settings (environment): LEO (program, default build/leo), THREADS (2),
# EPOCHS_MNIST (30), EPOCHS_FASHION (10), STEPS (56000, stability), DATASETS
# ("mnist fashion-mnist"), HIDDEN ("100,100 400,400"), TIME_LIMIT (600, analyze),
# OUT (bench/results/train), MODELS (scratch folder for the .onnx files).
set -euo pipefail
cd "$(dirname "$0")/../.."
LEO=${LEO:-build/leo}
THREADS=${THREADS:-2}
EPOCHS_MNIST=${EPOCHS_MNIST:-30}
EPOCHS_FASHION=${EPOCHS_FASHION:-10}
STEPS=${STEPS:-56000}
OUT=${OUT:-bench/results/train}
MODELS=${MODELS:-/tmp/leo-bench-train}
PY=/usr/bin/python3  # Debian's python3-torch
# Both frameworks: idle OpenMP threads sleep instead of spinning (the machine is
# shared; spinning threads made PyTorch 20x slower under load).
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT" "$MODELS"
lscpu | head -20 > "$OUT/lscpu.txt"

load() { echo "{\"run\": \"$1\", \"when\": \"$(date -u +%FT%TZ)\", \"uptime\": \"$(uptime | sed 's/.*load/load/')\"}" >> "$OUT/load.jsonl"; }

compare() {
  for data in ${DATASETS:-mnist fashion-mnist}; do
    epochs=$EPOCHS_MNIST
    [ "$data" = fashion-mnist ] && epochs=$EPOCHS_FASHION
    for hidden in ${HIDDEN:-100,100 400,400}; do
      name="$data-${hidden/,/x}"
      load "leo-$name"
      "$LEO" train --data "$data" --hidden "$hidden" --epochs "$epochs" --threads "$THREADS" --seed 1 \
        -o "$MODELS/leo-$name.onnx" --log "$OUT/leo-$name.json"
      load "torch-$name"
      "$PY" bench/train/torch_train.py --data "$data" --hidden "$hidden" --epochs "$epochs" --threads "$THREADS" \
        --seed 1 --log "$OUT/torch-$name.json"
    done
  done
}

# CNNs: same comparison, --arch instead of --hidden (torch_train.py builds the same net).
cnn() {
  local out=${CNN_OUT:-bench/results/train-cnn} arch=${ARCH:-conv16x4s2,conv32x4s2,fc100} l1=${CNN_L1:-1e-4}
  mkdir -p "$out"
  lscpu | head -20 > "$out/lscpu.txt"
  for data in ${DATASETS:-mnist fashion-mnist}; do
    epochs=$EPOCHS_MNIST
    [ "$data" = fashion-mnist ] && epochs=$EPOCHS_FASHION
    for seed in ${SEEDS:-1}; do
      name="$data-convsmall"
      [ "$seed" = 1 ] || name="$name-s$seed"
      OUT=$out load "leo-$name"
      "$LEO" train --data "$data" --arch "$arch" --l1 "$l1" --epochs "$epochs" --threads "$THREADS" --seed "$seed" \
        -o "$MODELS/leo-$name.onnx" --log "$out/leo-$name.json"
      OUT=$out load "torch-$name"
      "$PY" bench/train/torch_train.py --data "$data" --arch "$arch" --l1 "$l1" --epochs "$epochs" \
        --threads "$THREADS" --seed "$seed" --log "$out/torch-$name.json"
    done
  done
}

stability() {
  for l1 in 0 1e-4 2e-4 5e-4; do
    name="mnist-100x100-l1-$l1"
    load "stability-$name"
    "$LEO" train --data mnist --hidden 100,100 --l1 "$l1" --steps "$STEPS" --threads "${STAB_THREADS:-1}" --seed 1 \
      -o "$MODELS/$name.onnx" --log "$OUT/train-$name.json"
    "$PY" bench/train/stability.py "$MODELS/$name.onnx" > "$OUT/stability-$name.json"
  done
}

analyze() {
  for l1 in 0 1e-4 2e-4 5e-4; do
    name="mnist-100x100-l1-$l1"
    "$LEO" -q analyze "$MODELS/$name.onnx" --data mnist --stages samples --seed 1 --json \
      > "$OUT/analyze-samples-$name.json"
    "$LEO" -q analyze "$MODELS/$name.onnx" --data mnist --seed 1 --time-limit "${TIME_LIMIT:-600}" --json \
      > "$OUT/analyze-$name.json"
  done
}

case "${1:-all}" in
  compare) compare ;;
  stability) stability ;;
  quiet) EPOCHS_MNIST=5 EPOCHS_FASHION=2 OUT=bench/results/train-quiet compare ;;
  analyze) analyze ;;
  cnn) cnn ;;
  summary) "$PY" bench/train/summary.py "$OUT" > bench/results/train.md ;;
  all) compare; stability; analyze; "$PY" bench/train/summary.py "$OUT" > bench/results/train.md ;;
  *) echo "usage: $0 compare|stability|quiet|analyze|cnn|summary|all" >&2; exit 2 ;;
esac
