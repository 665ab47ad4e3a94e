#!/usr/bin/env bash
# Before landing a speed-sensitive change: runs the asv suites (benchmarks/bench_*.py) on BASE and on HEAD,
# each built in asv's own virtualenv, and fails when any benchmark is more than 10% slower on HEAD, or any
# peakmem_ benchmark more than 10% higher. Machines are noisy: rerun a failure before believing it.
#
#   bash benchmarks/regressions.sh BASE HEAD      e.g. bash benchmarks/regressions.sh main HEAD
#
# Set ASV_BENCH=regex to run a subset (asv's --bench).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: bash benchmarks/regressions.sh BASE HEAD" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
# build only the kernels' instruction-set level this machine runs (#33: a wheel has three; the one chosen here
# is the one timed), a third of the build time; commits before the levels ignore it
if [ -z "${SCRATCHNET_BUILD_LEVELS:-}" ]; then
    SCRATCHNET_BUILD_LEVELS=$(python -c "from scratchnet import backend; print(backend.cpu_level() or '')" 2>/dev/null || true)
    export SCRATCHNET_BUILD_LEVELS
fi
base=$(git rev-parse --verify "$1^{commit}")
head=$(git rev-parse --verify "$2^{commit}")
machine=${ASV_MACHINE:-vm-2core-x86_64}  # the machine class, as benchmarks/asv_history.sh records it
asv machine --yes --machine "$machine" > /dev/null
args=(--machine "$machine" --factor 1.1 --split --show-stderr --launch-method spawn)
if [ -n "${ASV_BENCH:-}" ]; then
    args+=(--bench "$ASV_BENCH")
fi
# asv continuous exits non-zero when a benchmark got worse by more than the factor
asv continuous "${args[@]}" "$base" "$head"
