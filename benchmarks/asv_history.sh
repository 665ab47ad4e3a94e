#!/usr/bin/env bash
# Records asv results for the project's history into benchmarks/results/ (committed, one folder per machine
# class): every STEP-th commit of main since the compiled kernels landed (e21c2e9), plus main's tip, each
# built in asv's own virtualenv; commits already recorded for this machine are skipped, so a rerun adds only
# what is new (run it after landing, with STEP=1 for the latest commits). Then `asv publish` writes the
# HTML to .asv/html (view it with `asv preview`).
#
#   bash benchmarks/asv_history.sh [STEP] [BENCH_REGEX]     e.g. bash benchmarks/asv_history.sh 10 'Step|Dense'
#
# ASV_MACHINE names the machine class (default vm-2core-x86_64: the project's 2-core VM); asv's own
# benchmarks/results/<machine>/machine.json records what it is. Benchmarks that a commit cannot run (a
# layer or kernel it does not have yet) are recorded as failed there, not guessed.
set -euo pipefail
cd "$(dirname "$0")/.."
# build only the kernels' instruction-set level this machine runs (#33: a wheel has three; the one chosen here
# is the one timed), a third of the build time; commits before the levels ignore it
if [ -z "${SCRATCHNET_BUILD_LEVELS:-}" ]; then
    SCRATCHNET_BUILD_LEVELS=$(python -c "from scratchnet import backend; print(backend.cpu_level() or '')" 2>/dev/null || true)
    export SCRATCHNET_BUILD_LEVELS
fi
step=${1:-5}
machine=${ASV_MACHINE:-vm-2core-x86_64}
asv machine --yes --machine "$machine" > /dev/null
commits=$(mktemp)
trap 'rm -f "$commits"' EXIT
git rev-list --reverse --first-parent e21c2e9^..main | awk -v step="$step" 'NR % step == 1' > "$commits"
git rev-parse main >> "$commits"
args=(--machine "$machine" --skip-existing-commits --launch-method spawn --show-stderr)
if [ -n "${2:-}" ]; then
    args+=(--bench "$2")
fi
asv run "${args[@]}" "HASHFILE:$commits" || true  # a failed benchmark on an old commit is a result too
asv publish
