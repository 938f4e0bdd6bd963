"""Routing scores (methods.md §4.3) as pure functions.

R = w_conf·(1 − confidence) + w_pos·[position inconsistent] + w_dis·judge disagreement
  + w_amb·ambiguity + w_nov·novelty, with the weights of ``Project.routing_weights``
(defaults 0.35, 0.20, 0.20, 0.15, 0.10). Higher R = more worth a human's time.

Inputs come from one SQL aggregate per batch of pairs (``PairEvidence``); the database
side is ``curation.services.pairs_route``.
"""
import hashlib
from dataclasses import dataclass

from django.db.models import Avg, Count, Q

from .models import JudgeConfig, Judgment, Pair, Project
from .models.projects import DEFAULT_ROUTING_WEIGHTS


@dataclass(frozen=True)
class PairEvidence:
    """What the AI judges said about one pair, aggregated in SQL."""

    n_verdicts: int = 0  # AI judges (kind ai) with a parsed verdict
    mean_confidence: float | None = None
    any_inconsistent: bool = False
    n_a: int = 0  # judges preferring A (s < 0)
    n_tie: int = 0
    n_b: int = 0
    mean_verdict: float | None = None
    ensemble_mu: float | None = None
    gold_in_category: int = 0


def routing_weights(configured: dict | None) -> dict[str, float]:
    """The project's weights, falling back to the defaults for missing keys."""
    weights = dict(DEFAULT_ROUTING_WEIGHTS)
    for key, value in (configured or {}).items():
        if key in weights and isinstance(value, (int, float)) and not isinstance(value, bool):
            weights[key] = float(value)
    return weights


def score_parts(evidence: PairEvidence) -> dict[str, float]:
    """Each term of R in [0, 1].

    Without any AI verdict the pair is as uncertain as it gets: confidence 0 and
    ambiguity 1; position inconsistency and judge disagreement need judgments to be
    observed and count 0. ``|μ|`` is the ensemble strength when the ensemble judge set
    it, else the absolute mean verdict of the judges (the same scale, −2..2).
    """
    confidence = evidence.mean_confidence if evidence.mean_confidence is not None else 0.0
    if evidence.n_verdicts >= 2:
        modal = max(evidence.n_a, evidence.n_tie, evidence.n_b)
        disagreement = 1.0 - modal / evidence.n_verdicts
    else:
        disagreement = 0.0
    mu = evidence.ensemble_mu if evidence.ensemble_mu is not None else evidence.mean_verdict
    ambiguity = 1.0 - min(1.0, abs(mu) / 2) if mu is not None else 1.0
    return {
        "confidence": 1.0 - min(1.0, max(0.0, confidence)),
        "position_inconsistency": 1.0 if evidence.any_inconsistent else 0.0,
        "judge_disagreement": disagreement,
        "ambiguity": ambiguity,
        "novelty": 1.0 / (1 + evidence.gold_in_category),
    }


def routing_score(evidence: PairEvidence, weights: dict[str, float]) -> float:
    parts = score_parts(evidence)
    return round(sum(weights[key] * parts[key] for key in parts), 6)


def in_audit_sample(project_id: int, pair_id: int, fraction: float) -> bool:
    """A stable pseudo-random draw: the same pairs stay in the audit round after round."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(f"audit:{project_id}:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


# --- the database side: one aggregate per batch of pairs --------------------------------


def pair_evidence(pair_ids: list[int]) -> dict[int, PairEvidence]:
    """AI judges' verdicts on the given pairs, aggregated per pair in one GROUP BY."""
    rows = (
        Judgment.objects.filter(
            pair_id__in=pair_ids, judge_config__kind=JudgeConfig.Kind.AI, parse_ok=True, verdict__isnull=False
        )
        .values("pair_id")
        .annotate(
            n=Count("id"),
            confidence=Avg("confidence"),
            inconsistent=Count("id", filter=Q(position_consistent=False)),
            n_a=Count("id", filter=Q(verdict__lt=0)),
            n_tie=Count("id", filter=Q(verdict=0)),
            n_b=Count("id", filter=Q(verdict__gt=0)),
            mean=Avg("verdict"),
        )
        .order_by()
    )
    return {
        row["pair_id"]: PairEvidence(
            n_verdicts=row["n"],
            mean_confidence=row["confidence"],
            any_inconsistent=row["inconsistent"] > 0,
            n_a=row["n_a"],
            n_tie=row["n_tie"],
            n_b=row["n_b"],
            mean_verdict=row["mean"],
        )
        for row in rows
    }


def gold_pairs_per_category(project: Project) -> dict[str, int]:
    return dict(
        Pair.objects.filter(project=project, tier=Pair.Tier.GOLD)
        .values_list("prompt__category")
        .annotate(n=Count("id"))
        .values_list("prompt__category", "n")
        .order_by()
    )
