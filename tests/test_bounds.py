"""Tests for idtheory.bounds: worked examples E1–E5 of docs/bounds.md, properties, errors."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from idtheory import bounds as B

LN20 = math.log(20.0)
REL = 5e-6  # worked examples: half a unit in the tables' sixth significant digit


def close(a: float, b: float, rel: float = REL) -> bool:
    return a == pytest.approx(b, rel=rel)


# ------------------------------------------------------------------------------- E1


E1 = [
    # r, d·log2 r, Arora τ, log10 failure, τ_δ, Occam-kl L̂=0, Occam-kl L̂=0.1
    (2**32, 6400, 1.09974, -1926.6, 0.777893, 0.701872, 0.814197),
    (2**16, 3200, 0.777630, -963.3, 0.550239, 0.454212, 0.625384),
    (2**8, 1600, 0.549868, -481.6, 0.389340, 0.261527, 0.457254),
    (16, 800, 0.388815, -240.8, 0.275675, 0.141006, 0.335514),
    (7, 561.47, 0.325733, -169.0, 0.231213, 0.101401, 0.289971),
    (2, 200, 0.194408, -60.2, 0.138944, 0.0378751, 0.203045),
]


@pytest.mark.parametrize(("r", "bits", "tau", "log10_fail", "tau_delta", "kl0", "kl1"), E1)
def test_e1_aghajanyan_arora(r, bits, tau, log10_fail, tau_delta, kl0, kl1):
    d, m = 200, 3668
    b, lf = B.arora_compression_bound(0.0, d, r, m)
    assert close(b, tau)
    assert lf == pytest.approx(log10_fail, abs=0.05)
    assert close(B.arora_compression_bound(0.0, d, r, m, delta=0.05), tau_delta)
    assert close(B.aghajanyan_bound(d, m, r=r), tau_delta)
    assert close(B.aghajanyan_bound(d, m, r=r, form="kl"), kl0)
    assert close(B.aghajanyan_bound(d, m, 0.1, r=r, form="kl"), kl1)
    # Arora's τ = sqrt(d·ln r / m): the union over r^d hypotheses then fails with probability
    # r^d · exp(−2τ²m) = r^{−d}
    assert close(b, math.sqrt(d * math.log(r) / m), rel=1e-12)
    # binomial ≤ kl, and equal at L̂ = 0 (here through the log-space path: δ·r^{-d} < 1e-300)
    binom0 = B.aghajanyan_bound(d, m, 0.0, r=r, form="binomial")
    assert close(binom0, kl0)
    assert B.aghajanyan_bound(d, m, 0.1, r=r, form="binomial") <= kl1 + 1e-12


@pytest.mark.parametrize(
    ("d", "value"), [(200, 0.233507), (207, 0.237558), (1000, 0.522138), (8030, 1.47960)]
)
def test_e1_asymptotic_is_flagged(d, value):
    with pytest.warns(B.UncertifiedBoundWarning, match="not a certified bound"):
        got = B.aghajanyan_bound(d, 3668, form="asymptotic")
    assert close(got, value)


def test_e1_fp16_d207():
    assert close(B.aghajanyan_bound(207, 3668, r=2**16), 0.559772)


# ------------------------------------------------------------------------------- E2


E2 = [
    (0.1, 0.05, 0.2200786011, 0.0312784, 0.258114),
    (0.0, 0.05, 0.0487706, 0.0, 0.158114),
    (0.1, 0.01, 0.147676, 0.0629106, 0.170711),
    (0.3, 0.1, 0.521028, 0.129130, 0.523607),
    (0.05, 0.2, 0.299559, 3.47866e-4, 0.366228),
    (0.5, 0.5, 0.897530, 0.102470, 1.0),
]


@pytest.mark.parametrize(("q", "c", "upper", "lower", "pinsker"), E2)
def test_e2_kl_inverse(q, c, upper, lower, pinsker):
    up = B.kl_inv_upper(q, c)
    assert close(up, upper)
    assert B.kl_inv_lower(q, c) == pytest.approx(lower, rel=REL, abs=1e-12)
    assert up <= pinsker + 1e-12
    if 0 < q < 1:  # the inverse sits on the constraint
        assert B.kl_bernoulli(q, up) == pytest.approx(c, rel=1e-8)


def test_e2_sanity_kl_and_exact_value():
    assert close(B.kl_bernoulli(0.1, 0.2), 0.0366900)
    assert B.kl_inv_upper(0.1, 0.05) == pytest.approx(0.2200786011, rel=1e-9)
    assert B.kl_inv_upper(0.0, 0.05) == pytest.approx(1 - math.exp(-0.05), rel=1e-15)


# ------------------------------------------------------------------------------- E3, E4


E3 = [
    (1000, 50, 0.0628634, 0.0686847, 0.0887023),
    (1000, 0, 0.00299125, 0.00299125, 0.0387023),
    (3668, 367, 0.108578, 0.112616, 0.120262),
    (100, 10, 0.163718, 0.188829, 0.222387),
]


@pytest.mark.parametrize(("m", "k", "binom", "kl", "hoeff"), E3)
def test_e3_test_set_bound(m, k, binom, kl, hoeff):
    assert close(B.test_set_bound(m, k, 0.05), binom)
    assert close(B.binomial_tail_inv(m, k, 0.05), binom)
    assert close(B.test_set_bound(m, k, 0.05, method="kl"), kl)
    assert close(B.test_set_bound(m, k, 0.05, method="hoeffding"), hoeff)
    # the inverse is the root of Bin(m, k, p) = δ
    assert B.binomial_tail(m, k, binom) == pytest.approx(0.05, rel=1e-3)


def test_e3_k0_closed_form():
    assert B.test_set_bound(1000, 0, 0.05) == pytest.approx(1 - 0.05 ** (1 / 1000), rel=1e-10)


@pytest.mark.parametrize(
    ("m", "k", "bits", "binom", "kl", "hoeff"),
    [
        (1000, 50, 10, 0.0822496, 0.0867454, 0.120453),
        (1000, 0, 20, 0.0167174, 0.0167174, 0.0918114),
    ],
)
def test_e4_occam(m, k, bits, binom, kl, hoeff):
    err = k / m
    assert close(B.occam_bound(m, err, bits, 0.05, method="binomial"), binom)
    assert close(B.occam_bound(m, err, bits, 0.05, method="kl"), kl)
    assert close(B.occam_bound(m, err, bits, 0.05, method="hoeffding"), hoeff)
    assert close(B.binomial_tail_inv(m, k, 0.05 * 2.0**-bits), binom)


# ------------------------------------------------------------------------------- E5


@pytest.mark.parametrize(
    ("lam", "value"), [(500, 0.311317), (1000, 0.211164), (2000, 0.164645), (5000, 0.148722)]
)
def test_e5_catoni_fixed_lambda(lam, value):
    assert close(B.catoni_bound(0.1, 100.0, 10000, lam, 0.05), value)


def test_e5_catoni_free_lambda_equals_occam_kl():
    bound, lam = B.catoni_bound_opt(0.1, 100.0, 10000, 0.05, union=False)
    assert close(bound, 0.148462)
    assert lam == pytest.approx(4505, rel=1e-2)
    assert bound == pytest.approx(B.kl_inv_upper(0.1, (100 + LN20) / 10000), rel=1e-6)
    assert bound == pytest.approx(B.occam_bound(10000, 0.1, 100 / B.LN2, 0.05), rel=1e-6)


def _catoni_union_at(q: float, kl_nats: float, m: int, delta: float, lam: float) -> float:
    """Zhou et al.'s union-penalized Catoni bound at one λ, written out from its statement."""
    alpha, g = 1e-4, math.log(lam)
    penalty = kl_nats + math.log(1 / delta) + 2 * math.log(2 + g / math.log1p(alpha))
    x = q + (1 + alpha) * penalty / lam
    return math.expm1(-lam / m * x) / math.expm1(-lam / m)


@pytest.mark.parametrize(
    ("q", "kl_nats", "m", "value", "lam"),
    [
        (0.1, 100.0, 10000, 0.1541481139968, 4942.657),  # E5
        (0.3, 1.0, 100, 0.6520015715145, 146.2113),  # the grid's 2 ln(2 + j) dominates KL
        (0.0, 0.5, 30, 0.5697830663057, 195.7861),
    ],
)
def test_catoni_union_optimum(q, kl_nats, m, value, lam):
    """Values: the minimum over λ of the statement in 40-digit arithmetic (mpmath; dense grid
    then golden section), to 13 digits."""
    bound, got_lam = B.catoni_bound_opt(q, kl_nats, m, 0.05)
    assert bound == pytest.approx(value, rel=1e-11)
    assert got_lam == pytest.approx(lam, rel=1e-6)
    # the value is the statement's at the λ returned (so it is a valid bound, not just a minimum)
    assert bound == pytest.approx(_catoni_union_at(q, kl_nats, m, 0.05, got_lam), rel=1e-12)


# ------------------------------------------------------------------------------- properties


def test_kl_inv_upper_monotone_in_q_and_c():
    q = np.linspace(0, 1, 41)[:, None]
    c = np.array([0.0, 1e-4, 0.01, 0.1, 0.5, 2.0, 10.0])[None, :]
    up = B.kl_inv_upper(q, c)
    assert up.shape == (41, 7)
    assert (np.diff(up, axis=0) >= -1e-12).all()
    assert (np.diff(up, axis=1) >= -1e-12).all()
    assert (up >= q - 1e-15).all() and (up <= 1).all()
    lo = B.kl_inv_lower(q, c)
    assert (lo <= q + 1e-15).all() and (lo >= 0).all()
    assert np.allclose(lo, 1 - B.kl_inv_upper(1 - q, c), atol=1e-10)


def test_kl_inv_edge_cases():
    assert B.kl_inv_upper(0.37, 0.0) == 0.37
    assert B.kl_inv_upper(0.0, 1.3) == pytest.approx(1 - math.exp(-1.3), rel=1e-15)
    assert B.kl_inv_upper(1.0, 0.5) == 1.0
    assert B.kl_inv_upper(0.2, np.inf) == 1.0
    assert B.kl_inv_lower(0.37, 0.0) == 0.37
    assert B.kl_inv_lower(0.0, 0.5) == 0.0
    assert B.kl_inv_lower(1.0, 0.5) == pytest.approx(math.exp(-0.5), rel=1e-15)
    assert B.kl_bernoulli(0.0, 0.0) == 0.0
    assert B.kl_bernoulli(0.3, 0.0) == np.inf


@pytest.mark.parametrize("m", [50, 1000, 3668])
@pytest.mark.parametrize("bits", [0.0, 10.0, 300.0, 3000.0])
def test_binomial_le_kl_le_hoeffding(m, bits):
    k = np.array([0, 1, m // 20, m // 10, m // 3, m // 2])
    err = k / m
    bi = B.occam_bound(m, err, bits, 0.05, "binomial")
    kl = B.occam_bound(m, err, bits, 0.05, "kl")
    ho = B.occam_bound(m, err, bits, 0.05, "hoeffding")
    assert (bi <= kl + 1e-9).all()
    assert (kl <= ho + 1e-12).all()
    assert bi[0] == pytest.approx(kl[0], rel=1e-6)  # k = 0: Bin(m, 0, p) = e^{-m kl(0‖p)}


def test_binomial_log_space_matches_beta_near_switch():
    m = np.array([100.0, 1000.0, 3668.0, 3668.0])
    k = np.array([3.0, 50.0, 367.0, 0.0])
    for ld in (-50.0, -650.0):
        beta = B.binomial_tail_inv(m, k, log_delta=ld)
        logs = B._binomial_tail_inv_log(m, k, np.full(4, ld))
        assert np.allclose(beta, logs, rtol=1e-10, atol=0)


def test_binomial_tiny_delta():
    m, ld = 3668, math.log(0.05) - 6400 * B.LN2
    assert B.binomial_tail_inv(m, 0, log_delta=ld) == pytest.approx(-math.expm1(ld / m), rel=1e-10)
    p = B.binomial_tail_inv(m, 367, log_delta=ld)
    assert B._log_binomial_tail(np.array([m], float), np.array([367.0]), np.array([p]))[0] == (
        pytest.approx(ld, rel=1e-8)
    )
    assert B.binomial_tail_inv(m, m, 0.05) == 1.0


@pytest.mark.parametrize(
    ("err", "kl", "m"),
    [(0.1, 100.0, 10000), (0.0, 5.0, 200), (0.4, 2000.0, 3668), (0.7, 50.0, 1000)],
)
def test_catoni_free_matches_occam_and_union_is_larger(err, kl, m):
    free, _ = B.catoni_bound_opt(err, kl, m, 0.05, union=False)
    occ = B.kl_inv_upper(err, (kl + LN20) / m)
    assert free == pytest.approx(occ, rel=1e-6)
    union, _ = B.catoni_bound_opt(err, kl, m, 0.05, union=True)
    assert union >= free


def test_monotone_in_complexity():
    bits = np.array([0.0, 10.0, 100.0, 1000.0, 5000.0])
    kl = bits * B.LN2
    for method in ("kl", "binomial", "hoeffding"):
        assert (np.diff(B.occam_bound(3668, 0.1, bits, 0.05, method)) > 0).all()
    assert (np.diff(B.pac_bayes_kl_bound(0.1, kl, 3668, 0.05)) > 0).all()
    assert (np.diff(B.catoni_bound_opt(0.1, kl, 3668, 0.05)[0]) > 0).all()
    assert (np.diff(B.mcallester_bound(0.1, kl, 3668, 0.05)) > 0).all()
    lots = B.lotfi_bound(0.1, 207, np.array([2, 4, 8, 16, 64]), 3668)["bound"]
    assert (np.diff(lots) > 0).all()


def test_pac_bayes_variants_and_ordering():
    m, kl = 3668, 200.0
    maurer = B.pac_bayes_kl_bound(0.1, kl, m, 0.05)
    ls = B.pac_bayes_kl_bound(0.1, kl, m, 0.05, variant="langford_seeger")
    occ = B.occam_bound(m, 0.1, kl / B.LN2, 0.05)
    c_maurer = (kl + math.log(2 * math.sqrt(m) / 0.05)) / m
    assert maurer == pytest.approx(B.kl_inv_upper(0.1, c_maurer))
    assert ls == pytest.approx(B.kl_inv_upper(0.1, (kl + math.log((m + 1) / 0.05)) / m))
    assert occ < maurer < ls


def test_mcallester_formula():
    got = B.mcallester_bound(0.1, 100.0, 10000, 0.05)
    assert got == pytest.approx(0.1 + math.sqrt((100 + LN20 + math.log(10000)) / 19999), rel=1e-12)


def test_units_and_codes():
    assert B.bits_to_nats(1.0) == pytest.approx(math.log(2))
    assert B.nats_to_bits(B.bits_to_nats(123.0)) == pytest.approx(123.0)
    got = B.prefix_code_bits(np.array([2.0, 10.0, 1024.0]))
    assert np.allclose(got, [4.0, 16.64385618977472, 1044.0], rtol=1e-15, atol=0)
    assert B.hyperparam_bits(144) == pytest.approx(math.log2(144))
    assert B.hyperparam_bits(144, round_up=True) == 8.0
    assert B.hyperparam_bits(8, round_up=True) == 3.0
    assert B.hyperparam_bits(1) == 0.0
    assert B.symbol_entropy_bits(np.full(16, 1 / 16)) == pytest.approx(4.0)
    assert B.symbol_entropy_bits([3, 1, 0]) == pytest.approx(0.8112781245)  # counts accepted


def test_description_length_bits():
    # arithmetic, uniform usage: ceil(207·4) + 1 + 16·16 + 16·ceil(log2 208)
    assert B.description_length_bits(207, 16) == 829 + 256 + 128
    assert B.description_length_bits(207, 16, codebook_bits=32) == 829 + 512 + 128
    assert B.description_length_bits(207, 16, count_bits=0) == 829 + 256
    assert B.description_length_bits(256, 2) == 257 + 32 + 2 * 9  # safe count bits
    assert B.description_length_bits(207, 7, coder="fixed") == 207 * 3 + 7 * 16
    probs = np.array([0.5, 0.25, 0.25, 0.0])
    assert B.description_length_bits(100, 4, probs) == 151 + 64 + 4 * 7
    assert B.arithmetic_code_bits(100, 1.5) == 151.0
    assert B.arithmetic_code_bits(100, 0.0) == 1.0
    with pytest.raises(ValueError, match="levels"):
        B.description_length_bits(100, 5, probs)


def test_complexity_nats_and_lotfi_bound():
    l = 829 + 256 + 128
    want = (l + 2 * math.log2(l) + 3 + math.log2(8)) * B.LN2
    assert B.complexity_nats(207, 16, extra_bits=3, n_candidate_d=8) == pytest.approx(want)
    res = B.lotfi_bound(0.1, 207, 16, 3668, extra_bits=3, n_candidate_d=8)
    assert set(res) >= {"bits", "prefix_bits", "kl_nats", "bound", "lam", "statement"}
    assert res["bits"] == l
    assert res["prefix_bits"] == pytest.approx(l + 2 * math.log2(l))
    assert res["kl_nats"] == pytest.approx(want)
    union, lam = B.catoni_bound_opt(0.1, want, 3668, 0.05)
    assert res["bound"] == pytest.approx(union) and res["lam"] == pytest.approx(lam)
    occ = B.lotfi_bound(0.1, 207, 16, 3668, extra_bits=3, n_candidate_d=8, bound="occam_kl")
    assert occ["bound"] == pytest.approx(B.kl_inv_upper(0.1, (want + LN20) / 3668), rel=1e-10)
    assert math.isnan(occ["lam"]) and occ["bound"] < res["bound"]
    assert "Zhou" in res["statement"] and "Occam" in occ["statement"]
    auto = B.lotfi_bound(np.array([0.1, 0.6]), 207, 16, 3668, bound="auto")
    ref_u = B.lotfi_bound(0.1, 207, 16, 3668)["bound"]
    ref_o = B.lotfi_bound(0.6, 207, 16, 3668, bound="occam_kl")["bound"]
    assert np.allclose(auto["bound"], [ref_u, ref_o])


# ------------------------------------------------------------------------------- vectorization


def test_vectorized_equals_elementwise():
    rng = np.random.default_rng(0)
    q = rng.uniform(0, 1, 12)
    c = rng.uniform(0, 0.5, 12)
    m = rng.integers(20, 4000, 12)
    k = (q * m).astype(int)
    bits = np.array([0, 5, 50, 1200, 3000, 6400, 0, 10, 2500, 9, 100, 7000], float)
    err = k / m
    checks = [
        (B.kl_inv_upper, (q, c)),
        (B.kl_inv_lower, (q, c)),
        (lambda *a: B.occam_bound(*a, 0.05, "binomial"), (m, err, bits)),
        (lambda *a: B.occam_bound(*a, 0.05, "kl"), (m, err, bits)),
        (lambda *a: B.occam_bound(*a, 0.05, "hoeffding"), (m, err, bits)),
        (lambda *a: B.pac_bayes_kl_bound(*a, 0.05), (err, bits * B.LN2, m)),
        (lambda *a: B.catoni_bound_opt(*a, 0.05)[0], (err, bits * B.LN2, m)),
        (lambda *a: B.catoni_bound_opt(*a, 0.05)[1], (err, bits * B.LN2, m)),
    ]
    for fn, args in checks:
        vec = fn(*args)
        one = np.array([fn(*(a[i] for a in args)) for i in range(12)])
        assert vec.shape == (12,)
        assert np.allclose(vec, one, rtol=1e-10, atol=1e-14)
    assert isinstance(B.kl_inv_upper(0.1, 0.05), float)


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: B.occam_bound(1000, 1.5, 10, 0.05), "emp_err must be a fraction in \\[0, 1\\]"),
        (lambda: B.occam_bound(1000, -0.1, 10, 0.05), "fraction"),
        (lambda: B.occam_bound(0, 0.1, 10, 0.05), "m must be"),
        (lambda: B.occam_bound(-5, 0.1, 10, 0.05, "hoeffding"), "m must be"),
        (lambda: B.occam_bound(100.5, 0.1, 10, 0.05, "binomial"), "integer"),
        (lambda: B.occam_bound(1000, 0.1, 10, 1.0), "delta .* \\(0, 1\\)"),
        (lambda: B.occam_bound(1000, 0.1, 10, 0.0), "delta"),
        (lambda: B.occam_bound(1000, 0.1, -1, 0.05), "complexity_bits must be >= 0"),
        (lambda: B.occam_bound(1000, 0.1, 10, 0.05, "chernoff"), "method must be one of"),
        (lambda: B.kl_inv_upper(0.1, -0.01), "c must be >= 0"),
        (lambda: B.kl_inv_upper(np.nan, 0.1), "NaN"),
        (lambda: B.catoni_bound(0.1, -1.0, 100, 10, 0.05), "kl_nats"),
        (lambda: B.catoni_bound(0.1, 1.0, 100, 0, 0.05), "lam"),
        (lambda: B.catoni_bound_opt(0.1, 1.0, 100, 0.05, alpha=0), "alpha"),
        (lambda: B.pac_bayes_kl_bound(0.1, 1.0, 5, 0.05), "m >= 8"),
        (lambda: B.pac_bayes_kl_bound(0.1, 1.0, 500, 0.05, variant="x"), "variant"),
        (lambda: B.binomial_tail_inv(100, 101, 0.05), "k \\(error count\\) must be <= m"),
        (lambda: B.binomial_tail_inv(100, 2.5, 0.05), "integer"),
        (lambda: B.binomial_tail_inv(100, 2), "exactly one"),
        (lambda: B.binomial_tail_inv(100, 2, 0.05, log_delta=-3), "exactly one"),
        (lambda: B.binomial_tail_inv(100, 2, log_delta=0.5), "log_delta must be < 0"),
        (lambda: B.arora_compression_bound(0.0, 10, 0.5, 100), "r \\(values per parameter\\)"),
        (lambda: B.aghajanyan_bound(-1, 100), "d must be >= 0"),
        (lambda: B.aghajanyan_bound(10, 100, form="exact"), "form"),
        (lambda: B.prefix_code_bits(1.0), "l >= 2"),
        (lambda: B.hyperparam_bits(0), "n_configs"),
        (lambda: B.description_length_bits(0, 4), "d must be an integer >= 1"),
        (lambda: B.description_length_bits(10, 0), "levels"),
        (lambda: B.symbol_entropy_bits([0.0, 0.0]), "positive"),
        (lambda: B.lotfi_bound(0.1, 207, 16, 3668, extra_bits=-2), "extra_bits"),
        (lambda: B.bound_report(207, 3668, 10.0), "train_error must be a fraction"),
    ],
)
def test_invalid_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------- report


def test_bound_report_fp_formats():
    rows = B.bound_report(207, 3668, 0.1)
    keys = {"name", "statement", "complexity_bits", "bound", "certified"}
    assert all(keys <= set(r) for r in rows)
    by = {(r["name"], r["code"]): r for r in rows}
    asym = by[("Aghajanyan Thm 1, ê + sqrt(d/m)", "-")]
    assert not asym["certified"] and asym["bound"] == pytest.approx(0.1 + 0.237558, rel=REL)
    occ = by[("Occam, kl", "fp32")]
    assert occ["certified"] and occ["complexity_bits"] == 207 * 32
    assert occ["bound"] == pytest.approx(0.822943878783, rel=1e-10)  # kl⁻¹ in 40 digits (mpmath)
    hoeff16 = by[("Occam, Hoeffding (Arora explicit)", "fp16")]
    assert hoeff16["bound"] == pytest.approx(0.1 + 0.559772, rel=REL)
    assert not by[("'McAllester' (tight-pac-bayes)", "fp16")]["certified"]
    # the fp16 code is another model: certified only with its own training error
    assert not any(r["certified"] for r in rows if r["code"] == "fp16")
    assert "train_error_fp16" in by[("Occam, kl", "fp16")]["code_note"]
    own = B.bound_report(207, 3668, 0.1, train_error_fp16=0.12)
    kl16 = next(r for r in own if r["name"] == "Occam, kl" and r["code"] == "fp16")
    assert kl16["certified"] and kl16["bound"] == pytest.approx(
        float(B.occam_bound(3668, 0.12, 207 * 16, 0.05))
    )
    fp32_own = [r for r in own if r["code"] == "fp32"]
    assert [r["bound"] for r in fp32_own] == [r["bound"] for r in rows if r["code"] == "fp32"]
    # selection bits are charged
    rows10 = B.bound_report(207, 3668, 0.1, n_candidate_d=10, extra_bits=2)
    occ10 = next(r for r in rows10 if r["name"] == "Occam, kl" and r["code"] == "fp32")
    assert occ10["complexity_bits"] == pytest.approx(207 * 32 + math.log2(10) + 2)
    assert occ10["bound"] > occ["bound"]


def test_bound_report_levels_and_format():
    probs = np.array([0.4, 0.3, 0.2, 0.1] + [0.0] * 12)
    rows = B.bound_report(207, 3668, 0.05, levels=16, symbol_probs=probs)
    codes = {r["code"] for r in rows}
    assert codes == {"-", "L=16 fixed", "L=16 arith."}
    arith = next(r for r in rows if r["name"] == "Catoni, λ-grid union" and "arith" in r["code"])
    lot = B.lotfi_bound(0.05, 207, 16, 3668, symbol_probs=probs)
    assert arith["bound"] == pytest.approx(lot["bound"])
    assert arith["complexity_bits"] == pytest.approx(lot["kl_nats"] / B.LN2)
    fixed = next(r for r in rows if r["name"] == "Occam, kl" and "fixed" in r["code"])
    assert fixed["complexity_bits"] == 207 * 4 + 256
    text = B.format_report(rows, title="MRPC")
    assert text.startswith("MRPC")
    assert "Occam, binomial" in text and "L=16 arith." in text and "NO" in text
    assert "Inputs: d=207, m=3668" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_format_report_marks_vacuous():
    text = B.format_report(B.bound_report(207, 3668, 0.1))
    line = next(x for x in text.splitlines() if "Arora Thm 2.1" in x and "fp32" in x)
    # a proven value >= 1 certifies nothing: never "yes"
    assert line.rstrip().endswith("vacuous") and "yes" not in line


def test_one_level_is_refused():
    # r = 1: τ = 0 at failure probability r^-q = 1, i.e. no statement at all
    with pytest.raises(ValueError, match="certifies nothing"):
        B.arora_compression_bound(0.1, 207, 1, 3668)
    with pytest.raises(ValueError, match="certifies nothing"):
        B.arora_compression_bound(0.1, 0, 2**16, 3668)
    with pytest.raises(ValueError, match="levels must be >= 2"):
        B.bound_report(207, 3668, 0.1, levels=1)
    # with δ given, r = 1 is the test-set bound of one fixed hypothesis (a real statement)
    assert close(B.arora_compression_bound(0.1, 207, 1, 3668, delta=0.05), 0.1 + 0.0202079)


def test_arora_row_needs_failure_probability_below_delta():
    # d = 10 at 16 levels: 40 bits of symbols against 256 codebook bits: r^-q · 2^256 > 1
    rows = B.bound_report(10, 3668, 0.1, levels=16)
    arora = next(r for r in rows if r["name"].startswith("Arora"))
    assert not arora["certified"] and "certifies nothing" in arora["code_note"]
    assert all(r["certified"] for r in rows if r["name"].startswith("Occam"))
    # fp32 at d = 207: failure probability 10^-1994, far below δ
    fp32 = next(r for r in B.bound_report(207, 3668, 0.1) if r["name"].startswith("Arora"))
    assert fp32["certified"]


def test_report_emits_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        B.bound_report(50, 1000, 0.0, levels=4)


def test_import_does_not_pull_torch():
    code = "import sys, idtheory.bounds; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_bound_just_below_one_is_not_printed_as_one():
    from idtheory.bounds import _bound_value

    assert _bound_value(0.9999912) == "0.9999912" and _bound_value(0.95) == "0.9500"
    assert _bound_value(1.0) == "1.0000"  # vacuous, and shown as such
