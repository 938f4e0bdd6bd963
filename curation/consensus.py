"""Consensus, labels and tiers of a pair (methods.md §4.1–4.2), as pure functions.

The database side (loading a batch of pairs' judgments and saving the outcome) is
``curation.services.pairs_refresh``.
"""
import math
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median

DEFAULT_ANNOTATOR_WEIGHT = 0.75
MIN_GOLD_ANSWERS_FOR_WEIGHT = 10
CONSENSUS_SHARE = 2 / 3
BLOCKING_FLAGS = ("likely_mislabeled", "ambiguous")


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def round_half_toward_zero(value: float) -> int:
    """sign(x)·⌈|x| − ½⌉: mixed evidence falls toward a tie."""
    return sign(value) * math.ceil(abs(value) - 0.5)


def combine_verdicts(verdicts: list[int]) -> int:
    """Mean of stored-orientation verdicts, rounded half toward zero (methods.md §2.3)."""
    if not verdicts:
        raise ValueError("no verdicts to combine")
    return round_half_toward_zero(sum(verdicts) / len(verdicts))


def median_verdict(verdicts: list[int]) -> int:
    return round_half_toward_zero(median(verdicts))


def annotator_weight(n_gold: int, n_correct: int) -> float:
    """An annotator's weight in ``gold_accuracy`` consensus: accuracy on gold pairs,
    or 0.75 until they have answered 10 gold pairs (methods.md §4.1)."""
    if n_gold < MIN_GOLD_ANSWERS_FOR_WEIGHT:
        return DEFAULT_ANNOTATOR_WEIGHT
    return n_correct / n_gold


def status_after_refresh(status: str, tier: str, *, n_human: int = 0, overlap: int | None = None) -> str:
    """A pair's status once its tier is recomputed.

    Gold needs no more human time: accepted. A routed pair whose human judgments reached
    the overlap without consensus leaves the queue (open; the adjudication queue takes
    it), so the annotation queue never walks past full pairs. A pair that lost its tier
    (a disagreeing human demoted silver) goes back to open, for the next routing round.
    Everything else is the routing round's decision (``services.pairs_route``);
    rejected stays.
    """
    if status == "rejected":
        return status
    if tier == "gold":
        return "accepted"
    if status == "routed" and overlap is not None and n_human >= overlap:
        return "open"
    if tier == "unverified" and status == "accepted":
        return "open"
    return status


@dataclass(frozen=True)
class HumanRecord:
    annotator_id: int
    verdict: int


@dataclass(frozen=True)
class AIRecord:
    judge_config_id: int
    verdict: int | None
    kind: str  # ai | source | construction
    model: str = ""
    confidence: float | None = None
    position_consistent: bool | None = None


@dataclass(frozen=True)
class Consensus:
    verdict: int
    strength: float


def human_consensus(
    records: list[HumanRecord], *, quorum: int, weights: dict[int, float] | None = None
) -> Consensus | None:
    """Majority of 3-way labels, optionally weighted by annotator accuracy on gold.

    Exists when the records reach the quorum and the top label holds at least 2/3
    of the weight. Verdict = median s within the winning label; strength = |mean s|.
    """
    if len(records) < quorum or not records:
        return None
    weight_of = (lambda r: weights.get(r.annotator_id, DEFAULT_ANNOTATOR_WEIGHT)) if weights is not None else (lambda r: 1.0)
    by_label: dict[int, float] = defaultdict(float)
    for record in records:
        by_label[sign(record.verdict)] += weight_of(record)
    total = sum(by_label.values())
    if total <= 0:
        return None
    label, top = max(by_label.items(), key=lambda item: item[1])
    if top < CONSENSUS_SHARE * total - 1e-12:
        return None
    winning = [r.verdict for r in records if sign(r.verdict) == label]
    strength = abs(sum(r.verdict for r in records) / len(records))
    return Consensus(verdict=median_verdict(winning), strength=strength)


@dataclass
class PairState:
    tier: str
    label_verdict: int | None
    label_source: str
    consensus_verdict: int | None
    consensus_strength: float | None
    n_human_judgments: int
    reasons: list[str] = field(default_factory=list)


def silver_label(
    ai: list[AIRecord],
    *,
    min_confidence: float,
    flags: list[str],
    humans: list[HumanRecord],
) -> int | None:
    """The AI consensus label when the pair qualifies for silver (methods.md §4.2), else None."""
    judges = [r for r in ai if r.kind == "ai" and r.verdict is not None]
    if len(judges) < 2:
        return None
    if any(flag in BLOCKING_FLAGS for flag in flags):
        return None
    if not all(r.position_consistent is True for r in judges):
        return None
    signs = {sign(r.verdict) for r in judges}
    if len(signs) != 1 or 0 in signs:
        return None
    if not all(r.confidence is not None and r.confidence >= min_confidence for r in judges):
        return None
    label = median_verdict([r.verdict for r in judges])
    if any(sign(h.verdict) != sign(label) for h in humans):
        return None
    return label


def auto_accepted_label(
    ai: list[AIRecord], accepted_judges: set[int], *, flags: list[str], humans: list[HumanRecord]
) -> int | None:
    """Silver through an auto-accepted stratum (methods.md §4.3): the median verdict of
    the pair's judges whose (judge, category) stratum is accepted. Their evidence is
    agreement without ties, so a tie is not accepted; flags and a disagreeing human
    block it as they block silver."""
    verdicts = [r.verdict for r in ai if r.judge_config_id in accepted_judges and r.verdict]
    if not verdicts or any(flag in BLOCKING_FLAGS for flag in flags):
        return None
    label = median_verdict(verdicts)
    if label == 0 or any(sign(h.verdict) != sign(label) for h in humans):
        return None
    return label


def pair_state(
    *,
    humans: list[HumanRecord],
    ai: list[AIRecord],
    adjudication: tuple[int, str] | None,
    quorum: int,
    min_confidence: float,
    flags: list[str] | None = None,
    weights: dict[int, float] | None = None,
    auto_accepted_judges: set[int] | None = None,
) -> PairState:
    """Consensus, tier and export label of one pair, deterministically."""
    flags = flags or []
    consensus = human_consensus(humans, quorum=quorum, weights=weights)
    state = PairState(
        tier="unverified",
        label_verdict=None,
        label_source="",
        consensus_verdict=consensus.verdict if consensus else None,
        consensus_strength=consensus.strength if consensus else None,
        n_human_judgments=len(humans),
    )
    if adjudication is not None:
        verdict, source = adjudication
        state.tier, state.label_verdict = "gold", verdict
        state.label_source = "gold_import" if source == "import" else "adjudication"
        return state
    if consensus is not None:
        state.tier, state.label_verdict, state.label_source = "gold", consensus.verdict, "human_consensus"
        return state
    label = silver_label(ai, min_confidence=min_confidence, flags=flags, humans=humans)
    if label is not None:
        state.tier, state.label_verdict, state.label_source = "silver", label, "ai_consensus"
        return state
    label = auto_accepted_label(ai, auto_accepted_judges or set(), flags=flags, humans=humans)
    if label is not None:
        state.tier, state.label_verdict, state.label_source = "silver", label, "auto_accept"
        state.reasons.append("auto_accepted_stratum")
        return state
    # Unverified: the best label available, named by where it came from.
    if humans:
        state.label_verdict = median_verdict([h.verdict for h in humans])
        state.label_source = "human_partial"
    else:
        for kind, source in (("ai", "ai"), ("source", "source"), ("construction", "construction")):
            verdicts = [r.verdict for r in ai if r.kind == kind and r.verdict is not None]
            if verdicts:
                state.label_verdict, state.label_source = median_verdict(verdicts), source
                break
    return state
