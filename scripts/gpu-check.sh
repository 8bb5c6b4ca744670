#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and no Rust toolchain: runs what scripts/cuda-build.sh built
# (target/cuda-dist/, or the folder this script was copied into) and prints one summary table:
#   1. the GPU (nvidia-smi);
#   2. the cuda_agreement tests: every layer on Cuda against the CPU kernels, forward and
#      every gradient;
#   3. MNIST, 2 epochs (examples/mnist.rs), its epoch times, test accuracy and GPU memory;
#   4. the bench (training and inference images per second on the GPU);
#   5. the same model and recipe in PyTorch on the same GPU (torch_mnist_gpu.py).
# Each step has a time limit, so the whole run stays under about 8 minutes; a step that fails
# or runs out of time is marked in the table and the others still run.
#
#   gpu-check.sh [--dist DIR] [--log FILE] [--dry-run]
#
# --dry-run checks the folder and the libraries and prints what it would run; it needs no GPU.
# The binaries need libcuda.so.1 (the driver's), libnvrtc.so.13 and libcublas.so.13 (CUDA 13:
# PyTorch's nvidia wheels have them); they are looked for in TYPENET_CUDA_LIBS (folders
# separated by ':'), the driver's and CUDA's usual folders, ldconfig's cache and python3's
# site-packages. Every failure of the set-up is one line: `gpu-check: error: ...`.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -f $HERE/manifest.env ]]; then DIST=$HERE; else DIST=$HERE/../target/cuda-dist; fi
LOG=gpu-check.log
DRY=0
PYTHON=${PYTHON:-python3}
# Seconds each step may take (about 8 minutes in all, the most a step is expected to need).
T_AGREE=${T_AGREE:-90}
T_MNIST=${T_MNIST:-200}
T_BENCH=${T_BENCH:-75}
T_TORCH=${T_TORCH:-90}

die() {
  echo "gpu-check: error: $*" >&2
  exit 1
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dist)
      DIST=${2:?--dist needs a folder}
      shift 2
      ;;
    --log)
      LOG=${2:?--log needs a file}
      shift 2
      ;;
    --dry-run)
      DRY=1
      shift
      ;;
    -h | --help)
      sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument \`$1\`; use --dist DIR, --log FILE, --dry-run or --help" ;;
  esac
done

# --- the folder ----------------------------------------------------------------------------
[[ -d $DIST ]] || die "no folder $DIST: run scripts/cuda-build.sh on a machine with Rust first, or pass --dist DIR"
DIST=$(cd "$DIST" && pwd)
[[ -f $DIST/manifest.env ]] || die "$DIST has no manifest.env: it is not a folder made by scripts/cuda-build.sh"
# shellcheck source=/dev/null
source "$DIST/manifest.env"
for f in bin/cuda_agreement bin/mnist bin/bench torch_mnist_gpu.py; do
  [[ -f $DIST/$f ]] || die "$DIST/$f is missing: run scripts/cuda-build.sh again"
done
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [[ -f $DIST/data/mnist/$f.gz || -f $DIST/data/mnist/$f ]] || die "$DIST/data/mnist has no $f(.gz)"
done
DATA=$DIST/data/mnist

# --- the libraries -------------------------------------------------------------------------
site_dirs() {
  "$PYTHON" - 2>/dev/null <<'EOF'
import site, sys, glob, os
dirs = list(getattr(site, "getsitepackages", lambda: [])()) + [site.getusersitepackages()] + sys.path
for d in dict.fromkeys(dirs):
    for pattern in ("nvidia/cu13/lib", "nvidia/*/lib", "torch/lib"):
        for hit in sorted(glob.glob(os.path.join(d, pattern))):
            print(hit)
EOF
}
SEARCH=()
IFS=: read -r -a extra <<<"${TYPENET_CUDA_LIBS:-}"
SEARCH+=("${extra[@]}")
SEARCH+=(/usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib
  /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib)
while read -r d; do SEARCH+=("$d"); done < <(site_dirs)
while read -r d; do SEARCH+=("$d"); done < <(compgen -G '/opt/*/.venv/lib/python3*/site-packages/nvidia/cu13/lib' || true)

# find_lib NAME: the folder holding NAME (never a link stub).
find_lib() {
  local d
  for d in "${SEARCH[@]}"; do
    [[ -n $d && -e $d/$1 && $d != */stubs ]] && {
      echo "$d"
      return 0
    }
  done
  ldconfig -p 2>/dev/null | awk -v n="$1" '$1 == n { sub(/.* => /, ""); print; exit }' | xargs -r dirname
}
LIBDIRS=()
for lib in ${NEEDED_LIBS:-libcuda.so.1 libnvrtc.so.13 libcublas.so.13}; do
  dir=$(find_lib "$lib")
  if [[ -z $dir ]]; then
    case $lib in
      libcuda.so.*) hint="it comes with the NVIDIA driver" ;;
      libnvrtc.so.*) hint="pip install nvidia-cuda-nvrtc (PyTorch's CUDA 13 wheels include it)" ;;
      libcublas*.so.*) hint="pip install nvidia-cublas (PyTorch's CUDA 13 wheels include it)" ;;
      *) hint="install it" ;;
    esac
    die "$lib not found (looked in TYPENET_CUDA_LIBS, the driver's and CUDA's folders, ldconfig and $PYTHON's site-packages): $hint, or set TYPENET_CUDA_LIBS=DIR"
  fi
  echo "$lib: $dir"
  [[ " ${LIBDIRS[*]} " == *" $dir "* ]] || LIBDIRS+=("$dir")
done
LD_LIBRARY_PATH=$(IFS=:; echo "${LIBDIRS[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
if command -v ldd >/dev/null && ldd "$DIST"/bin/* 2>&1 | grep -q 'not found'; then
  die "a binary still misses a library: $(ldd "$DIST"/bin/* 2>&1 | grep 'not found' | sort -u | tr -s ' \t\n' ' ')"
fi
host_glibc=$(ldd --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+$' || true)
if [[ -n $host_glibc && -n ${GLIBC_NEEDED:-} ]] &&
  [[ $(printf '%s\n' "$GLIBC_NEEDED" "$host_glibc" | sort -V | head -n1) != "$GLIBC_NEEDED" ]]; then
  die "the binaries need glibc $GLIBC_NEEDED, this machine has $host_glibc: build them on an older system"
fi

# The steps, in order: NAME, its time limit and its command line.
STEPS=(agreement mnist bench torch)
declare -A LIMIT=([agreement]=$T_AGREE [mnist]=$T_MNIST [bench]=$T_BENCH [torch]=$T_TORCH)
# shellcheck disable=SC2034 # read through `declare -n`
CMD_agreement=("$DIST/bin/cuda_agreement")
# shellcheck disable=SC2034
CMD_mnist=("$DIST/bin/mnist" --epochs 2 --data-dir "$DATA")
# shellcheck disable=SC2034
CMD_bench=("$DIST/bin/bench" --data-dir "$DATA" --warmup 50 --steps 50 --repeats 3)
# shellcheck disable=SC2034
CMD_torch=("$PYTHON" "$DIST/torch_mnist_gpu.py" --epochs 2 --data-dir "$DATA")
if [[ $DRY == 1 ]]; then
  echo "dry run: $DIST (typenet $TYPENET_REV, built $BUILT_AT for sm_$CUDA_COMPUTE_CAP, nvcc $NVCC_RELEASE, PTX ISA $PTX_ISA)"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "would run, logging to $LOG:"
  echo "  nvidia-smi"
  for name in "${STEPS[@]}"; do
    declare -n cmd=CMD_$name
    echo "  $name (at most ${LIMIT[$name]}s): ${cmd[*]}"
  done
  command -v nvidia-smi >/dev/null || echo "note: nvidia-smi is not on PATH here"
  exit 0
fi

# --- the GPU -------------------------------------------------------------------------------
command -v nvidia-smi >/dev/null || die "nvidia-smi is not on PATH: is the NVIDIA driver installed?"
GPU=$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1 | head -n1)
[[ $GPU == *,* ]] || die "nvidia-smi sees no GPU: $GPU"
GPU_CAP=$(echo "$GPU" | awk -F', ' '{ split($2, v, "."); print v[1] * 10 + v[2] }')
DRIVER_CUDA=$(nvidia-smi 2>/dev/null | sed -nE 's/.*CUDA Version: ([0-9]+\.[0-9]+).*/\1/p' | head -n1)
if ((GPU_CAP < CUDA_COMPUTE_CAP)); then
  die "the kernels are PTX for sm_$CUDA_COMPUTE_CAP, which this GPU (compute capability $GPU_CAP) cannot run: build with CUDA_COMPUTE_CAP=$GPU_CAP scripts/cuda-build.sh"
fi
if [[ -n $DRIVER_CUDA && $(printf '%s\n' "$NVCC_RELEASE" "$DRIVER_CUDA" | sort -V | head -n1) != "$NVCC_RELEASE" ]]; then
  die "the driver runs CUDA $DRIVER_CUDA, older than the nvcc $NVCC_RELEASE that made the PTX: build with CUDA_WHEELS=$DRIVER_CUDA (13.x) or update the driver"
fi

: >"$LOG" || die "cannot write the log $LOG"
LOG=$(cd "$(dirname "$LOG")" && pwd)/$(basename "$LOG")
say() { echo "$*" | tee -a "$LOG"; }
say "== GPU: $GPU (driver CUDA $DRIVER_CUDA); typenet $TYPENET_REV for sm_$CUDA_COMPUTE_CAP, nvcc $NVCC_RELEASE"
nvidia-smi 2>&1 | tee -a "$LOG"

declare -A STATUS SECS
OUTDIR=$(mktemp -d)
# run_step NAME LIMIT CMD...: output to the log and $OUTDIR/NAME.out; status and seconds kept.
run_step() {
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  say ""
  say "== $name (at most ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.out" | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  SECS[$name]=$((SECONDS - start))
  case $rc in
    0) STATUS[$name]=ok ;;
    124 | 137) STATUS[$name]="timed out" ;;
    *) STATUS[$name]="failed ($rc)" ;;
  esac
}

# GPU memory during the MNIST run, every 2 s (dfdx issue #643: memory that grows over steps).
mem_watch() {
  while sleep 2; do
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n1
  done >"$OUTDIR/mem.txt"
}

for name in "${STEPS[@]}"; do
  declare -n cmd=CMD_$name
  if [[ $name == mnist ]]; then
    mem_watch &
    WATCH=$!
  fi
  run_step "$name" "${LIMIT[$name]}" "${cmd[@]}"
  if [[ $name == mnist ]]; then
    kill "$WATCH" 2>/dev/null
    wait "$WATCH" 2>/dev/null
  fi
done

# --- the summary ---------------------------------------------------------------------------
out() { cat "$OUTDIR/$1.out" 2>/dev/null; }
epochs() { out "$1" | sed -nE 's/^Epoch ([0-9]+)\/[0-9]+ - ([0-9.]+)s .*/\2 s/p' | paste -sd, - | sed 's/,/, /g'; }
field() { out "$1" | sed -nE "s/^$2 *([0-9.]+).*/\1/p" | tail -n1; }
AGREE=$(out agreement | grep -E '^test result' | tail -n1 | sed -E 's/^test result: [a-zA-Z]+\. //; s/; [0-9]+ ignored.*//')
MEM=$(sort -n "$OUTDIR/mem.txt" 2>/dev/null | sed -n '1p;$p' | paste -sd' ' - | awk '{ if (NF) print $1 "-" $2 " MiB used" }')
TRAIN=$(out bench | sed -nE 's/^training: *([0-9]+) images\/s .*epoch of 60000 ~ ([0-9.]+) s.*/\1 img\/s (epoch ~\2 s)/p')
INFER=$(out bench | sed -nE 's/^inference: *([0-9]+) images\/s.*/\1 img\/s/p')
row() { printf '%-34s %-12s %6s  %s\n' "$1" "$2" "$3" "$4" | tee -a "$LOG"; }
say ""
say "== summary: $GPU"
row "step" "status" "time" "result"
row "Cuda vs Cpu (cuda_agreement)" "${STATUS[agreement]}" "${SECS[agreement]}s" "${AGREE:-no test result}"
row "typenet MNIST, 2 epochs" "${STATUS[mnist]}" "${SECS[mnist]}s" \
  "test accuracy $(field mnist 'Test accuracy:'); epochs $(epochs mnist); ${MEM:-no memory reading}"
row "typenet bench" "${STATUS[bench]}" "${SECS[bench]}s" "training ${TRAIN:-?}; inference ${INFER:-?}"
row "PyTorch MNIST, 2 epochs" "${STATUS[torch]}" "${SECS[torch]}s" \
  "test accuracy $(field torch 'Test accuracy:'); epochs $(epochs torch); $(out torch | grep -m1 '^Peak GPU memory' || true)"
say "log: $LOG"
rm -rf "$OUTDIR"
for name in "${STEPS[@]}"; do
  [[ ${STATUS[$name]} == ok ]] || exit 1
done
