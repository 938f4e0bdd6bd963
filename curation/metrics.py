"""Agreement metrics (methods.md §3) as pure functions over count matrices.

Every function takes counts that SQL aggregation already built (``curation.agreement``):
a confusion matrix of two raters, or per-unit value counts ("profiles") of any number
of raters. Categories are verdict values on one axis, ``VALUES = (-2, -1, 0, 1, 2)``;
3-way data simply leaves ±2 empty, which changes none of the statistics below.
A statistic that is undefined (no items, or no variation to correct for) is ``None``.
"""
from collections.abc import Callable, Sequence

import numpy as np

VALUES = (-2, -1, 0, 1, 2)
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 20250607
LEVELS = ("nominal", "ordinal", "interval")


def _matrix(counts) -> np.ndarray:
    return np.asarray(counts, dtype=float)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# --- two raters: a confusion matrix (rows rater 1, columns rater 2) -----------------


def percent_agreement(confusion) -> float | None:
    """P = (1/N)·Σ_i 1[a_i = b_i]: the diagonal's share."""
    o = _matrix(confusion)
    total = o.sum()
    return float(np.trace(o) / total) if total else None


def cohen_kappa(confusion) -> float | None:
    """κ = (P_o − P_e)/(1 − P_e) from a square confusion matrix of counts."""
    o = _matrix(confusion)
    total = o.sum()
    if not total:
        return None
    o = o / total
    observed = np.trace(o)
    expected = float(o.sum(axis=1) @ o.sum(axis=0))
    if expected >= 1.0:
        return None
    return _finite((observed - expected) / (1.0 - expected))


def weighted_kappa(confusion, values: Sequence[float] = VALUES, weighting: str = "quadratic") -> float | None:
    """κ_w = 1 − Σ w_jk o_jk / Σ w_jk o_j· o_·k with w = |v_j − v_k| (linear) or its square."""
    o = _matrix(confusion)
    total = o.sum()
    if not total:
        return None
    v = np.asarray(values, dtype=float)
    distance = np.abs(v[:, None] - v[None, :])
    weights = {"linear": distance, "quadratic": distance**2}[weighting]
    o = o / total
    expected = np.outer(o.sum(axis=1), o.sum(axis=0))
    denominator = float((weights * expected).sum())
    if denominator == 0:
        return None
    return _finite(1.0 - float((weights * o).sum()) / denominator)


# --- any number of raters: per-unit value counts ------------------------------------


def fleiss_kappa(unit_counts) -> float | None:
    """Fleiss' κ over units × categories counts; None unless every unit has the same
    number of raters (at least two)."""
    counts = _matrix(unit_counts)
    if counts.ndim != 2 or counts.shape[0] == 0:
        return None
    raters = counts.sum(axis=1)
    n = raters[0]
    if n < 2 or not np.all(raters == n):
        return None
    n_units = counts.shape[0]
    p = counts.sum(axis=0) / (n_units * n)
    per_unit = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    expected = float((p**2).sum())
    if expected >= 1.0:
        return None
    return _finite((per_unit.mean() - expected) / (1.0 - expected))


def fleiss_parts(unit_counts) -> np.ndarray:
    """Additive per-unit parts of Fleiss' κ: [P_i, n_i1 … n_iK, 1] (for the bootstrap)."""
    counts = _matrix(unit_counts)
    n = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_unit = ((counts**2).sum(axis=1, keepdims=True) - n) / (n * (n - 1))
    return np.hstack([per_unit, counts, np.ones_like(n)])


def fleiss_from_parts(parts: np.ndarray, raters: float) -> float | None:
    """Fleiss' κ from summed parts: P̄ = ΣP_i/N, p_j = Σn_ij/(N·n)."""
    n_units = parts[-1]
    if not n_units:
        return None
    p = parts[1:-1] / (n_units * raters)
    expected = float((p**2).sum())
    if expected >= 1.0:
        return None
    return _finite((parts[0] / n_units - expected) / (1.0 - expected))


def coincidence_matrix(unit_counts) -> np.ndarray:
    """o_ck = Σ_u (ordered value pairs (c, k) from different raters in u)/(m_u − 1),
    over units with m_u ≥ 2 values."""
    counts = _matrix(unit_counts)
    if counts.ndim == 1:
        counts = counts[None, :]
    m = counts.sum(axis=1)
    usable = m >= 2
    counts, m = counts[usable], m[usable]
    pairs = counts[:, :, None] * counts[:, None, :]
    diagonal = np.arange(counts.shape[1])
    pairs[:, diagonal, diagonal] -= counts
    return (pairs / (m - 1)[:, None, None]).sum(axis=0) if len(m) else np.zeros((counts.shape[1],) * 2)


def coincidence_of_unit(counts: Sequence[float]) -> np.ndarray:
    """One unit's additive contribution to the coincidence matrix."""
    return coincidence_matrix([counts])


def delta_squared(marginals: np.ndarray, values: Sequence[float], level: str) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    k = len(v)
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ordinal":
        cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
        delta = np.zeros((k, k))
        for c in range(k):
            for j in range(c + 1, k):
                between = cumulative[j + 1] - cumulative[c]  # Σ_{g = c..j} n_g
                delta[c, j] = delta[j, c] = (between - (marginals[c] + marginals[j]) / 2) ** 2
        return delta
    raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")


def krippendorff_alpha(coincidence, values: Sequence[float] = VALUES, level: str = "nominal") -> float | None:
    """α = 1 − (n − 1)·Σ o_ck δ²_ck / Σ n_c n_k δ²_ck from a coincidence matrix."""
    o = _matrix(coincidence)
    marginals = o.sum(axis=1)
    n = marginals.sum()
    if n <= 1:
        return None
    delta = delta_squared(marginals, values, level)
    expected = float((np.outer(marginals, marginals) * delta).sum())
    if expected == 0:
        return None
    return _finite(1.0 - (n - 1) * float((o * delta).sum()) / expected)


def pairwise_agreement(unit_counts) -> tuple[float, float]:
    """(agreeing rater pairs, rater pairs) pooled over units: Σ_c C(n_uc, 2) and C(m_u, 2)."""
    counts = _matrix(unit_counts)
    if counts.ndim == 1:
        counts = counts[None, :]
    m = counts.sum(axis=1)
    agreeing = (counts * (counts - 1) / 2).sum()
    return float(agreeing), float((m * (m - 1) / 2).sum())


def three_way(unit_counts) -> np.ndarray:
    """Collapse counts on VALUES to (A, tie, B) counts, kept on the VALUES axis."""
    counts = _matrix(unit_counts)
    collapsed = np.zeros_like(counts)
    collapsed[..., 1] = counts[..., 0] + counts[..., 1]
    collapsed[..., 2] = counts[..., 2]
    collapsed[..., 3] = counts[..., 3] + counts[..., 4]
    return collapsed


def without_ties(unit_counts) -> np.ndarray:
    """3-way counts with the ties dropped (the ``no_ties`` variant)."""
    collapsed = three_way(unit_counts)
    collapsed[..., 2] = 0
    return collapsed


def three_way_confusion(confusion) -> np.ndarray:
    o = _matrix(confusion)
    return three_way(three_way(o).T).T


def no_ties_confusion(confusion) -> np.ndarray:
    o = three_way_confusion(confusion)
    o[2, :] = 0
    o[:, 2] = 0
    return o


# --- bootstrap ----------------------------------------------------------------------


def bootstrap_interval(
    contributions: np.ndarray,
    multiplicities: Sequence[float],
    statistic: Callable[[np.ndarray], float | None],
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """95% percentile bootstrap over units with multinomial weights.

    ``contributions[t]`` is the additive contribution of one unit of type t (its
    confusion cell, its coincidence matrix…), ``multiplicities[t]`` how many units have
    that type. Resampling N units with replacement is a multinomial draw of N over the
    types; each replicate's statistic is computed from the weighted sum.
    """
    contributions = np.asarray(contributions, dtype=float)
    weights = np.asarray(multiplicities, dtype=float)
    total = int(weights.sum())
    if total < 2 or len(weights) == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, weights / weights.sum(), size=samples)
    sums = np.tensordot(draws, contributions, axes=1)
    batched = BATCHED.get(statistic)
    if batched is not None:  # all replicates at once (NaN where the statistic is undefined)
        values = batched(sums)
        finite = values[np.isfinite(values)]
    else:
        replicates = [statistic(s) for s in sums]
        finite = np.array([r for r in replicates if r is not None and np.isfinite(r)])
    if len(finite) < samples / 2:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def cell_contributions(confusion) -> tuple[np.ndarray, np.ndarray]:
    """A confusion matrix as unit types for ``bootstrap_interval``: one indicator matrix
    per non-empty cell, with the cell's count as multiplicity."""
    o = _matrix(confusion)
    cells = np.argwhere(o > 0)
    contributions = np.zeros((len(cells), *o.shape))
    for t, (i, j) in enumerate(cells):
        contributions[t, i, j] = 1.0
    return contributions, o[o > 0]


def confusion_interval(confusion, statistic: Callable[[np.ndarray], float | None], **options):
    contributions, multiplicities = cell_contributions(confusion)
    return bootstrap_interval(contributions, multiplicities, statistic, **options)


def symmetric_coincidence(confusion) -> np.ndarray:
    """The coincidence matrix of two-value units given as a confusion matrix: C + Cᵀ."""
    o = _matrix(confusion)
    return o + o.T


# --- the same statistics over a stack of replicates (the bootstrap's hot loop) -----------


def _divide(numerator: np.ndarray, denominator: np.ndarray, valid: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, numerator / np.where(valid, denominator, 1.0), np.nan)


def percent_agreement_batch(confusions: np.ndarray) -> np.ndarray:
    total = confusions.sum(axis=(1, 2))
    return _divide(np.trace(confusions, axis1=1, axis2=2), total, total != 0)


def cohen_kappa_batch(confusions: np.ndarray) -> np.ndarray:
    total = confusions.sum(axis=(1, 2))
    o = confusions / np.where(total != 0, total, 1.0)[:, None, None]
    observed = np.trace(o, axis1=1, axis2=2)
    expected = np.einsum("si,si->s", o.sum(axis=2), o.sum(axis=1))
    return _divide(observed - expected, 1.0 - expected, (total != 0) & (expected < 1.0))


def weighted_kappa_batch(confusions: np.ndarray, values: Sequence[float] = VALUES) -> np.ndarray:
    """Quadratic weights, as ``weighted_kappa``'s default."""
    total = confusions.sum(axis=(1, 2))
    v = np.asarray(values, dtype=float)
    weights = (v[:, None] - v[None, :]) ** 2
    o = confusions / np.where(total != 0, total, 1.0)[:, None, None]
    expected = np.einsum("si,sk,ik->s", o.sum(axis=2), o.sum(axis=1), weights)
    return _divide(expected - (weights * o).sum(axis=(1, 2)), expected, (total != 0) & (expected != 0))


def _krippendorff_batch(coincidences: np.ndarray, level: str, values: Sequence[float] = VALUES) -> np.ndarray:
    marginals = coincidences.sum(axis=2)
    n = marginals.sum(axis=1)
    v = np.asarray(values, dtype=float)
    k = len(v)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(k), (len(n), k, k))
    elif level == "interval":
        delta = np.broadcast_to((v[:, None] - v[None, :]) ** 2, (len(n), k, k))
    else:  # ordinal: (Σ_{g=c..j} n_g − (n_c + n_j)/2)², per replicate
        cumulative = np.concatenate([np.zeros((len(n), 1)), np.cumsum(marginals, axis=1)], axis=1)
        low, high = np.minimum.outer(np.arange(k), np.arange(k)), np.maximum.outer(np.arange(k), np.arange(k))
        between = cumulative[:, high + 1] - cumulative[:, low]
        delta = (between - (marginals[:, :, None] + marginals[:, None, :]) / 2) ** 2
    expected = np.einsum("sc,sk,sck->s", marginals, marginals, delta)
    observed = (coincidences * delta).sum(axis=(1, 2))
    return _divide(expected - (n - 1) * observed, expected, (n > 1) & (expected != 0))


def pooled_share_batch(sums: np.ndarray) -> np.ndarray:
    """[agreeing, pairs] sums → agreeing / pairs."""
    return _divide(sums[:, 0], sums[:, 1], sums[:, 1] != 0)


def pooled_share(parts) -> float | None:
    """Agreeing rater pairs over rater pairs (the bootstrap statistic of pooled agreement)."""
    return parts[0] / parts[1] if parts[1] else None


def krippendorff_statistic(level: str) -> Callable[[np.ndarray], float | None]:
    """α at ``level`` as a one-argument statistic (one object per level, so the
    bootstrap finds its batched version)."""
    return KRIPPENDORFF_STATISTICS[level]


KRIPPENDORFF_STATISTICS = {
    level: (lambda o, level=level: krippendorff_alpha(o, level=level)) for level in LEVELS
}
BATCHED: dict[Callable, Callable[[np.ndarray], np.ndarray]] = {
    percent_agreement: percent_agreement_batch,
    cohen_kappa: cohen_kappa_batch,
    weighted_kappa: weighted_kappa_batch,
    pooled_share: pooled_share_batch,
    **{KRIPPENDORFF_STATISTICS[level]: (lambda c, level=level: _krippendorff_batch(c, level)) for level in LEVELS},
}
