"""Notebook 4's view of the certificates (idtheory.figures.certificates, idtheory.plots
certificate_*): every value shown is the stored record's, the full fine-tuning reference is the
store's current one, and an empty store gives an empty table and a panel naming the command."""

from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import pytest
from test_certify import TINY_PROTOCOL  # tests/ is on sys.path

from idtheory import certify as C
from idtheory import figures, plots

#: test_certify's tiny protocol with m = 400 and a grid of 16 candidates (loaded from a file:
#: not hash-checked). Records for it are built with certify.certify from made-up
#: measurements; nothing is trained here.
PROTOCOL = {
    **TINY_PROTOCOL,
    "name": "view-test",
    "m": 400,
    "train": {**TINY_PROTOCOL["train"], "max_train_examples": 400},
    "grid": {**TINY_PROTOCOL["grid"], "method": ["said", "did"], "dim": [30, 60], "lr": [0.1]},
}

#: (method, d, L) → (θ_d symbol bits, training errors, dev errors of 100); the last is near 1.
MEASURED = {
    ("said", 30, 4): (40.0, 60, 18),
    ("said", 60, 4): (90.0, 50, 17),
    ("said", 30, 8): (70.0, 55, 19),
    ("did", 30, 4): (45.0, 70, 22),
    ("did", 60, 8): (4000.0, 40, 15),
}


@pytest.fixture
def protocol(tmp_path) -> C.Protocol:
    path = tmp_path / "view-test.json"
    path.write_text(json.dumps(PROTOCOL))
    return C.load_protocol(path)


def _ctx(tmp_path):
    return figures.setup(
        "smoke", results_dir=str(tmp_path / "store"), figures_dir=str(tmp_path / "f"), chdir=False
    )


def _store_certificates(ctx, protocol) -> list[dict]:
    records = []
    for (method, dim, levels), (symbols, k, dev) in MEASURED.items():
        cand = C.Candidate("tiny-bert", method, dim, 0.1, levels, "retune")
        bits = C.MessageBits(
            theta_symbols=symbols,
            counts=levels * math.ceil(math.log2(dim + 1)),
            codebook=16.0 * levels,
            lambdas=16.0 * 3 if method == "said" else 0.0,
            selection=protocol.selection_bits(cand),
        )
        record = C.certify(protocol, cand, bits=bits, train_errors=k, m=400, dev_errors=dev,
                           dev_m=100, full_dev_error=0.3, run_id=f"run-{method}-{dim}")  # fmt: skip
        records.append(C.save_certificate(ctx.store, record))
    return records


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_an_empty_store_gives_an_empty_table_and_names_the_command(tmp_path):
    ctx = _ctx(tmp_path)
    rows = figures.certificates(ctx)
    assert rows == []
    command = "idtheory certify --model minilm-l6 --task sst2"
    assert any(command in m for m in ctx.missing)
    frame = figures.certificate_frame(rows)
    assert frame.empty and list(frame.columns) == list(figures.certificate_columns())
    for draw in (plots.certificate_vs_d, plots.certificate_vs_dev_error):
        fig = draw(rows)
        assert f"no certificate stored yet — run `{command}`" in _texts(fig)
        plt.close(fig)
    assert C.no_certificate_message() == f"no certificate stored yet — run `{command}`"


def test_rows_are_the_stored_records(tmp_path, protocol):
    ctx = _ctx(tmp_path)
    records = _store_certificates(ctx, protocol)
    ctx.store.put_bound({"run_id": "other", "settings": {"levels": 16}})  # not a certificate
    rows = figures.certificates(ctx)
    assert not ctx.missing
    assert [r["certificate"] for r in rows] == sorted(r["certificate"] for r in records)
    by_key = {r["settings"]["candidate"]: r for r in records}
    assert set(by_key) == {r["candidate"] for r in rows}
    for row in rows:
        record = by_key[row["candidate"]]
        for name in C.ROWS:
            assert row[name] == record["rows"][name]["value"]
        for part in figures.CERTIFICATE_BITS:
            assert row[f"bits_{part}"] == record["bits"][part]
        assert (row["k"], row["m"], row["train_error"]) == (
            record["train_errors"], 400, record["train_errors"] / 400
        )  # fmt: skip
        assert row["certificate"] == record["rows"]["occam_binomial"]["value"]
        assert row["dev_error"] == record["dev_error"] and row["dev_m"] == 100
        assert row["dev_test_set_bound"] == record["dev_test_set_bound"]
        assert row["full_dev_error"] == 0.3  # the record's: the protocol is not declared
        assert (row["method"], row["dim"], row["levels"], row["route"]) == (
            record["candidate"]["method"], record["candidate"]["dim"],
            record["candidate"]["levels"], "retune",
        )  # fmt: skip
    frame = figures.certificate_frame(rows)
    assert list(frame.columns) == list(figures.certificate_columns())
    assert frame["catoni"].tolist() == [r["catoni"] for r in rows]


def test_full_fine_tuning_reference_is_read_from_the_store(tmp_path, protocol):
    ctx = _ctx(tmp_path)
    _store_certificates(ctx, protocol)
    spec = C.reference_spec(protocol)
    ctx.store.put_result(spec, {"status": "ok", "metrics": {"dev": {"accuracy": 0.875}}})
    rows = figures.certificates(ctx, protocol)
    assert {r["full_dev_error"] for r in rows} == {0.125}
    fig = plots.certificate_vs_dev_error(rows)
    (ax,) = fig.axes
    vertical = [ln for ln in ax.get_lines() if "full fine-tuning" in str(ln.get_label())]
    assert len(vertical) == 1 and list(vertical[0].get_xdata()) == [0.125, 0.125]
    plt.close(fig)


def _series(fig) -> dict[str, tuple[list, list]]:
    (ax,) = fig.axes
    return {
        str(ln.get_label()): (list(ln.get_xdata()), list(ln.get_ydata()))
        for ln in ax.get_lines()
        if not str(ln.get_label()).startswith("_")
    }


def test_bound_against_d_draws_one_line_per_method_and_levels(tmp_path, protocol):
    ctx = _ctx(tmp_path)
    _store_certificates(ctx, protocol)
    rows = figures.certificates(ctx)
    for bound in (None, "catoni"):
        name = bound or "occam_binomial"
        fig = plots.certificate_vs_d(rows, bound)
        series = _series(fig)
        assert {"SAID L=4", "SAID L=8", "DID L=4", "DID L=8", "chance (0.5)", "goal 0.25",
                "goal 0.2"} <= set(series)  # fmt: skip
        xs, ys = series["SAID L=4"]
        want = sorted(
            (r["dim"], r[name]) for r in rows if (r["method"], r["levels"]) == ("said", 4)
        )
        assert xs == [d for d, _ in want] and ys == pytest.approx([v for _, v in want])
        assert series["DID L=8"][1][0] > 0.99  # 4000 bits on 400 examples: near 1
        assert "vacuous" not in _texts(fig)
        label = plots.CERTIFICATE_BOUND_LABELS[name]
        assert label in fig.axes[0].get_title() and label in fig.axes[0].get_ylabel()
        plt.close(fig)


def test_bound_against_d_labels_each_declared_d():
    """A few declared d get a labelled tick each (the 1-2-5 ticks left d = 250 unlabelled)."""
    rows = [
        {"method": "said", "dim": d, "levels": 8, "headline": "occam_binomial",
         "occam_binomial": 0.24, "dev_error": 0.2}
        for d in (250, 500, 1000)
    ]  # fmt: skip
    fig = plots.certificate_vs_d(rows)
    fig.canvas.draw()
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["250", "500", "1k"]
    plt.close(fig)


def test_values_above_one_are_drawn_at_one():
    """Catoni's row can exceed 1 (Occam's cannot): drawn at 1 with the vacuous mark."""
    row = {"method": "did", "dim": 60, "levels": 8, "headline": "occam_binomial",
           "occam_binomial": 0.9, "catoni": 1.2, "dev_error": 0.2}  # fmt: skip
    for draw in (plots.certificate_vs_d, plots.certificate_vs_dev_error):
        fig = draw([row], "catoni")
        assert "vacuous" in _texts(fig)
        (ax,) = fig.axes
        assert [1.0] in [c.get_offsets()[:, 1].tolist() for c in ax.collections]
        plt.close(fig)


def test_bound_against_dev_error_labels_every_candidate(tmp_path, protocol):
    ctx = _ctx(tmp_path)
    _store_certificates(ctx, protocol)
    rows = figures.certificates(ctx)
    fig = plots.certificate_vs_dev_error(rows)
    text = _texts(fig)
    for method, dim, levels in MEASURED:
        assert f"{method.upper()} d{dim} L{levels}" in text
    series = _series(fig)
    assert series["bound = dev error"] == ([0, 1], [0, 1])
    assert {"chance (0.5)", "goal 0.25", "goal 0.2", "full fine-tuning dev error (0.300)"} <= set(
        series
    )
    (ax,) = fig.axes
    points = sorted(p for c in ax.collections for p in c.get_offsets().tolist())
    want = sorted([r["dev_error"], r["certificate"]] for r in rows)
    assert [x for p in points for x in p] == pytest.approx([x for p in want for x in p])
    plt.close(fig)


def test_certify_command_names_the_declared_protocol(protocol):
    assert C.certify_command(C.load_protocol("sst2-minilm")) == (
        "idtheory certify --model minilm-l6 --task sst2"
    )
    assert C.certify_command(protocol) == "idtheory certify --protocol view-test"
    assert C.declared_for("minilm-l6", "sst2") == "sst2-minilm"
    with pytest.raises(ValueError, match="no declared protocol for --model x --task sst2"):
        C.declared_for("x", "sst2")


def test_crowded_certificates_are_labelled_in_a_zoomed_inset():
    """Certificates within 0.1 of each other get an inset carrying their labels; spread ones
    are labelled on the main axes."""
    base = {"method": "said", "levels": 8, "m": 1000, "full_dev_error": None,
            "headline": "occam_binomial", "occam_binomial": 0.24, "certificate": 0.24}  # fmt: skip
    crowded = [{**base, "dim": d, "dev_error": e} for d, e in ((250, 0.21), (500, 0.20))]
    spread = [{**base, "dim": 250, "dev_error": 0.1}, {**base, "dim": 500, "dev_error": 0.4}]
    for rows, inset in ((crowded, True), (spread, False)):
        fig = plots.certificate_vs_dev_error(rows)
        (ax,) = fig.axes
        assert len(ax.child_axes) == int(inset)
        labelled = ax.child_axes[0] if inset else ax
        labels = {t.get_text() for t in labelled.texts}
        assert {"SAID d250 L8", "SAID d500 L8"} <= labels
        plt.close(fig)
