#!/usr/bin/env bash
# Builds typenet's CUDA binaries on a machine without a GPU, from PyPI's CUDA wheels, and
# collects them (stripped) with what scripts/gpu-check.sh needs in one folder.
#
#   scripts/cuda-build.sh                     # mnist, bench, cuda_agreement -> target/cuda-dist/
#   CUDA_COMPUTE_CAP=80 scripts/cuda-build.sh # for another GPU (default 90: H100, H200)
#   scripts/cuda-build.sh --check-toolchain   # only the toolchain: a .cu to PTX, a link and a run
#
# Everything it installs lives in .cuda-toolchain/ (ignored by git): a venv with the wheels
# (nvcc, cuda.h, nvrtc, cuBLAS), a CUDA_ROOT folder with unversioned `lib*.so` links, a
# `libcuda.so` link stub (soname libcuda.so.1, every `cu*` function cudarc declares) and an
# `nvidia-smi` stand-in that answers dfdx's compute-capability query. Running it again
# reuses all of that. Every failure ends in one line: `cuda-build: error: ...`.
#
# Environment: CUDA_COMPUTE_CAP (default 90); CUDA_WHEELS, the CUDA 13 release of the wheels
# (default 13.0: PTX from a newer nvcc does not load on a driver of an older CUDA, and the
# GPU machines this was written for run driver 580, CUDA 13.0); TYPENET_CUDA_TOOLCHAIN and
# TYPENET_CUDA_DIST move the two folders; PYTHON (default python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TC=${TYPENET_CUDA_TOOLCHAIN:-$ROOT/.cuda-toolchain}
DIST=${TYPENET_CUDA_DIST:-$ROOT/target/cuda-dist}
CAP=${CUDA_COMPUTE_CAP:-90}
SERIES=${CUDA_WHEELS:-13.0}
PYTHON=${PYTHON:-python3}
MAX_DIST_BYTES=$((64 * 1024 * 1024))
START=$SECONDS

die() {
  echo "cuda-build: error: $*" >&2
  exit 1
}
step() { echo "== $*"; }

# The first line of LOG that names the problem (cargo, rustc, pip, nvcc, typenet's build script).
first_error() {
  local line
  line=$(grep -m1 -E '^\s*error: typenet:' "$1" ||
    grep -m1 -E '^(error(\[E[0-9]+\])?:|ERROR:)|: error: |error: ' "$1" || tail -n1 "$1")
  line=${line#"${line%%[![:space:]]*}"}
  echo "${line:0:600}"
}

# run_logged NAME CMD...: CMD's output goes to $TC/logs/NAME.log; a failure is one line.
run_logged() {
  local name=$1 log="$TC/logs/$1.log"
  shift
  if ! "$@" >"$log" 2>&1; then
    die "$name failed: $(first_error "$log") (full log: $log)"
  fi
}

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

CHECK_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --check-toolchain) CHECK_ONLY=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument \`$arg\`; use --check-toolchain or --help" ;;
  esac
done

[[ "$CAP" =~ ^[1-9][0-9]{1,2}$ ]] ||
  die "CUDA_COMPUTE_CAP=$CAP is not a compute capability; write it as digits, e.g. 90 for 9.0 (H100, H200), 80 for A100, 89 for RTX 40xx"
[[ "$SERIES" =~ ^13\.[0-9]+$ ]] ||
  die "CUDA_WHEELS=$SERIES: only CUDA 13 wheels are supported (13.0, 13.1, ...); pick the CUDA version the GPU machine's driver reports (nvidia-smi) or older"
for tool in "$PYTHON" gcc strip readelf; do
  command -v "$tool" >/dev/null || die "\`$tool\` is not on PATH; install it (Debian: apt-get install python3-venv gcc binutils)"
done
if [[ $CHECK_ONLY == 0 ]]; then
  command -v cargo >/dev/null || die "\`cargo\` is not on PATH; install Rust (rustup) first"
fi
mkdir -p "$TC/logs"

# --- the wheels --------------------------------------------------------------------------
# nvcc's own parts (crt, nvvm) are pinned too: pip would otherwise pick the newest, whose
# PTX is of a newer ISA than the pinned nvcc's ptxas and the driver accept.
WHEELS=(nvidia-cuda-nvcc nvidia-cuda-crt nvidia-nvvm nvidia-cuda-runtime nvidia-cuda-cccl nvidia-cuda-nvrtc)
# Linking needs cuBLAS too (cudarc links cublas and cublasLt; dfdx enables no curand).
[[ $CHECK_ONLY == 1 ]] || WHEELS+=(nvidia-cublas)
SPECS=()
for w in "${WHEELS[@]}"; do SPECS+=("$w==$SERIES.*"); done

VENV=$TC/venv
MARKER=$VENV/typenet-wheels.txt
step "CUDA $SERIES wheels in $VENV"
if [[ ! -x $VENV/bin/python ]]; then
  run_logged venv "$PYTHON" -m venv "$VENV"
fi
# The marker lists the specs installed, for one CUDA release: another release starts afresh
# (pip's pins then move every wheel to it).
grep -qxF "series $SERIES" "$MARKER" 2>/dev/null || rm -f "$MARKER"
missing=0
for s in "${SPECS[@]}"; do
  grep -qxF "$s" "$MARKER" 2>/dev/null || missing=1
done
if [[ $missing == 1 ]]; then
  run_logged pip "$VENV/bin/python" -m pip install --disable-pip-version-check --only-binary=:all: "${SPECS[@]}"
  { cat "$MARKER" 2>/dev/null || true; echo "series $SERIES"; printf '%s\n' "${SPECS[@]}"; } | sort -u >"$MARKER.new"
  mv "$MARKER.new" "$MARKER"
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
CU=$SITE/nvidia/cu13
[[ -x $CU/bin/nvcc && -f $CU/include/cuda.h ]] ||
  die "the wheels did not install nvcc and cuda.h under $CU; remove $VENV and run again"

# --- CUDA_ROOT: the wheel's folders plus unversioned links and the libcuda stub ---------
CUDA_ROOT=$TC/cuda
LIB=$CUDA_ROOT/lib64
STUBS=$LIB/stubs
mkdir -p "$STUBS"
ln -sfn "$CU/include" "$CUDA_ROOT/include"
ln -sfn "$CU/bin" "$CUDA_ROOT/bin"
for so in "$CU"/lib/lib*.so.*; do
  base=$(basename "$so")
  [[ $base == *.alt.* || $base == *-builtins* ]] && continue
  ln -sfn "$so" "$LIB/${base%%.so.*}.so"
done

# The stub defines every cu* function that cudarc's driver bindings declare, read from the
# cudarc source that Cargo.lock selects; each returns CUDA_ERROR_STUB_LIBRARY (34).
CUDARC=$(awk '/^name = "cudarc"$/ { getline; print; exit }' "$ROOT/Cargo.lock" | sed -E 's/^version = "(.*)"$/\1/')
[[ -n $CUDARC ]] || die "Cargo.lock names no cudarc; run \`cargo update -p dfdx\` with the cuda feature once"
CARGO_REG=${CARGO_HOME:-$HOME/.cargo}/registry/src
SYS=$(compgen -G "$CARGO_REG/*/cudarc-$CUDARC/src/driver/sys.rs" | head -n1 || true)
if [[ -z $SYS ]] && command -v cargo >/dev/null; then
  run_logged cargo-fetch cargo fetch --manifest-path "$ROOT/Cargo.toml"
  SYS=$(compgen -G "$CARGO_REG/*/cudarc-$CUDARC/src/driver/sys.rs" | head -n1 || true)
fi
[[ -n $SYS ]] || die "cudarc $CUDARC's source is not under $CARGO_REG; run \`cargo fetch\` first"
STUB_C=$TC/stub/libcuda_stub.c
mkdir -p "$TC/stub"
{
  echo "/* libcuda.so.1 link stub, generated by scripts/cuda-build.sh from cudarc $CUDARC's"
  echo "   src/driver/sys.rs. Never loaded on a GPU machine: the driver's libcuda.so.1 is. */"
  grep -oE 'pub fn cu[A-Za-z0-9_]+\(' "$SYS" | sed -E 's/pub fn (cu[A-Za-z0-9_]+)\(/\1/' | sort -u |
    awk '{ printf "int %s(void) { return 34; }\n", $1 }'
} >"$STUB_C.new"
FUNCS=$(grep -c '^int cu' "$STUB_C.new" || true)
[[ $FUNCS -gt 100 ]] || die "found only $FUNCS cu* functions in $SYS; is it cudarc's driver bindings?"
if ! cmp -s "$STUB_C.new" "$STUB_C" || [[ ! -f $STUBS/libcuda.so.1 ]]; then
  mv "$STUB_C.new" "$STUB_C"
  run_logged stub gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$STUBS/libcuda.so.1" "$STUB_C"
else
  rm -f "$STUB_C.new"
fi
ln -sfn libcuda.so.1 "$STUBS/libcuda.so"
echo "libcuda.so stub: $FUNCS functions of cudarc $CUDARC"

# nvidia-smi stand-in: dfdx's build script runs `nvidia-smi --query-gpu=compute_cap
# --format=csv` even when CUDA_COMPUTE_CAP is set, and checks that nvcc can target it.
mkdir -p "$TC/bin"
cat >"$TC/bin/nvidia-smi" <<'EOF'
#!/bin/sh
# nvidia-smi stand-in written by typenet's scripts/cuda-build.sh for a machine without a GPU.
case " $* " in
  *" --query-gpu=compute_cap "*)
    cap=${CUDA_COMPUTE_CAP:?set CUDA_COMPUTE_CAP}
    echo compute_cap
    echo "$((cap / 10)).$((cap % 10))"
    ;;
  *)
    echo "nvidia-smi stand-in of scripts/cuda-build.sh: there is no GPU on this machine" >&2
    exit 9
    ;;
esac
EOF
chmod +x "$TC/bin/nvidia-smi"

# The environment of every build below.
unset CUDA_PATH CUDA_TOOLKIT_ROOT_DIR CUDNN_LIB
export CUDA_ROOT CUDA_COMPUTE_CAP=$CAP
export PATH=$CU/bin:$TC/bin:$PATH
RUN_LIBS=$STUBS:$CU/lib

NVCC_RELEASE=$(nvcc --version | sed -nE 's/.*release ([0-9]+\.[0-9]+),.*/\1/p')
[[ $NVCC_RELEASE == "$SERIES" ]] || die "nvcc on PATH is release ${NVCC_RELEASE:-unknown}, expected $SERIES ($(command -v nvcc))"
nvcc --list-gpu-code | grep -qx "sm_$CAP" ||
  die "nvcc $NVCC_RELEASE cannot build for sm_$CAP; it targets $(nvcc --list-gpu-code | tr '\n' ' ')"
echo "nvcc $NVCC_RELEASE for sm_$CAP; CUDA_ROOT=$CUDA_ROOT"

# --- --check-toolchain: one kernel to PTX, one program linked against the stub -----------
if [[ $CHECK_ONLY == 1 ]]; then
  step "toolchain check"
  CHK=$TC/check
  mkdir -p "$CHK"
  cat >"$CHK/probe.cu" <<'EOF'
extern "C" __global__ void typenet_probe(float *x, float v, unsigned n) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = v;
}
EOF
  run_logged nvcc-ptx nvcc --ptx --gpu-architecture="sm_$CAP" -o "$CHK/probe.ptx" "$CHK/probe.cu"
  grep -q '\.visible \.entry typenet_probe' "$CHK/probe.ptx" || die "nvcc wrote no typenet_probe entry into $CHK/probe.ptx"
  ISA=$(sed -nE 's/^\.version ([0-9.]+).*/\1/p' "$CHK/probe.ptx")
  cat >"$CHK/probe.c" <<'EOF'
#include <stdio.h>
#include <cuda.h>
#include <nvrtc.h>
int main(void) {
  int major = 0, minor = 0;
  CUresult r = cuInit(0);
  if (r != CUDA_ERROR_STUB_LIBRARY) { printf("cuInit returned %d, not the stub's 34\n", (int)r); return 1; }
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) { printf("nvrtcVersion failed\n"); return 1; }
  const char *src = "extern \"C\" __global__ void k(float *x) { x[threadIdx.x] *= 2.0f; }";
  nvrtcProgram prog;
  if (nvrtcCreateProgram(&prog, src, "k.cu", 0, NULL, NULL) != NVRTC_SUCCESS) return 1;
  if (nvrtcCompileProgram(prog, 0, NULL) != NVRTC_SUCCESS) { printf("nvrtc could not compile a kernel\n"); return 1; }
  size_t ptx = 0;
  nvrtcGetPTXSize(prog, &ptx);
  printf("stub cuInit: %d; nvrtc %d.%d compiled a kernel to %zu bytes of PTX\n", (int)r, major, minor, ptx);
  return 0;
}
EOF
  run_logged link gcc -o "$CHK/probe" "$CHK/probe.c" -I"$CUDA_ROOT/include" -L"$STUBS" -L"$LIB" -lcuda -lnvrtc
  run_logged probe env LD_LIBRARY_PATH="$RUN_LIBS" LD_BIND_NOW=1 "$CHK/probe"
  echo "nvcc: typenet_probe -> PTX ISA $ISA for sm_$CAP"
  cat "$TC/logs/probe.log"
  echo "nvidia-smi stand-in: $(nvidia-smi --query-gpu=compute_cap --format=csv | tr '\n' ' ')"
  echo "toolchain check passed in $((SECONDS - START)) s"
  exit 0
fi

# --- the binaries ------------------------------------------------------------------------
cd "$ROOT"
CARGO_ARGS=(--release --features cuda --message-format=json-render-diagnostics)
step "cargo build --release --features cuda --example mnist --example bench (log: $TC/logs/cargo-build.log)"
cargo build "${CARGO_ARGS[@]}" --example mnist --example bench >"$TC/cargo-build.json" 2>"$TC/logs/cargo-build.log" ||
  die "cargo build failed: $(first_error "$TC/logs/cargo-build.log") (full log: $TC/logs/cargo-build.log)"
step "cargo test --release --features cuda --test cuda_agreement --test cuda_build_check --no-run"
cargo test "${CARGO_ARGS[@]}" --test cuda_agreement --test cuda_build_check --no-run \
  >"$TC/cargo-test.json" 2>"$TC/logs/cargo-test.log" ||
  die "cargo test --no-run failed: $(first_error "$TC/logs/cargo-test.log") (full log: $TC/logs/cargo-test.log)"

# "NAME PATH" for every executable cargo reported, and "out_dir:PACKAGE PATH" for build scripts.
artifacts() {
  "$VENV/bin/python" - "$@" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    for line in open(path):
        m = json.loads(line) if line.startswith("{") else {}
        if m.get("reason") == "compiler-artifact" and m.get("executable"):
            print(m["target"]["name"], m["executable"])
        if m.get("reason") == "build-script-executed":
            pid = m["package_id"]  # "path+file:///x#typenet@0.1.0", "path+file:///x/typenet#0.1.0"
            url, _, frag = pid.partition("#")
            name = pid.split()[0] if " " in pid else (frag.split("@")[0] if "@" in frag else url.rstrip("/").split("/")[-1])
            print("out_dir:" + name, m["out_dir"])
EOF
}
declare -A EXE
while read -r name path; do EXE[$name]=$path; done < <(artifacts "$TC/cargo-build.json" "$TC/cargo-test.json")
for name in mnist bench cuda_agreement cuda_build_check out_dir:typenet; do
  [[ -n ${EXE[$name]:-} && -e ${EXE[$name]} ]] || die "cargo reported no \`$name\` (see $TC/cargo-*.json)"
done

# Both run here, on the stub: every symbol must resolve (LD_BIND_NOW), and the build
# script's PTX must be there for sm_$CAP.
step "checks that need no GPU"
run_logged cuda_build_check env LD_LIBRARY_PATH="$RUN_LIBS" LD_BIND_NOW=1 "${EXE[cuda_build_check]}"
grep -E '^test result' "$TC/logs/cuda_build_check.log"
run_logged mnist-help env LD_LIBRARY_PATH="$RUN_LIBS" LD_BIND_NOW=1 "${EXE[mnist]}" --help
echo "mnist --help runs with every symbol bound (stub libcuda, wheel nvrtc and cuBLAS)"

# --- the folder for the GPU machine ------------------------------------------------------
step "collecting $DIST"
rm -rf "$DIST"
mkdir -p "$DIST/bin" "$DIST/data"
for name in mnist bench cuda_agreement; do
  strip -o "$DIST/bin/$name" "${EXE[$name]}"
done
cp -r "$ROOT/data/mnist" "$DIST/data/"
cp "$ROOT/scripts/gpu-check.sh" "$ROOT/scripts/torch_mnist_gpu.py" "$DIST/"
NEEDED=$(for f in "$DIST"/bin/*; do readelf -d "$f"; done | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p' | sort -u |
  grep -vE '^(libc|libm|libdl|libpthread|librt|libgcc_s|ld-linux.*)\.so' | tr '\n' ' ')
GLIBC=$(for f in "$DIST"/bin/*; do objdump -T "$f"; done | grep -oE 'GLIBC_[0-9]+\.[0-9]+' | sort -uV | tail -n1)
PTX_ISA=$(cat "${EXE[out_dir:typenet]}"/*.ptx | sed -nE 's/^\.version ([0-9.]+).*/\1/p' | sort -uV | tail -n1)
cat >"$DIST/manifest.env" <<EOF
# Written by scripts/cuda-build.sh; read by gpu-check.sh.
TYPENET_REV='$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)'
BUILT_AT='$(date -u +%Y-%m-%dT%H:%M:%SZ)'
CUDA_COMPUTE_CAP=$CAP
NVCC_RELEASE=$NVCC_RELEASE
PTX_ISA=${PTX_ISA:-unknown}
NEEDED_LIBS='${NEEDED% }'
GLIBC_NEEDED=${GLIBC#GLIBC_}
EOF

echo "needed besides glibc: ${NEEDED% }; newest glibc symbol: $GLIBC"
echo "ldd (with the stub and the wheels standing in for the GPU machine's libraries):"
for f in "$DIST"/bin/*; do
  echo "  $(basename "$f"):"
  LD_LIBRARY_PATH=$RUN_LIBS ldd "$f" | sed 's/^\s*/    /'
done
if LD_LIBRARY_PATH=$RUN_LIBS ldd "$DIST"/bin/* | grep -q 'not found'; then
  die "a binary needs a library that neither the stub nor the wheels provide (see the ldd lines above)"
fi
(cd "$DIST" && find . -type f -printf '%9s  %p\n' | sort -k2)
BYTES=$(du -sb "$DIST" | cut -f1)
echo "$DIST: $((BYTES / 1024 / 1024)) MiB ($BYTES bytes), built in $((SECONDS - START)) s"
[[ $BYTES -le $MAX_DIST_BYTES ]] || die "$DIST holds $BYTES bytes, over the 64 MiB a GPU run can carry"
echo "next, on the GPU machine: $DIST/gpu-check.sh (or scripts/gpu-check.sh --dist $DIST)"
