#!/usr/bin/env bash
# benchmarks/gpu_searches.sh — d90 sweeps of MiniLM on one GPU plus a benchmark rerun; one device
# call (about 8 minutes with the defaults).
#
#   bash benchmarks/run_gpu.sh --prepare     # here: build/gpu_carry (fp16 MiniLM, MRPC, CoLA)
#   run(command="bash benchmarks/gpu_searches.sh", carry=["build/gpu_carry"], timeout_s=560)
#
# Steps (each under its own `timeout`; a failing step is logged and the next one runs):
#   1. python -m idtheory.bench.gpu --sections $BENCH_SECTIONS (default: kernels and training
#      steps; "" skips it);
#   2. two `idtheory d90` sweeps at once, each "--method said did" (one shared baseline) with a
#      process executor of $PARALLEL workers on the one GPU, resuming from the committed store
#      data/results-gpu (copied to /tmp first, so stored runs are not retrained):
#        CoLA, metric MCC, the paper's threshold (the majority class has MCC 0);
#        MRPC, accuracy, chance-corrected threshold (--floor majority);
#      recipe of data/results/README.md (3 epochs, full lrs 1e-4 5e-5, subspace lrs 0.1 0.3, d
#      from 10 by ×4 up to 100 000, bracket ≤ 1.5), fp32, on cuda, with $TRAIN_EXAMPLES training
#      examples ("all": the whole training set; 1000 on 2026-11-26's first call).
#      The store comes back as results_gpu.tgz: unpack it over data/results-gpu/ (the runs record
#      device "cuda"; the weights are MiniLM's rounded to fp16, see run_gpu.sh, which is why
#      these runs live in their own store).
# Knobs (environment): BENCH_SECTIONS ("kernels step"), BENCH_BUDGET_S (150), SEARCH_TIMEOUT_S
# (300), PARALLEL (8 per sweep), TRAIN_EXAMPLES (all).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=build/gpu_carry
PY=${PY:-python3}
OUT=${OUT:-$(mktemp -d)}
BENCH_SECTIONS=${BENCH_SECTIONS-kernels step}
BENCH_BUDGET_S=${BENCH_BUDGET_S:-150}
SEARCH_TIMEOUT_S=${SEARCH_TIMEOUT_S:-300}
PARALLEL=${PARALLEL:-8}
TRAIN_EXAMPLES=${TRAIN_EXAMPLES:-all}
mkdir -p "$OUT/kernels"
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$ROOT/$CARRY/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee -a "$OUT/gpu_searches.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp "1. benchmark: ${BENCH_SECTIONS:-skipped} (budget ${BENCH_BUDGET_S}s)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ -n "$BENCH_SECTIONS" ]; then
    # shellcheck disable=SC2086  # a list of section names
    timeout $((BENCH_BUDGET_S + 60)) "$PY" -m idtheory.bench.gpu --sections $BENCH_SECTIONS \
        --out "$OUT/kernels" --budget-s "$BENCH_BUDGET_S" >"$OUT/kernels_stdout.txt" 2>&1
    stamp "benchmark exit code $?"
fi

stamp "2. d90 sweeps (timeout ${SEARCH_TIMEOUT_S}s each, ${PARALLEL} workers each)"
RESULTS=/tmp/idt/results-gpu
mkdir -p "$(dirname "$RESULTS")"
rm -rf "$RESULTS" && cp -r data/results-gpu "$RESULTS" 2>/dev/null || mkdir -p "$RESULTS"
EXAMPLES=()
[ "$TRAIN_EXAMPLES" = all ] || EXAMPLES=(--max-train-examples "$TRAIN_EXAMPLES")
COMMON=(--model minilm-l6 --method said did "${EXAMPLES[@]}" --epochs 3
    --full-lrs 1e-4 5e-5 --subspace-lrs 0.1 0.3 --d-min 10 --grid-factor 4 --bracket-ratio 1.5
    --d-max 100000 --device cuda --precision fp32 --data-dir "$CARRY/data"
    --results-dir "$RESULTS" --quiet --executor process --max-parallel "$PARALLEL")
timeout "$SEARCH_TIMEOUT_S" "$PY" -m idtheory.cli d90 "${COMMON[@]}" --task cola --metric mcc \
    >"$OUT/cola.log" 2>&1 &
COLA=$!
timeout "$SEARCH_TIMEOUT_S" "$PY" -m idtheory.cli d90 "${COMMON[@]}" --task mrpc \
    --floor majority >"$OUT/mrpc.log" 2>&1 &
MRPC=$!
wait $COLA
COLA_RC=$?
wait $MRPC
MRPC_RC=$?
stamp "sweeps exit codes: cola $COLA_RC, mrpc $MRPC_RC; $(wc -l <"$RESULTS/runs.jsonl" 2>/dev/null) runs stored"
tar czf "$OUT/results_gpu.tgz" -C /tmp/idt results-gpu 2>/dev/null || true

stamp "3. summary"
grep '^\[bench_gpu\]' "$OUT/kernels_stdout.txt" 2>/dev/null || true
MD=$(ls -t "$OUT"/kernels/*.md 2>/dev/null | head -n 1)
[ -n "$MD" ] && sed -n '/## Goals/,/## Kernels/p' "$MD"
tail -n 30 "$OUT/cola.log" "$OUT/mrpc.log"
stamp "done; files in \$OUT: $(find "$OUT" -type f | sed "s|$OUT/||" | tr '\n' ' ')"
sleep 1
exit 0
