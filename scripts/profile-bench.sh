#!/usr/bin/env bash
# Where each benchmark model's training step spends its time: `perf record` (cpu-clock
# sampling, DWARF call chains) of the bench worker's training loop, summarised by
# scripts/perf_summary.py (typenet kernels vs the gemm crate vs dfdx's elementwise,
# reduction and Adam code by op, vs memset / malloc / page faults).
#
#   scripts/profile-bench.sh [MODEL ...]   # default: all six; about 3 s of steps each (MS=...)
#
# Builds the example with v0 symbol mangling (dfdx's op types appear in the symbols) in
# its own target dir, target/prof-v0. Needs `perf` (Debian: apt-get install linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "error: perf not found; apt-get install linux-perf" >&2; exit 1; }

models=("$@")
[ ${#models[@]} -gt 0 ] || models=(seed lenet5 mlp vgg resnet strided)
out=${OUT_DIR:-target/prof-v0/perf}
mkdir -p "$out"
RUSTFLAGS="-C symbol-mangling-version=v0" CARGO_TARGET_DIR=target/prof-v0 \
  cargo build --release --example bench
for m in "${models[@]}"; do
  echo "== $m"
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -o "$out/$m.data" -- \
    target/prof-v0/release/examples/bench --worker --train-only --model "$m" \
    --repeat-ms "${MS:-3000}" --repeats 1 >/dev/null
  perf script -i "$out/$m.data" -F tid,ip,sym 2>/dev/null | python3 scripts/perf_summary.py
done
