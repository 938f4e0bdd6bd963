"""The queue services: leases, overlap, gold checks, orientation, skip, undo, reveal."""
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Assignment
from annotation.services import (
    LeaseLost,
    Submission,
    UndoRefused,
    assignment_next,
    assignment_reveal_decide,
    assignment_skip,
    assignment_submit,
    assignment_undo,
)
from curation.models import Judgment, Pair, Rubric
from curation.services import (
    JudgmentRejected,
    judgment_record_human,
    judgment_withdraw_human,
    pairs_leases_release,
)

from ..factories import AnnotatorFactory, HumanJudgmentFactory, PairFactory
from .conftest import make_annotator, make_routed

pytestmark = pytest.mark.django_db


class AlwaysGold(random.Random):
    def random(self) -> float:
        return 0.0


def counters(pair: Pair) -> tuple[int, int]:
    pair.refresh_from_db()
    return pair.n_human_judgments, pair.n_active_leases


def test_next_hands_out_the_best_routed_pair_under_a_lease(queue_project, rng):
    low, high = make_routed(queue_project, 2)
    low.routing_score = 0.1
    low.save()
    PairFactory(project=queue_project, status="open", routing_score=5.0)  # not routed: never queued
    _, annotator = make_annotator(queue_project)
    now = timezone.now()
    assignment = assignment_next(project=queue_project, annotator=annotator, now=now, rng=rng)
    assert assignment.pair == high and assignment.state == "leased" and not assignment.is_gold_check
    assert assignment.lease_expires_at == now + timedelta(minutes=queue_project.lease_minutes)
    assert counters(high) == (0, 1)
    again = assignment_next(project=queue_project, annotator=annotator, now=now + timedelta(minutes=1), rng=rng)
    assert again.pk == assignment.pk  # a reload does not burn a lease
    assert Assignment.objects.count() == 1 and counters(high) == (0, 1)


def test_overlap_is_never_exceeded_and_nobody_gets_a_pair_twice(queue_project, rng):
    pairs = make_routed(queue_project, 3)
    seen: dict[int, list[int]] = {pair.pk: [] for pair in pairs}
    for _ in range(5):
        _, annotator = make_annotator(queue_project)
        while (assignment := assignment_next(project=queue_project, annotator=annotator, rng=rng)) is not None:
            seen[assignment.pair_id].append(annotator.pk)
            assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=0))
    assert all(len(annotators) == queue_project.overlap for annotators in seen.values())
    assert all(len(set(annotators)) == len(annotators) for annotators in seen.values())
    assert [counters(pair) for pair in pairs] == [(2, 0)] * 3


def test_a_full_pair_with_live_leases_is_not_handed_out(queue_project, rng):
    (pair,) = make_routed(queue_project, 1)
    first = [make_annotator(queue_project)[1] for _ in range(3)]
    assert assignment_next(project=queue_project, annotator=first[0], rng=rng).pair == pair
    assert assignment_next(project=queue_project, annotator=first[1], rng=rng).pair == pair
    assert assignment_next(project=queue_project, annotator=first[2], rng=rng) is None
    assert counters(pair) == (0, 2)


def test_expired_lease_returns_the_pair_to_the_queue(queue_project, rng):
    queue_project.overlap = 1
    queue_project.save()
    (pair,) = make_routed(queue_project, 1)
    _, slow = make_annotator(queue_project)
    _, quick = make_annotator(queue_project)
    now = timezone.now()
    lapsed = assignment_next(project=queue_project, annotator=slow, now=now, rng=rng)
    assert assignment_next(project=queue_project, annotator=quick, now=now, rng=rng) is None
    later = now + timedelta(minutes=queue_project.lease_minutes, seconds=1)
    taken = assignment_next(project=queue_project, annotator=quick, now=later, rng=rng)
    assert taken.pair == pair
    lapsed.refresh_from_db()
    assert lapsed.state == "expired" and counters(pair) == (0, 1)
    # The slow annotator never gets the pair again, and their late verdict cannot exceed the overlap.
    assert assignment_next(project=queue_project, annotator=slow, now=later, rng=rng) is None
    with pytest.raises(LeaseLost, match="ran out"):
        assignment_submit(assignment_id=lapsed.pk, annotator=slow, submission=Submission(verdict=1), now=later)
    assignment_submit(assignment_id=taken.pk, annotator=quick, submission=Submission(verdict=1), now=later)
    assert counters(pair) == (1, 0)


def test_late_submission_is_kept_while_the_slot_is_still_free(queue_project, rng):
    (pair,) = make_routed(queue_project, 1)
    _, annotator = make_annotator(queue_project)
    now = timezone.now()
    assignment = assignment_next(project=queue_project, annotator=annotator, now=now, rng=rng)
    late = now + timedelta(hours=1)
    # Not swept yet: the slot is still reserved, so the judgment takes it.
    judgment = assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=1), now=late)
    assert judgment.pk and counters(pair) == (1, 0)


def test_late_submission_after_sweep_is_kept_when_the_pair_has_room(queue_project, rng):
    (pair,) = make_routed(queue_project, 1)
    _, annotator = make_annotator(queue_project)
    _, other = make_annotator(queue_project)
    now = timezone.now()
    assignment = assignment_next(project=queue_project, annotator=annotator, now=now, rng=rng)
    late = now + timedelta(hours=1)
    assignment_next(project=queue_project, annotator=other, now=late, rng=rng)  # sweeps, and leases the other slot
    assignment.refresh_from_db()
    assert assignment.state == "expired"
    assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=1), now=late)
    assignment.refresh_from_db()
    assert assignment.state == "submitted" and counters(pair) == (1, 1)


def test_verdict_aspects_and_checklist_are_turned_back_to_stored_orientation(queue_project):
    (pair,) = make_routed(queue_project, 1)
    rubric = Rubric.objects.create(
        project=queue_project, prompt=pair.prompt, kind="checklist", origin="human",
        items=[{"text": "Answers the question"}, {"text": "Old item", "retired": True}],
    )
    _, annotator = make_annotator(queue_project)
    assignment = assignment_next(project=queue_project, annotator=annotator, rng=random.Random(1))
    shown = Submission(
        verdict=-2,  # "A much better" as shown
        aspects={"helpfulness": -1, "honesty": 2},
        checklist_answers={"Answers the question": {"A": True, "B": False}},
        flags=["harmful"],
        rationale="left one is right",
        time_spent_ms=10**9,
        rubric=rubric,
    )
    judgment = assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=shown)
    flip = -1 if assignment.shown_order == "ba" else 1
    assert judgment.verdict == -2 * flip
    assert judgment.aspects == {"helpfulness": -1 * flip, "honesty": 2 * flip}
    left_stored = "A" if flip == 1 else "B"
    right_stored = "B" if flip == 1 else "A"
    assert judgment.checklist_answers == {"Answers the question": {left_stored: True, right_stored: False}}
    assert judgment.shown_order == assignment.shown_order and judgment.mode == "blind"
    assert judgment.flags == ["harmful"] and judgment.rubric == rubric
    assert judgment.time_spent_ms < 60_000  # capped at the lease's running time
    assignment.refresh_from_db()
    assert assignment.state == "submitted" and assignment.judgment == judgment


def test_both_shown_orders_occur_and_are_stored(queue_project):
    make_routed(queue_project, 40)
    _, annotator = make_annotator(queue_project)
    rng = random.Random(3)
    for _ in range(40):
        assignment = assignment_next(project=queue_project, annotator=annotator, rng=rng)
        assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=1))
    orders = list(Assignment.objects.values_list("shown_order", flat=True))
    assert 10 < orders.count("ba") < 30
    for judgment in Judgment.objects.filter(is_human=True):
        assert judgment.verdict == (-1 if judgment.shown_order == "ba" else 1)


def test_double_submit_records_one_judgment(queue_project, rng):
    make_routed(queue_project, 1)
    _, annotator = make_annotator(queue_project)
    assignment = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    first = assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=1))
    second = assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=2))
    assert first.pk == second.pk and Judgment.objects.filter(is_human=True).count() == 1


def test_invalid_submission_changes_nothing(queue_project, rng):
    queue_project.rationale_required = True
    queue_project.save()
    (pair,) = make_routed(queue_project, 1)
    _, annotator = make_annotator(queue_project)
    assignment = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    with pytest.raises(JudgmentRejected) as error:
        assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=1))
    assert error.value.field == "rationale"
    with pytest.raises(JudgmentRejected, match="unknown flag"):
        assignment_submit(
            assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=1, rationale="x", flags=["meh"])
        )
    assignment.refresh_from_db()
    assert assignment.state == "leased" and counters(pair) == (0, 1) and not Judgment.objects.exists()


def test_skip_gives_the_slot_back_and_keeps_the_reason(queue_project, rng):
    (pair,) = make_routed(queue_project, 1)
    _, annotator = make_annotator(queue_project)
    assignment = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    with pytest.raises(JudgmentRejected, match="say why"):
        assignment_skip(assignment_id=assignment.pk, annotator=annotator, reason="other")
    assignment_skip(assignment_id=assignment.pk, annotator=annotator, reason="broken_prompt", note="cut   off")
    assignment.refresh_from_db()
    assert (assignment.state, assignment.skip_reason) == ("skipped", "broken_prompt: cut off")
    assert counters(pair) == (0, 0)
    assert assignment_next(project=queue_project, annotator=annotator, rng=rng) is None  # not shown again


def test_gold_checks_are_mixed_in_unmarked_and_take_no_overlap(queue_project):
    queue_project.gold_rate = 1.0
    queue_project.overlap = 1
    queue_project.save()
    make_routed(queue_project, 2)
    gold = PairFactory(project=queue_project, status="open", gold_verdict=-1)
    PairFactory(project=queue_project, status="rejected", gold_verdict=1)  # rejected: never a check
    HumanJudgmentFactory(pair=gold, verdict=-1)  # the gold pair already has `overlap` human judgments
    judgment_count_before = counters(gold)
    assert judgment_count_before == (0, 0) or judgment_count_before[0] <= 1
    _, annotator = make_annotator(queue_project)
    rng = random.Random(0)
    check = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    assert check.pair == gold and check.is_gold_check
    assignment_submit(assignment_id=check.pk, annotator=annotator, submission=Submission(verdict=1))
    # The gold pairs are used up: the queue goes on with routed pairs.
    following = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    assert following.pair.status == "routed" and not following.is_gold_check
    assert Judgment.objects.filter(pair=gold, is_human=True).count() == 2


def test_no_gold_check_when_the_queue_is_empty(queue_project, rng):
    queue_project.gold_rate = 1.0
    queue_project.save()
    PairFactory(project=queue_project, status="open", gold_verdict=1)
    _, annotator = make_annotator(queue_project)
    assert assignment_next(project=queue_project, annotator=annotator, rng=rng) is None


def test_gold_rate_is_roughly_respected(queue_project):
    queue_project.gold_rate = 0.25
    queue_project.overlap = 50
    queue_project.save()
    make_routed(queue_project, 5)
    for _ in range(200):
        PairFactory(project=queue_project, status="accepted", gold_verdict=1)
    rng = random.Random(11)
    checks = 0
    for _ in range(200):
        annotator = AnnotatorFactory()
        checks += assignment_next(project=queue_project, annotator=annotator, rng=rng).is_gold_check
    assert 30 <= checks <= 70


def test_pairs_judged_elsewhere_are_not_handed_out(queue_project, rng):
    first, second = make_routed(queue_project, 2)
    _, annotator = make_annotator(queue_project)
    judgment_record_human(pair=first, annotator=annotator, verdict=1)  # e.g. through the API
    assert assignment_next(project=queue_project, annotator=annotator, rng=rng).pair == second


def test_undo_withdraws_the_judgment_and_restores_the_lease(queue_project, rng):
    (pair, other) = make_routed(queue_project, 2)
    _, annotator = make_annotator(queue_project)
    assignment = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    judgment = assignment_submit(
        assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=2, rationale="why")
    )
    following = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    assert counters(pair) == (1, 0) and counters(other) == (0, 1)
    restored, withdrawn = assignment_undo(project=queue_project, annotator=annotator)
    assert restored.pk == assignment.pk and restored.state == "leased" and restored.judgment is None
    assert withdrawn.rationale == "why" and not Judgment.objects.filter(pk=judgment.pk).exists()
    assert counters(pair) == (0, 1) and counters(other) == (0, 1)  # nothing else moved
    # The restored pair comes first; the other lease is still held.
    assert assignment_next(project=queue_project, annotator=annotator, rng=rng).pk == assignment.pk
    assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=-1))
    assert assignment_next(project=queue_project, annotator=annotator, rng=rng).pk == following.pk
    with pytest.raises(UndoRefused, match="Too late"):
        assignment_undo(project=queue_project, annotator=annotator, now=timezone.now() + timedelta(hours=1))


def test_undo_with_nothing_to_undo(queue_project):
    _, annotator = make_annotator(queue_project)
    with pytest.raises(UndoRefused, match="no judgment"):
        assignment_undo(project=queue_project, annotator=annotator)


def test_reveal_after_keep_or_change(queue_project, rng):
    queue_project.mode = "reveal_after"
    queue_project.save()
    make_routed(queue_project, 2)
    _, annotator = make_annotator(queue_project)
    first = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    judgment = assignment_submit(assignment_id=first.pk, annotator=annotator, submission=Submission(verdict=-1, rationale="r"))
    assert judgment.mode == "reveal_after" and not judgment.used_assistance
    with pytest.raises(UndoRefused, match="AI verdicts were shown"):
        assignment_undo(project=queue_project, annotator=annotator)
    kept = assignment_reveal_decide(assignment_id=first.pk, annotator=annotator, verdict=-1)
    assert kept.reveal_outcome == "kept" and Judgment.objects.filter(is_revision=True).count() == 0

    second = assignment_next(project=queue_project, annotator=annotator, rng=rng)
    original = assignment_submit(assignment_id=second.pk, annotator=annotator, submission=Submission(verdict=-1))
    changed = assignment_reveal_decide(assignment_id=second.pk, annotator=annotator, verdict=1, rationale="the AI has a point")
    assert changed.reveal_outcome == "revised"
    revision = Judgment.objects.get(is_revision=True)
    flip = -1 if second.shown_order == "ba" else 1
    assert revision.revises == original and revision.verdict == flip and revision.mode == "reveal_after"
    assert revision.rationale == "the AI has a point" and revision.used_assistance
    original.pair.refresh_from_db()
    assert original.pair.n_human_judgments == 1  # a revision is not a second judgment
    # Deciding again changes nothing.
    assignment_reveal_decide(assignment_id=second.pk, annotator=annotator, verdict=2)
    assert Judgment.objects.filter(is_revision=True).count() == 1


def test_someone_elses_assignment_is_not_found(queue_project, rng):
    make_routed(queue_project, 1)
    _, owner = make_annotator(queue_project)
    assignment = assignment_next(project=queue_project, annotator=owner, rng=rng)
    with pytest.raises(Assignment.DoesNotExist):
        assignment_submit(assignment_id=assignment.pk, annotator=AnnotatorFactory(), submission=Submission(verdict=1))


@pytest.mark.parametrize("size", [3, 60])
def test_next_and_submit_run_a_fixed_number_of_queries(size, queue_project, django_assert_num_queries):
    """The same counts for a handful of pairs and for many, with judgments, leases,
    lapsed leases and gold pairs around."""
    queue_project.gold_rate = 0.5
    queue_project.save()
    pairs = make_routed(queue_project, size)
    for pair in pairs[: size // 2]:
        HumanJudgmentFactory(pair=pair)
    for _ in range(size // 3):
        PairFactory(project=queue_project, status="accepted", gold_verdict=1)
    others = [make_annotator(queue_project)[1] for _ in range(3)]
    now = timezone.now()
    for other in others:  # live leases, then lapsed ones
        assignment_next(project=queue_project, annotator=other, now=now - timedelta(hours=1), rng=random.Random(2))
    _, annotator = make_annotator(queue_project)
    rng = AlwaysGold()
    with django_assert_num_queries(13):  # sweep 4 + held 1 + queue 1 + gold 1 + insert 1 + lease 1, savepoints 4
        assignment = assignment_next(project=queue_project, annotator=annotator, now=now, rng=rng)
    with django_assert_num_queries(4):  # savepoint, sweep (nothing lapsed), held lease, release
        assignment_next(project=queue_project, annotator=annotator, now=now, rng=rng)
    # lock the assignment; record: lock the pair, one-per-annotator check, insert, lease
    # slot → judgment; refresh the pair (5; no stale mark: it is counted at once, in the
    # same transaction); count the pair (load it and its judgments, upsert counts, mark
    # both); mark the assignment submitted; savepoints 2 (the test's transaction makes
    # the submit's own one a savepoint; the record runs in it without a savepoint of its own)
    with django_assert_num_queries(18):
        assignment_submit(
            assignment_id=assignment.pk, annotator=annotator,
            submission=Submission(verdict=1, aspects={"honesty": 1}, rationale="fine"), now=now,
        )


@pytest.mark.parametrize("answer", [{"A": "yes"}, {"C": True}, {}, "yes"])
def test_checklist_answers_per_side_are_validated(queue_project, answer):
    (pair,) = make_routed(queue_project, 1)
    with pytest.raises(JudgmentRejected) as error:
        judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=1, checklist_answers={"item": answer})
    assert error.value.field == "checklist_answers" and not Judgment.objects.exists()


def test_withdrawing_a_judgment_refreshes_the_pair(queue_project):
    (pair,) = make_routed(queue_project, 1)
    judgment = judgment_record_human(pair=pair, annotator=AnnotatorFactory(), verdict=1)
    judgment_record_human(pair=pair, annotator=judgment.annotator, verdict=2, is_revision=True, revises=judgment)
    assert counters(pair) == (1, 0)
    judgment_withdraw_human(judgment=judgment)
    assert counters(pair) == (0, 0) and not Judgment.objects.exists()
    pairs_leases_release(counts={pair.pk: 3})  # never below zero
    assert counters(pair) == (0, 0)
