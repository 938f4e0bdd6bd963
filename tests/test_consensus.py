"""Consensus, tiers and the combination rule (methods.md §2.3, §4, §7 item 6)."""
import pytest

from curation.consensus import AIRecord, HumanRecord, combine_verdicts, human_consensus, pair_state
from curation.models import Adjudication
from curation.services import pairs_refresh

from .factories import AIJudgmentFactory, HumanJudgmentFactory, PairFactory


@pytest.mark.parametrize(
    ("verdicts", "combined"),
    [((-2, -1), -1), ((-1, 1), 0), ((-2, 1), 0), ((-2, -2, -1), -2), ((2, 2, 1, 1), 1)],
)
def test_combination_rounds_half_toward_zero(verdicts, combined):
    assert combine_verdicts(list(verdicts)) == combined


def humans(*verdicts):
    return [HumanRecord(annotator_id=i, verdict=v) for i, v in enumerate(verdicts)]


def test_human_consensus_rules():
    assert human_consensus(humans(-1, -2, -1), quorum=3).verdict == -1
    assert human_consensus(humans(-1, -2, -2), quorum=3).verdict == -2
    assert human_consensus(humans(-1, -2), quorum=3) is None  # below quorum
    assert human_consensus(humans(-1, 1), quorum=2) is None  # two must agree
    assert human_consensus(humans(-1, -1, 1), quorum=3).verdict == -1  # 2/3 holds
    assert human_consensus(humans(-1, 0, 1), quorum=3) is None
    consensus = human_consensus(humans(-2, -2, 1), quorum=3)
    assert consensus.verdict == -2 and consensus.strength == pytest.approx(1.0)
    # Weighted: a strong annotator outweighs two weak ones.
    weighted = human_consensus(humans(1, -1, -1), quorum=3, weights={0: 0.95, 1: 0.2, 2: 0.2})
    assert weighted.verdict == 1


def ai(judge, verdict, confidence=0.9, consistent=True, kind="ai"):
    return AIRecord(judge_config_id=judge, verdict=verdict, kind=kind, confidence=confidence, position_consistent=consistent)


def state(**kw):
    base = {"humans": [], "ai": [], "adjudication": None, "quorum": 3, "min_confidence": 0.7}
    return pair_state(**{**base, **kw})


def test_tiers():
    assert state(ai=[ai(1, -1), ai(2, -2)]).tier == "silver"
    assert state(ai=[ai(1, -1), ai(2, -2)]).label_verdict == -1  # median −1.5 → −1
    assert state(ai=[ai(1, -1)]).tier == "unverified"  # one judge is not enough
    assert state(ai=[ai(1, -1), ai(2, 1)]).tier == "unverified"
    assert state(ai=[ai(1, -1), ai(2, -1, confidence=0.5)]).tier == "unverified"
    assert state(ai=[ai(1, -1), ai(2, -1, consistent=False)]).tier == "unverified"
    assert state(ai=[ai(1, -1), ai(2, 0)]).tier == "unverified"  # a tie blocks silver
    assert state(ai=[ai(1, -1), ai(2, -1)], flags=["ambiguous"]).tier == "unverified"
    assert state(ai=[ai(1, -1), ai(2, -1)], humans=humans(1)).tier == "unverified"  # disagreeing human demotes
    assert state(ai=[ai(1, -1, kind="source"), ai(2, -1, kind="construction")]).tier == "unverified"
    gold = state(humans=humans(1, 2, 1))
    assert (gold.tier, gold.label_verdict, gold.label_source) == ("gold", 1, "human_consensus")
    adjudicated = state(humans=humans(1, 2, 1), adjudication=(-2, "review"))
    assert (adjudicated.tier, adjudicated.label_verdict, adjudicated.label_source) == ("gold", -2, "adjudication")
    auto = state(ai=[ai(1, -1, confidence=0.2)], auto_accepted_judges={1})
    assert auto.tier == "silver" and "auto_accepted_stratum" in auto.reasons


@pytest.mark.django_db
def test_pairs_refresh_transitions():
    pair = PairFactory()
    project = pair.project
    project.overlap = 2
    project.save()
    AIJudgmentFactory(pair=pair, verdict=1)
    AIJudgmentFactory(pair=pair, verdict=2)
    pairs_refresh(pair_ids=[pair.id])
    pair.refresh_from_db()
    assert (pair.tier, pair.label_verdict, pair.label_source) == ("silver", 1, "ai_consensus")
    HumanJudgmentFactory(pair=pair, verdict=-1)
    pairs_refresh(pair_ids=[pair.id])
    pair.refresh_from_db()
    assert pair.tier == "unverified" and pair.n_human_judgments == 1
    HumanJudgmentFactory(pair=pair, verdict=-2)
    pairs_refresh(pair_ids=[pair.id])
    pair.refresh_from_db()
    assert (pair.tier, pair.label_verdict, pair.consensus_verdict) == ("gold", -1, -1)
    Adjudication.objects.create(project=project, pair=pair, verdict=2, note="AI was right")
    pairs_refresh(pair_ids=[pair.id])
    pair.refresh_from_db()
    assert (pair.tier, pair.label_verdict, pair.label_source) == ("gold", 2, "adjudication")


@pytest.mark.django_db
def test_pairs_refresh_query_count_is_fixed(django_assert_max_num_queries):
    pairs = PairFactory.create_batch(30)
    for pair in pairs:
        HumanJudgmentFactory(pair=pair)
        AIJudgmentFactory(pair=pair)
    with django_assert_max_num_queries(6):
        pairs_refresh(pair_ids=[p.id for p in pairs])
