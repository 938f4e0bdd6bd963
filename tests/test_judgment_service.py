"""judgment_record_human: the one write path for human judgments."""
import pytest

from curation.services import JudgmentRejected, annotator_for_user, judgment_record_human

from .factories import AnnotatorFactory, HumanJudgmentFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_records_and_refreshes_the_pair():
    pair = PairFactory(project__overlap=2)
    first = judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=-1, shown_order="ba", mode="blind")
    judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=-2)
    pair.refresh_from_db()
    assert first.is_human and first.shown_order == "ba"
    assert (pair.n_human_judgments, pair.tier, pair.label_verdict) == (2, "gold", -1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"verdict": 3}, "verdict"),
        ({"verdict": "1"}, "verdict"),
        ({"verdict": 1, "aspects": {"beauty": 1}}, "aspects"),
        ({"verdict": 1, "aspects": {"honesty": 5}}, "aspects"),
        ({"verdict": 1, "checklist_answers": {"cites sources": "yes"}}, "checklist_answers"),
    ],
)
def test_invalid_input_is_rejected_and_nothing_written(kwargs, field):
    pair = PairFactory()
    with pytest.raises(JudgmentRejected) as error:
        judgment_record_human(pair=pair, annotator=AnnotatorFactory(), **kwargs)
    assert error.value.field == field
    assert not pair.judgments.exists()


def test_rationale_required_by_project():
    pair = PairFactory(project__rationale_required=True)
    with pytest.raises(JudgmentRejected, match="rationale"):
        judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=0, rationale="  ")


def test_one_per_annotator_and_overlap_cap():
    pair = PairFactory(project__overlap=1)
    annotator = AnnotatorFactory()
    judgment_record_human(pair=pair, annotator=annotator, verdict=1)
    with pytest.raises(JudgmentRejected, match="already judged"):
        judgment_record_human(pair=pair, annotator=annotator, verdict=1)
    with pytest.raises(JudgmentRejected, match="already has the 1 human"):
        judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=1)


def test_lease_slot_becomes_the_judgment():
    pair = PairFactory(project__overlap=1, n_active_leases=1)
    with pytest.raises(JudgmentRejected):  # someone else holds the only slot
        judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=1)
    judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=1, lease_held=True)
    pair.refresh_from_db()
    assert (pair.n_active_leases, pair.n_human_judgments) == (0, 1)


def test_annotator_for_user_is_stable_and_avoids_imported_names():
    HumanJudgmentFactory(annotator=AnnotatorFactory(name="alice"))
    alice = UserFactory(username="alice")
    identity = annotator_for_user(user=alice)
    assert identity.name == f"alice#{alice.pk}" and identity.user == alice
    assert annotator_for_user(user=alice) == identity
