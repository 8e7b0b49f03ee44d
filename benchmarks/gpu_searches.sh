#!/usr/bin/env bash
# benchmarks/gpu_searches.sh — d90 searches of the quick-scale MiniLM recipe on one GPU, plus a
# rerun of the kernel benchmark; one device call (about 7 minutes).
#
#   bash benchmarks/run_gpu.sh --prepare     # here: build/gpu_carry (fp16 MiniLM, MRPC, CoLA)
#   run(command="bash benchmarks/gpu_searches.sh", carry=["build/gpu_carry"], timeout_s=480)
#
# Steps (each under its own `timeout`; a failing step is logged and the next one runs):
#   1. python -m idtheory.bench_gpu --sections kernels (the FWHT / Fastfood kernel table only);
#   2. two `idtheory d90` sweeps at once, each "--method said did" (one shared baseline) with a
#      process executor of $PARALLEL workers on the one GPU:
#        CoLA, metric MCC, the paper's threshold (the majority class has MCC 0, so 0.9 × baseline
#        is not degenerate);
#        MRPC, accuracy, chance-corrected threshold (--floor majority);
#      both with the recipe of data/results/README.md (1000 training examples, 3 epochs, full lrs
#      1e-4 5e-5, subspace lrs 0.1 0.3, d from 10 by ×4, bracket ≤ 1.5), fp32, on cuda.
#      The store is written to /tmp and comes back as results_gpu.tgz; unpack it into
#      data/results-gpu/ (the runs record device "cuda"; the weights are MiniLM's rounded to fp16,
#      see run_gpu.sh, which is why these runs live in their own store).
# Knobs (environment): KERNELS_BUDGET_S (70), SEARCH_TIMEOUT_S (300), PARALLEL (8 per sweep).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=build/gpu_carry
PY=${PY:-python3}
OUT=${OUT:-$(mktemp -d)}
KERNELS_BUDGET_S=${KERNELS_BUDGET_S:-70}
SEARCH_TIMEOUT_S=${SEARCH_TIMEOUT_S:-300}
PARALLEL=${PARALLEL:-8}
mkdir -p "$OUT/kernels"
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$ROOT/$CARRY/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee -a "$OUT/gpu_searches.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp "1. kernel benchmark (budget ${KERNELS_BUDGET_S}s)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout $((KERNELS_BUDGET_S + 40)) "$PY" -m idtheory.bench_gpu --sections kernels \
    --out "$OUT/kernels" --budget-s "$KERNELS_BUDGET_S" >"$OUT/kernels_stdout.txt" 2>&1
stamp "kernel benchmark exit code $?"

stamp "2. d90 sweeps (timeout ${SEARCH_TIMEOUT_S}s each, ${PARALLEL} workers each)"
RESULTS=/tmp/idt/results-gpu
mkdir -p "$RESULTS"
COMMON=(--model minilm-l6 --method said did --max-train-examples 1000 --epochs 3
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
grep '^\[bench_gpu\]' "$OUT/kernels_stdout.txt" || tail -n 20 "$OUT/kernels_stdout.txt"
tail -n 30 "$OUT/cola.log" "$OUT/mrpc.log"
stamp "done; files in \$OUT: $(find "$OUT" -type f | sed "s|$OUT/||" | tr '\n' ' ')"
sleep 1
exit 0
