"""Command-line options generated from the config dataclasses' fields (idtheory.config), and
subcommands that import only what they need."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from idtheory.cli import build_parser
from idtheory.config import METRICS, SubspaceConfig, TrainConfig


def _options(command: str) -> dict[str, object]:
    """Option string → argparse action of ``idtheory <command>``."""
    parser = build_parser([command])
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    return {flag: a for a in sub._actions for flag in a.option_strings}


@pytest.mark.parametrize("cls", [TrainConfig, SubspaceConfig])
def test_every_config_field_has_help(cls) -> None:
    for f in dataclasses.fields(cls):
        assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


@pytest.mark.parametrize(
    ("command", "cls", "skip"),
    [
        ("finetune", TrainConfig, {"lr", "seed"}),  # set by --lr and --seed of the command
        ("d90", TrainConfig, {"lr", "seed"}),  # --full-lrs, --subspace-lrs, --seeds
        ("finetune", SubspaceConfig, {"method"}),  # --method full/said/did
        ("d90", SubspaceConfig, {"method", "dim"}),  # --method said did; d searched
    ],
)
def test_options_carry_the_fields_defaults_help_and_choices(command, cls, skip) -> None:
    options = _options(command)
    for f in dataclasses.fields(cls):
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        if f.name in skip:
            continue
        action = options[flag]
        default = None if f.default is dataclasses.MISSING else f.default
        assert action.default == default and action.help == f.metadata["help"], flag
        assert tuple(action.choices or ()) == tuple(f.metadata.get("choices", ())), flag


def test_parsed_options_build_the_configs() -> None:
    from idtheory.cli import _subspace_kwargs, _train_config

    sub_args = ["--dim", "50", "--proj-seed", "3", "--include", "classifier", "encoder"]
    train_args = ["--epochs", "2", "--metric", "f1", "--precision", "fp32", "--group-by-length"]
    args = build_parser(["finetune"]).parse_args(["finetune", *sub_args, *train_args])
    sub = SubspaceConfig(dim=args.dim, **_subspace_kwargs(args))
    assert sub == SubspaceConfig(dim=50, seed=3, include=("classifier", "encoder"))
    train = _train_config(args, lr=0.1, seed=2)
    expected = TrainConfig(
        lr=0.1, seed=2, epochs=2.0, metric="f1", precision="fp32", group_by_length=True
    )
    assert train == expected
    defaults = build_parser(["finetune"]).parse_args(["finetune"])
    assert _train_config(defaults) == TrainConfig()  # same config, same hash as before
    assert SubspaceConfig(dim=1, **_subspace_kwargs(defaults)) == SubspaceConfig(dim=1)


@pytest.mark.parametrize(("flag", "value"), [("--max-steps", "0"), ("--epochs", "-1")])
def test_positive_fields_reject_zero_and_negatives(flag, value, capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser(["finetune"]).parse_args(["finetune", flag, value])
    assert f"argument {flag}: expected a positive" in capsys.readouterr().err


def test_config_checks_the_same_choices() -> None:
    assert METRICS == ("accuracy", "f1", "mcc")
    with pytest.raises(ValueError, match="metric must be one of"):
        TrainConfig(metric="auc")
    with pytest.raises(ValueError, match="layout must be one of"):
        SubspaceConfig(dim=2, layout="blockwise")


def test_a_partial_parser_lists_every_command() -> None:
    parser = build_parser(["bound"])
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == {"finetune", "d90", "results", "bound", "certify", "pretrain", "figures"}
    assert "--levels" in {f for a in choices["bound"]._actions for f in a.option_strings}
    assert len(choices["pretrain"]._actions) == 1  # -h only: its options import transformers


@pytest.mark.parametrize(
    "argv",
    [
        ["bound", "--d", "207", "--m", "3668", "--train-error", "0.1", "--levels", "16"],
        ["--help"],
    ],
)
def test_numpy_only_commands_import_no_torch_transformers_or_datasets(argv) -> None:
    code = (
        "import sys\n"
        "from idtheory.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage: idtheory" in proc.stdout or "Occam" in proc.stdout
