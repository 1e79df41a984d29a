#!/usr/bin/env bash
# GPU training throughput: the resnet50 template through Netdraft's trainer against
# torchvision's resnet50 in a plain loop, same run, synthetic data, batch 256, bf16 and
# channels_last, torch.compile off and on; images/s and model FLOP utilization (MFU).
#
#     benchmarks/gpu.sh [--batch N] [--steps N] [--peak-tflops T] [--skip-compile]
#
# Needs an NVIDIA GPU: without one it refuses and exits 2. Prints the ratios LAST.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "benchmarks/gpu.sh: no NVIDIA GPU on this machine (nvidia-smi finds none); run it" \
       "on a machine with one" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
exec "$PY" benchmarks/gpu.py "$@"
