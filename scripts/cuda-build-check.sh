#!/usr/bin/env bash
# Builds the `cuda` feature on a machine with no GPU and no CUDA install, then runs the test
# suite of that build on the CPU, so that the GPU path cannot rot unseen.
#
# - The toolkit comes from NVIDIA's PyPI wheels (scripts/cuda-wheels.txt, CUDA 13.0), installed
#   once into .venv-cuda. The wheels scatter a toolkit over several packages, so a CUDA root of
#   the usual layout (bin/, nvvm/, include/, lib/) is made of links into them for nvcc, cudarc
#   and candle-kernels' build scripts to find.
# - The driver (libcuda) is not on PyPI: it comes with the GPU's kernel driver. cudarc links
#   against it, so a stub library is made here from cuda.h, as NVIDIA's own stubs are: every
#   driver function answers CUDA_ERROR_STUB_LIBRARY (34). Its soname is the driver's, so on a
#   machine with a GPU the binary loads the real driver, and here the tests see no GPU.
# - PTX is built for compute capability $CUDA_COMPUTE_CAP (default 90: H100/H200). A driver
#   compiles it for newer GPUs; for older ones (an A100 is 80) set it.
#
# Usage: scripts/cuda-build-check.sh [--build-only]
# Cold: ~1 GB of wheels and a second build of the candle stack with its CUDA kernels, in its
# own target folder ($CUDA_TARGET_DIR, default ~/.cache/bertbench-cuda-target) so that the CPU
# build is not rebuilt. The pre-release check (README, "GPU") runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${CUDA_VENV:-$PWD/.venv-cuda}
export CARGO_TARGET_DIR=${CUDA_TARGET_DIR:-$HOME/.cache/bertbench-cuda-target}
export CARGO_TERM_COLOR=never

if ! cmp -s scripts/cuda-wheels.txt "$venv/wheels.txt" 2>/dev/null; then
  echo "== installing the CUDA toolkit wheels into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-cache-dir -r scripts/cuda-wheels.txt
  cp scripts/cuda-wheels.txt "$venv/wheels.txt"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
wheels=$site/nvidia/cu13

root=$venv/cuda
rm -rf "$root"
mkdir -p "$root/lib/stubs" "$root/stub-driver"
ln -s "$wheels/bin" "$wheels/nvvm" "$wheels/include" "$root/"
# The wheels ship versioned libraries only (libcublas.so.13); the linker asks for libcublas.so.
for lib in "$wheels"/lib/*.so.*; do
  name=$(basename "$lib")
  ln -s "$lib" "$root/lib/$name"
  ln -sf "$lib" "$root/lib/${name%%.so.*}.so"
done

# The driver stub: the functions cuda.h declares, after its macros have mapped each name to the
# versioned symbol the driver exports (cuMemAlloc is cuMemAlloc_v2).
gcc -E -P -I"$wheels/include" "$wheels/include/cuda.h" |
  grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d '( \t' | sort -u |
  awk '{ print "int " $1 "(void) { return 34; /* CUDA_ERROR_STUB_LIBRARY */ }" }' >"$root/driver-stub.c"
gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" "$root/driver-stub.c"
cp "$root/lib/stubs/libcuda.so" "$root/stub-driver/libcuda.so.1"
echo "== driver stub: $(wc -l <"$root/driver-stub.c") functions"

export CUDA_HOME=$root
export PATH=$root/bin:$PATH
# thrust and cub live in the cccl wheel's own include folder.
export NVCC_PREPEND_FLAGS="-I$wheels/include/cccl"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
nvcc --version | tail -1

echo "== cargo build --features cuda (sm_$CUDA_COMPUTE_CAP)"
cargo build --locked --features cuda --all-targets
[[ ${1:-} == --build-only ]] && exit

# Run against the wheels' libraries, and against the stub only where no driver is installed.
libs=$root/lib
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
  libs=$libs:$root/stub-driver
fi
export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "== cargo test --features cuda"
cargo test --locked --features cuda
