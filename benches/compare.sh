#!/usr/bin/env bash
# Model-only speed of `pipeline` (fast and reference paths) against the peers a
# user would pick instead (ONNX Runtime, numpy), in one run on one machine,
# alternating, ROUNDS rounds; prints one JSON line per measurement.
#
#   benches/compare.sh > out/compare.jsonl      # then: python3 benches/summarise.py out/compare.jsonl
#
# Needs: a release build, and a Python with onnxruntime, onnx, numpy and
# safetensors ($PEERS_PYTHON, default /tmp/peers/bin/python:
# python3 -m venv /tmp/peers && /tmp/peers/bin/pip install numpy onnxruntime onnx safetensors).
# The peers (benches/peers.py) run our model file. One thread runs pinned to core 0; two threads
# to cores 0-1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/pipeline}
PY=${PEERS_PYTHON:-/tmp/peers/bin/python}
PEERS=${PEERS:-benches/peers.py}
MODEL=${MODEL:-models/sin-cos.safetensors}
ROUNDS=${ROUNDS:-5}
SECONDS_PER=${SECONDS_PER:-1}
# OpenBLAS core types numpy also runs with, besides its own detection (which
# picks the wrong kernels on some VMs' CPUs), e.g. NUMPY_CORETYPES=SapphireRapids;
# those lines say "impl":"numpy[TYPE]".
NUMPY_CORETYPES=${NUMPY_CORETYPES:-}

ours() { # cpus threads batches
  # Each path in its own process, as each peer runs in its own.
  for path in fast reference; do
    taskset -c "$1" "$BIN" bench --model-only --json --model "$MODEL" --path "$path" --threads "$2" \
      --batch "$3" --seconds "$SECONDS_PER" --repeats 1 | sed "s/^{/{\"round\":$round,/"
  done
}
peer() { # cpus impl threads batch
  # The machine's OPENBLAS_* settings slow a current numpy: unset for this command only.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c "$1" "$PY" "$PEERS" --impl "$2" --threads "$3" \
    --batch "$4" --weights "$MODEL" --seconds "$SECONDS_PER" --warmup 0.3 | sed "s/^{/{\"round\":$round,/"
}

numpy_forced() { # cpus threads batch, with OPENBLAS_CORETYPE from the caller
  env -u OPENBLAS_L2_SIZE taskset -c "$1" "$PY" "$PEERS" --impl numpy --threads "$2" \
    --batch "$3" --weights "$MODEL" --seconds "$SECONDS_PER" --warmup 0.3 | sed "s/^{/{\"round\":$round,/"
}

for round in $(seq "$ROUNDS"); do
  ours 0 1 1,16,256
  for b in 1 16 256; do
    peer 0 ort-fused 1 "$b"
    peer 0 numpy 1 "$b"
    for t in $NUMPY_CORETYPES; do
      OPENBLAS_CORETYPE="$t" numpy_forced 0 1 "$b" | sed "s/\"impl\": *\"numpy\"/\"impl\":\"numpy[$t]\"/"
    done
  done
  ours 0-1 2 256
  peer 0-1 ort-fused 2 256
done
