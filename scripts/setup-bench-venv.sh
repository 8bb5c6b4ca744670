#!/usr/bin/env bash
# Creates .venv-bench with PyTorch from PyPI, for
# `cargo run --release --example bench -- --vs-pytorch` (scripts/bench_torch.py).
#
# PyPI's only Linux x86_64 torch wheel is the CUDA build, and `import torch` fails without
# its nvidia-* libraries (`pip install --no-deps torch` gives "libcublasLt.so.*[0-9] not
# found"), so this is the plain install: about 5 GB, CPU-only use. Set PYTHON to choose
# the interpreter (3.10 or newer), TORCH_VERSION to pin a version (e.g. 2.15.0).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=.venv-bench
spec=torch${TORCH_VERSION:+==$TORCH_VERSION}

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --upgrade pip >/dev/null
# numpy only keeps torch from warning on every import.
"$venv/bin/python" -m pip install "$spec" numpy

# The check the benchmark relies on: a conv forward and backward on the CPU, 2 threads.
"$venv/bin/python" - <<'PY'
import torch
torch.set_num_threads(2)
x = torch.randn(4, 3, 16, 16, requires_grad=True)
conv = torch.nn.Conv2d(3, 8, 3, padding=1)
conv(x).relu().sum().backward()
assert x.grad is not None and conv.weight.grad is not None
print(f"torch {torch.__version__} works on the CPU ({torch.get_num_threads()} threads)")
PY
echo "ready: cargo run --release --example bench -- --model all --vs-pytorch"
