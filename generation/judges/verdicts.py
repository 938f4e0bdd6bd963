"""Pure functions of the AI judges (methods.md §1, §2.3, §2.5, §2.10): no database, no model.

Everything here works in *stored* orientation (negative = A better) unless a name
says ``as_shown``. A run shown as (B, A) is mapped back with :func:`to_stored`
(verdicts) and :func:`probabilities_to_stored` (the five-option distribution).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

VERDICTS = (-2, -1, 0, 1, 2)
# The option digit d = s + 3 (methods.md §1): what the judge writes after "VERDICT: ".
VERDICT_OPTIONS = ("1", "2", "3", "4", "5")
RATING_OPTIONS = ("1", "2", "3", "4", "5")
SHOWN_ORDERS = ("AB", "BA")


def digit_to_verdict(digit: int) -> int:
    return digit - 3


def to_stored(verdict_as_shown: int | None, shown_order: str) -> int | None:
    """A verdict as shown → stored orientation: a (B, A) showing is negated."""
    if verdict_as_shown is None:
        return None
    return -verdict_as_shown if shown_order == "BA" else verdict_as_shown


def probabilities_to_stored(probabilities: Sequence[float], shown_order: str) -> list[float]:
    """p over s = −2..2 as shown → stored: swapped runs map p(s) to p(−s), i.e. reversed."""
    values = list(probabilities)
    return values[::-1] if shown_order == "BA" else values


def argmax_verdict(probabilities: Sequence[float]) -> int:
    """The verdict with the highest probability (the first on an exact tie)."""
    return VERDICTS[max(range(len(VERDICTS)), key=lambda i: probabilities[i])]


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def round_half_toward_zero(value: Fraction | float) -> int:
    """sign(x)·⌈|x| − ½⌉: mixed evidence falls toward a tie (−1.5 → −1, 0.5 → 0)."""
    exact = Fraction(value)
    return sign(exact) * math.ceil(abs(exact) - Fraction(1, 2))


# --- parsing (backends without log-probs, methods.md §0) ------------------------------

_VERDICT_LINE = re.compile(r"^\s*\**\s*VERDICT\s*:\s*\**\s*([1-5])\s*\**\s*\.?\s*$", re.IGNORECASE)
_RATING_LINE = re.compile(r"^\s*\**\s*rating\s*:\s*\**\s*([1-5])\s*(?:/\s*5)?\s*\**\s*\.?\s*$", re.IGNORECASE)


def _last_marked_line(text: str, marker: str) -> str | None:
    lines = [line for line in text.splitlines() if marker in line.lower()]
    return lines[-1] if lines else None


def parse_verdict(output: str) -> int | None:
    """The verdict s from the judge's own output: its *last* line containing ``VERDICT:``
    must read exactly ``VERDICT: d`` with d in 1..5; anything else is no verdict (None).
    Only the judge's output is passed here, never the prompt with the quoted responses."""
    line = _last_marked_line(output, "verdict:")
    if line is None:
        return None
    match = _VERDICT_LINE.match(line)
    return digit_to_verdict(int(match.group(1))) if match else None


def parse_rating(output: str) -> int | None:
    """A 1–5 rating from the last ``Rating:`` line: accepts "Rating: 4" and "rating: 4/5",
    rejects "Rating: 4 or 5" and anything else on the line."""
    line = _last_marked_line(output, "rating:")
    if line is None:
        return None
    match = _RATING_LINE.match(line)
    return int(match.group(1)) if match else None


# --- one run and their combination (methods.md §2.3) ---------------------------------


@dataclass(frozen=True)
class RunVerdict:
    """One judge call in one shown order, already in stored orientation.

    ``probabilities`` is the distribution over s = −2..2 (stored orientation) when the
    verdict was read by option scoring, None when it was parsed from text; ``verdict``
    is None when the output did not parse."""

    shown_order: str
    verdict: int | None
    probabilities: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Combination:
    verdict: int | None  # s_comb, before the length rule
    mean: float | None  # s̄
    position_consistent: bool | None
    confidence: float | None
    expected_verdict: float | None  # E[s] = Σ s·p̄(s); None without log-probs
    mean_probabilities: tuple[float, ...] | None
    parse_ok: bool


def combine_runs(runs: Sequence[RunVerdict]) -> Combination:
    """s̄ over the parsed runs, s_comb = round half toward zero, position consistency
    (first original vs first swapped run, in sign), confidence from p̄ (or, without
    log-probs, the share of parsed runs whose sign equals sign(s_comb)).

    Runs that did not parse are left out; when none parsed the combination has no
    verdict and ``parse_ok`` is False — a verdict is never invented."""
    parsed = [run for run in runs if run.verdict is not None]
    if not parsed:
        return Combination(None, None, None, None, None, None, parse_ok=False)
    mean = Fraction(sum(run.verdict for run in parsed), len(parsed))
    combined = round_half_toward_zero(mean)
    first = {order: next((r for r in runs if r.shown_order == order), None) for order in SHOWN_ORDERS}
    consistent = None
    if first["AB"] is not None and first["BA"] is not None and None not in (first["AB"].verdict, first["BA"].verdict):
        consistent = sign(first["AB"].verdict) == sign(first["BA"].verdict)
    scored = [run.probabilities for run in parsed if run.probabilities is not None]
    if scored and len(scored) == len(parsed):
        mean_p = tuple(sum(p[i] for p in scored) / len(scored) for i in range(len(VERDICTS)))
        confidence = confidence_from_probabilities(mean_p)
        expected = sum(s * p for s, p in zip(VERDICTS, mean_p))
    else:
        mean_p, expected = None, None
        confidence = sum(1 for run in parsed if sign(run.verdict) == sign(combined)) / len(parsed)
    return Combination(combined, float(mean), consistent, confidence, expected, mean_p, parse_ok=True)


def confidence_from_probabilities(mean_p: Sequence[float]) -> float:
    """max(p_A, p_tie, p_B) of a distribution over s = −2..2, clipped into [0, 1]."""
    p_a, p_tie, p_b = mean_p[0] + mean_p[1], mean_p[2], mean_p[3] + mean_p[4]
    return min(1.0, max(0.0, max(p_a, p_tie, p_b)))


# --- length rule (methods.md §2.3) --------------------------------------------------


def apply_length_rule(verdict: int | None, text_a: str, text_b: str, k: int | None) -> tuple[int | None, bool]:
    """A slight win (|s| = 1) by a response longer than the loser by more than K characters
    (code points of the stripped texts) becomes a tie; |s| = 2 is never changed; K None
    disables the rule. Returns (verdict, applied)."""
    if verdict is None or k is None or abs(verdict) != 1:
        return verdict, False
    winner, loser = (text_a, text_b) if verdict < 0 else (text_b, text_a)
    if len(winner.strip()) - len(loser.strip()) > k:
        return 0, True
    return verdict, False


# --- scores → verdict (methods.md §1) ------------------------------------------------


def score_to_verdict(score_a: float | None, score_b: float | None, t_tie: float, t_much: float) -> int | None:
    """Δ = score(B) − score(A): 0 if |Δ| ≤ t_tie, sign(Δ) below t_much, 2·sign(Δ) from t_much."""
    if score_a is None or score_b is None:
        return None
    delta = score_b - score_a
    if abs(delta) <= t_tie:
        return 0
    return 2 * sign(delta) if abs(delta) >= t_much else sign(delta)


def aspect_mean(values: dict[str, float | None], aspects: Sequence[str]) -> float | None:
    """UltraFeedback's fine-grained score m: the mean of available aspects, None when
    fewer than 3 (or, with fewer aspects configured, fewer than all) are available."""
    available = [values[a] for a in aspects if values.get(a) is not None]
    if len(available) < min(3, len(aspects)) or not available:
        return None
    return sum(available) / len(available)


# --- ensemble preference strength (methods.md §2.10) -----------------------------------


@dataclass(frozen=True)
class Strength:
    mu: float
    sigma: float
    flag: str  # likely_mislabeled | ambiguous | strong


def ensemble_strength(evidence: Sequence[float], *, labelled: bool = True, scorer_units: bool = False) -> Strength:
    """μ and σ (sample standard deviation) of member evidence oriented so that positive
    favours the labelled chosen side. Flags in verdict units: ``likely_mislabeled`` if
    μ ≤ −0.5, ``ambiguous`` if |μ| < 0.5 or σ ≥ 1.0, else ``strong``; in scorer units
    (every member a scorer, evidence = score difference / the scorer's standard
    deviation of differences): μ < 0, |μ| < 0.25 or σ ≥ 1.0. Without a label
    (``labelled=False``) there is nothing to be mislabeled: only ambiguous or strong."""
    if len(evidence) < 2:
        raise ValueError("ensemble strength needs at least two members")
    mu = sum(evidence) / len(evidence)
    sigma = math.sqrt(sum((d - mu) ** 2 for d in evidence) / (len(evidence) - 1))
    mislabeled = mu < 0 if scorer_units else mu <= -0.5
    if labelled and mislabeled:
        flag = "likely_mislabeled"
    elif abs(mu) < (0.25 if scorer_units else 0.5) or sigma >= 1.0:
        flag = "ambiguous"
    else:
        flag = "strong"
    return Strength(mu=mu, sigma=sigma, flag=flag)
