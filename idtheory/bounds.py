"""Compression-based generalization bounds (pure numpy / scipy; never imports torch).

Turns an intrinsic dimension d (e.g. d90), a training-set size m, a training error and the
details of how the d trained numbers are quantized and coded into certified upper bounds on
the true (population) 0/1 error of the **compressed** model.

Units and conventions (statements and worked examples: ``docs/bounds.md``):

* error rates are **fractions** in [0, 1] (never percentages);
* a parameter or return value whose name ends in ``_bits`` is in bits, ``_nats`` in nats;
  ``nats = bits · ln 2``; ``ln`` is the natural log, ``log2`` base 2;
* ``m`` is the number of i.i.d. training examples the bound is evaluated on; ``delta`` (δ) is
  the failure probability, in (0, 1);
* every function broadcasts over numpy arrays (bisection and λ search are vectorized) and
  returns a Python ``float`` for scalar inputs, an ``ndarray`` otherwise;
* bounds are returned raw (they may exceed 1, i.e. be vacuous); clip them yourself if needed.

All bounds certify the quantized / compressed model: pass **its** training error on the full
training set, and charge every data-dependent choice (d90 from a sweep, number of levels,
quantizer, ...) in bits (``n_candidate_d``, ``extra_bits``).

References:
    Langford (2005), Tutorial on Practical Prediction Theory for Classification, JMLR 6.
    Maurer (2004), A Note on the PAC Bayesian Theorem, arXiv cs/0411099.
    Catoni (2007), PAC-Bayesian Supervised Classification, arXiv 0712.0248, Thm 1.2.6.
    Arora, Ge, Neyshabur, Zhang (2018), Stronger generalization bounds for deep nets via a
        compression approach, ICML, arXiv 1802.05296, Thm 2.1.
    Zhou, Veitch, Austern, Adams, Orbanz (2019), Non-vacuous Generalization Bounds at the
        ImageNet Scale, ICLR, arXiv 1804.05862.
    Aghajanyan, Gupta, Zettlemoyer (2021), Intrinsic Dimensionality Explains the
        Effectiveness of Language Model Fine-Tuning, ACL, arXiv 2012.13255, Thm 1.
    Lotfi, Finzi, Kapoor, Potapczynski, Goldblum, Wilson (2022), PAC-Bayes Compression Bounds
        So Tight That They Can Explain Generalization, NeurIPS, arXiv 2211.13609.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

__all__ = [
    "UncertifiedBoundWarning",
    "aghajanyan_bound",
    "arithmetic_code_bits",
    "arora_compression_bound",
    "binomial_tail",
    "binomial_tail_inv",
    "bits_to_nats",
    "bound_report",
    "catoni_bound",
    "catoni_bound_opt",
    "complexity_nats",
    "description_length_bits",
    "format_report",
    "hyperparam_bits",
    "kl_bernoulli",
    "kl_inv_lower",
    "kl_inv_upper",
    "lotfi_bound",
    "mcallester_bound",
    "nats_to_bits",
    "occam_bound",
    "pac_bayes_kl_bound",
    "prefix_code_bits",
    "symbol_entropy_bits",
    "test_set_bound",
]

LN2 = math.log(2.0)
#: below this ln δ the Beta inverse underflows (δ < ~1e-304): switch to log-space root finding
LOG_DELTA_SWITCH = -700.0
# Outward widening of a binomial tail inversion computed by scipy's Beta quantile: 1e-12
# relative, thousands of ulps, against the 1-2 ulp it was measured low by (40-digit check).
BETA_ISF_WIDEN = 1e-12
EPS = float(np.finfo(np.float64).eps)

Array = NDArray[np.float64]
Value = float | Array


class UncertifiedBoundWarning(UserWarning):
    """Emitted when a function returns a number that is *not* a certified bound."""


# --------------------------------------------------------------------------------------------
# validation and small helpers
# --------------------------------------------------------------------------------------------


def _out(a: ArrayLike) -> Value:
    """A Python float for 0-d results, a float64 array otherwise."""
    arr = np.asarray(a, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


def _bad(a: Array, mask: Array) -> str:
    vals = np.asarray(a)[mask].ravel()[:5].tolist()
    return f"got {vals[0]!r}" if len(vals) == 1 else f"got offending values {vals}"


def _num(x: ArrayLike, name: str) -> Array:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {x!r}") from exc
    if np.isnan(a).any():
        raise ValueError(f"{name} must not be NaN")
    return a


def _fraction(x: ArrayLike, name: str) -> Array:
    a = _num(x, name)
    bad = (a < 0) | (a > 1)
    if bad.any():
        raise ValueError(
            f"{name} must be a fraction in [0, 1] (an error rate, not a percentage); {_bad(a, bad)}"
        )
    return a


def _nonneg(x: ArrayLike, name: str, unit: str = "") -> Array:
    a = _num(x, name)
    bad = a < 0
    if bad.any():
        raise ValueError(f"{name} must be >= 0{unit}; {_bad(a, bad)}")
    return a


def _positive(x: ArrayLike, name: str, what: str = "a positive number") -> Array:
    a = _num(x, name)
    bad = ~(a > 0) | ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} must be {what} (> 0 and finite); {_bad(a, bad)}")
    return a


def _sample_size(m: ArrayLike, integer: bool = False) -> Array:
    a = _positive(m, "m", "the number of training examples")
    if integer and (a != np.round(a)).any():
        raise ValueError(f"m must be an integer number of examples; {_bad(a, a != np.round(a))}")
    return a


def _integer(x: ArrayLike, name: str, minimum: int) -> Array:
    a = _num(x, name)
    bad = (a < minimum) | (a != np.round(a)) | ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} must be an integer >= {minimum}; {_bad(a, bad)}")
    return a


def _delta(delta: ArrayLike) -> Array:
    a = _num(delta, "delta")
    bad = (a <= 0) | (a >= 1)
    if bad.any():
        raise ValueError(f"delta (failure probability) must lie in (0, 1); {_bad(a, bad)}")
    return a


def _choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _error_count(m: Array, emp_err: Array) -> Array:
    """Error count k from a training error: the nearest integer where m · emp_err is one up to
    float round-off (1e-9 relative: a k/m input), ``ceil(m · emp_err)`` otherwise (rounds *up*)."""
    x = m * emp_err
    near = np.round(x)
    k = np.where(np.abs(x - near) <= 1e-9 * np.maximum(1.0, x), near, np.ceil(x))
    return np.minimum(k, m)


def _bisect(
    below_root: Callable[[Array], Array], lo: Array, hi: Array, tol: float, max_iter: int = 200
) -> tuple[Array, Array]:
    """Vectorized bisection. ``below_root(x)`` is True where the root lies at or above x.

    Each element stops once its own bracket is ≤ ``tol`` wide, so an element's result does not
    depend on the other elements of the batch."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(max_iter):
        active = (hi - lo) > tol
        if not active.any():
            break
        mid = 0.5 * (lo + hi)
        up = below_root(mid)
        lo = np.where(active & up, mid, lo)
        hi = np.where(active & ~up, mid, hi)
    return lo, hi


# --------------------------------------------------------------------------------------------
# units and the binary relative entropy
# --------------------------------------------------------------------------------------------


def bits_to_nats(b: ArrayLike) -> Value:
    """Convert bits to nats: ``nats = bits · ln 2``."""
    return _out(_num(b, "b") * LN2)


def nats_to_bits(n: ArrayLike) -> Value:
    """Convert nats to bits: ``bits = nats / ln 2``."""
    return _out(_num(n, "n") / LN2)


def _kl(q: Array, p: Array) -> Array:
    """kl(q‖p) in nats, written with ``log1p`` of the relative gaps: ``q ln(q/p) =
    −q log1p((p−q)/q)``. Each term then carries a float error ~ε·|p−q| rather than ε (the error of
    ``ln(q/p)``), which matters where kl is tiny: a budget c ≲ 1e-8 nats in :func:`kl_inv_upper`."""
    gap = p - q
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(q > 0, -q * np.log1p(gap / np.where(q > 0, q, 1.0)), 0.0)
        down = np.where(q < 1, -(1.0 - q) * np.log1p(-gap / np.where(q < 1, 1.0 - q, 1.0)), 0.0)
    return up + down


def kl_bernoulli(q: ArrayLike, p: ArrayLike) -> Value:
    """Binary relative entropy ``kl(q‖p) = q ln(q/p) + (1−q) ln((1−q)/(1−p))`` in **nats**.

    q, p are fractions in [0, 1]; 0·ln 0 = 0; the value is +inf when p ∈ {0, 1} and q ≠ p.
    """
    return _out(_kl(_fraction(q, "q"), _fraction(p, "p")))


def kl_inv_upper(q: ArrayLike, c: ArrayLike, tol: float = 1e-12) -> Value:
    """Upper kl-inverse ``kl⁻¹(q, c) = max{p ∈ [q, 1] : kl(q‖p) ≤ c}`` (a fraction).

    q: fraction in [0, 1]; c: budget in **nats**, c ≥ 0. Vectorized bisection on [q, 1] to
    absolute tolerance ``tol``; the upper end of the final bracket is returned, so the result is
    never below the exact value. Exact edge cases: c = 0 → q; q = 0 → 1 − e^{−c}; q = 1 → 1.
    Monotone non-decreasing in q and c; Pinsker: kl⁻¹(q, c) ≤ q + sqrt(c/2). (Langford 2005 §3.)
    """
    qa, ca = np.broadcast_arrays(_fraction(q, "q"), _nonneg(c, "c", " nats"))
    with np.errstate(divide="ignore", invalid="ignore"):
        _, hi = _bisect(lambda p: _kl(qa, p) <= ca, qa.astype(float), np.ones(qa.shape), tol)
        out = np.where(ca == 0, qa, hi)
        out = np.where(qa == 0, -np.expm1(-ca), out)
    return _out(np.where(qa == 1, 1.0, out))


def kl_inv_lower(q: ArrayLike, c: ArrayLike, tol: float = 1e-12) -> Value:
    """Lower kl-inverse ``min{p ∈ [0, q] : kl(q‖p) ≤ c} = 1 − kl⁻¹(1 − q, c)`` (a fraction).

    q: fraction; c: nats ≥ 0. Bisection on [0, q] (the lower end of the bracket is returned, so
    the result never exceeds the exact value). Edge cases: c = 0 → q; q = 0 → 0; q = 1 → e^{−c}.
    """
    qa, ca = np.broadcast_arrays(_fraction(q, "q"), _nonneg(c, "c", " nats"))
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, _ = _bisect(lambda p: _kl(qa, p) > ca, np.zeros(qa.shape), qa.astype(float), tol)
        out = np.where(ca == 0, qa, lo)
        out = np.where(qa == 1, np.exp(-ca), out)
    return _out(np.where(qa == 0, 0.0, out))


# --------------------------------------------------------------------------------------------
# binomial tail (test-set and Occam bounds, Langford 2005)
# --------------------------------------------------------------------------------------------


def _counts(m: ArrayLike, k: ArrayLike) -> tuple[Array, Array]:
    ma = _sample_size(m, integer=True)
    ka = _integer(k, "k (error count)", 0)
    ma, ka = np.broadcast_arrays(ma, ka)
    if (ka > ma).any():
        raise ValueError(f"k (error count) must be <= m; {_bad(ka, ka > ma)}")
    return ma, ka


def binomial_tail(m: ArrayLike, k: ArrayLike, p: ArrayLike) -> Value:
    """``Bin(m, k, p) = Σ_{j=0..k} C(m, j) p^j (1−p)^{m−j}``: the probability of at most k errors
    in m i.i.d. draws when the true error rate is p (Langford 2005, Def. 3.2). m, k integers."""
    ma, ka = _counts(m, k)
    return _out(stats.binom.cdf(ka, ma, _fraction(p, "p")))


def _log_binomial_tail(m: Array, k: Array, p: Array) -> Array:
    """ln Bin(m, k, p) for 1-d arrays, as a log-sum-exp over j = 0..k (no underflow)."""
    j = np.arange(int(k.max()) + 1, dtype=np.float64)
    mm, pp = m[:, None], p[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (
            special.gammaln(mm + 1)
            - special.gammaln(j + 1)
            - special.gammaln(mm - j + 1)
            + special.xlogy(j, pp)
            + special.xlog1py(mm - j, -pp)
        )
    terms = np.where(j <= k[:, None], terms, -np.inf)
    return special.logsumexp(terms, axis=1)


def _binomial_tail_inv_log(m: Array, k: Array, log_delta: Array) -> Array:
    """max{p : ln Bin(m, k, p) ≥ ln δ} by vectorized bisection on [0, 1] (1-d inputs, k < m).

    The comparison allows for the float error of the log-sum, 64 ε × (ln m! + |ln δ|) (its
    largest terms), so the root it finds lies at or above the exact one: rounding can only make
    the bound looser (measured against 40-digit arithmetic: the slack is 50× the error at
    m = 67,349)."""
    slack = 64 * EPS * (special.gammaln(m + 1) + np.abs(log_delta))
    _, hi = _bisect(
        lambda p: _log_binomial_tail(m, k, p) >= log_delta - slack,
        np.zeros(m.shape),
        np.ones(m.shape),
        tol=0.0,
        max_iter=64,
    )
    return hi


def binomial_tail_inv(
    m: ArrayLike, k: ArrayLike, delta: ArrayLike | None = None, log_delta: ArrayLike | None = None
) -> Value:
    """Binomial tail inversion ``Bin⁻(m, k, δ) = max{p : Bin(m, k, p) ≥ δ}`` (a fraction).

    Give exactly one of ``delta`` (δ ∈ (0, 1)) or ``log_delta`` (ln δ < 0, natural log), the
    latter for the tiny δ of Occam bounds (δ · 2^{−bits}, e.g. 0.05 · 2^{−6400}). Equals the
    one-sided Clopper–Pearson upper limit ``Beta.isf(δ; k+1, m−k)``, used while ln δ ≥ −700
    (widened by :data:`BETA_ISF_WIDEN` relative); below that, ``ln Bin(m, k, p) = ln δ`` is
    solved in log space (log-sum-exp of the binomial terms, 64 bisection steps, upper end
    returned, float error allowed for). Either way the result is rounded *up*: an upper bound
    never comes out below the exact inversion. k = m gives 1. (Langford 2005, Def. 3.4.)
    """
    if (delta is None) == (log_delta is None):
        raise ValueError("give exactly one of delta (in (0, 1)) or log_delta (ln δ < 0)")
    if delta is not None:
        ld = np.log(_delta(delta))
    else:
        ld = _num(log_delta, "log_delta")
        if (ld >= 0).any():
            raise ValueError(f"log_delta must be < 0 (δ in (0, 1)); {_bad(ld, ld >= 0)}")
    ma, ka = _counts(m, k)
    ma, ka, ld = (a.astype(np.float64) for a in np.broadcast_arrays(ma, ka, ld))
    out = np.ones(ma.shape)
    beta = (ka < ma) & (ld >= LOG_DELTA_SWITCH)
    isf = stats.beta.isf(np.exp(ld[beta]), ka[beta] + 1, ma[beta] - ka[beta])
    out[beta] = np.minimum(isf * (1.0 + BETA_ISF_WIDEN), 1.0)
    logs = (ka < ma) & (ld < LOG_DELTA_SWITCH)
    if logs.any():
        out[logs] = _binomial_tail_inv_log(ma[logs], ka[logs], ld[logs])
    return _out(out)


def test_set_bound(
    m: ArrayLike,
    k: ArrayLike,
    delta: ArrayLike,
    method: Literal["binomial", "kl", "hoeffding"] = "binomial",
) -> Value:
    """Test-set bound (Langford 2005, Thm 3.3) on the true error of a classifier chosen
    independently of the m test examples, k of which it gets wrong. Fraction; w.p. ≥ 1 − δ:

    * ``binomial``: ``Bin⁻(m, k, δ)`` (exact);
    * ``kl``: ``kl⁻¹(k/m, ln(1/δ)/m)`` (Chernoff relaxation);
    * ``hoeffding``: ``k/m + sqrt(ln(1/δ)/(2m))``.
    """
    ma, ka = _counts(m, k)
    return occam_bound(ma, ka / ma, 0.0, delta, method=method)


def occam_bound(
    m: ArrayLike,
    emp_err: ArrayLike,
    complexity_bits: ArrayLike,
    delta: ArrayLike,
    method: Literal["kl", "binomial", "hoeffding"] = "kl",
) -> Value:
    """Occam's-razor bound (Langford 2005, Thm 4.1) for a hypothesis with a prefix-free code of
    ``complexity_bits`` bits (prior P(c) = 2^{−bits}, Kraft). Fraction; w.p. ≥ 1 − δ:

    * ``kl``: ``kl⁻¹(ê, (bits·ln 2 + ln(1/δ)) / m)``;
    * ``binomial``: ``Bin⁻(m, k, δ · 2^{−bits})`` with k = ceil(m·ê) errors (tightest; the
      count is rounded up when m·ê is not an integer, which can only loosen the bound);
    * ``hoeffding``: ``ê + sqrt((bits·ln 2 + ln(1/δ)) / (2m))`` — Arora et al. (2018)'s
      explicit form with bits = q·log2 r.

    ê = ``emp_err`` is the training error (fraction) of the coded hypothesis on m examples.
    """
    method = _choice(method, "method", ("kl", "binomial", "hoeffding"))
    ma = _sample_size(m, integer=method == "binomial")
    err = _fraction(emp_err, "emp_err")
    bits = _nonneg(complexity_bits, "complexity_bits", " bits")
    dl = _delta(delta)
    c_nats = bits * LN2 - np.log(dl)
    if method == "kl":
        return kl_inv_upper(err, c_nats / ma)
    if method == "hoeffding":
        return _out(err + np.sqrt(c_nats / (2.0 * ma)))
    ma, err = np.broadcast_arrays(ma, err)
    return binomial_tail_inv(ma, _error_count(ma, err), log_delta=np.log(dl) - bits * LN2)


# --------------------------------------------------------------------------------------------
# PAC-Bayes bounds
# --------------------------------------------------------------------------------------------


def pac_bayes_kl_bound(
    emp_err: ArrayLike,
    kl_nats: ArrayLike,
    m: ArrayLike,
    delta: ArrayLike,
    variant: Literal["maurer", "langford_seeger"] = "maurer",
) -> Value:
    """PAC-Bayes-kl bound on the Gibbs error Q_𝒟 (fraction); w.p. ≥ 1 − δ, for all Q:

    ``Q_𝒟 ≤ kl⁻¹(Q̂_S, (KL(Q‖P) + ln(ξ/δ)) / m)`` with ``ξ = 2√m`` (``maurer``, Maurer 2004,
    needs m ≥ 8) or ``ξ = m + 1`` (``langford_seeger``, Langford 2005 Thm 5.1). KL in **nats**.
    For a point-mass posterior the Occam kl bound (``occam_bound``) is tighter.
    """
    variant = _choice(variant, "variant", ("maurer", "langford_seeger"))
    ma = _sample_size(m)
    kl = _nonneg(kl_nats, "kl_nats", " nats")
    dl = _delta(delta)
    if variant == "maurer":
        if (ma < 8).any():
            raise ValueError(f"the Maurer (2004) variant needs m >= 8; {_bad(ma, ma < 8)}")
        xi = 2.0 * np.sqrt(ma)
    else:
        xi = ma + 1.0
    return kl_inv_upper(_fraction(emp_err, "emp_err"), (kl + np.log(xi / dl)) / ma)


def mcallester_bound(
    emp_err: ArrayLike, kl_nats: ArrayLike, m: ArrayLike, delta: ArrayLike
) -> Value:
    """**Non-standard** "McAllester" bound of the tight-pac-bayes code (Lotfi et al. 2022):

    ``ê + sqrt((KL − ln δ + ln m) / (2m − 1))`` (fraction; KL in nats).

    Reproduced for comparison only: it resembles McAllester (1999)'s
    ``sqrt((KL + ln(1/δ) + ln m + 2) / (2m − 1))`` without the ``+ 2``, and is **not** the
    textbook statement; do not report it as "McAllester's bound" without that qualification.
    Prefer ``pac_bayes_kl_bound`` or ``occam_bound``.
    """
    ma = _sample_size(m)
    kl = _nonneg(kl_nats, "kl_nats", " nats")
    dl = _delta(delta)
    err = _fraction(emp_err, "emp_err")
    return _out(err + np.sqrt((kl - np.log(dl) + np.log(ma)) / (2.0 * ma - 1.0)))


def _phi_inv(gamma: Array, x: Array) -> Array:
    """Catoni's ``Φ⁻¹_γ(x) = (1 − e^{−γx}) / (1 − e^{−γ})``, computed with expm1."""
    return np.expm1(-gamma * x) / np.expm1(-gamma)


def catoni_bound(
    emp_err: ArrayLike, kl_nats: ArrayLike, m: ArrayLike, lam: ArrayLike, delta: ArrayLike
) -> Value:
    """Catoni (2007, Thm 1.2.6) bound for a λ > 0 **fixed before seeing the data** (fraction):

    ``Q_𝒟 ≤ Φ⁻¹_{λ/m}(Q̂_S + (KL + ln(1/δ)) / λ)``,
    ``Φ⁻¹_γ(x) = (1 − e^{−γx}) / (1 − e^{−γ})``; KL in nats. Choosing λ after seeing the data
    needs a union bound over a λ grid: use ``catoni_bound_opt``.
    """
    ma = _sample_size(m)
    la = _positive(lam, "lam")
    c = _nonneg(kl_nats, "kl_nats", " nats") - np.log(_delta(delta))
    return _out(_phi_inv(la / ma, _fraction(emp_err, "emp_err") + c / la))


def _catoni_objective(
    g: Array, err: Array, kl: Array, m: Array, log_inv_delta: Array, alpha: float, union: bool
) -> Array:
    lam = np.exp(g)
    c = kl + log_inv_delta
    if union:
        c = (1.0 + alpha) * (c + 2.0 * np.log(2.0 + g / math.log1p(alpha)))
    return _phi_inv(lam / m, err + c / lam)


def catoni_bound_opt(
    emp_err: ArrayLike,
    kl_nats: ArrayLike,
    m: ArrayLike,
    delta: ArrayLike,
    alpha: float = 1e-4,
    union: bool = True,
    n_grid: int = 2001,
) -> tuple[Value, Value]:
    """Catoni bound with λ optimized after seeing the data. Returns ``(bound, lam)``.

    ``union=True`` (Zhou et al. 2019; the bound of Lotfi et al. 2022): with g = ln λ,
    ``B(g) = Φ⁻¹_{e^g/m}(ê + (1+α) e^{−g} [KL + ln(1/δ) + 2 ln(2 + g / ln(1+α))])``, where
    ``2 ln(2 + j)`` pays for grid point j of a geometric λ grid of ratio 1+α (prior ∝ (j+2)^{−2})
    and ``1+α`` for rounding λ down to the grid; valid for every g, hence for the minimizer.

    ``union=False``: no penalty (``B(g) = Φ⁻¹(ê + (KL + ln(1/δ)) e^{−g})``). Catoni's theorem
    does not justify this; its value equals the Occam kl bound ``kl⁻¹(ê, (KL + ln(1/δ))/m)``,
    which is valid for a **point-mass posterior on a prefix-coded hypothesis** only.

    Minimization: B on ``n_grid`` points of g ∈ [0, ln m + 15], then a vectorized bounded
    golden-section search in the neighbouring grid cells (not Brent from a bracket, which can
    wander off). ê fraction, KL nats; returns a fraction and λ = e^g.
    """
    if not alpha > 0:
        raise ValueError(f"alpha (λ-grid ratio − 1) must be > 0, got {alpha!r}")
    arrs = np.broadcast_arrays(
        _fraction(emp_err, "emp_err"),
        _nonneg(kl_nats, "kl_nats", " nats"),
        _sample_size(m),
        -np.log(_delta(delta)),
    )
    shape = arrs[0].shape
    err, kl, ma, lid = (a.reshape(-1, 1).astype(np.float64) for a in arrs)

    def objective(g: Array) -> Array:
        return _catoni_objective(g, err, kl, ma, lid, alpha, union)

    g_max = np.log(ma) + 15.0
    grid = g_max * np.linspace(0.0, 1.0, n_grid)[None, :]
    vals = objective(grid)
    best = np.argmin(vals, axis=1)[:, None]
    step = g_max / (n_grid - 1)
    g0 = np.take_along_axis(grid, best, axis=1)
    a, b = np.maximum(g0 - step, 0.0), np.minimum(g0 + step, g_max)
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(60):
        c, d = b - inv_phi * (b - a), a + inv_phi * (b - a)
        left = objective(c) < objective(d)
        a, b = np.where(left, a, c), np.where(left, d, b)
    g_ref = 0.5 * (a + b)
    v_ref = objective(g_ref)
    v_grid = np.take_along_axis(vals, best, axis=1)
    g_best = np.where(v_ref <= v_grid, g_ref, g0)
    bound = np.minimum(v_ref, v_grid)
    return _out(bound.reshape(shape)), _out(np.exp(g_best).reshape(shape))


# --------------------------------------------------------------------------------------------
# Arora et al. (2018) and Aghajanyan et al. (2021)
# --------------------------------------------------------------------------------------------


def arora_compression_bound(
    emp_margin_loss: ArrayLike,
    q: ArrayLike,
    r: ArrayLike,
    m: ArrayLike,
    delta: ArrayLike | None = None,
) -> Value | tuple[Value, Value]:
    """Compression bound of Arora et al. (2018, Thm 2.1) for the compressed classifier g_A with
    q parameters of at most r values each (fractions in, fraction out; L̂_γ of f on m examples).

    * ``delta=None``: Arora's constant, ``L̂_γ + τ`` with ``τ = sqrt(q ln r / m)``, which holds
      with failure probability r^{−q}. Returns ``(bound, log10_failure_prob)``: r^{−q}
      underflows float64 for realistic q (10^{−1926.6} for q = 200, r = 2^32), so its base-10
      logarithm ``−q·log10 r`` is returned instead of the probability. Refused (ValueError)
      when q·ln r = 0 (r = 1: one level; or q = 0): the failure probability is then 1.
    * ``delta`` given: Hoeffding + union bound over the r^q hypotheses,
      ``L̂_γ + sqrt((q ln r + ln(1/δ)) / (2m))`` (returns the bound only).
    """
    loss = _fraction(emp_margin_loss, "emp_margin_loss")
    qa = _nonneg(q, "q", " (number of parameters)")
    ra = _num(r, "r")
    if (ra < 1).any():
        raise ValueError(f"r (values per parameter) must be >= 1; {_bad(ra, ra < 1)}")
    ma = _sample_size(m)
    q_ln_r = qa * np.log(ra)
    if delta is None:
        if (q_ln_r <= 0).any():
            raise ValueError(
                "Arora's τ = sqrt(q ln r/m) with q·ln r = 0 (one value per parameter, r = 1, or "
                "q = 0) holds with failure probability r^-q = 1: it certifies nothing; pass "
                f"delta for the Hoeffding form; {_bad(q_ln_r, q_ln_r <= 0)}"
            )
        return _out(loss + np.sqrt(q_ln_r / ma)), _out(-q_ln_r / math.log(10.0))
    return _out(loss + np.sqrt((q_ln_r - np.log(_delta(delta))) / (2.0 * ma)))


def aghajanyan_bound(
    d: ArrayLike,
    m: ArrayLike,
    emp_err: ArrayLike = 0.0,
    r: ArrayLike = 2**32,
    delta: ArrayLike = 0.05,
    form: Literal["hoeffding", "kl", "binomial", "asymptotic"] = "hoeffding",
) -> Value:
    """Aghajanyan et al. (2021, Thm 1) for a model with d intrinsic parameters, each stored with
    r possible values (2^32 for fp32, 2^16 for fp16, L for L quantization levels); fraction.

    The certified forms are Occam bounds with a uniform prior over the r^d hypotheses
    (complexity d·log2 r bits; see ``occam_bound``): ``hoeffding`` (Arora's explicit constant),
    ``kl`` and ``binomial`` (tightest). They certify the model whose d numbers are rounded to
    the r-value grid, which must be fixed before training; a data-dependent codebook, the choice
    of d (d90) and other searches must be charged separately (see ``bound_report``).

    ``asymptotic`` returns ``ê + sqrt(d/m)``: Theorem 1 as stated, ``L̂_0 + O(sqrt(d/m))``,
    with the unknown constant set to 1. It is **not a certified bound** (no constant, no δ,
    no precision) and emits :class:`UncertifiedBoundWarning`.
    """
    form = _choice(form, "form", ("hoeffding", "kl", "binomial", "asymptotic"))
    da = _nonneg(d, "d", " (intrinsic dimension)")
    ma = _sample_size(m, integer=form == "binomial")
    err = _fraction(emp_err, "emp_err")
    if form == "asymptotic":
        warnings.warn(
            "aghajanyan_bound(form='asymptotic') returns emp_err + sqrt(d/m), the O(sqrt(d/m)) "
            "term of Aghajanyan et al.'s Theorem 1 with its unknown constant set to 1; it is "
            "not a certified bound",
            UncertifiedBoundWarning,
            stacklevel=2,
        )
        return _out(err + np.sqrt(da / ma))
    ra = _num(r, "r")
    if (ra < 1).any():
        raise ValueError(f"r (values per parameter) must be >= 1; {_bad(ra, ra < 1)}")
    return occam_bound(ma, err, da * np.log2(ra), delta, method=form)


# --------------------------------------------------------------------------------------------
# description lengths (Lotfi et al. 2022)
# --------------------------------------------------------------------------------------------


def symbol_entropy_bits(probs: ArrayLike) -> Value:
    """Shannon entropy ``H(p) = −Σ_k p_k log2 p_k`` in **bits per symbol**, along the last axis.

    ``probs`` is normalized along its last axis, so symbol counts are accepted too.
    """
    p = _nonneg(probs, "probs")
    if p.ndim == 0:
        raise ValueError("probs must be a 1-d (or batched) array of symbol probabilities")
    tot = p.sum(axis=-1, keepdims=True)
    if (tot <= 0).any() or not np.isfinite(tot).all():
        raise ValueError("probs must have a positive, finite sum along the last axis")
    return _out(special.entr(p / tot).sum(axis=-1) / LN2)


def arithmetic_code_bits(d: ArrayLike, entropy_bits: ArrayLike) -> Value:
    """Length in bits of an arithmetic code of d symbols under their empirical distribution:
    ``ceil(d · H) + 1`` (H in bits per symbol), i.e. ``ceil(−Σ_i log2 p(sym_i)) + 1``
    (Lotfi et al. 2022). The product is shaved by 4 ulps (relative) before ``ceil`` so that an
    exactly integral d·H is not pushed up by the round-off of the product; any larger excess
    over an integer counts as a bit."""
    dh = _nonneg(d, "d") * _nonneg(entropy_bits, "entropy_bits", " bits")
    return _out(np.ceil(dh * (1.0 - 4 * EPS)) + 1.0)


def description_length_bits(
    d: ArrayLike,
    levels: ArrayLike,
    symbol_probs: ArrayLike | None = None,
    codebook_bits: ArrayLike = 16,
    count_bits: ArrayLike | None = None,
    coder: Literal["arithmetic", "fixed"] = "arithmetic",
) -> Value:
    """Message length l in **bits** of d numbers quantized to L = ``levels`` levels
    (Lotfi et al. 2022; ``docs/bounds.md``).

    * ``arithmetic``: ``ceil(d·H) + 1 + L·codebook_bits + L·count_bits`` — coded symbols,
      codebook (``codebook_bits`` per centroid: 16 for float16, 32 for float32) and the symbol
      counts the decoder needs. H is the entropy of ``symbol_probs`` (bits/symbol; its last
      axis must have L entries); without it H = log2 L (uniform usage, the worst case).
      ``symbol_probs`` must be the empirical frequencies (or the counts) of exactly the d coded
      symbols: only then is ``ceil(d·H) + 1`` a length some code achieves (rounded or model
      probabilities can understate it).
      ``count_bits`` defaults to ``ceil(log2(d + 1))``, the safe value (Lotfi's code uses
      ceil(log2 d), one bit short when d is a power of two).
    * ``fixed``: ``d·ceil(log2 L) + L·codebook_bits`` (fixed-length symbols, no counts).

    The result is not yet prefix-free: see ``prefix_code_bits``.
    """
    coder = _choice(coder, "coder", ("arithmetic", "fixed"))
    da = _integer(d, "d", 1)
    la = _integer(levels, "levels", 1)
    cb = _nonneg(codebook_bits, "codebook_bits", " bits")
    if coder == "fixed":
        return _out(da * np.ceil(np.log2(la) - 1e-12) + la * cb)
    if count_bits is None:
        cnt = np.ceil(np.log2(da + 1.0))
    else:
        cnt = _nonneg(count_bits, "count_bits", " bits")
    if symbol_probs is None:
        h = np.log2(la)
    else:
        sp = np.asarray(symbol_probs)
        if sp.ndim == 0 or (np.asarray(la) != sp.shape[-1]).any():
            raise ValueError(
                f"symbol_probs must have `levels` entries on its last axis; got shape "
                f"{sp.shape} for levels={levels!r}"
            )
        h = symbol_entropy_bits(sp)
    return _out(np.asarray(arithmetic_code_bits(da, h)) + la * cb + la * cnt)


def prefix_code_bits(l: ArrayLike) -> Value:
    """Prefix-free code length ``l + 2·log2 l`` bits for a message of l ≥ 2 bits (universal
    prior P ∝ 2^{−l} l^{−2}; Kraft sum π²/6 − 1 < 1; Lotfi et al. 2022)."""
    la = _num(l, "l")
    if (la < 2).any():
        raise ValueError(f"prefix_code_bits needs a message length l >= 2 bits; {_bad(la, la < 2)}")
    return _out(la + 2.0 * np.log2(la))


def hyperparam_bits(n_configs: ArrayLike, round_up: bool = False) -> Value:
    """Bits that pay for choosing one of ``n_configs`` configurations after seeing the data:
    ``log2(n_configs)`` (``ceil`` of it with ``round_up=True``, as Lotfi et al.'s code does)."""
    bits = np.log2(_integer(n_configs, "n_configs", 1))
    return _out(np.ceil(bits - 1e-12) if round_up else bits)


def complexity_nats(
    d: ArrayLike,
    levels: ArrayLike,
    extra_bits: ArrayLike = 0,
    n_candidate_d: ArrayLike = 1,
    **desc_kw: Any,
) -> Value:
    """KL of a point-mass posterior on the coded hypothesis, in **nats**:

    ``(prefix_code_bits(l) + extra_bits + log2(n_candidate_d)) · ln 2`` with
    l = ``description_length_bits(d, levels, **desc_kw)``. ``log2(n_candidate_d)`` pays for the
    post-hoc choice of d (d90 from a sweep over ``n_candidate_d`` values); ``extra_bits`` for
    every other searched hyper-parameter (see ``hyperparam_bits``).
    """
    l = description_length_bits(d, levels, **desc_kw)
    total = (
        np.asarray(prefix_code_bits(l))
        + _nonneg(extra_bits, "extra_bits", " bits")
        + np.asarray(hyperparam_bits(n_candidate_d))
    )
    return _out(total * LN2)


def lotfi_bound(
    emp_err: ArrayLike,
    d: ArrayLike,
    levels: ArrayLike,
    m: ArrayLike,
    delta: ArrayLike = 0.05,
    extra_bits: ArrayLike = 0,
    bound: Literal["catoni_union", "occam_kl", "auto"] = "catoni_union",
    n_candidate_d: ArrayLike = 1,
    alpha: float = 1e-4,
    **desc_kw: Any,
) -> dict[str, Any]:
    """Lotfi et al. (2022) compression bound for d subspace parameters quantized to ``levels``
    levels and arithmetic-coded; ``emp_err`` is the **quantized** model's training error
    (fraction) on all m training examples.

    KL (nats) = ``complexity_nats(d, levels, extra_bits, n_candidate_d, **desc_kw)``. Then

    * ``catoni_union``: ``catoni_bound_opt(..., union=True)`` (the paper's bound);
    * ``occam_kl``: ``kl⁻¹(ê, (KL + ln(1/δ))/m)`` (= Catoni with λ optimized freely; valid here
      because the posterior is a point mass on a prefix-coded hypothesis; always ≤ the former);
    * ``auto``: tight-pac-bayes' rule: ``catoni_union`` if ê ≤ 0.5, else ``occam_kl``. Still
      valid, since the value reported is never below the (valid) Occam kl bound.

    Returns a dict: ``bits`` (l, raw message length), ``prefix_bits`` (l + 2 log2 l),
    ``total_bits`` (prefix + extra + selection bits), ``kl_nats``, ``bound`` (fraction),
    ``lam`` (λ; NaN for ``occam_kl``) and ``statement`` (what was evaluated).
    """
    bound = _choice(bound, "bound", ("catoni_union", "occam_kl", "auto"))
    err = _fraction(emp_err, "emp_err")
    bits = description_length_bits(d, levels, **desc_kw)
    prefix = prefix_code_bits(bits)
    kl = complexity_nats(d, levels, extra_bits, n_candidate_d, **desc_kw)
    union_val, lam = catoni_bound_opt(err, kl, m, delta, alpha=alpha, union=True)
    occam_val = occam_bound(m, err, np.asarray(kl) / LN2, delta, method="kl")
    use_union = np.full(np.shape(union_val), bound == "catoni_union")
    if bound == "auto":
        use_union = np.broadcast_to(err <= 0.5, np.shape(union_val))
    value = np.where(use_union, union_val, occam_val)
    statements = {
        "catoni_union": "Catoni (2007) bound, λ optimized with the Zhou et al. (2019) union "
        f"penalty (α={alpha:g})",
        "occam_kl": "Occam kl bound kl⁻¹(ê, (KL + ln 1/δ)/m) (= Catoni with free λ; valid for "
        "this point-mass posterior)",
        "auto": "tight-pac-bayes rule: Catoni with λ-union penalty where ê ≤ 0.5, else Occam kl",
    }
    return {
        "bits": bits,
        "prefix_bits": prefix,
        "total_bits": nats_to_bits(kl),
        "kl_nats": kl,
        "bound": _out(value),
        "lam": _out(np.where(use_union, lam, np.nan)),
        "statement": statements[bound]
        + "; point-mass posterior on the prefix-coded quantized model (Lotfi et al. 2022), "
        "KL = (l + 2 log2 l + extra + log2 #d) ln 2 nats",
    }


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _row(
    name: str,
    code: str,
    bits: float,
    bound: float,
    certified: bool,
    formula: str,
    code_note: str,
    inputs: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "code": code,
        "complexity_bits": float(bits),
        "bound": float(bound),
        "certified": bool(certified),
        "statement": "; ".join(s for s in (formula, code_note, inputs) if s),
        "formula": formula,
        "code_note": code_note,
        "inputs": inputs,
    }


def _rows_for_code(
    code: str,
    bits: float,
    note: str,
    err: float,
    m: int,
    delta: float,
    inputs: str,
    certified: bool = True,
) -> list[dict[str, Any]]:
    """Every bound family for one hypothesis code of ``bits`` bits (point-mass posterior);
    ``certified=False`` marks every row uncertified (``err`` is not that code's model's)."""
    kl = bits * LN2
    k = int(_error_count(np.float64(m), np.float64(err)))
    lam_val, lam = catoni_bound_opt(err, kl, m, delta, union=True)
    specs: list[tuple[str, float, bool, str, dict[str, float]]] = [
        (
            "Occam, Hoeffding (Arora explicit)",
            occam_bound(m, err, bits, delta, "hoeffding"),
            True,
            "ê + sqrt((bits·ln2 + ln 1/δ)/(2m)) [Langford 2005 Thm 4.1; Arora et al. 2018]",
            {},
        ),
        (
            "Occam, kl",
            occam_bound(m, err, bits, delta, "kl"),
            True,
            "kl⁻¹(ê, (bits·ln2 + ln 1/δ)/m) [Langford 2005 Thm 4.1]; equals Catoni with free λ",
            {},
        ),
        (
            "Occam, binomial",
            occam_bound(m, err, bits, delta, "binomial"),
            True,
            f"Bin⁻(m, k, δ·2^-bits), k = ceil(m·ê) = {k} errors [Langford 2005 Thm 4.1]",
            {},
        ),
        (
            "PAC-Bayes-kl (Maurer)",
            pac_bayes_kl_bound(err, kl, m, delta),
            True,
            "kl⁻¹(ê, (KL + ln(2√m/δ))/m), KL = bits·ln2 [Maurer 2004]",
            {},
        ),
        (
            "PAC-Bayes-kl (Langford-Seeger)",
            pac_bayes_kl_bound(err, kl, m, delta, "langford_seeger"),
            True,
            "kl⁻¹(ê, (KL + ln((m+1)/δ))/m) [Langford 2005 Thm 5.1]",
            {},
        ),
        (
            "Catoni, λ-grid union",
            lam_val,
            True,
            "Catoni 2007 Thm 1.2.6, λ optimized with the λ-grid union penalty of Zhou et al. 2019 "
            "(α=1e-4), as reported by Lotfi et al. 2022",
            {"lam": float(lam)},
        ),
        (
            "'McAllester' (tight-pac-bayes)",
            mcallester_bound(err, kl, m, delta),
            False,
            "ê + sqrt((KL − ln δ + ln m)/(2m − 1)): non-standard variant from the tight-pac-bayes "
            "code (McAllester 1999 without its +2), NOT a proven statement",
            {},
        ),
    ]
    return [
        {**_row(n, code, bits, v, c and certified, f, note, inputs), **extra}
        for n, v, c, f, extra in specs
    ]


def bound_report(
    d: int,
    m: int,
    train_error: float,
    levels: int | None = None,
    delta: float = 0.05,
    n_candidate_d: int = 1,
    extra_bits: float = 0,
    symbol_probs: ArrayLike | None = None,
    train_error_fp16: float | None = None,
) -> list[dict[str, Any]]:
    """All bounds of this module for one model with d intrinsic parameters trained on m examples
    with training error ``train_error`` (fraction; that of the stored, i.e. rounded or
    quantized, model). The fp16 code describes θ_d rounded to float16, another model with its
    own training error: give it as ``train_error_fp16``, else its rows are computed with
    ``train_error`` and marked not certified. Returns rows ``{name, code, statement,
    complexity_bits, bound, certified}``; ``bound`` is a fraction (raw, may exceed 1).

    Codes considered: ``levels=None`` → each of the d numbers stored as fp32 (r = 2^32) and as
    fp16 (r = 2^16): a uniform prior over r^d hypotheses, d·log2 r bits. ``levels=L`` → (a) a
    fixed-length code over L levels plus the codebook at 16 bits per centroid,
    d·log2 L + 16·L bits, and (b) Lotfi et al.'s arithmetic code, prefix-corrected,
    l + 2 log2 l with l = ``description_length_bits(d, L, symbol_probs)`` (uniform symbol usage
    when ``symbol_probs`` is None). Every code is charged ``log2(n_candidate_d) + extra_bits``
    for the post-hoc selection of d and other searches. The first row is Aghajanyan et al.'s
    asymptotic sqrt(d/m) (not certified); Arora's own τ row holds at failure probability
    r^{−d}·2^{codebook + selection bits} (shown in its statement), not at δ, and is marked
    certified only where that probability is ≤ δ. ``levels`` must be ≥ 2 (one level carries no
    information about θ_d; ValueError).
    """
    da = int(_integer(d, "d", 1))
    ma = int(_integer(m, "m", 1))
    err = float(_fraction(train_error, "train_error"))
    dl = float(_delta(delta))
    sel = float(hyperparam_bits(n_candidate_d)) + float(_nonneg(extra_bits, "extra_bits"))
    parts = [f"log2 {int(n_candidate_d)} candidate d"] if n_candidate_d > 1 else []
    parts += [f"{float(extra_bits):g} extra"] if extra_bits > 0 else []
    sel_note = f" + {sel:.1f} selection bits ({' + '.join(parts)})" if sel > 0 else ""
    inputs = f"d={da}, m={ma}, training error ê={err:g}, δ={dl:g}"
    rows = [
        _row(
            "Aghajanyan Thm 1, ê + sqrt(d/m)",
            "-",
            np.nan,
            err + math.sqrt(da / ma),
            False,
            "Theorem 1's O(sqrt(d/m)) with the unknown constant set to 1; no δ, no precision: "
            "NOT a certified bound [Aghajanyan et al. 2021]",
            "",
            inputs,
        ),
    ]
    known16 = train_error_fp16 is not None
    err16 = float(_fraction(train_error_fp16, "train_error_fp16")) if known16 else err
    if levels is None:
        uniform = [
            ("fp32", 32.0, 0.0, "2^32", err, True),
            ("fp16", 16.0, 0.0, "2^16", err16, known16),
        ]
    else:
        la = int(_integer(levels, "levels", 1))
        if la < 2:
            raise ValueError(
                f"levels must be >= 2, got {la}: one level stores every θ_d entry as the same "
                "number, so the code carries no information about the trained θ_d"
            )
        uniform = [(f"L={la} fixed", math.log2(la), 16.0 * la, str(la), err, True)]
    for code, per_param, cb, r_label, code_err, own_error in uniform:
        bits = da * per_param + cb + sel
        note = f"{code}: {bits:,.1f} bits = d·log2 r, r = {r_label} values/param"
        if cb:
            note += f" + {cb:g} codebook bits (16 per centroid)"
        log10_fail = (sel + cb - da * per_param) * math.log10(2.0)
        note += f"{sel_note}; Arora's τ holds with failure probability 10^{log10_fail:.1f}"
        if log10_fail > math.log10(dl):
            note += f" > δ: it certifies nothing at δ={dl:g}"
        if not own_error:
            note += (
                f"; ê = {err:g} is the {code} model's only if rounding θ_d to {code} changes no "
                "prediction: pass its own training error (train_error_fp16) to certify these rows"
            )
        q_ln_r = da * per_param * LN2
        rows.append(
            _row(
                "Arora Thm 2.1, τ = sqrt(q ln r/m)",
                code,
                bits,
                code_err + math.sqrt(q_ln_r / ma),
                own_error and log10_fail <= math.log10(dl),
                "ê + sqrt(q ln r/m), q = d: holds with failure probability "
                "r^-q · 2^(codebook + selection bits) (given with its code), not at δ "
                "[Arora et al. 2018 Thm 2.1]",
                note,
                inputs,
            )
        )
        rows += _rows_for_code(code, bits, note, code_err, ma, dl, inputs, own_error)
    if levels is not None:
        la = int(levels)
        code = f"L={la} arith."
        l = float(description_length_bits(da, la, symbol_probs=symbol_probs))
        bits = float(prefix_code_bits(l)) + sel
        usage = "uniform symbol usage (worst case)" if symbol_probs is None else "given usage"
        note = (
            f"{code}: {bits:,.1f} bits = l + 2 log2 l, l = {l:.0f} (arithmetic-coded symbols at "
            f"{usage} + 16-bit codebook + counts){sel_note}"
        )
        rows += _rows_for_code(code, bits, note, err, ma, dl, inputs)
    return rows


def _certified_flag(certified: bool, bound: float) -> str:
    """The report's ``certified`` cell: ``yes`` (proven, < 1), ``vacuous`` (proven, ≥ 1: says
    nothing about a 0/1 error), ``NO`` (not a proven statement)."""
    if not certified:
        return "NO" + (", vacuous" if bound >= 1 else "")
    return "vacuous" if bound >= 1 else "yes"


def _bound_value(b: float) -> str:
    """A bound to 4 decimals, or to 7 where 4 would show a value just below 1 as 1.0000 (it
    certifies, barely: ``yes`` beside ``1.0000`` would read as a contradiction)."""
    return f"{b:.7f}" if 0.99995 <= b < 1 else f"{b:.4f}"


def format_report(rows: list[dict[str, Any]], title: str | None = None) -> str:
    """Render ``bound_report`` rows as a fixed-width table followed by the bound statements and
    the codes (complexities) they were evaluated with.

    The ``certified`` column reads ``yes`` only for a proven statement whose value is below 1;
    a proven value ≥ 1 certifies nothing and reads ``vacuous``; unproven rows read ``NO``."""
    name_w = max([len("bound"), *(len(r["name"]) for r in rows)])
    code_w = max([len("code"), *(len(r.get("code", "")) for r in rows)])
    head = f"{'#':>3}  {'bound':<{name_w}}  {'code':<{code_w}}  {'bits':>9}  {'value':>7}  "
    head += "certified"
    lines = [title, ""] if title else []
    inputs = {r.get("inputs") for r in rows}
    if len(inputs) == 1 and None not in inputs:
        lines += [f"Inputs: {inputs.pop()}", ""]
    lines += [head, "-" * len(head)]
    for i, r in enumerate(rows, 1):
        bits = r["complexity_bits"]
        bits_s = f"{bits:,.1f}" if np.isfinite(bits) else "-"
        flag = _certified_flag(bool(r["certified"]), float(r["bound"]))
        lines.append(
            f"{i:>3}  {r['name']:<{name_w}}  {r.get('code', ''):<{code_w}}  {bits_s:>9}  "
            f"{_bound_value(float(r['bound'])):>7}  {flag}"
        )
    wrap = {"width": 100, "subsequent_indent": "    "}
    if all("formula" in r for r in rows):
        lines += ["", "Bounds (ê: training error of the stored model; KL = bits·ln 2 nats):"]
        for name, formula in dict((r["name"], r["formula"]) for r in rows).items():
            lines += textwrap.wrap(f"{name}: {formula}", initial_indent="  ", **wrap)
        notes = dict((r["code"], r["code_note"]) for r in rows if r.get("code_note"))
        lines += ["", "Codes (complexity charged, in bits):"]
        for note in notes.values():
            lines += textwrap.wrap(note, initial_indent="  ", **wrap)
    else:
        lines += ["", "Statements:"]
        for i, r in enumerate(rows, 1):
            lines += textwrap.wrap(r["statement"], initial_indent=f"[{i}] ", **wrap)
    return "\n".join(lines)
