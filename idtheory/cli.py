"""Command line: ``idtheory {finetune,d90,results,bound,certify,pretrain,figures} --help``.

Every command reads task data from ``--data-dir`` (else ``$IDTHEORY_DATA``, else the Hugging Face
hub) and stores training runs in ``--results-dir`` (default ``data/results``), so repeated
commands reuse what is stored and interrupted sweeps resume.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from idtheory.config import SUBSPACE_METHODS, RunSpec, SubspaceConfig, TrainConfig
from idtheory.reports import add_results_arguments, format_d90
from idtheory.scales import SCALE_NAMES
from idtheory.stopping import sigterm_as_ctrl_c
from idtheory.store import DEFAULT_ROOT

DEFAULT_RESULTS = str(DEFAULT_ROOT)


# ----------------------------------------------------------------------------- arguments


def _positive_int(text: str) -> int:
    """argparse type: an integer > 0 (the error names what was expected, not this function)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _floor(text: str) -> str:
    """argparse type of ``d90 --floor``: a finite number or a name of
    :data:`idtheory.search.FLOOR_MODES`, kept as text (:func:`_resolve_floor` resolves it)."""
    from idtheory.search import FLOOR_MODES

    try:
        finite = text in FLOOR_MODES or math.isfinite(float(text))
    except ValueError:
        finite = False
    if not finite:
        names = ", ".join(repr(m) for m in FLOOR_MODES)
        raise argparse.ArgumentTypeError(f"expected a number, {names}, got {text!r}")
    return text


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: …)" to every option's help, except where the default is None or
    False (nothing to say) or the help already speaks of its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if (
            not text
            or "default" in text
            or not action.option_strings
            or any(action.default is v for v in (None, False, argparse.SUPPRESS))
        ):
            return text
        return f"{text} (default: %(default)s)"


#: The options of one's own data (:func:`_add_common`) and their defaults: any of them given
#: means own data, checked by :func:`_own_task`.
_OWN_DATA: dict[str, Any] = {
    "--train-file": None,
    "--dev-file": None,
    "--text-columns": None,
    "--label-column": "label",
    "--task-name": None,
}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="minilm-l6",
        help="hub id, local directory or alias (minilm-l6, mpnet-base, tiny-bert, tiny-roberta, "
        "tiny-mpnet)",
    )
    p.add_argument(
        "--task",
        default="mrpc",
        help="task name (mrpc, sst2, rte, cola, qqp, ...); or your own data: --train-file ...",
    )
    p.add_argument("--data-dir", default=None, help="GLUE-layout data (default $IDTHEORY_DATA)")
    p.add_argument("--results-dir", default=DEFAULT_RESULTS, help="results store directory")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("your own data (replaces --task; tasks.file_task)")
    g.add_argument("--train-file", help="training examples: .csv, .tsv (header line) or .jsonl")
    g.add_argument("--dev-file", help="dev examples scored for d90, same columns")
    g.add_argument(
        "--text-columns",
        nargs="+",
        metavar="COLUMN",
        help="the text column, or two for a sentence-pair task",
    )
    g.add_argument("--label-column", default=_OWN_DATA["--label-column"], help="the class column")
    g.add_argument("--task-name", help="name shown in tables (default: the training file's stem)")


def _own_task(args: argparse.Namespace) -> str:
    """``--train-file``/``--dev-file``/``--text-columns``/``--label-column`` → a task name
    (:func:`idtheory.tasks.file_task`); any of :data:`_OWN_DATA` given without the three
    needed ones is an error that names the missing ones."""
    from idtheory.tasks import file_task

    needed = {
        "--train-file": args.train_file,
        "--dev-file": args.dev_file,
        "--text-columns": args.text_columns,
    }
    missing = [flag for flag, value in needed.items() if not value]
    if missing:
        raise ValueError(
            "--train-file, --dev-file and --text-columns go together (your own data): "
            f"give {', '.join(missing)}"
        )
    return file_task(
        args.train_file, args.dev_file, args.text_columns, args.label_column, args.task_name
    )


def _option_flag(f: dataclasses.Field) -> str:
    """The command-line option of a config field: its ``"flag"`` metadata, else
    ``--field-name``."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _flag_dest(flag: str) -> str:
    """The :class:`argparse.Namespace` attribute of an option: ``--proj-seed`` → ``proj_seed``."""
    return flag[2:].replace("-", "_")


def _option_dest(f: dataclasses.Field) -> str:
    """The :class:`argparse.Namespace` attribute of a config field's option."""
    return _flag_dest(_option_flag(f))


def _field_default(f: dataclasses.Field) -> Any:
    """A config field's default, None where it has none."""
    return None if f.default is dataclasses.MISSING else f.default


def _changed(args: argparse.Namespace, defaults: dict[str, Any]) -> list[str]:
    """The options of ``defaults`` (flag → default) whose parsed value differs from their
    default, i.e. given on the command line (a list value equals the same tuple)."""

    def plain(value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    return [
        flag
        for flag, default in defaults.items()
        if plain(getattr(args, _flag_dest(flag), default)) != plain(default)
    ]


def _refuse(given: Sequence[str], message: str) -> None:
    """Refuse (a usage error: :func:`main` prints ``idtheory COMMAND: error: MESSAGE`` and
    returns 2) when options were ``given`` that the mode chosen would ignore; ``{options}`` in
    ``message`` names them."""
    if given:
        raise ValueError(message.format(options=", ".join(given)))


def _config_fields(cls: type, skip: Iterable[str]) -> list[dataclasses.Field]:
    """The fields of the config dataclass ``cls`` offered as options (all but ``skip``)."""
    skipped = set(skip)
    return [f for f in dataclasses.fields(cls) if f.name not in skipped]


def _option_kwargs(f: dataclasses.Field, hint: Any) -> dict[str, Any]:
    """``add_argument`` keywords of one config field from its type hint and metadata
    (:mod:`idtheory.config`): bool → a switch; ``T | None`` → T with default None; a tuple →
    one or more values; ``"choices"`` → choices; ``"positive"`` → only numbers > 0."""
    meta = f.metadata
    kw: dict[str, Any] = {
        "default": _field_default(f),
        "help": meta.get("help"),
    }
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        kw["action"] = "store_true" if kw["default"] is False else argparse.BooleanOptionalAction
        return kw
    if typing.get_origin(hint) is tuple:
        kw["nargs"] = "+"
        kw["metavar"] = meta.get("metavar", "REGEX")
        hint = typing.get_args(hint)[0]
    elif typing.get_origin(hint) is typing.Literal:
        hint = type(typing.get_args(hint)[0])
    if "choices" in meta:
        kw["choices"] = list(meta["choices"])
    positive = {int: _positive_int, float: _positive_float}
    kw["type"] = positive[hint] if meta.get("positive") else hint
    return kw


def add_config_options(
    group: argparse._ActionsContainer, cls: type, skip: Iterable[str] = ()
) -> None:
    """One option per field of the config dataclass ``cls`` (:class:`~idtheory.config.TrainConfig`,
    :class:`~idtheory.config.SubspaceConfig`) but ``skip``, in field order, with the field's
    default, help text and choices (as ``transformers.HfArgumentParser``); fields without a
    default get None. :func:`config_values` reads them back."""
    hints = typing.get_type_hints(cls)
    for f in _config_fields(cls, skip):
        group.add_argument(
            _option_flag(f), dest=_option_dest(f), **_option_kwargs(f, hints[f.name])
        )


def config_values(args: argparse.Namespace, cls: type, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Field name → parsed value of the options :func:`add_config_options` added."""
    return {f.name: getattr(args, _option_dest(f)) for f in _config_fields(cls, skip)}


#: TrainConfig fields set by command-level options (``--lr``, ``--seed``; ``--full-lrs``...).
_TRAIN_SKIP = ("lr", "seed")
#: SubspaceConfig fields set by command-level options (``--method``) or per search (``dim``).
_SUBSPACE_SKIP = ("dim", "method")


def _add_train(p: argparse.ArgumentParser) -> None:
    add_config_options(p.add_argument_group("training (TrainConfig)"), TrainConfig, _TRAIN_SKIP)


def _add_subspace(p: argparse.ArgumentParser, with_dim: bool) -> None:
    skip = _SUBSPACE_SKIP[1:] if with_dim else _SUBSPACE_SKIP
    add_config_options(p.add_argument_group("subspace (SubspaceConfig)"), SubspaceConfig, skip)


def _train_config(args: argparse.Namespace, lr: float = 2e-5, seed: int = 0) -> TrainConfig:
    return TrainConfig(lr=lr, seed=seed, **config_values(args, TrainConfig, _TRAIN_SKIP))


def _subspace_defaults() -> dict[str, Any]:
    """Flag → default of the SubspaceConfig options but ``dim`` and ``method``."""
    return {
        _option_flag(f): _field_default(f) for f in _config_fields(SubspaceConfig, _SUBSPACE_SKIP)
    }


def _subspace_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The SubspaceConfig options but ``dim`` and ``method`` (``subspace_kwargs`` of a search)."""
    return config_values(args, SubspaceConfig, _SUBSPACE_SKIP)


def _train_fn(args: argparse.Namespace):
    """The search's default trainer on ``--results-dir`` (θ_d in its params, checkpoints in its
    partial directory), reading ``--data-dir``."""
    from idtheory.search import default_train_fn
    from idtheory.store import ResultsStore

    return default_train_fn(ResultsStore(args.results_dir), not args.quiet, args.data_dir)


# ----------------------------------------------------------------------------- commands


def cmd_finetune(args: argparse.Namespace) -> int:
    from idtheory.store import ResultsStore

    if args.method != "full" and args.dim is None:
        raise ValueError("--dim is required with --method said/did")
    if args.method == "full":
        _refuse(
            _changed(args, {"--dim": None, **_subspace_defaults()}),
            "{options}: for --method said/did only; full fine-tuning trains all D parameters "
            "(drop {options}, or pick --method said)",
        )
    subspace = None
    if args.method != "full":
        subspace = SubspaceConfig(dim=args.dim, method=args.method, **_subspace_kwargs(args))
    lr = args.lr if args.lr is not None else (1e-4 if args.method == "full" else 0.1)
    spec = RunSpec(args.model, args.task, _train_config(args, lr, args.seed), subspace)
    train_fn = _train_fn(args)
    store = None if args.no_store else ResultsStore(args.results_dir)
    reused = store is not None and not store.needs_training(spec)
    record = train_fn(spec) if store is None else store.run(spec, train_fn)
    dev, train = record["metrics"]["dev"], record["metrics"]["train"]
    print(f"run {record['run_id']}  status={record['status']}  {record.get('message', '')}")
    if reused:
        print(f"  stored on {record.get('created', '?')[:16]}, not retrained (--no-store retrains)")
    trainable, total = record["num_trainable"], record["num_params"]
    print(f"  {spec.train.precision}, trainable {trainable:,} of D = {total:,}")
    print(f"  dev   {_fmt_metrics(dev)}\n  train {_fmt_metrics(train)}")
    print(f"  best step {record['best_step']}, {record['wall_time_s']:.1f} s")
    return 0 if record["status"] == "ok" else 1


def _fmt_metrics(m: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4f}" for k, v in m.items()) or "-"


def cmd_d90(args: argparse.Namespace) -> int:
    from idtheory.executors import executor_from_args
    from idtheory.search import measure_d90_many
    from idtheory.store import ResultsStore

    if args.grid:
        _refuse(
            _changed(args, _search_only_defaults()),
            "{options}: for the search only; --grid trains exactly the d given "
            "(drop {options}, or drop --grid)",
        )
    methods = list(dict.fromkeys(args.method))  # several: one sweep, the baseline trained once
    store, train_fn = ResultsStore(args.results_dir), _train_fn(args)
    executor = executor_from_args(args, progress=not args.quiet)
    floor = _resolve_floor(args, lambda: _baseline_score(args, store, train_fn, executor))
    results = measure_d90_many(
        [{"model": args.model, "task": args.task, "method": m} for m in methods],
        store=store,
        train_fn=train_fn,
        executor=executor,
        max_parallel=args.max_parallel,
        progress=not args.quiet,
        full_lrs=args.full_lrs,
        subspace_lrs=args.subspace_lrs,
        subspace_lrs_from=_lrs_from(args.subspace_lrs_from),
        seeds=args.seeds,
        base_train=_train_config(args),
        subspace_kwargs=_subspace_kwargs(args),
        frac=args.frac,
        d_min=args.d_min,
        d_max=args.d_max,
        d_floor=args.d_floor,
        grid_factor=args.grid_factor,
        bracket_ratio=args.bracket_ratio,
        grid=args.grid,
        metric=args.metric,
        floor=floor,
    )
    summaries = [r.to_dict() for r in results]
    print("\n".join(format_d90(r) for r in summaries))
    _warn_degenerate_threshold(args, summaries)
    return 0


def _search_only_defaults() -> dict[str, Any]:
    """Flag → default of the ``d90`` options that only the search reads (``--grid`` not)."""
    from idtheory.search import DEFAULT_BRACKET_RATIO, DEFAULT_D_MIN, DEFAULT_GRID_FACTOR

    return {
        "--d-min": DEFAULT_D_MIN,
        "--d-max": None,
        "--d-floor": None,
        "--grid-factor": DEFAULT_GRID_FACTOR,
        "--bracket-ratio": DEFAULT_BRACKET_RATIO,
    }


def _lrs_from(groups: list[list[str]] | None) -> dict[int, list[float]] | None:
    """``--subspace-lrs-from D LR [LR ...]`` (repeated) as ``{D: [LR, ...]}``."""
    if not groups:
        return None
    out: dict[int, list[float]] = {}
    for group in groups:
        if len(group) < 2:
            raise ValueError(f"--subspace-lrs-from needs D and at least one LR, got {group}")
        try:
            d, lrs = int(group[0]), [_positive_float(x) for x in group[1:]]
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"--subspace-lrs-from {' '.join(group)}: {exc}") from None
        if d < 1:
            raise ValueError(f"--subspace-lrs-from: D must be a positive integer, got {d}")
        out[d] = lrs
    return out


def _warn_degenerate_threshold(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    """Say so when the paper's threshold lies at or below the majority-class score: a constant
    predictor "passes" and the d90 means nothing (MRPC and RTE on small training sets)."""
    if args.floor in ("majority", "auto") or float(args.floor) != 0.0:
        return
    from idtheory.curve import threshold_is_degenerate

    majority = _dev_majority(args)
    thresholds = [r["threshold"] for r in results if r.get("threshold") is not None]
    if thresholds and threshold_is_degenerate(min(thresholds), majority):
        print(
            f"warning: the threshold {min(thresholds):.4f} is at or below the majority-class "
            f"{args.metric} of {_dev_examples(args)} ({majority:.4f}): a constant predictor "
            "passes, so this d90 measures nothing. Rerun with --floor majority (or auto) for "
            "the chance-corrected d90 (the stored trainings are reused).",
            file=sys.stderr,
        )


def _resolve_floor(
    args: argparse.Namespace, baseline: Callable[[], float | None] | None = None
) -> float:
    """``--floor`` as the number the search takes (:func:`idtheory.search.resolve_floor`): a
    number; "majority" = the majority-class score of the dev examples evaluated (all of them,
    or the ``--max-eval-examples`` subset); "auto" = that score where the paper's threshold
    ``frac × baseline`` is at or below it, else 0. ``baseline()`` gives the full fine-tuning
    score "auto" needs (None when no baseline run succeeded: then 0, and the search reports
    the failed baseline)."""
    from idtheory.search import resolve_floor

    if args.floor not in ("majority", "auto"):
        return float(args.floor)
    if args.floor == "majority":
        return resolve_floor("majority", _dev_majority(args), None)
    score = None if baseline is None else baseline()
    if score is None:
        return 0.0
    return resolve_floor("auto", _dev_majority(args), score, args.frac)


def _baseline_score(
    args: argparse.Namespace, store: Any, train_fn: Any, executor: Any
) -> float | None:
    """The full fine-tuning baseline of ``d90`` (best lr of the mean over seeds), trained or
    read from ``store`` through the same specs as the search's first round, which then
    reuses them; None when no run succeeded."""
    from idtheory.trends import run_baseline

    score, _ = run_baseline(
        args.model,
        args.task,
        store=store,
        train_fn=train_fn,
        executor=executor,
        full_lrs=args.full_lrs,
        seeds=args.seeds,
        base_train=_train_config(args),
        metric=args.metric,
        progress=not args.quiet,
    )
    return score


def _dev_majority(args: argparse.Namespace) -> float:
    """Majority-class ``--metric`` of the dev examples the trainer scores: the subset drawn for
    ``--max-eval-examples`` (as :mod:`idtheory.train` draws it) or the whole dev set."""
    from idtheory.tasks import scored_dev_majority

    return scored_dev_majority(args.task, args.metric, args.data_dir, args.max_eval_examples)


def _dev_examples(args: argparse.Namespace) -> str:
    """What :func:`_dev_majority` scored, in words."""
    from idtheory.tasks import display_name

    task = display_name(args.task)
    if args.max_eval_examples is None:
        return f"{task} dev"
    return f"the {args.max_eval_examples} evaluated {task} dev examples"


def cmd_bound(args: argparse.Namespace) -> int:
    from idtheory.bounds import bound_report, format_report

    if args.run is not None:
        from idtheory.compress import bound_for_run
        from idtheory.store import ResultsStore

        _refuse(
            _changed(
                args,
                {"--d": None, "--m": None, "--train-error": None, "--train-error-fp16": None},
            ),
            "{options}: --run takes d, m and the training error from the stored run "
            "(drop {options}, or drop --run)",
        )

        result = bound_for_run(
            args.run,
            store=ResultsStore(args.results_dir),
            levels=args.levels or 16,
            delta=args.delta,
            n_candidate_d=args.n_candidate_d,
            extra_bits=args.extra_bits,
            data_dir=args.data_dir,
        )
        print(format_report(result["rows"], title=result["title"]))
        print(
            f"\nbest certified bound: {result['best_bound']:.4f} (the smallest row with every code "
            f"charged {result['code_choice_bits']:g} more bit(s) for choosing the code after "
            "seeing the data)"
        )
        return 0
    if args.d is None or args.m is None or args.train_error is None:
        raise ValueError("give --d, --m and --train-error (or --run ID)")
    rows = bound_report(
        args.d,
        args.m,
        args.train_error,
        levels=args.levels,
        delta=args.delta,
        n_candidate_d=args.n_candidate_d,
        extra_bits=args.extra_bits,
        train_error_fp16=args.train_error_fp16,
    )
    print(format_report(rows))
    return 0


def cmd_certify(args: argparse.Namespace) -> int:
    from idtheory.certify import (
        declared_for,
        format_certificate,
        load_protocol,
        plan,
        reference_spec,
        run_protocol,
    )
    from idtheory.store import ResultsStore

    protocol = load_protocol(args.protocol or declared_for(args.model, args.task))
    store = ResultsStore(args.results_dir)
    rows = plan(protocol, store)
    print(f"protocol {protocol.name} ({protocol.sha256[:12]}): {len(protocol.candidates)} "
          f"declared candidates, {len(rows)} trainings")  # fmt: skip
    for r in rows:
        route = r["route"] + (f" L={r['levels']}" if r.get("levels") else "")
        print(f"  {r['status']:<11} {r['run_id'] or '-':<16} {r['method']} d={r['dim']} "
              f"lr={r['lr']:g} {route} ({len(r['candidates'])} candidates)")  # fmt: skip
    reference = reference_spec(protocol, args.reference_lr)
    status = "missing" if store.needs_training(reference) else "stored"
    print(f"  {status:<11} {reference.config_hash():<16} full fine-tuning lr="
          f"{reference.train.lr:g} (reference; --reference trains it)")  # fmt: skip
    if args.dry_run:
        return 0
    if args.reference:
        return _certify_reference(args, store, reference)
    records = run_protocol(
        protocol, store, only=args.runs, data_dir=args.data_dir, artifacts_dir=args.artifacts_dir
    )
    if not records:
        print("no certificate yet: nothing declared is trained")
        return 0
    print()
    print(format_certificate(records[0]))
    return 0


def _certify_reference(args: argparse.Namespace, store: Any, spec: RunSpec) -> int:
    """``certify --reference``: train (or read) the full fine-tuning reference, print it."""
    from idtheory.search import default_train_fn

    train_fn = default_train_fn(store, data_dir=args.data_dir, artifacts_dir=args.artifacts_dir)
    record = store.run(spec, train_fn)
    dev = (record.get("metrics") or {}).get("dev") or {}
    print(f"\nreference {record['run_id']}  status={record['status']}  {record.get('message', '')}")
    if "accuracy" in dev:
        print(f"  dev error, full fine-tuning {1.0 - dev['accuracy']:.4f}")
    return 0 if record["status"] == "ok" else 1


def cmd_figures(args: argparse.Namespace) -> int:
    from idtheory.figures import render_all

    overrides = parse_overrides(args.set)
    if args.compute is not None:
        overrides["compute"] = args.compute
    return render_all(
        scale=args.scale,
        only=args.only,
        results_dir=args.results_dir,
        figures_dir=args.figures_dir,
        build_dir=args.build_dir,
        overrides=overrides,
    )


def parse_overrides(items: list[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` strings → a dict of scale overrides; VALUE is JSON, else a plain string.

    Checked here, before any notebook starts: keys against the scale presets
    (:func:`idtheory.scales.scale_keys`), so a typo fails with the list of valid keys instead
    of being silently ignored by papermill; values by :func:`_override_value`.
    """
    from idtheory.scales import scale_keys

    valid = set(scale_keys())
    out: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        if key not in valid:
            raise ValueError(
                f"unknown scale key {key!r} in --set; valid keys: " + ", ".join(sorted(valid))
            )
        out[key] = _override_value(key, raw)
    return out


def _override_value(key: str, raw: str) -> object:
    """One ``--set`` value: JSON, else the plain string — unless ``raw`` opens a JSON list,
    object or string and does not parse (``dims=[10,``), or is a plain string where every
    preset holds a list, object, number or boolean (``tasks=sst2``, ``frac=O.9``)."""
    from idtheory.scales import SCALES

    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        if raw.lstrip().startswith(("[", "{", '"')):
            raise ValueError(
                f"--set {key}={raw}: not valid JSON ({err.msg} at character {err.pos})"
            ) from None
    kinds = {type(p[key]).__name__ for p in SCALES.values() if p[key] is not None}
    if kinds and "str" not in kinds:
        expected = " or ".join(sorted({_JSON_KIND.get(k, k) for k in kinds}))
        example = json.dumps(SCALES["quick"][key])
        hint = f" such as {key}='{example}'" if len(example) <= 40 else ""
        raise ValueError(f"--set {key}={raw}: expected a JSON {expected}{hint}, got a plain string")
    return raw


_JSON_KIND = {"dict": "object", "int": "number", "float": "number", "bool": "boolean"}
"""Python type name of a preset value → its JSON name (where they differ)."""


def cmd_pretrain(args: argparse.Namespace) -> int:
    from idtheory.pretrain import run_pretrain_command

    return run_pretrain_command(args) or 0


# ----------------------------------------------------------------------------- parser


def _add_finetune(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument(
        "--method",
        default="said",
        choices=["full", *SUBSPACE_METHODS],
        help="full fine-tuning, or training in a d-dimensional subspace (SAID, DID)",
    )
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="learning rate (default 1e-4 full, 0.1 subspace)",
    )
    p.add_argument("--seed", type=int, default=0, help="training seed (data order, head init)")
    p.add_argument(
        "--no-store",
        action="store_true",
        help="train even if stored, record nothing (θ_d is still saved to <results-dir>/params)",
    )
    _add_train(p)
    _add_subspace(p, with_dim=True)
    p.set_defaults(func=cmd_finetune)


def _add_d90(p: argparse.ArgumentParser) -> None:
    from idtheory.curve import DEFAULT_FRAC
    from idtheory.executors import add_executor_arguments
    from idtheory.search import DEFAULT_FULL_LRS, DEFAULT_SEEDS, DEFAULT_SUBSPACE_LRS

    search_only = _search_only_defaults()
    _add_common(p)
    p.add_argument(
        "--method",
        nargs="+",
        default=["said"],
        choices=list(SUBSPACE_METHODS),
        help="one or several (e.g. 'said did': run together, the full baseline trained once)",
    )
    p.add_argument(
        "--full-lrs",
        type=_positive_float,
        nargs="+",
        default=list(DEFAULT_FULL_LRS),
        help="learning rates of the full fine-tuning baseline (the best is kept)",
    )
    p.add_argument(
        "--subspace-lrs",
        type=_positive_float,
        nargs="+",
        default=list(DEFAULT_SUBSPACE_LRS),
        help="learning rates tried at each d (the best is kept)",
    )
    p.add_argument(
        "--subspace-lrs-from",
        nargs="+",
        action="append",
        metavar=("D", "LR"),
        default=None,
        help="from dimension D on, these learning rates instead of --subspace-lrs (repeatable; "
        "e.g. '--subspace-lrs-from 5120 0.03 0.1': Adam's steps grow as lr·√d)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(DEFAULT_SEEDS),
        help="training seeds (scores averaged)",
    )
    p.add_argument("--frac", type=float, default=DEFAULT_FRAC, help="fraction of the baseline")
    p.add_argument(
        "--floor",
        type=_floor,
        default="0",
        help="score counted as no progress: threshold = floor + frac × (baseline − floor); 0 is "
        "the paper's d90, 'majority' the task's majority-class dev score (chance-corrected), "
        "'auto' the majority score only where the paper's threshold is at or below it",
    )
    p.add_argument(
        "--d-min", type=_positive_int, default=search_only["--d-min"], help="first d of the search"
    )
    p.add_argument(
        "--d-max",
        type=_positive_int,
        default=search_only["--d-max"],
        help="largest d tried (default: D, the number of projected parameters)",
    )
    p.add_argument(
        "--d-floor",
        type=_positive_int,
        default=search_only["--d-floor"],
        help="when --d-min already passes, search down to this d (d-min / grid-factor^k) so "
        "the bracket closes from below; for SAID above the model's number of λ (default: "
        "stop at --d-min)",
    )
    p.add_argument(
        "--grid-factor",
        type=float,
        default=search_only["--grid-factor"],
        help="ratio of successive d of the search grid",
    )
    p.add_argument(
        "--bracket-ratio",
        type=float,
        default=search_only["--bracket-ratio"],
        help="bisect until the d90 bracket (lo, hi] has hi / lo at most this",
    )
    p.add_argument(
        "--grid",
        type=_positive_int,
        nargs="+",
        default=None,
        help="train exactly these d (accuracy-vs-d curve) instead of searching (then "
        "--d-min, --d-max, --grid-factor and --bracket-ratio do not apply)",
    )
    _add_train(p)
    _add_subspace(p, with_dim=False)
    add_executor_arguments(p)
    p.set_defaults(func=cmd_d90)


def _add_bound(p: argparse.ArgumentParser) -> None:
    p.add_argument("--d", type=_positive_int, help="intrinsic dimension (e.g. d90); without --run")
    p.add_argument("--m", type=_positive_int, help="number of training examples; without --run")
    p.add_argument(
        "--train-error",
        type=float,
        help="training error (fraction) of the stored model; without --run",
    )
    p.add_argument(
        "--train-error-fp16",
        type=float,
        help="training error of θ_d rounded to float16 (certifies the fp16 rows; without "
        "--levels and --run)",
    )
    p.add_argument(
        "--levels",
        type=_positive_int,
        default=None,
        help="quantization levels of θ_d (none: the fp32 and fp16 codes; with --run: 16)",
    )
    p.add_argument("--delta", type=float, default=0.05, help="failure probability")
    p.add_argument(
        "--n-candidate-d",
        type=_positive_int,
        default=1,
        help="number of d the search could have returned, fixed before it ran (charged log2 "
        "bits): idtheory.search.possible_d90s(summary settings), e.g. 29 at the quick scale; "
        "not the d it happened to evaluate",
    )
    p.add_argument("--extra-bits", type=float, default=0.0, help="other hyper-parameter bits")
    p.add_argument("--run", default=None, help="a stored run id: quantize and bound it")
    p.add_argument("--results-dir", default=DEFAULT_RESULTS, help="results store of --run")
    p.add_argument(
        "--data-dir", default=None, help="GLUE-layout data of --run (default $IDTHEORY_DATA)"
    )
    p.set_defaults(func=cmd_bound)


def _add_certify(p: argparse.ArgumentParser) -> None:
    from idtheory.certify import REFERENCE_LR  # numpy and scipy: only when certify is parsed

    p.add_argument(
        "--model",
        default="minilm-l6",
        help="θ₀ of the declared protocol to run (with --task; see data/certificates/)",
    )
    p.add_argument(
        "--task", default="sst2", help="task of the declared protocol to run (with --model)"
    )
    p.add_argument(
        "--protocol",
        default=None,
        help="a declared protocol name or a JSON file (drafts; not hash-checked) instead of "
        "--model/--task (default: the protocol declared for --model and --task)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the trainings, train nothing")
    only = p.add_mutually_exclusive_group()
    only.add_argument(
        "--runs",
        nargs="+",
        metavar="RUN_ID",
        default=None,
        help="train only these trainings of the plan (run ids from --dry-run), so that several "
        "processes or machines can share it; every stored one is still certified "
        "(default: all missing)",
    )
    only.add_argument(
        "--reference",
        action="store_true",
        help="train only the full fine-tuning reference printed beside the certificate: the "
        "protocol's model, task and training settings, all parameters at --reference-lr",
    )
    p.add_argument(
        "--reference-lr",
        type=_positive_float,
        default=REFERENCE_LR,
        help="learning rate of the reference; 1e-4 is the better full fine-tuning rate of "
        "minilm-l6 at the quick and real scales",
    )
    p.add_argument(
        "--results-dir",
        default=DEFAULT_RESULTS,
        help="results store: trainings, and certificates in its bounds.jsonl",
    )
    p.add_argument("--data-dir", default=None, help="GLUE-layout data (default $IDTHEORY_DATA)")
    p.add_argument("--artifacts-dir", default=None, help="θ_d files (default <results>/params)")
    p.set_defaults(func=cmd_certify)


def _add_pretrain(p: argparse.ArgumentParser) -> None:
    try:
        from idtheory.pretrain import add_pretrain_arguments

        add_pretrain_arguments(p)
    except ImportError:  # pragma: no cover
        pass
    p.set_defaults(func=cmd_pretrain)


def _add_figures(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scale",
        default="quick",
        choices=list(SCALE_NAMES),
        help="preset of idtheory/scales.py",
    )
    p.add_argument(
        "--only", type=int, nargs="+", default=None, help="notebook numbers, 1-5 (default: all)"
    )
    p.add_argument("--results-dir", default=None, help="default: the scale's preset")
    p.add_argument("--figures-dir", default="figures", help="figures go to <dir>/<scale>/")
    p.add_argument("--build-dir", default="build/notebooks", help="executed notebooks")
    p.add_argument(
        "--compute",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train what the results store lacks (--compute) or only render what it holds "
        "(--no-compute); default: the scale's preset (smoke computes, quick/paper read)",
    )
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=None,
        help="override scale keys (VALUE is JSON), e.g. --set 'dims=[10,100]' executor=local",
    )
    p.set_defaults(func=cmd_figures)


#: Command → (one-line help, the function adding its options). Adding a command's options may
#: import what the command needs (``pretrain``: transformers), so :func:`main` adds only the
#: options of the command it runs.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "finetune": ("one training run (full, SAID or DID), stored", _add_finetune),
    "d90": ("measure d90: full baseline, then search over d", _add_d90),
    "results": ("table of stored runs or d90 results", add_results_arguments),
    "bound": ("generalization bounds for d parameters (or a stored run)", _add_bound),
    "certify": ("the declared certificate protocol: train what is missing, certify", _add_certify),
    "pretrain": ("pretrain a masked LM from scratch with checkpoints", _add_pretrain),
    "figures": ("render the notebooks (papermill) into figures/", _add_figures),
}


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``idtheory`` parser: every command with its options, or with ``commands`` given only
    those commands' options (the others keep their name and help line, enough for
    ``idtheory --help``)."""
    parser = argparse.ArgumentParser(
        prog="idtheory",
        description="Intrinsic dimension of language-model fine-tuning: subspace training, "
        "d90 measurement, generalization bounds and the paper's figures.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = set(COMMANDS if commands is None else commands)
    for name, (text, add_options) in COMMANDS.items():
        p = sub.add_parser(name, help=text, formatter_class=_HelpFormatter)
        if name in wanted:
            add_options(p)
    return parser


def _command_of(argv: Sequence[str]) -> list[str]:
    """The command named in ``argv`` (its first word not starting with "-"), as a list of at
    most one name: the top-level parser has no option taking a value."""
    return [a for a in argv if not a.startswith("-")][:1]


def _writes_results(args: argparse.Namespace) -> bool:
    """Whether the command stores something under ``--results-dir``: runs, summaries, trained
    parameters (``finetune``, also with ``--no-store``: its θ_d), bounds (``bound --run``),
    trainings and certificates (``certify`` but ``--dry-run``)."""
    return (
        args.command in ("finetune", "d90")
        or (args.command == "bound" and getattr(args, "run", None) is not None)
        or (args.command == "certify" and not args.dry_run)
    )


def check_writable(results_dir: str | Path) -> None:
    """Fail now, in one line, if ``results_dir`` cannot be written — before any training.

    Creates the directory (as the first stored result would), then tries what the store does:
    create a file in it and in its ``params/`` folder, and append to each store file that
    already exists (opening in append mode changes nothing). Trying, rather than asking
    :func:`os.access`, also catches read-only mounts and holds for root.

    Raises:
        ValueError: ``results directory … is not writable (<reason>)``.
    """
    import tempfile

    from idtheory.store import ResultsStore

    root = Path(results_dir)
    names = (ResultsStore.RUNS_FILE, ResultsStore.SUMMARIES_FILE, ResultsStore.BOUNDS_FILE)
    target = root
    try:
        root.mkdir(parents=True, exist_ok=True)
        for target in (root, root / ResultsStore.PARAMS_DIR):
            if target.exists():
                with tempfile.TemporaryFile(dir=target):
                    pass
        for target in (root / name for name in names):
            if target.exists():
                with target.open("ab"):
                    pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        where = "" if target == root else f": {target}"
        raise ValueError(
            f"results directory {root} is not writable ({reason}{where}); pass a writable "
            "--results-dir"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    with sigterm_as_ctrl_c():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """A parsed command, with its errors as one line and its exit status."""
    try:
        data_dir = getattr(args, "data_dir", None)
        if data_dir is not None and not Path(data_dir).is_dir():
            raise ValueError(f"--data-dir {data_dir} is not a directory")
        if hasattr(args, "train_file") and _changed(args, _OWN_DATA):
            args.task = _own_task(args)
        if _writes_results(args):
            check_writable(args.results_dir)
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        print(f"idtheory {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenProcessPool:
        from idtheory.executors import WORKER_DIED_HINT

        print(f"idtheory {args.command}: error: {WORKER_DIED_HINT}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted: finished trainings are stored, a training in progress saved its "
            "checkpoint at the end of its step; rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # `idtheory results | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
