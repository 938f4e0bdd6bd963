"""Constraints that keep the data sound, enforced by the database itself."""
import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from curation.models import Judgment

from .factories import AIJudgmentFactory, AnnotatorFactory, HumanJudgmentFactory, PairFactory, PromptFactory

pytestmark = pytest.mark.django_db


def test_verdict_must_be_within_range():
    pair = PairFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        HumanJudgmentFactory(pair=pair, verdict=3)


def test_one_judgment_per_annotator_per_pair():
    judgment = HumanJudgmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        HumanJudgmentFactory(pair=judgment.pair, annotator=judgment.annotator, verdict=1)
    # A revision after a reveal is a second, flagged record.
    HumanJudgmentFactory(pair=judgment.pair, annotator=judgment.annotator, verdict=1, is_revision=True)


def test_one_judgment_per_judge_per_pair():
    judgment = AIJudgmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AIJudgmentFactory(pair=judgment.pair, judge_config=judgment.judge_config)


def test_a_judgment_has_exactly_one_judge():
    pair = PairFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(project=pair.project, pair=pair, is_human=True, verdict=0)


def test_unparsed_judgment_has_no_verdict():
    judgment = AIJudgmentFactory(verdict=None, parse_ok=False)
    assert judgment.verdict is None
    with pytest.raises(IntegrityError), transaction.atomic():
        AIJudgmentFactory(pair=judgment.pair, verdict=1, parse_ok=False)


def test_prompt_content_hash_unique_per_project():
    prompt = PromptFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptFactory(project=prompt.project, text=prompt.text)
    PromptFactory(text=prompt.text)  # another project may hold the same prompt


def test_judgments_protect_pairs_and_annotators():
    judgment = HumanJudgmentFactory()
    with pytest.raises(ProtectedError):
        judgment.pair.delete()
    with pytest.raises(ProtectedError):
        AnnotatorFactory(name=judgment.annotator.name).delete()


def test_pair_sides_must_differ():
    pair = PairFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PairFactory(project=pair.project, prompt=pair.prompt, response_a=pair.response_a, response_b=pair.response_a,
                    content_hash="x")
