"""Consensus weighting, tier and status transitions as judgments and decisions arrive."""
import pytest

from curation.consensus import HumanRecord, annotator_weight, human_consensus, status_after_refresh
from curation.models import Pair, Project
from curation.services import adjudication_record, annotator_for_user, judgment_record_human, pairs_refresh
from tests.factories import AnnotatorFactory, HumanJudgmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_annotator_weight_is_gold_accuracy_after_ten_answers():
    assert annotator_weight(0, 0) == 0.75
    assert annotator_weight(9, 0) == 0.75
    assert annotator_weight(10, 7) == pytest.approx(0.7)
    records = [HumanRecord(1, 1), HumanRecord(2, -1), HumanRecord(3, -1)]
    assert human_consensus(records, quorum=3).verdict == -1
    assert human_consensus(records, quorum=3, weights={1: 1.0, 2: 0.2, 3: 0.2}).verdict == 1
    assert human_consensus(records, quorum=3, weights={1: 1.0, 2: 0.3, 3: 0.3}) is None  # 1.0 of 1.6 < 2/3


@pytest.mark.parametrize(
    ("status", "tier", "after"),
    [
        ("routed", "gold", "accepted"),
        ("open", "gold", "accepted"),
        ("accepted", "unverified", "open"),
        ("routed", "silver", "routed"),
        ("open", "silver", "open"),
        ("rejected", "gold", "rejected"),
    ],
)
def test_status_after_refresh(status, tier, after):
    assert status_after_refresh(status, tier) == after


def test_a_routed_pair_with_all_its_human_judgments_leaves_the_queue():
    assert status_after_refresh("routed", "unverified", n_human=3, overlap=3) == "open"
    assert status_after_refresh("routed", "unverified", n_human=2, overlap=3) == "routed"
    assert status_after_refresh("routed", "gold", n_human=3, overlap=3) == "accepted"


def answer_gold(annotator, build, *, n, correct):
    for i in range(n):
        pair = build(humans=[])
        Pair.objects.filter(pk=pair.pk).update(gold_verdict=-1)
        HumanJudgmentFactory(pair=pair, annotator=annotator, verdict=-1 if i < correct else 1)


def test_weighted_consensus_uses_gold_accuracy(project, build):
    expert, novice1, novice2 = (AnnotatorFactory(name=n) for n in ("expert", "novice1", "novice2"))
    answer_gold(expert, build, n=10, correct=10)
    answer_gold(novice1, build, n=10, correct=2)
    answer_gold(novice2, build, n=10, correct=2)
    pair = build(humans=[("expert", 1), ("novice1", -1), ("novice2", -1)])
    assert (pair.tier, pair.consensus_verdict) == ("gold", -1)  # majority by default
    project.consensus_weighting = Project.ConsensusWeighting.GOLD_ACCURACY
    project.save()
    pairs_refresh(pair_ids=[pair.id])
    pair.refresh_from_db()
    assert (pair.tier, pair.consensus_verdict, pair.label_source) == ("gold", 1, "human_consensus")


def test_weighted_refresh_query_count_is_fixed(project, build, django_assert_max_num_queries):
    project.consensus_weighting = Project.ConsensusWeighting.GOLD_ACCURACY
    project.save()
    pairs = [build(humans=[-1, -1, 1]) for _ in range(20)]
    with django_assert_max_num_queries(7):
        pairs_refresh(pair_ids=[p.id for p in pairs])


def test_tier_and_status_follow_each_new_record(project, build):
    project.overlap = 2
    project.save()
    pair = build(ai={"j": {"verdict": -1, "confidence": 0.9}, "k": {"verdict": -2, "confidence": 0.8}}, status="accepted")
    assert (pair.tier, pair.label_source) == ("silver", "ai_consensus")

    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    judgment_record_human(pair=pair, annotator=annotator_for_user(user=alice), verdict=1)
    pair.refresh_from_db()
    assert (pair.tier, pair.status, pair.label_source) == ("unverified", "open", "human_partial")  # demoted

    judgment_record_human(pair=pair, annotator=annotator_for_user(user=bob), verdict=2)
    pair.refresh_from_db()
    assert (pair.tier, pair.status, pair.consensus_verdict, pair.label_verdict) == ("gold", "accepted", 1, 1)

    reviewer = UserFactory(username="rita")
    adjudication_record(pair=pair, reviewer=reviewer, verdict=-1, note="Both missed the factual error in B.")
    pair.refresh_from_db()
    assert (pair.tier, pair.label_verdict, pair.label_source, pair.gold_verdict) == ("gold", -1, "adjudication", -1)
    assert pair.consensus_verdict == 1  # the human consensus is kept beside the decision
