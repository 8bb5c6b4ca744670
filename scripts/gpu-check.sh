#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and CUDA: build with `--features cuda`, check that the
# layers on `Cuda` agree with the CPU kernels, and train the MNIST CNN for two epochs.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in nvcc nvidia-smi cargo; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found; see README, 'CUDA'" >&2; exit 1; }
done
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader
nvcc --version | tail -1

echo "== layers on Cuda vs the CPU kernels"
cargo test --release --features cuda --test cuda_agreement

echo "== MNIST CNN, 2 epochs on the GPU"
cargo run --release --features cuda --example mnist -- --epochs 2
