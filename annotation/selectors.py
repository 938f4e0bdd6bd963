"""Reads for the review page: what an annotator is shown, in the shown orientation."""
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, QuerySet

from curation.models import Annotator, JudgeConfig, Judgment, Pair, Project, Response, Rubric
from curation.permissions import Role, role_at_least

from .models import Assignment
from .services import reorient


# The counter stops counting waiting pairs here ("1000+"), so it stays cheap in a big queue.
WAITING_SHOWN = 1000


@dataclass(frozen=True)
class AIVerdict:
    """An AI judge's verdict turned to the annotator's shown orientation."""

    judge: str
    verdict: int | None
    confidence: float | None
    rationale: str


def assignment_for_review(*, assignment_id: int) -> Assignment:
    return Assignment.objects.select_related(
        "project", "pair__prompt", "pair__response_a", "pair__response_b"
    ).get(pk=assignment_id)


def shown_sides(assignment: Assignment) -> tuple[Response, Response]:
    """(left, right): the responses in the order this annotator sees them as A and B."""
    pair = assignment.pair
    if assignment.shown_order == Judgment.ShownOrder.BA:
        return pair.response_b, pair.response_a
    return pair.response_a, pair.response_b


def prompt_checklist(*, prompt_id: int) -> Rubric | None:
    """The newest checklist or rubric of the prompt."""
    return (
        Rubric.objects.filter(prompt_id=prompt_id, kind__in=[Rubric.Kind.CHECKLIST, Rubric.Kind.RUBRIC])
        .order_by("-created_at", "-id")
        .first()
    )


def checklist_items(rubric: Rubric | None) -> list[str]:
    """The texts of the rubric's current items (retired items are left out)."""
    if rubric is None:
        return []
    texts = []
    for item in rubric.items or []:
        if isinstance(item, dict):
            if item.get("retired") or not str(item.get("text", "")).strip():
                continue
            texts.append(str(item["text"]).strip())
        elif str(item).strip():
            texts.append(str(item).strip())
    return list(dict.fromkeys(texts))


def ai_verdicts(*, pair_id: int, shown_order: str) -> list[AIVerdict]:
    """Verdicts of the real AI judges on the pair (not construction intents nor an
    import's source label), in the annotator's shown orientation. Only called when the
    project's mode allows AI output in the browser."""
    rows = (
        Judgment.objects.filter(pair_id=pair_id, is_human=False, judge_config__kind=JudgeConfig.Kind.AI)
        .order_by("judge_config__name")
        .values_list("judge_config__name", "verdict", "confidence", "rationale")
    )
    return [
        AIVerdict(
            judge=name,
            verdict=None if verdict is None else reorient(verdict, shown_order),
            confidence=confidence,
            rationale=rationale,
        )
        for name, verdict, confidence, rationale in rows
    ]


def annotator_progress(*, project: Project, annotator: Annotator | None) -> dict:
    """The counter on the review page: the annotator's own judgments in the project and
    the routed pairs that still wait for human judgments."""
    done = 0
    if annotator is not None:
        done = Judgment.objects.filter(project=project, annotator=annotator, is_revision=False).count()
    waiting = (
        Pair.objects.filter(project=project, status=Pair.Status.ROUTED)
        .alias(taken=F("n_human_judgments") + F("n_active_leases"))
        .filter(taken__lt=project.overlap)
        # In queue order, not Pair's default (id): PostgreSQL then counts from the
        # queue's index, not by walking the primary key past other projects' pairs.
        .order_by("-routing_score", "id")[: WAITING_SHOWN + 1]
        .count()
    )
    label = f"{WAITING_SHOWN:,}+" if waiting > WAITING_SHOWN else f"{waiting:,}"
    return {"done": done, "waiting": waiting, "waiting_label": label}


def undo_deadline(*, project: Project, annotator: Annotator, now: datetime) -> datetime | None:
    """Until when the annotator's last judgment can be undone, or None."""
    last = (
        Assignment.objects.filter(project=project, annotator=annotator, state=Assignment.State.SUBMITTED)
        .order_by("-submitted_at", "-id")
        .values_list("lease_expires_at", "judgment__mode")
        .first()
    )
    if last is None or last[0] <= now or last[1] == Project.Mode.REVEAL_AFTER:
        return None
    return last[0]


def judgments_visible(*, project: Project, viewer, role: str) -> QuerySet[Judgment]:
    """Human judgments in the project the viewer may see: annotators their own only,
    reviewers and admins everyone's."""
    judgments = Judgment.objects.filter(project=project, is_human=True).select_related("annotator", "pair__prompt")
    if not role_at_least(role, Role.REVIEWER):
        judgments = judgments.filter(annotator__user=viewer)
    return judgments.order_by("-id")
