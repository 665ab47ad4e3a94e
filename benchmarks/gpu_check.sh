#!/usr/bin/env bash
# The GPU verification in one go, for a machine with a CUDA GPU, CuPy and PyTorch CUDA already installed:
# builds the kernels in place, runs the cross-backend suite (its CuPy cases run only where a GPU is
# usable) and the GPU comparison. Output goes to stdout and, when $OUT is set, to $OUT/gpu_check.log.
#
#   bash benchmarks/gpu_check.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
log="${OUT:-/tmp}/gpu_check.log"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  python3 -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" || echo 'CuPy is not importable here'
  python3 setup.py -q build_ext --inplace 2>&1 | tail -3
  python3 -m pytest -q -p no:cacheprovider -rs tests/test_backends.py tests/test_device_stand_in.py
  python3 benchmarks/compare_gpu.py "$@"
} 2>&1 | tee "$log"
