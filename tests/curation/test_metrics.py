"""Known-answer tests of the agreement metrics (methods.md §7 items 1–4), each also
checked against a second, independent implementation written from the definitions."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation import metrics

# --- second implementations, from raw ratings rather than count matrices -----------------


def naive_cohen(a: list[int], b: list[int]) -> float:
    n = len(a)
    categories = sorted(set(a) | set(b))
    observed = sum(x == y for x, y in zip(a, b)) / n
    expected = sum((a.count(c) / n) * (b.count(c) / n) for c in categories)
    return (observed - expected) / (1 - expected)


def naive_krippendorff(units: list[list[float]], level: str) -> float:
    """α = 1 − D_o/D_e from every pairable value pair, with the ordinal metric on ranks."""
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    categories = sorted(set(values))
    frequency = {c: values.count(c) for c in categories}

    def delta(c, k):
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return (c - k) ** 2
        low, high = sorted((c, k))
        between = sum(frequency[g] for g in categories if low <= g <= high)
        return (between - (frequency[c] + frequency[k]) / 2) ** 2

    observed = sum(
        sum(delta(x, y) for i, x in enumerate(u) for j, y in enumerate(u) if i != j) / (len(u) - 1) for u in units
    ) / n
    # Σ over ordered pairs of distinct values (δ(c, c) = 0, so equal values add nothing).
    expected = sum(frequency[c] * frequency[k] * delta(c, k) for c in categories for k in categories) / (n * (n - 1))
    return 1 - observed / expected


def counts_of(units: list[list[int]], values=(1, 2, 3, 4)) -> list[list[int]]:
    return [[u.count(v) for v in values] for u in units]


# --- §7 item 1: Cohen's κ -------------------------------------------------------------------


def test_cohen_kappa_known_answer():
    confusion = [[20, 5], [10, 15]]
    assert metrics.percent_agreement(confusion) == pytest.approx(0.70)
    assert metrics.cohen_kappa(confusion) == pytest.approx(0.40)
    a = [0] * 20 + [0] * 5 + [1] * 10 + [1] * 15
    b = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    assert naive_cohen(a, b) == pytest.approx(0.40)


# --- §7 item 2: weighted κ ------------------------------------------------------------------

WEIGHTED = [[5, 2, 0, 0, 0], [1, 6, 2, 0, 0], [0, 1, 7, 1, 0], [0, 0, 2, 6, 1], [0, 0, 0, 1, 5]]


def test_weighted_kappa_known_answers():
    assert metrics.cohen_kappa(WEIGHTED) == pytest.approx(0.65354, abs=5e-6)
    assert metrics.weighted_kappa(WEIGHTED, weighting="linear") == pytest.approx(0.81229, abs=5e-6)
    assert metrics.weighted_kappa(WEIGHTED, weighting="quadratic") == pytest.approx(0.91846, abs=5e-6)


def test_weighted_kappa_uses_values_not_indices():
    """Only −2, −1 and +2 observed: weights follow the values, so the 3×3 matrix on
    (−2, −1, 2) equals the 5×5 one with empty 0 and +1, and differs from weights on
    the indices 0, 1, 2 of the observed categories."""
    small = [[4, 1, 0], [1, 3, 1], [0, 2, 4]]
    full = np.zeros((5, 5))
    for i, r in enumerate((0, 1, 4)):
        for j, c in enumerate((0, 1, 4)):
            full[r, c] = small[i][j]
    by_value = metrics.weighted_kappa(small, values=(-2, -1, 2))
    assert by_value == pytest.approx(metrics.weighted_kappa(full))
    assert abs(by_value - metrics.weighted_kappa(small, values=(0, 1, 2))) > 0.01
    # Scaling the weights changes nothing.
    assert metrics.weighted_kappa(WEIGHTED, values=(-4, -2, 0, 2, 4)) == pytest.approx(metrics.weighted_kappa(WEIGHTED))


# --- §7 item 3: Fleiss' κ -------------------------------------------------------------------

FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_known_answer():
    counts = np.array(FLEISS, dtype=float)
    p = counts.sum(axis=0) / (10 * 14)
    assert p.round(3).tolist() == [0.143, 0.2, 0.279, 0.15, 0.229]
    assert metrics.fleiss_kappa(FLEISS) == pytest.approx(0.20993, abs=5e-6)
    # The additive parts give the same figure (they feed the bootstrap).
    assert metrics.fleiss_from_parts(metrics.fleiss_parts(FLEISS).sum(axis=0), 14) == pytest.approx(0.20993, abs=5e-6)


def test_fleiss_kappa_is_null_when_raters_per_item_vary():
    assert metrics.fleiss_kappa([[2, 1], [1, 1]]) is None


# --- §7 item 4: Krippendorff's α ------------------------------------------------------------

CODERS = {
    "A": "* * * * * 3 4 1 2 1 1 3 3 * 3",
    "B": "1 * 2 1 3 3 4 3 * * * * * * *",
    "C": "* * 2 1 3 4 4 * 2 1 1 3 3 * 4",
}


def reliability_units() -> list[list[int]]:
    columns = zip(*(row.split() for row in CODERS.values()))
    return [[int(v) for v in column if v != "*"] for column in columns]


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.69136), ("ordinal", 0.80672), ("interval", 0.81084)])
def test_krippendorff_alpha_known_answers(level, expected):
    units = reliability_units()
    coincidence = metrics.coincidence_matrix(counts_of(units))
    assert coincidence.sum() == pytest.approx(26)  # pairable values
    assert metrics.krippendorff_alpha(coincidence, values=(1, 2, 3, 4), level=level) == pytest.approx(expected, abs=5e-6)
    assert naive_krippendorff(units, level) == pytest.approx(expected, abs=5e-6)


def test_krippendorff_of_two_raters_equals_symmetric_confusion():
    """Two-value units given as a confusion matrix: the coincidence matrix is C + Cᵀ."""
    units = [[h, a] for h, row in zip(range(-2, 3), WEIGHTED) for a, n in zip(range(-2, 3), row) for _ in range(n)]
    from_units = metrics.coincidence_matrix(counts_of(units, values=range(-2, 3)))
    assert np.allclose(from_units, metrics.symmetric_coincidence(WEIGHTED))


ratings = st.lists(st.lists(st.integers(-2, 2), min_size=0, max_size=5), min_size=3, max_size=25)


@settings(max_examples=60, deadline=None)
@given(ratings)
def test_krippendorff_matches_the_definition_on_random_data(units):
    usable = [u for u in units if len(u) >= 2]
    values = [v for u in usable for v in u]
    if len(set(values)) < 2:
        return
    coincidence = metrics.coincidence_matrix(counts_of(units, values=range(-2, 3)))
    for level in metrics.LEVELS:
        assert metrics.krippendorff_alpha(coincidence, level=level) == pytest.approx(naive_krippendorff(units, level), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 2), st.integers(-2, 2)), min_size=2, max_size=60))
def test_cohen_matches_the_definition_on_random_data(items):
    a, b = [x for x, _ in items], [y for _, y in items]
    confusion = np.zeros((5, 5))
    for x, y in items:
        confusion[x + 2, y + 2] += 1
    categories = set(a) | set(b)
    expected = sum((a.count(c) / len(a)) * (b.count(c) / len(b)) for c in categories)
    if expected >= 1:
        assert metrics.cohen_kappa(confusion) is None
    else:
        assert metrics.cohen_kappa(confusion) == pytest.approx(naive_cohen(a, b))


# --- percent agreement variants and the bootstrap --------------------------------------------


def test_pooled_percent_agreement_variants():
    unit = [1, 1, 0, 0, 1]  # values −2, −1, +2 once each: on VALUES (−2, −1, 0, 1, 2)
    agreeing, pairs = metrics.pairwise_agreement(unit)
    assert (agreeing, pairs) == (0, 3)  # exact: no two equal
    assert metrics.pairwise_agreement(metrics.three_way(unit)) == (1, 3)  # −2 and −1 agree on A
    assert metrics.pairwise_agreement(metrics.without_ties([1, 1, 1, 0, 0])) == (1, 1)  # −2, −1 agree; tie dropped
    assert metrics.pairwise_agreement(metrics.without_ties([0, 1, 1, 1, 0])) == (0, 1)  # −1 vs +1
    assert metrics.percent_agreement(metrics.three_way_confusion(WEIGHTED)) == pytest.approx(
        (5 + 2 + 1 + 6 + 7 + 6 + 1 + 1 + 5) / 40
    )


def test_bootstrap_interval_is_reproducible_and_brackets_the_estimate():
    first = metrics.confusion_interval(WEIGHTED, metrics.cohen_kappa)
    second = metrics.confusion_interval(WEIGHTED, metrics.cohen_kappa)
    assert first == second
    low, high = first
    assert low < metrics.cohen_kappa(WEIGHTED) < high
    assert 0.3 < low and high < 0.9
    # A larger sample with the same proportions gives a narrower interval.
    low10, high10 = metrics.confusion_interval(np.array(WEIGHTED) * 10, metrics.cohen_kappa)
    assert high10 - low10 < (high - low) / 2


def test_bootstrap_multinomial_over_unit_types_matches_resampling_units():
    """Resampling the units themselves gives the same interval up to Monte-Carlo noise."""
    units = reliability_units()
    profiles = counts_of(units)
    types: dict = {}
    for profile in profiles:
        if sum(profile) >= 2:
            types[tuple(profile)] = types.get(tuple(profile), 0) + 1
    contributions = np.array([metrics.coincidence_of_unit(p) for p in types])
    interval = metrics.bootstrap_interval(
        contributions, list(types.values()), lambda o: metrics.krippendorff_alpha(o, values=(1, 2, 3, 4)), samples=2000
    )
    rng = np.random.default_rng(1)
    usable = [p for p in profiles if sum(p) >= 2]
    direct = []
    for _ in range(2000):
        sample = [usable[i] for i in rng.integers(0, len(usable), len(usable))]
        value = metrics.krippendorff_alpha(metrics.coincidence_matrix(sample), values=(1, 2, 3, 4))
        if value is not None and math.isfinite(value):
            direct.append(value)
    low, high = np.percentile(direct, [2.5, 97.5])
    assert interval[0] == pytest.approx(low, abs=0.08) and interval[1] == pytest.approx(high, abs=0.08)


def test_undefined_statistics_are_none():
    assert metrics.cohen_kappa([[0, 0], [0, 0]]) is None
    assert metrics.cohen_kappa([[5, 0], [0, 0]]) is None  # one category only
    assert metrics.krippendorff_alpha(np.zeros((5, 5))) is None
    assert metrics.bootstrap_interval(np.zeros((1, 2)), [1], lambda s: 1.0) is None
