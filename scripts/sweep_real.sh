#!/usr/bin/env bash
# The 'real' scale's trainings (Figure 1 / Table 1 on real models at real data sizes), run in
# the background from a separate clone and committed as they come. Resumable: run it again and
# the results store skips every stored training, and a training killed midway resumes from its
# checkpoint in data/results/partial/.
#
#   git clone <repo> ../idtheory-sweep && cd ../idtheory-sweep && make venv
#   MODELS='["minilm-l6"]' nohup scripts/sweep_real.sh > build/sweep.log 2>&1 &
#
# Bring its results (and the checkpoints of its trainings in flight) into the main checkout with
# `idtheory results --merge ../idtheory-sweep/data/results`.
#
# MODELS: JSON list of the scale's models to compute (default: all of them); TASKS: JSON list of its
# tasks (default: all; e.g. '["sst2"]' first: its trainings cost a third of MRPC's); METHODS: JSON
# list of its methods (default: both; '["said"]' first: the paper's headline); FLOORS: JSON list of
# its thresholds (default: both; '[0]' = the paper's only, which bisects every cell before the
# chance-corrected searches climb on — those reuse its runs and may run to d_max); WORKERS:
# trainings at once (default: one per CPU; 1 beside another job); COMMIT_EVERY: seconds between
# commits of data/results (0: never), with the checkpoints of trainings in flight below
# PARTIAL_MAX_MB (default 10: every subspace training's, no full fine-tuning's); TRIES: how often a
# failed sweep is started again, resuming (default 3: a worker killed by the kernel's OOM killer
# breaks the whole pool); RETRY_WAIT_S: seconds before a retry (default 60); PYTHON: the
# interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
MODELS=${MODELS:-}
TASKS=${TASKS:-}
METHODS=${METHODS:-}
FLOORS=${FLOORS:-}
WORKERS=${WORKERS:-}
COMMIT_EVERY=${COMMIT_EVERY:-900}
PARTIAL_MAX_MB=${PARTIAL_MAX_MB:-10}
TRIES=${TRIES:-3}
RETRY_WAIT_S=${RETRY_WAIT_S:-60}
mkdir -p build
commit_store() {
  # with the records, the checkpoints of the trainings in flight that are small (a subspace
  # training's θ_d and Adam state: kilobytes; a full fine-tuning's: GBs, kept local), so that
  # another machine resumes them from the clone; a finished training's checkpoint is deleted
  # by the store, and `add -A` commits that deletion
  # (not the .tmp a checkpoint is written to before its rename; one file per add, so that a
  # file gone meanwhile does not stop the others)
  find data/results/partial -maxdepth 1 -type f ! -name '*.tmp' \
    -size -"$((PARTIAL_MAX_MB * 1024))"k 2>/dev/null | xargs -r -n1 git add -f -- >/dev/null 2>&1
  for store in data/results data/probes; do
    [ -e "$store" ] && git add -A "$store" >/dev/null 2>&1
  done
  git commit -qm "real-scale sweep: results store as of $(date -u +%FT%TZ)" >/dev/null 2>&1 \
    && echo "== committed the store $(date -u +%FT%TZ)"
}
if [ "$COMMIT_EVERY" -gt 0 ]; then
  # (the sleep does not hold this script's output open)
  ( while sleep "$COMMIT_EVERY" >/dev/null 2>&1; do commit_store; done ) &
  committer=$!
  # its sleep first (the loop then ends by itself), then the loop, then a last commit
  trap 'pkill -P $committer 2>/dev/null; kill $committer 2>/dev/null; commit_store' EXIT
fi
args=(figures --scale real --compute --figures-dir build/real-figures)
[ -n "$MODELS" ] && args+=(--set "models=$MODELS")
[ -n "$TASKS" ] && args+=(--set "tasks=$TASKS")
[ -n "$METHODS" ] && args+=(--set "methods=$METHODS")
[ -n "$FLOORS" ] && args+=(--set "floors=$FLOORS")
[ -n "$WORKERS" ] && args+=(--set "workers=$WORKERS")
for try in $(seq 1 "$TRIES"); do
  echo "== sweep start $(date -u +%FT%TZ) ${MODELS:-all models} ${TASKS:-all tasks} ${METHODS:-all methods} ${FLOORS:-all thresholds} (try $try of $TRIES)"
  "$PYTHON" -m idtheory.cli "${args[@]}"
  rc=$?
  echo "== sweep rc $rc $(date -u +%FT%TZ)"
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 130 ] || [ "$try" -eq "$TRIES" ]; then break; fi
  sleep "$RETRY_WAIT_S"  # then resume: stored trainings are skipped, checkpoints resumed
done
exit "$rc"
