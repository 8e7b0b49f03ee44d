"""The ``idtheory pretrain`` command (also ``python -m idtheory.pretrain``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from idtheory.pretrain.corpus import GLUE_CORPUS_TASKS, build_corpus
from idtheory.pretrain.mlm import PretrainConfig, pretrain
from idtheory.pretrain.presets import PRESETS

# =========================================================================== CLI

#: :class:`~idtheory.pretrain.mlm.PretrainConfig` field → the ``idtheory pretrain`` option that
#: sets its value.
CONFIG_OPTIONS: dict[str, str] = {
    "preset": "--preset",
    "layers": "--layers",
    "hidden": "--hidden",
    "heads": "--heads",
    "ffn": "--ffn",
    "vocab_size": "--vocab-size",
    "max_length": "--max-length",
    "batch_size": "--batch-size",
    "grad_accum": "--grad-accum",
    "steps": "--steps",
    "lr": "--lr",
    "warmup_ratio": "--warmup-ratio",
    "weight_decay": "--weight-decay",
    "dropout": "--dropout",
    "eval_blocks": "--eval-blocks",
    "save_every": "--save-every",
    "log_every": "--log-every",
    "seed": "--seed",
    "device": "--device",
    "precision": "--precision",
    "num_threads": "--threads",
}
#: Boolean fields (True by default) → the option that turns each off.
CONFIG_SWITCHES: dict[str, str] = {"packing": "--no-packing", "save_initial": "--no-initial"}
#: Fields the command line leaves at their defaults (set them through the Python API).
CONFIG_ONLY: frozenset[str] = frozenset(
    {
        "adam_betas",
        "adam_eps",
        "grad_clip",
        "mlm_probability",
        "keep_optimizer_states",
        "min_frequency",
    }
)


def _dest(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The :class:`~idtheory.pretrain.mlm.PretrainConfig` that parsed ``idtheory pretrain``
    options ask for (:data:`CONFIG_OPTIONS`, :data:`CONFIG_SWITCHES`)."""
    values = {field: getattr(args, _dest(opt)) for field, opt in CONFIG_OPTIONS.items()}
    switches = {field: not getattr(args, _dest(opt)) for field, opt in CONFIG_SWITCHES.items()}
    return PretrainConfig(**values, **switches)


def config_option_words(values: Mapping[str, Any]) -> list[str]:
    """``idtheory pretrain`` options for PretrainConfig field values (``"--layers 2"``,
    ``"--no-packing"``, …): None values and switches left on are omitted, and so are keys that
    are not options."""
    words = []
    for field, value in values.items():
        if field in CONFIG_OPTIONS and value is not None:
            words.append(f"{CONFIG_OPTIONS[field]} {value}")
        elif field in CONFIG_SWITCHES and value is False:
            words.append(CONFIG_SWITCHES[field])
    return words


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``idtheory pretrain`` to ``parser`` (returned for chaining)."""
    d = PretrainConfig()
    g = parser.add_argument_group("model")
    g.add_argument("--preset", default=d.preset, choices=list(PRESETS), help="model size")
    g.add_argument("--layers", type=int, help="override the preset's number of layers")
    g.add_argument("--hidden", type=int, help="override the preset's hidden size")
    g.add_argument("--heads", type=int, help="override the preset's attention heads")
    g.add_argument("--ffn", type=int, help="override the preset's feed-forward size")
    g.add_argument("--vocab-size", type=int, default=d.vocab_size, help="BPE vocabulary size")
    g = parser.add_argument_group("corpus")
    g.add_argument(
        "--corpus",
        default="glue",
        nargs="+",
        help="'glue', a hub corpus (e.g. wikitext-103-raw-v1, hf:owner/name[:config]), or "
        "text files / directories (one document per line)",
    )
    g.add_argument(
        "--exclude-tasks",
        default=",".join(GLUE_CORPUS_TASKS),
        help="comma-separated tasks whose dev/test text must not be in the corpus ('' for none)",
    )
    g.add_argument("--data-dir", help="local task data (default $IDTHEORY_DATA)")
    g.add_argument(
        "--keep-overlap",
        action="store_true",
        help="do not drop overlapping corpus lines (then any overlap is an error)",
    )
    g.add_argument("--dedupe", action="store_true", help="drop repeated corpus lines")
    g.add_argument("--max-lines", type=int, help="use only the first N corpus lines")
    g = parser.add_argument_group("training")
    g.add_argument("--steps", type=int, default=d.steps, help="total updates")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per update")
    g.add_argument("--grad-accum", type=int, default=d.grad_accum, help="micro-batches/update")
    g.add_argument("--max-length", type=int, default=d.max_length, help="tokens per sequence")
    g.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    g.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--dropout", type=float, default=d.dropout)
    g.add_argument("--no-packing", action="store_true", help="one padded sequence per line")
    g.add_argument("--eval-blocks", type=int, default=d.eval_blocks, help="held-out sequences")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1 ...")
    g.add_argument("--precision", default=d.precision, choices=("auto", "fp32", "bf16"))
    g.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's; 1 is fastest on a CPU shared with other jobs)",
    )
    g = parser.add_argument_group("checkpoints")
    g.add_argument("--out", required=True, help="run directory (resumed if it has checkpoints)")
    g.add_argument("--save-every", type=int, default=d.save_every, help="updates/checkpoint")
    g.add_argument("--log-every", type=int, default=d.log_every, help="updates per log entry")
    g.add_argument("--no-initial", action="store_true", help="do not save checkpoint-0")
    g.add_argument("--stop-at", type=int, help="stop this session after this many updates")
    g.add_argument("--max-seconds", type=float, help="stop this session after this long")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run_pretrain_command(args: argparse.Namespace) -> int:
    """Run ``idtheory pretrain`` from parsed arguments; returns the exit status (0)."""
    corpus_arg = args.corpus if isinstance(args.corpus, str) else list(args.corpus)
    source: Any = (
        corpus_arg[0] if isinstance(corpus_arg, list) and len(corpus_arg) == 1 else corpus_arg
    )
    exclude = [t for t in (args.exclude_tasks or "").split(",") if t.strip()]
    corpus = build_corpus(
        source,
        tasks_to_exclude=exclude,
        data_dir=args.data_dir,
        drop_overlap=not args.keep_overlap,
        dedupe=args.dedupe,
        max_lines=args.max_lines,
    )
    print(
        f"corpus: {len(corpus)} lines, {corpus.num_words} words from {corpus.source}; "
        f"{corpus.n_dropped} line(s) dropped for overlap with {list(corpus.excluded_tasks)}"
    )
    config = config_from_args(args)
    res = pretrain(
        config,
        corpus,
        args.out,
        progress=not args.no_progress,
        stop_at=args.stop_at,
        max_seconds=args.max_seconds,
    )
    start = "fresh start" if res.resumed_from is None else f"resumed from step {res.resumed_from}"
    print(
        f"pretrain: {res.out_dir} at step {res.step}/{config.steps} ({start}); "
        f"{res.num_params:,} parameters, vocab {res.vocab_size}, "
        f"{res.n_train_sequences} training sequences; {res.elapsed_s:.0f} s of training; "
        f"{len(res.checkpoints)} checkpoint(s), log {res.log_path}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m idtheory.pretrain``."""
    parser = argparse.ArgumentParser(
        prog="python -m idtheory.pretrain",
        description="Pre-train a RoBERTa-style masked LM from scratch (resumable checkpoints).",
    )
    add_pretrain_arguments(parser)
    return run_pretrain_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
