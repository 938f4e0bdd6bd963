"""The annotation queue: leases, gold checks, submissions, skips, undo and the reveal.

Writes to curation data (judgments, a pair's lease counter) go through
``curation.services``. Every function here runs a fixed number of queries whatever
the size of the project; ``tests/annotation/test_queue.py`` counts them.
"""
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from curation.models import Annotator, Judgment, Pair, Project, Rubric
from curation.services import (
    JudgmentRejected,
    judgment_record_human,
    judgment_withdraw_human,
    pair_lease_take,
    pairs_leases_release,
)

from .models import Assignment

State = Assignment.State
ShownOrder = Judgment.ShownOrder

# Leases swept per request; a larger backlog is finished by the following requests.
EXPIRE_BATCH = 500

SKIP_REASONS = {
    "unsure": "Not sure, or outside my expertise",
    "broken_prompt": "Broken prompt",
    "both_bad": "Both responses are unusable",
    "harmful": "Harmful content",
    "other": "Other (say why)",
}


class LeaseLost(JudgmentRejected):
    """The lease ended, the queue gave the slot to someone else, and the pair has all
    the judgments it needs, so this one cannot be recorded."""


class UndoRefused(Exception):
    pass


@dataclass(frozen=True)
class Submission:
    """What the annotator entered, in the SHOWN orientation: "A" is the response shown
    on the left, whatever the stored order of the pair."""

    verdict: int
    aspects: dict[str, int] = field(default_factory=dict)
    checklist_answers: dict[str, dict[str, bool]] = field(default_factory=dict)
    rationale: str = ""
    flags: list[str] = field(default_factory=list)
    time_spent_ms: int | None = None
    rubric: Rubric | None = None


def reorient(value: int, shown_order: str) -> int:
    """A verdict or aspect score turned between shown and stored orientation (the
    conversion is its own inverse)."""
    return -value if shown_order == ShownOrder.BA else value


def reorient_side(side: str, shown_order: str) -> str:
    if shown_order == ShownOrder.BA:
        return {"A": "B", "B": "A"}[side]
    return side


def submission_to_stored(submission: Submission, shown_order: str) -> dict:
    """The judgment fields in stored orientation."""
    return {
        "verdict": reorient(submission.verdict, shown_order),
        "aspects": {name: reorient(score, shown_order) for name, score in submission.aspects.items()},
        "checklist_answers": {
            item: {reorient_side(side, shown_order): answer for side, answer in sides.items()}
            for item, sides in submission.checklist_answers.items()
        },
    }


def leases_expire(*, project: Project, now: datetime) -> int:
    """End the project's lapsed leases and give their slots back to the queue.

    One query when nothing lapsed, four when something did. Rows another transaction
    holds are skipped: it is submitting them, or expiring them already.
    """
    lapsed = list(
        Assignment.objects.select_for_update(skip_locked=True)
        .filter(project=project, state=State.LEASED, lease_expires_at__lte=now)
        .order_by("id")
        .values_list("id", "pair_id")[:EXPIRE_BATCH]
    )
    if not lapsed:
        return 0
    Assignment.objects.filter(id__in=[assignment_id for assignment_id, _ in lapsed]).update(state=State.EXPIRED)
    pairs_leases_release(counts=Counter(pair_id for _, pair_id in lapsed))
    return len(lapsed)


def _unseen_by(annotator: Annotator):
    """Pairs this annotator was never handed and never judged (by any path)."""
    seen = Assignment.objects.filter(pair=OuterRef("pk"), annotator=annotator)
    judged = Judgment.objects.filter(pair=OuterRef("pk"), annotator=annotator)
    return ~Exists(seen) & ~Exists(judged)


def _free_slots(project: Project, annotator: Annotator):
    """Ids of the routed pairs with a free slot that this annotator has not seen, best
    first (a walk of the ``pair_queue_order`` index that stops at the first one)."""
    return (
        Pair.objects.filter(project=project, status=Pair.Status.ROUTED)
        .alias(taken=F("n_human_judgments") + F("n_active_leases"))
        .filter(_unseen_by(annotator), taken__lt=project.overlap)
        .order_by("-routing_score", "id")
        .values_list("id", flat=True)
    )


def _queue_candidate(project: Project, annotator: Annotator) -> int | None:
    """The best routed pair with a free slot, locked.

    Pairs another transaction holds are skipped, so two annotators asking at once
    never wait for each other nor get the same slot. Only when every candidate is held
    at this instant (the last free slots) does a second read wait for the locks: the
    rows are then checked again as committed, so "nothing to judge" is never said
    while a slot is free.
    """
    candidates = _free_slots(project, annotator)
    pair_id = candidates.select_for_update(skip_locked=True).first()
    if pair_id is None and connection.features.has_select_for_update_skip_locked:
        pair_id = candidates.select_for_update().first()
    return pair_id


def _gold_check_candidate(project: Project, annotator: Annotator) -> int | None:
    """A known-answer pair outside the routed queue that this annotator has not seen.
    Routed pairs are left out (they are judged through the queue, within the overlap)
    and so are rejected ones."""
    return (
        Pair.objects.filter(project=project, gold_verdict__isnull=False)
        .exclude(status__in=[Pair.Status.ROUTED, Pair.Status.REJECTED])
        .filter(_unseen_by(annotator))
        .order_by("id")
        .select_for_update(skip_locked=True)
        .values_list("id", flat=True)
        .first()
    )


@transaction.atomic
def assignment_next(
    *, project: Project, annotator: Annotator, now: datetime | None = None, rng: random.Random | None = None
) -> Assignment | None:
    """The pair this annotator should judge now, under a lease, or None when the queue
    has nothing for them.

    A live lease is returned again (a reload must not burn leases). Otherwise the
    best routed pair with a free slot; with probability ``gold_rate`` a gold check is
    handed out instead, unmarked. At most nine queries.
    """
    now = now or timezone.now()
    rng = rng or random.Random()
    leases_expire(project=project, now=now)
    held = (
        Assignment.objects.filter(project=project, annotator=annotator, state=State.LEASED, lease_expires_at__gt=now)
        .order_by("leased_at", "id")
        .first()
    )
    if held is not None:
        return held
    pair_id = _queue_candidate(project, annotator)
    if pair_id is None:
        return None
    is_gold_check = False
    if project.gold_rate > 0 and rng.random() < project.gold_rate:
        gold_id = _gold_check_candidate(project, annotator)
        if gold_id is not None:
            pair_id, is_gold_check = gold_id, True
    assignment = Assignment.objects.create(
        project=project,
        pair_id=pair_id,
        annotator=annotator,
        shown_order=rng.choice([ShownOrder.AB, ShownOrder.BA]),
        is_gold_check=is_gold_check,
        leased_at=now,
        lease_expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    pair_lease_take(pair_id=pair_id)
    return assignment


@transaction.atomic
def queue_has_room(*, project: Project, annotator: Annotator, now: datetime | None = None) -> bool:
    """Whether ``assignment_next`` would hand this annotator a routed pair now, without
    leasing it: for the empty queue page, which asks again while others hold the last
    free slots (a skip or a lapsed lease gives one back). Lapsed leases are swept first,
    as ``assignment_next`` does. Three queries when nothing lapsed.
    """
    leases_expire(project=project, now=now or timezone.now())
    # first(), not exists(): the queue's own ordered read, whose plan is measured at
    # 200,000 pairs (docs/annotation.md); exists() drops the order and may plan otherwise.
    return _free_slots(project, annotator).first() is not None


def _locked_assignment(assignment_id: int, annotator: Annotator) -> Assignment:
    return (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("project", "pair", "judgment")
        .get(pk=assignment_id, annotator=annotator)
    )


def _time_spent(client_ms: int | None, assignment: Assignment, now: datetime) -> int:
    """The time the annotator measured in the page, never more than the lease has run;
    the lease's running time when the page sent none."""
    elapsed_ms = max(int((now - assignment.leased_at).total_seconds() * 1000), 0)
    if client_ms is None:
        return elapsed_ms
    return max(0, min(client_ms, elapsed_ms))


@transaction.atomic
def assignment_submit(
    *, assignment_id: int, annotator: Annotator, submission: Submission, now: datetime | None = None
) -> Judgment:
    """Record the annotator's judgment of a pair they were handed.

    The verdict, aspects and checklist sides are turned back to stored orientation.
    While the assignment is still leased its slot becomes the judgment, even if the
    lease has just run out (nobody else can have the slot before it is expired). Once
    expired the judgment is taken only if the pair still has room (``LeaseLost``
    otherwise). Submitting twice returns the first judgment.
    """
    now = now or timezone.now()
    assignment = _locked_assignment(assignment_id, annotator)
    if assignment.state == State.SUBMITTED and assignment.judgment is not None:
        return assignment.judgment
    if assignment.state == State.SKIPPED:
        raise JudgmentRejected("you skipped this pair", "pair")
    if submission.rubric is not None and submission.rubric.prompt_id != assignment.pair.prompt_id:
        raise JudgmentRejected("the checklist belongs to another prompt", "checklist_answers")
    project = assignment.project
    assignment.pair.project = project  # already loaded: spares judgment_record_human a query
    lease_held = assignment.state == State.LEASED
    try:
        judgment = judgment_record_human(
            pair=assignment.pair,
            annotator=annotator,
            **submission_to_stored(submission, assignment.shown_order),
            shown_order=assignment.shown_order,
            mode=project.mode,
            rationale=submission.rationale,
            flags=submission.flags,
            rubric=submission.rubric,
            time_spent_ms=_time_spent(submission.time_spent_ms, assignment, now),
            lease_held=lease_held,
            used_assistance=project.mode == Project.Mode.ASSISTED,
            gold_check=assignment.is_gold_check,
            savepoint=False,  # this transaction rolls back on any refusal: nothing to undo
        )
    except JudgmentRejected as error:
        if not lease_held and error.field == "pair":
            raise LeaseLost(
                f"Your lease on this pair ran out after {project.lease_minutes} minutes and other annotators "
                "have given it all the judgments it needs, so this judgment was not recorded.",
                "lease",
            ) from error
        raise
    assignment.state = State.SUBMITTED
    assignment.judgment = judgment
    assignment.submitted_at = now
    assignment.save(update_fields=["state", "judgment", "submitted_at"])
    return judgment


@transaction.atomic
def assignment_skip(*, assignment_id: int, annotator: Annotator, reason: str, note: str = "") -> Assignment:
    """Give the pair back to the queue with a reason (one of ``SKIP_REASONS``)."""
    if reason not in SKIP_REASONS:
        raise JudgmentRejected(f"choose a reason to skip: {', '.join(SKIP_REASONS)}", "reason")
    note = " ".join(note.split())
    if reason == "other" and not note:
        raise JudgmentRejected("say why you skip this pair", "note")
    assignment = _locked_assignment(assignment_id, annotator)
    if assignment.state == State.SUBMITTED:
        raise JudgmentRejected("this pair is judged already; undo the judgment first", "pair")
    assignment.skip_reason = f"{reason}: {note}"[:200] if note else reason
    fields = ["skip_reason"]
    if assignment.state == State.LEASED:
        assignment.state = State.SKIPPED
        fields.append("state")
        pairs_leases_release(counts={assignment.pair_id: 1})
    assignment.save(update_fields=fields)
    return assignment


@transaction.atomic
def assignment_undo(*, project: Project, annotator: Annotator, now: datetime | None = None) -> tuple[Assignment, Judgment]:
    """Withdraw the annotator's last judgment in the project while its lease window
    is still open, and lease the pair to them again (the slot never leaves them).

    Returns the assignment and the withdrawn judgment (unsaved now) so the page can
    show the answers again. Refused after the window, and in reveal-after mode once
    the AI verdicts were shown (a judgment made afresh would no longer be blind).
    """
    now = now or timezone.now()
    last = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("judgment")
        .filter(project=project, annotator=annotator, state=State.SUBMITTED)
        .order_by("-submitted_at", "-id")
        .first()
    )
    if last is None or last.judgment is None:
        raise UndoRefused("There is no judgment to undo.")
    if last.lease_expires_at <= now:
        raise UndoRefused("Too late to undo: the lease on your last pair has ended.")
    previous = last.judgment
    if previous.mode == Project.Mode.REVEAL_AFTER:
        raise UndoRefused(
            "The AI verdicts were shown after your judgment, so it cannot be made afresh; "
            "change your verdict on the reveal instead."
        )
    last.state = State.LEASED
    last.judgment = None
    last.submitted_at = None
    last.reveal_outcome = Assignment.RevealOutcome.NONE
    last.lease_expires_at = max(last.lease_expires_at, now + timedelta(minutes=project.lease_minutes))
    last.save(update_fields=["state", "judgment", "submitted_at", "reveal_outcome", "lease_expires_at"])
    judgment_withdraw_human(judgment=previous, lease_restored=True)
    return last, previous


@transaction.atomic
def assignment_reveal_decide(
    *,
    assignment_id: int,
    annotator: Annotator,
    verdict: int,
    rationale: str = "",
    now: datetime | None = None,
) -> Assignment:
    """Reveal-after mode: after seeing the AI verdicts the annotator keeps their
    verdict or changes it. A change is a second record flagged as a revision of the
    first (methods.md §0); either way the outcome is stored on the assignment.
    ``verdict`` is in the shown orientation."""
    now = now or timezone.now()
    assignment = _locked_assignment(assignment_id, annotator)
    first = assignment.judgment
    if assignment.state != State.SUBMITTED or first is None or first.mode != Project.Mode.REVEAL_AFTER:
        raise JudgmentRejected("there is no revealed judgment of this pair to keep or change", "pair")
    if assignment.reveal_outcome:
        return assignment
    stored = reorient(verdict, assignment.shown_order)
    if stored == first.verdict:
        assignment.reveal_outcome = Assignment.RevealOutcome.KEPT
    else:
        judgment_record_human(
            pair=assignment.pair,
            annotator=annotator,
            verdict=stored,
            shown_order=assignment.shown_order,
            mode=Project.Mode.REVEAL_AFTER,
            rationale=rationale.strip() or first.rationale,
            aspects=first.aspects,
            checklist_answers=first.checklist_answers,
            flags=first.flags,
            rubric=first.rubric,
            time_spent_ms=max(int((now - assignment.submitted_at).total_seconds() * 1000), 0),
            is_revision=True,
            revises=first,
            used_assistance=True,
        )
        assignment.reveal_outcome = Assignment.RevealOutcome.REVISED
    assignment.save(update_fields=["reveal_outcome"])
    return assignment
