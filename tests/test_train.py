"""The training loop on a tiny random model and slices of the real MRPC data."""

from __future__ import annotations

import functools
import math
import os
import socket

import pytest

from idtheory.config import RunSpec, SubspaceConfig, TrainConfig
from idtheory.store import ResultsStore
from idtheory.train import run_spec

SMALL = dict(
    epochs=2,
    batch_size=16,
    max_length=48,
    max_train_examples=48,
    max_eval_examples=40,
    precision="fp32",
)


def spec(lr=1e-2, dim=40, method="said", **train):
    sub = None if method == "full" else SubspaceConfig(dim=dim, method=method)
    return RunSpec("tiny-bert", "mrpc", TrainConfig(lr=lr, **{**SMALL, **train}), sub)


def test_subspace_record_contract(data_dir, tmp_path):
    s = spec()
    rec = run_spec(s, data_dir=data_dir, artifacts_dir=tmp_path, progress=False)
    assert rec["run_id"] == s.config_hash()
    assert rec["status"] == "ok"
    assert rec["num_trainable"] == 40
    assert rec["num_params"] > 10_000
    assert set(rec["metrics"]["dev"]) == {"accuracy", "f1"}
    assert 0 <= rec["metrics"]["train"]["accuracy"] <= 1
    assert [h["step"] for h in rec["history"]] == [3, 6]  # one evaluation per epoch
    best = max(rec["history"], key=lambda h: h["dev"]["accuracy"])
    assert rec["metrics"]["dev"] == best["dev"]
    assert rec["best_step"] == best["step"]
    assert (tmp_path / rec["run_id"] / "subspace_model.safetensors").is_file()
    for key in ("wall_time_s", "peak_mem_mb", "versions", "created", "host", "spec"):
        assert key in rec


def test_deterministic(data_dir):
    a = run_spec(spec(), data_dir=data_dir, progress=False)
    b = run_spec(spec(), data_dir=data_dir, progress=False)
    assert a["history"] == b["history"]


def test_full_finetuning_trains_everything(data_dir):
    rec = run_spec(spec(lr=1e-3, method="full"), data_dir=data_dir, progress=False)
    assert rec["status"] == "ok"
    assert rec["num_trainable"] == rec["num_params"]


def test_divergence_is_a_status_not_a_crash(data_dir):
    rec = run_spec(spec(lr=math.inf, grad_clip=0.0), data_dir=data_dir, progress=False)
    assert rec["status"] == "diverged"
    assert "non-finite loss" in rec["message"]


def test_learning_happens(data_dir):
    """Subspace training on a repeated tiny set fits it: train loss falls."""
    rec = run_spec(
        spec(lr=3e-2, dim=200, epochs=6, max_train_examples=16, batch_size=8),
        data_dir=data_dir,
        progress=False,
    )
    losses = [h["train_loss"] for h in rec["history"]]
    assert losses[-1] < losses[0]


def test_fp16_needs_cuda(data_dir):
    with pytest.raises(ValueError, match="CUDA"):
        run_spec(spec(precision="fp16", device="cpu"), data_dir=data_dir, progress=False)


def test_bf16_autocast_on_cpu(data_dir, monkeypatch):
    """bf16 trains on the CPU: the model runs under autocast in training and evaluation (its
    logits are bf16), θ_d, λ and the optimizer state stay float32, and the record names the
    precision."""
    import torch

    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.train import finetune

    optimizers: list[torch.optim.AdamW] = []

    class RecordedAdamW(torch.optim.AdamW):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            optimizers.append(self)

    monkeypatch.setattr(torch.optim, "AdamW", RecordedAdamW)
    model = get_subspace_model(load_model("tiny-bert", num_labels=2, seed=0).model,
                               SubspaceConfig(dim=40, method="said"))  # fmt: skip
    logits: dict[bool, set[torch.dtype]] = {True: set(), False: set()}  # by grad enabled
    model.register_forward_hook(
        lambda module, args, out: logits[torch.is_grad_enabled()].add(out.logits.dtype)
    )
    config = TrainConfig(lr=1e-2, **{**SMALL, "precision": "bf16", "device": "cpu"})
    tokenizer = load_model("tiny-bert", num_labels=2, seed=0).tokenizer
    result = finetune(model, tokenizer, "mrpc", config, data_dir=data_dir, progress=False)
    assert result.status == "ok"
    assert logits == {True: {torch.bfloat16}, False: {torch.bfloat16}}  # training, evaluation
    assert model.theta.dtype == model.lambdas.dtype == torch.float32
    (optimizer,) = optimizers
    moments = [t for state in optimizer.state.values() for t in state.values() if t.ndim]
    assert moments and all(t.dtype == torch.float32 for t in moments)
    rec = run_spec(spec(precision="bf16", device="cpu"), data_dir=data_dir, progress=False)
    assert rec["status"] == "ok" and rec["spec"]["train"]["precision"] == "bf16"
    fp32 = run_spec(spec(device="cpu"), data_dir=data_dir, progress=False)
    assert fp32["run_id"] != rec["run_id"]  # different numerics, different runs


def test_auto_precision_is_resolved_when_the_config_is_made(monkeypatch):
    from idtheory import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: True)
    assert TrainConfig(device="cpu").precision == "bf16"
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda *a: False)
    cfg = TrainConfig(device="cpu")
    assert cfg.precision == "fp32"
    assert (
        RunSpec("m", "t", cfg).config_hash()
        == RunSpec("m", "t", TrainConfig(device="cpu", precision="fp32")).config_hash()
    )


def test_group_by_length_batches(data_dir):
    """Each batch is a slice of a length-sorted mega-batch: padding falls; every example is
    seen once per epoch; without the option the batches are the plain permutation's slices."""
    import torch

    from idtheory.models import load_model
    from idtheory.tasks import load_task
    from idtheory.train import _epoch_batches, encode

    tok = load_model("tiny-bert", 2).tokenizer
    ex = encode(tok, load_task("mrpc", "train", data_dir=data_dir, max_examples=400), 512)
    lengths = [len(e["input_ids"]) for e in ex]

    def padded(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    plain = _epoch_batches(ex, TrainConfig(batch_size=8), torch.Generator().manual_seed(0))
    grouped = _epoch_batches(
        ex, TrainConfig(batch_size=8, group_by_length=True), torch.Generator().manual_seed(0)
    )
    order = torch.randperm(400, generator=torch.Generator().manual_seed(0)).tolist()
    assert plain == [order[k : k + 8] for k in range(0, 400, 8)]
    assert sorted(i for b in grouped for i in b) == list(range(400))
    assert all(len(b) == 8 for b in grouped)
    assert padded(grouped) < 0.85 * padded(plain)


def test_later_fields_keep_old_hashes():
    """A field added later is left out of the spec while at its default: stored hashes hold."""
    import json
    from pathlib import Path

    store = Path(__file__).resolve().parents[1] / "data" / "results" / "runs.jsonl"
    with store.open() as fh:
        records = [json.loads(line) for _, line in zip(range(20), fh)]
    for rec in records:  # committed runs recompute to their stored ids
        assert RunSpec.from_dict(rec["spec"]).config_hash() == rec["run_id"]
    old = RunSpec("m", "t", TrainConfig(precision="fp32", device="cpu"))
    assert "group_by_length" not in old.to_dict()["train"]
    grouped = RunSpec("m", "t", TrainConfig(precision="fp32", device="cpu", group_by_length=True))
    assert grouped.to_dict()["train"]["group_by_length"] is True
    assert grouped.config_hash() != old.config_hash()
    assert RunSpec.from_dict(grouped.to_dict()) == grouped


class _Killed(Exception):
    """Stands for the process being killed mid-training."""


def _assert_same_training(record: dict, reference: dict) -> None:
    """Two records of one training agree on everything it computed (not on time or host)."""
    for key in ("history", "metrics", "best_step", "steps", "status"):
        assert record[key] == reference[key], key


def _resume_counting_steps(monkeypatch, s: RunSpec, data_dir, partial) -> tuple[dict, int]:
    """Rerun ``s`` from its checkpoint in ``partial``: its record and the steps it took."""
    with monkeypatch.context() as m:
        taken = _kill_at(m, 10**6)  # never kills: counts the steps
        resumed = run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    return resumed, taken["n"]


def _kill_at(monkeypatch, n_steps: int) -> dict[str, int]:
    """Make the (n_steps + 1)-th training step raise, after n_steps finished steps; returns the
    count of steps begun (``"n"``)."""
    import torch

    clip = torch.nn.utils.clip_grad_norm_
    calls = {"n": 0}

    def clip_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_steps:
            raise _Killed
        return clip(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip_then_die)
    return calls


def _theta(run_dir):
    from safetensors.torch import load_file

    return load_file(run_dir / "subspace_model.safetensors")


def _ticking(monkeypatch, seconds_per_call: float) -> None:
    """Give idtheory.train a ``perf_counter`` (its wall-time clock) that advances
    ``seconds_per_call`` at each call; its ``monotonic`` (the checkpoint period) stays real."""
    import time
    import types

    now = {"t": 0.0}

    def perf_counter() -> float:
        now["t"] += seconds_per_call
        return now["t"]

    clock = types.SimpleNamespace(perf_counter=perf_counter, monotonic=time.monotonic)
    monkeypatch.setattr("idtheory.train.time", clock)


@pytest.mark.parametrize(
    "method, killed_after",
    [("said", 2), ("said", 3), ("said", 5), ("full", 4)],  # 3 steps per epoch: mid, boundary, 2nd
)
def test_a_killed_training_resumes_from_its_checkpoint_exactly(
    data_dir, tmp_path, monkeypatch, method, killed_after
):
    """Killed after k steps and run again, a training ends as if never interrupted: same
    history, metrics and θ_d (dropout RNG, batch order, optimizer and scheduler restored). Its
    ``wall_time_s`` adds the time spent before the kill (1000 s per clock reading there, 1 s
    in the rerun) to the rerun's own."""
    import json

    s = spec(method=method, lr=1e-3 if method == "full" else 1e-2, group_by_length=True)
    clean = run_spec(s, data_dir=data_dir, artifacts_dir=tmp_path / "clean", progress=False)
    partial = tmp_path / "partial"
    kwargs = dict(data_dir=data_dir, artifacts_dir=tmp_path / "resumed", progress=False)
    with monkeypatch.context() as m:
        m.setattr("idtheory.train.CHECKPOINT_EVERY_S", 0.0)
        _ticking(m, 1000.0)
        _kill_at(m, killed_after)
        with pytest.raises(_Killed):
            run_spec(s, checkpoint_dir=partial, **kwargs)
    (saved,) = partial.glob("*.pt")
    assert saved.name == f"{s.config_hash()}.pt"
    spent = json.loads(saved.with_suffix(".json").read_text())["spent_s"]
    assert spent >= 1000.0  # training time up to the last checkpoint, by the slow clock
    with monkeypatch.context() as m:
        _ticking(m, 1.0)
        resumed = run_spec(s, checkpoint_dir=partial, **kwargs)
    assert not list(partial.glob("*.pt"))  # removed once the training ended
    _assert_same_training(resumed, clean)
    assert spent < resumed["wall_time_s"] < spent + 1000.0  # before the kill + the rerun's own
    if method == "said":
        a, b = (
            _theta(tmp_path / "clean" / s.config_hash()),
            _theta(tmp_path / "resumed" / s.config_hash()),
        )
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def _interrupted_in_step(s, data_dir, partial, monkeypatch, step: int, interrupt) -> int:
    """Train ``s`` with checkpoints in ``partial``, calling ``interrupt()`` inside step ``step``
    (mid-step: in its gradient clipping); expect ``KeyboardInterrupt``; return the step of the
    checkpoint saved."""
    import torch

    clip, calls = torch.nn.utils.clip_grad_norm_, {"n": 0}

    def clip_with_an_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            interrupt()
        return clip(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(torch.nn.utils, "clip_grad_norm_", clip_with_an_interrupt)
        with pytest.raises(KeyboardInterrupt):
            run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    (saved,) = partial.glob("*.pt")
    return torch.load(saved, weights_only=False)["step"]


@pytest.mark.parametrize(
    "signame, pressed_in_step",
    [("SIGINT", 2), ("SIGINT", 6), ("SIGTERM", 3)],  # mid-training, in the last step; kill
)
def test_ctrl_c_or_sigterm_finishes_the_step_saves_and_resumes_exactly(
    data_dir, tmp_path, monkeypatch, signame, pressed_in_step
):
    """A Ctrl-C (SIGINT) or a SIGTERM (``kill``, a scheduler's time limit) mid-step lets the
    step finish, saves the checkpoint there (whatever the 5-minute clock says) and interrupts;
    the rerun ends as an uninterrupted training. SIGTERM also asks the process's later
    trainings to stop."""
    import signal

    from idtheory import stopping

    signum = getattr(signal, signame)
    default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    # Python's own dispositions, as in a terminal (a background job starts with SIGINT ignored)
    previous = signal.signal(signum, default)
    try:
        send = functools.partial(signal.raise_signal, signum)  # handled mid-step
        saved = _interrupted_in_step(s, data_dir, partial, monkeypatch, pressed_in_step, send)
        assert signal.getsignal(signum) is default  # restored
        assert stopping.stop_requested() == (signum == signal.SIGTERM)
    finally:
        signal.signal(signum, previous)
        stopping.clear_stop()
    assert saved == pressed_in_step  # the whole step
    resumed = run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    _assert_same_training(resumed, clean)


def test_a_requested_stop_saves_at_the_step_end_and_resumes_exactly(
    data_dir, tmp_path, monkeypatch
):
    """A stop requested through :mod:`idtheory.stopping` mid-step (what a process pool's
    interrupted or dead driver sends its workers) acts as a first Ctrl-C: the step finishes, the
    checkpoint is saved there, and the rerun ends as an uninterrupted training."""
    from idtheory import stopping

    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    try:
        saved = _interrupted_in_step(s, data_dir, partial, monkeypatch, 3, stopping.request_stop)
        assert not stopping.stoppable_running()
    finally:
        stopping.clear_stop()
    assert saved == 3
    # Beside the checkpoint, its progress: what `idtheory results --running` lists.
    (listed,) = ResultsStore(tmp_path).running()  # partial_dir: tmp_path / "partial"
    assert listed["run_id"] == s.config_hash() and listed["spec"] == s.to_dict()
    assert (listed["step"], listed["total_steps"]) == (3, clean["steps"]) and "epoch" in listed
    assert listed["best"] == {"step": 3, "dev": clean["history"][0]["dev"]}  # evaluated at 3
    assert listed["spent_s"] > 0
    # who wrote it and how often it saves: enough to tell a running training from a stopped one
    assert (listed["host"], listed["pid"]) == (socket.gethostname(), os.getpid())
    assert listed["every_s"] > 0
    assert ResultsStore(tmp_path).running(model="tiny-bert", method="said") == [listed]
    assert ResultsStore(tmp_path).running(method="full") == []
    # a store's trainer keeps the checkpoint until the record is stored: killed in between,
    # the rerun resumes instead of starting over; storing the record removes it
    kept = run_spec(
        s, data_dir=data_dir, progress=False, checkpoint_dir=partial, keep_checkpoint=True
    )
    _assert_same_training(kept, clean)
    assert sorted(f.suffix for f in partial.iterdir()) == [".json", ".pt"]
    resumed = run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    _assert_same_training(resumed, clean)
    assert list(partial.iterdir()) == []  # checkpoint and progress removed at the end
    ResultsStore(tmp_path).put(kept)  # nothing left to remove: no error


def test_a_checkpoint_of_another_training_is_ignored(data_dir, tmp_path):
    import torch

    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    partial.mkdir()
    torch.save(
        {"fingerprint": {"config": "something else"}, "step": 5}, partial / f"{s.config_hash()}.pt"
    )
    with pytest.warns(UserWarning, match="saved by another training"):
        rec = run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    assert rec["history"] == clean["history"]


def test_a_checkpoint_resumes_on_another_device_setting(data_dir, tmp_path, monkeypatch):
    """The device is not part of what a run computes (nor of its id): a checkpoint saved with
    device "cpu" resumes under "auto" — the steps after it only — instead of starting over."""
    import dataclasses

    import torch

    from idtheory import stopping

    s = spec(device="cpu")
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    try:
        saved = _interrupted_in_step(s, data_dir, partial, monkeypatch, 3, stopping.request_stop)
    finally:
        stopping.clear_stop()
    elsewhere = dataclasses.replace(s, train=dataclasses.replace(s.train, device="auto"))
    assert elsewhere.config_hash() == s.config_hash()
    clip, steps = torch.nn.utils.clip_grad_norm_, []
    monkeypatch.setattr(
        torch.nn.utils, "clip_grad_norm_", lambda *a, **k: steps.append(1) or clip(*a, **k)
    )
    resumed = run_spec(elsewhere, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    assert len(steps) == clean["steps"] - saved
    _assert_same_training(resumed, clean)


def test_a_checkpoint_write_killed_midway_leaves_the_previous_one_whole(
    data_dir, tmp_path, monkeypatch
):
    """Killed half-way through writing its 3rd checkpoint (1,000 bytes written), a training
    still has its 2nd one whole (each is written beside the file and then renamed over it): the
    rerun resumes from step 2 and ends as an uninterrupted training, leaving nothing behind."""
    import io
    from pathlib import Path

    import torch

    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    real_save, saves = torch.save, {"n": 0}

    def save_killed_in_the_third(obj, f, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] < 3:
            return real_save(obj, f, *args, **kwargs)
        whole = io.BytesIO()
        real_save(obj, whole)
        assert len(whole.getvalue()) > 1000
        Path(f).write_bytes(whole.getvalue()[:1000])
        raise _Killed

    with monkeypatch.context() as m:
        m.setattr("idtheory.train.CHECKPOINT_EVERY_S", 0.0)
        m.setattr(torch, "save", save_killed_in_the_third)
        with pytest.raises(_Killed):
            run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    assert saves["n"] == 3
    saved = torch.load(partial / f"{s.config_hash()}.pt", weights_only=False)
    assert saved["step"] == 2
    resumed, taken = _resume_counting_steps(monkeypatch, s, data_dir, partial)
    assert taken == clean["steps"] - 2
    _assert_same_training(resumed, clean)
    assert list(partial.iterdir()) == []  # no checkpoint, progress or half-written file left


def test_an_unreadable_checkpoint_is_moved_aside_and_the_training_starts_over(data_dir, tmp_path):
    """A checkpoint damaged outside the training (a full disk, a broken copy) would fail every
    rerun: it is moved to ``<name>.unreadable`` with a warning, and the training runs from the
    start to the same record as an uninterrupted one."""
    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / f"{s.config_hash()}.pt").write_bytes(b"PK\x03\x04 not a whole zip archive")
    with pytest.warns(UserWarning, match="cannot be read .* the training starts over"):
        rerun = run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    _assert_same_training(rerun, clean)
    assert [p.name for p in partial.iterdir()] == [f"{s.config_hash()}.pt.unreadable"]


def test_each_evaluation_saves_a_checkpoint_whatever_the_clock_says(
    data_dir, tmp_path, monkeypatch
):
    """A checkpoint is saved at each evaluation, not only when its period is up: killed in step
    5, long before a timed save is due, a training has its checkpoint of step 3 (the end of
    epoch 1, evaluated) and resumes there, ending as an uninterrupted training."""
    import torch

    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    assert [h["step"] for h in clean["history"]] == [3, 6]
    partial = tmp_path / "partial"
    with monkeypatch.context() as m:
        m.setattr("idtheory.train.CHECKPOINT_EVERY_S", math.inf)  # never due by the clock
        _kill_at(m, 4)
        with pytest.raises(_Killed):
            run_spec(s, data_dir=data_dir, progress=False, checkpoint_dir=partial)
    (saved,) = partial.glob("*.pt")
    state = torch.load(saved, weights_only=False)
    assert state["step"] == 3 and state["best"]["dev"] == clean["history"][0]["dev"]
    resumed, taken = _resume_counting_steps(monkeypatch, s, data_dir, partial)
    assert taken == clean["steps"] - 3
    _assert_same_training(resumed, clean)


@pytest.mark.parametrize("first, second", [("SIGINT", "SIGINT"), ("SIGTERM", "SIGTERM"),
                                           ("SIGTERM", "SIGINT")])  # fmt: skip
def test_a_second_signal_interrupts_at_once(first, second):
    """The first Ctrl-C or SIGTERM is deferred to the end of the step (``pending``); a second
    one (say, during a long evaluation) raises KeyboardInterrupt at once. Python's
    dispositions are back after, and one the process ignores stays ignored."""
    import signal

    from idtheory import stopping
    from idtheory.train import _InterruptAtStepEnd

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    }
    try:
        with _InterruptAtStepEnd() as interrupt:
            assert not interrupt.pending
            signal.raise_signal(getattr(signal, first))
            assert interrupt.pending  # deferred: nothing raised
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(getattr(signal, second))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with _InterruptAtStepEnd():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        stopping.clear_stop()


def test_int_and_float_settings_are_one_run():
    """``epochs=3`` (Python) and ``--epochs 3`` (the CLI's float 3.0) share their run id."""
    as_int = RunSpec("tiny-bert", "mrpc", TrainConfig(epochs=3, lr=1, precision="fp32"))
    as_float = RunSpec("tiny-bert", "mrpc", TrainConfig(epochs=3.0, lr=1.0, precision="fp32"))
    assert as_int.config_hash() == as_float.config_hash()
    assert isinstance(as_int.train.epochs, float)
    with pytest.raises(ValueError, match="max_train_examples must be None"):
        TrainConfig(max_train_examples=0)


def test_an_empty_training_file_is_refused_not_looped_on(tmp_path):
    from idtheory.tasks import file_task

    (tmp_path / "train.csv").write_text("text,label\n")  # a header and no example
    (tmp_path / "dev.csv").write_text("text,label\nfine,1\nbad,0\n")
    task = file_task(tmp_path / "train.csv", tmp_path / "dev.csv", ["text"])
    with pytest.raises(ValueError, match=r"training set of .* has no examples"):
        run_spec(
            RunSpec("tiny-bert", task, TrainConfig(**SMALL), SubspaceConfig(dim=40)),
            progress=False,
        )


def test_the_default_trainer_keeps_what_the_cli_keeps(tmp_path) -> None:
    """θ_d in <store>/params (what bound_for_run reads), checkpoints in <store>/partial, and
    no per-training bars when the search is quiet."""
    from idtheory.search import default_train_fn
    from idtheory.store import ResultsStore

    fn = default_train_fn(ResultsStore(tmp_path), progress=False)
    assert (fn.artifacts_dir, fn.checkpoint_dir) == (
        str(tmp_path / "params"),
        str(tmp_path / "partial"),
    )
    assert fn.progress is False


@pytest.mark.parametrize(
    "model, method", [("tiny-bert", "full"), ("tiny-bert", "said"), ("tiny-mpnet", "did")]
)
def test_gradient_checkpointing_changes_memory_not_numbers(data_dir, tmp_path, model, method):
    """With gradient checkpointing the same run (same id) ends with the same history, metrics
    and θ_d bit for bit — dropout included — for BERT and for MPNet, which transformers cannot
    checkpoint itself."""
    from dataclasses import replace

    plain = replace(spec(method=method, lr=1e-3 if method == "full" else 1e-2), model=model)
    saving = plain.with_(**{"train.gradient_checkpointing": True})
    assert saving.config_hash() == plain.config_hash()
    assert "gradient_checkpointing" not in plain.to_dict()["train"]
    records = [
        run_spec(s, data_dir=data_dir, artifacts_dir=tmp_path / str(i), progress=False)
        for i, s in enumerate((plain, saving))
    ]
    _assert_same_training(records[0], records[1])
    assert records[1]["spec"]["train"]["gradient_checkpointing"] is True
    if method != "full":
        a, b = (_theta(tmp_path / str(i) / plain.config_hash()) for i in (0, 1))
        assert all((a[k] == b[k]).all() for k in a)


def test_checkpointed_layers_keep_only_the_layer_inputs():
    """Inside checkpointed_layers a training forward saves a fraction of the activations for the
    backward, and the gradients are those of the plain forward; outside, the layers are theirs
    again. A model without a layer stack is refused with a message."""
    import torch

    from idtheory.models import load_model
    from idtheory.train import checkpointed_layers

    model = load_model("tiny-bert", num_labels=2, seed=0).model.train()
    batch = {"input_ids": torch.randint(5, 100, (4, 32)), "labels": torch.tensor([0, 1, 0, 1])}

    def saved_bytes_and_grads() -> tuple[int, list]:
        saved = []

        def pack(t):
            saved.append(t.numel() * t.element_size())
            return t

        torch.manual_seed(0)
        model.zero_grad()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(**batch).loss
        loss.backward()
        return sum(saved), [p.grad.clone() for p in model.parameters()]

    plain, plain_grads = saved_bytes_and_grads()
    with checkpointed_layers(model) as stack:
        assert stack is model.bert.encoder.layer
        kept, grads = saved_bytes_and_grads()
    assert kept < plain / 2
    assert all(torch.equal(a, b) for a, b in zip(plain_grads, grads))
    assert all("forward" not in layer.__dict__ for layer in model.bert.encoder.layer)
    hooked = model.bert.encoder.layer[0]
    hooked.forward = hook = functools.partial(type(hooked).forward, hooked)  # as accelerate's
    with checkpointed_layers(model):
        assert hooked.forward is not hook
    assert hooked.forward is hook  # an instance's own forward is put back, not dropped
    with pytest.raises(ValueError, match="stack of transformer layers"):
        with checkpointed_layers(torch.nn.Linear(2, 2)):
            pass


def test_a_training_resumes_with_gradient_checkpointing_switched(data_dir, tmp_path, monkeypatch):
    """Gradient checkpointing is not part of a checkpoint's fingerprint: a training killed
    without it resumes with it (the memory it needs may be why it was killed) and ends as if
    never interrupted."""
    s = spec()
    clean = run_spec(s, data_dir=data_dir, progress=False)
    partial = tmp_path / "partial"
    with monkeypatch.context() as m:
        m.setattr("idtheory.train.CHECKPOINT_EVERY_S", 0.0)
        _kill_at(m, 2)
        with pytest.raises(_Killed):
            run_spec(s, checkpoint_dir=partial, data_dir=data_dir, progress=False)
    switched = s.with_(**{"train.gradient_checkpointing": True})
    with monkeypatch.context() as m:
        taken = _kill_at(m, 10**6)  # never kills: counts the steps
        resumed = run_spec(switched, checkpoint_dir=partial, data_dir=data_dir, progress=False)
    assert not list(partial.glob("*.pt"))
    assert resumed["steps"] == clean["steps"] and resumed["history"] == clean["history"]
    assert taken["n"] == clean["steps"] - 2  # resumed at step 2, not started again


# ---------------------------------------------------------------- evaluation, schedule, best state


def test_evaluate_scores_each_example_against_its_own_label():
    """Batches run in length order; each prediction must go back to its own example. A model
    that reads the label off the first token scores 1.0 on examples of mixed lengths."""
    import types

    import torch

    from idtheory.train import evaluate

    class FirstTokenParity(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None, **kw):
            pred = input_ids[:, 0] % 2
            return types.SimpleNamespace(logits=torch.nn.functional.one_hot(pred, 2).float())

    examples = [  # lengths 11 … 2 (reversed against the label pattern), labels 0, 1, 0, 1, …
        {"input_ids": [4 + i % 2] + [7] * (10 - i), "attention_mask": [1] * (11 - i),
         "labels": i % 2}
        for i in range(10)
    ]  # fmt: skip
    assert evaluate(FirstTokenParity(), examples, "mrpc", batch_size=3) == {
        "accuracy": 1.0,
        "f1": 1.0,
    }
    flipped = [{**e, "labels": 1 - e["labels"]} for e in examples]
    assert evaluate(FirstTokenParity(), flipped, "mrpc", batch_size=4)["accuracy"] == 0.0


def test_lr_schedule_warms_up_then_decays_linearly():
    from idtheory.train import _lr_lambda

    f = _lr_lambda(10, 2)
    assert [f(s) for s in range(10)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
    g = _lr_lambda(4, 0)
    assert [g(s) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]


def test_finetune_steps_at_the_scheduled_rates_with_the_configured_decay(data_dir, monkeypatch):
    """6 steps, warm-up round(0.34 × 6) = 2: the optimizer sees lr × (0.5, 1, 1, 0.75, 0.5, 0.25)
    and the configured weight decay."""
    import torch

    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.train import finetune

    seen: list[tuple[float, float]] = []

    class RecordedAdamW(torch.optim.AdamW):
        def step(self, closure=None):
            group = self.param_groups[0]
            seen.append((group["lr"], group["weight_decay"]))
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "AdamW", RecordedAdamW)
    loaded = load_model("tiny-bert", num_labels=2, seed=0)
    model = get_subspace_model(loaded.model, SubspaceConfig(dim=40, method="said"))
    config = TrainConfig(lr=0.02, warmup_ratio=0.34, weight_decay=0.1, **SMALL)
    result = finetune(model, loaded.tokenizer, "mrpc", config, data_dir=data_dir, progress=False)
    assert result.status == "ok" and result.steps == 6
    assert [lr for lr, _ in seen] == pytest.approx([0.01, 0.02, 0.02, 0.015, 0.01, 0.005])
    assert {wd for _, wd in seen} == {0.1}


def test_finetune_returns_the_parameters_of_its_best_evaluation(data_dir, monkeypatch):
    """Dev scores fall after the first evaluation: the model returned (and its training
    metrics) is θ_d as it was at step 1, not after the last step."""
    import torch

    from idtheory import train
    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model

    seen: list[torch.Tensor] = []
    real_evaluate = train.evaluate

    def falling(model, examples, task, **kw):
        out = real_evaluate(model, examples, task, **kw)
        if len(examples) == SMALL["max_eval_examples"]:  # a dev evaluation
            seen.append(model.theta.detach().clone())
            out = {**out, "accuracy": 1.0 - 0.1 * len(seen)}
        return out

    monkeypatch.setattr(train, "evaluate", falling)
    loaded = load_model("tiny-bert", num_labels=2, seed=0)
    model = get_subspace_model(loaded.model, SubspaceConfig(dim=40, method="said"))
    config = TrainConfig(lr=0.05, eval_every=1, **SMALL)
    result = train.finetune(model, loaded.tokenizer, "mrpc", config, data_dir=data_dir,
                            progress=False)  # fmt: skip
    assert result.best_step == 1 and len(seen) == 6
    assert not torch.equal(seen[0], seen[-1])  # θ_d moved after step 1
    assert torch.equal(model.theta.detach(), seen[0])


# ------------------------------------------------------------- seeds, batch order, reported numbers


class _Drawn(Exception):
    """Stops a training once what a test looks at has been drawn."""


def _record_epochs(monkeypatch, stop_after: int | None = None) -> list[tuple]:
    """Record each epoch's batches that finetune draws, as ``(examples, config, batches)``
    (the arguments and result of ``_epoch_batches``); raise _Drawn after ``stop_after``."""
    from idtheory import train

    real, drawn = train._epoch_batches, []

    def recorded(examples, config, gen):
        batches = real(examples, config, gen)
        drawn.append((examples, config, batches))
        if stop_after is not None and len(drawn) >= stop_after:
            raise _Drawn
        return batches

    monkeypatch.setattr(train, "_epoch_batches", recorded)
    return drawn


def test_run_spec_initialises_the_model_from_the_training_seed(monkeypatch):
    """``TrainConfig.seed`` seeds the head's initialisation (the whole tiny model's): what
    run_spec trains with seed 7 is ``load_model(..., seed=7)``'s model, not seed 0's."""
    import torch

    from idtheory import models

    real, built = models.load_model, []

    def load_then_stop(*args, **kwargs):
        built.append(real(*args, **kwargs).model.state_dict())
        raise _Drawn

    monkeypatch.setattr(models, "load_model", load_then_stop)
    with pytest.raises(_Drawn):
        run_spec(spec(seed=7), progress=False)
    (state,) = built
    seven, zero = (real("tiny-bert", 2, seed=k).model.state_dict() for k in (7, 0))
    assert state.keys() == seven.keys()
    assert all(torch.equal(state[k], seven[k]) for k in seven)
    assert not torch.equal(seven["classifier.weight"], zero["classifier.weight"])


def test_the_training_seed_orders_the_batches(data_dir, monkeypatch):
    """The first epoch's batches come from a generator seeded with ``TrainConfig.seed``: on the
    same examples, seeds 0 and 7 train in different orders (what d90's seeds average over)."""
    import torch

    from idtheory.models import load_model
    from idtheory.tasks import load_task
    from idtheory.train import _epoch_batches, finetune

    loaded = load_model("tiny-bert", num_labels=2, seed=0)
    data = load_task("mrpc", "train", data_dir=data_dir, max_examples=48, seed=0)
    first = {}
    for seed in (0, 7):
        with monkeypatch.context() as m:
            drawn = _record_epochs(m, stop_after=1)
            with pytest.raises(_Drawn):
                finetune(loaded.model, loaded.tokenizer, "mrpc",
                         TrainConfig(lr=1e-2, **{**SMALL, "seed": seed}), train_data=data,
                         data_dir=data_dir, progress=False)  # fmt: skip
        ((examples, config, batches),) = drawn
        assert len(examples) == len(data.labels)
        assert batches == _epoch_batches(examples, config, torch.Generator().manual_seed(seed))
        first[seed] = batches
    assert first[0] != first[7]


def test_each_epoch_is_shuffled_anew(data_dir, monkeypatch):
    """Epoch 2's batches are the seeded generator's second draw (from its state after epoch 1),
    not a replay of epoch 1's order."""
    import torch

    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.train import _epoch_batches, finetune

    drawn = _record_epochs(monkeypatch)
    loaded = load_model("tiny-bert", num_labels=2, seed=0)
    model = get_subspace_model(loaded.model, SubspaceConfig(dim=40, method="said"))
    config = TrainConfig(lr=1e-2, **{**SMALL, "seed": 7})
    result = finetune(model, loaded.tokenizer, "mrpc", config, data_dir=data_dir, progress=False)
    assert result.steps == 6 and len(drawn) == 2  # two epochs of 3 batches
    examples = drawn[0][0]
    gen = torch.Generator().manual_seed(7)
    expected = [_epoch_batches(examples, config, gen) for _ in range(2)]
    assert [batches for _, _, batches in drawn] == expected
    assert expected[0] != expected[1]


def test_the_record_reports_train_metrics_of_the_training_set(data_dir, monkeypatch):
    """The record's ``metrics.train`` (the generalization gap's) is measured on the training
    examples and ``metrics.dev`` on the dev ones: an evaluation that scores the number of
    examples it is given tells them apart."""
    from idtheory import train

    def by_size(model, examples, task, **kwargs):
        return {"accuracy": len(examples) / 1000, "f1": 0.0}

    monkeypatch.setattr(train, "evaluate", by_size)
    s = spec()
    rec = run_spec(s, data_dir=data_dir, progress=False)
    n_train, n_dev = (
        len(train.load_run_data("mrpc", split, s.train, data_dir).labels)
        for split in ("train", "dev")
    )
    assert n_train != n_dev
    assert rec["metrics"] == {
        "dev": {"accuracy": n_dev / 1000, "f1": 0.0},
        "train": {"accuracy": n_train / 1000, "f1": 0.0},
    }


def test_each_evaluation_reports_the_mean_loss_since_the_previous_one(data_dir):
    """``history[k]["train_loss"]`` is the mean training loss of the steps between evaluation
    k - 1 and k, not of every step so far."""
    import numpy as np
    import torch

    from idtheory.models import load_model
    from idtheory.subspace import get_subspace_model
    from idtheory.train import finetune

    loaded = load_model("tiny-bert", num_labels=2, seed=0)
    model = get_subspace_model(loaded.model, SubspaceConfig(dim=40, method="said"))
    losses: list[float] = []

    def record_training_loss(module, args, out) -> None:
        if torch.is_grad_enabled():  # a training step, not an evaluation
            losses.append(out.loss.item())

    model.register_forward_hook(record_training_loss)
    config = TrainConfig(lr=1e-2, **{**SMALL, "epochs": 3, "eval_every": 2})
    result = finetune(model, loaded.tokenizer, "mrpc", config, data_dir=data_dir, progress=False)
    steps = [h["step"] for h in result.history]
    assert steps == [2, 4, 6, 8, 9] and len(losses) == 9
    windows = zip([0, *steps], steps)
    means = [float(np.mean(losses[a:b])) for a, b in windows]
    assert [h["train_loss"] for h in result.history] == pytest.approx(means, rel=1e-9)


def test_a_training_under_the_cli_defers_sigterm_too():
    """The CLI turns SIGTERM into a Ctrl-C (``sigterm_as_ctrl_c``); a training under it still
    defers the signal to its step end, and hands the CLI's disposition back after."""
    import signal

    from idtheory import stopping
    from idtheory.stopping import sigterm_as_ctrl_c
    from idtheory.train import _InterruptAtStepEnd

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with sigterm_as_ctrl_c():
            with _InterruptAtStepEnd() as interrupt:
                signal.raise_signal(signal.SIGTERM)
                assert interrupt.pending  # deferred: nothing raised
            assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
        stopping.clear_stop()
