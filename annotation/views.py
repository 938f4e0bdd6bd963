"""The review page: the queue, submit, skip, undo, the reveal, guidelines and history.

Every view checks membership at the top; annotators only ever reach their own
assignments (another's id is a 404). htmx requests get the ``workspace`` partial,
plain form posts (no JavaScript) are redirected back to the page.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from curation.models import Annotator, Project
from curation.permissions import Role, project_for, project_membership, role_at_least
from curation.services import HUMAN_FLAGS, JudgmentRejected, annotator_for_user
from curation.templatetags.concord import VERDICT_LABELS

from . import selectors, services
from .forms import ReviewForm, RevealForm, SkipForm, aspect_field, check_field, scale_values
from .models import Assignment

SHORT_LABELS = {-2: "A ≫", -1: "A >", 0: "Tie", 1: "B >", 2: "B ≫"}
HISTORY_PAGE = 50


def _verdict_options(project: Project, checked) -> list[dict]:
    return [
        {"value": value, "key": key, "label": VERDICT_LABELS[value], "short": SHORT_LABELS[value], "checked": value == checked}
        for key, value in enumerate(scale_values(project), start=1)
    ]


def _answers_from_form(form: ReviewForm) -> dict:
    """What the annotator entered, to show again after an error: nothing typed is lost."""
    data = form.data
    return {
        "verdict": _int_or_none(data.get("verdict")),
        "aspects": {aspect: _int_or_none(data.get(aspect_field(aspect))) for aspect in form.project.aspects},
        "checks": {key: value for key, value in data.items() if key.startswith("check-")},
        "rationale": data.get("rationale", ""),
        "flags": data.getlist("flags"),
        "time_ms": _int_or_none(data.get("time_spent_ms")) or 0,
    }


def _answers_from_judgment(judgment, assignment: Assignment, checklist: list[str]) -> dict:
    """A withdrawn judgment's answers in the shown orientation (undo puts them back)."""
    order = assignment.shown_order
    answers = judgment.checklist_answers or {}
    checks = {}
    for index, text in enumerate(checklist):
        sides = answers.get(text) or {}
        for side in ("A", "B"):
            stored = sides.get(services.reorient_side(side, order)) if isinstance(sides, dict) else None
            if stored is not None:
                checks[check_field(index, side)] = "yes" if stored else "no"
    return {
        "verdict": services.reorient(judgment.verdict, order),
        "aspects": {name: services.reorient(score, order) for name, score in (judgment.aspects or {}).items()},
        "checks": checks,
        "rationale": judgment.rationale,
        "flags": list(judgment.flags or []),
        "time_ms": judgment.time_spent_ms or 0,
    }


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _pair_context(project: Project, assignment: Assignment, answers: dict) -> dict:
    """The pair in the shown order with its controls, prefilled with ``answers``."""
    left, right = selectors.shown_sides(assignment)
    rubric = selectors.prompt_checklist(prompt_id=assignment.pair.prompt_id)
    checklist = selectors.checklist_items(rubric)
    checks = answers.get("checks", {})
    aspects = answers.get("aspects", {})
    show_ai = project.mode == Project.Mode.ASSISTED
    return {
        "assignment": assignment,
        "prompt": assignment.pair.prompt,
        "sides": list(zip("AB", (left, right))),
        "rubric": rubric,
        "checklist": [
            {"index": index, "text": text, "sides": [
                {"side": side, "field": check_field(index, side), "value": checks.get(check_field(index, side), "")}
                for side in ("A", "B")
            ]}
            for index, text in enumerate(checklist)
        ],
        "verdict_options": _verdict_options(project, answers.get("verdict")),
        "aspects": [
            {"name": aspect, "label": aspect.replace("_", " "), "field": aspect_field(aspect),
             "rated": aspects.get(aspect) is not None, "options": _verdict_options(project, aspects.get(aspect))}
            for aspect in project.aspects
        ],
        "answers": answers,
        "flag_choices": [(code, label, code in answers.get("flags", [])) for code, label in HUMAN_FLAGS.items()],
        "ai_verdicts": selectors.ai_verdicts(pair_id=assignment.pair_id, shown_order=assignment.shown_order)
        if show_ai
        else [],
    }


def _render_workspace(
    request: HttpRequest,
    *,
    project: Project,
    role: str,
    annotator,
    assignment: Assignment | None = None,
    answers: dict | None = None,
    errors: dict | None = None,
    notice: str = "",
    notice_kind: str = "success",
    reveal: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    if assignment is not None:
        assignment = selectors.assignment_for_review(assignment_id=assignment.pk)
    context = {
        "project": project,
        "role": role,
        "progress": selectors.annotator_progress(project=project, annotator=annotator),
        "undo_until": selectors.undo_deadline(project=project, annotator=annotator, now=timezone.now()),
        "errors": errors or {},
        "notice": notice,
        "notice_kind": notice_kind,
        "reveal": reveal,
        "skip_reasons": services.SKIP_REASONS.items(),
        "scale_size": len(scale_values(project)),
    }
    if assignment is not None and reveal is None:
        context.update(_pair_context(project, assignment, answers or {}))
    template = "annotation/review.html#workspace" if request.htmx else "annotation/review.html"
    return render(request, template, context, status=status)


def _next(request: HttpRequest, project: Project, role: str, annotator, **kwargs) -> HttpResponse:
    assignment = services.assignment_next(project=project, annotator=annotator)
    return _render_workspace(request, project=project, role=role, annotator=annotator, assignment=assignment, **kwargs)


def _member(request: HttpRequest, slug: str) -> tuple[Project, str, Annotator]:
    """The project, the user's role and their annotator identity, in one query for a
    member who annotated before (the review page asks on every request)."""
    project, role, membership = project_membership(request.user, slug, with_annotator=True)
    annotator = None
    if membership is not None:
        try:
            annotator = membership.user.annotator
        except Annotator.DoesNotExist:
            pass
    return project, role, annotator or annotator_for_user(user=request.user)


def _own_assignment(project: Project, annotator, assignment_id: int) -> Assignment:
    assignment = (
        Assignment.objects.select_related("pair", "judgment")
        .filter(project=project, annotator=annotator, pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment of yours in this project.")
    return assignment


def _done(request: HttpRequest, project: Project, message: str, level=messages.SUCCESS) -> HttpResponse:
    """After a plain (non-htmx) post: back to the page, which shows the next pair."""
    messages.add_message(request, level, message)
    return redirect("annotation:review", slug=project.slug)


@login_required
def review(request: HttpRequest, slug: str) -> HttpResponse:
    project, role, annotator = _member(request, slug)
    return _next(request, project, role, annotator)


@login_required
@require_POST
def submit(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project, role, annotator = _member(request, slug)
    assignment = _own_assignment(project, annotator, assignment_id)
    rubric = selectors.prompt_checklist(prompt_id=assignment.pair.prompt_id)
    checklist = selectors.checklist_items(rubric)
    if request.POST.get("rubric") and str(getattr(rubric, "pk", "")) != request.POST["rubric"]:
        rubric, checklist = None, []  # the checklist changed under the annotator: keep the verdict, not stale answers
    form = ReviewForm(request.POST, project=project, checklist=checklist, rubric=rubric)
    again = {"project": project, "role": role, "annotator": annotator, "assignment": assignment, "status": 422}
    if not form.is_valid():
        errors = {name: " ".join(messages_) for name, messages_ in form.errors.items()}
        return _render_workspace(request, answers=_answers_from_form(form), errors=errors, **again)
    try:
        judgment = services.assignment_submit(
            assignment_id=assignment.pk, annotator=annotator, submission=form.submission()
        )
    except services.LeaseLost as lost:
        notice = str(lost)
        if form.cleaned_data["rationale"]:  # nothing typed is lost: hand the text back
            notice += f" Your rationale, to copy: “{form.cleaned_data['rationale']}”"
        if not request.htmx:
            return _done(request, project, notice, messages.ERROR)
        return _next(request, project, role, annotator, notice=notice, notice_kind="error")
    except JudgmentRejected as rejected:
        errors = {rejected.field or "__all__": str(rejected)}
        return _render_workspace(request, answers=_answers_from_form(form), errors=errors, **again)
    if judgment.mode == Project.Mode.REVEAL_AFTER:
        return _render_reveal(request, project, role, annotator, assignment, judgment)
    if not request.htmx:
        return _done(request, project, "Saved.")
    return _next(request, project, role, annotator, notice="Saved.")


def _render_reveal(request, project, role, annotator, assignment, judgment, errors=None, status=200) -> HttpResponse:
    """Reveal-after mode: the AI verdicts beside the annotator's own, in the shown order."""
    own = services.reorient(judgment.verdict, assignment.shown_order)
    assignment = selectors.assignment_for_review(assignment_id=assignment.pk)
    reveal = {
        "assignment": assignment,
        "prompt": assignment.pair.prompt,
        "sides": list(zip("AB", selectors.shown_sides(assignment))),
        "own_label": VERDICT_LABELS[own],
        "verdict_options": _verdict_options(project, own),
        "ai_verdicts": selectors.ai_verdicts(pair_id=assignment.pair_id, shown_order=assignment.shown_order),
    }
    return _render_workspace(
        request, project=project, role=role, annotator=annotator, reveal=reveal, errors=errors, status=status
    )


@login_required
@require_POST
def reveal(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project, role, annotator = _member(request, slug)
    assignment = _own_assignment(project, annotator, assignment_id)
    form = RevealForm(request.POST, project=project)
    try:
        if not form.is_valid():
            raise JudgmentRejected("Choose a verdict (keys 1–5).", "verdict")
        decided = services.assignment_reveal_decide(
            assignment_id=assignment.pk,
            annotator=annotator,
            verdict=form.cleaned_data["verdict"],
            rationale=form.cleaned_data["rationale"],
        )
    except JudgmentRejected as rejected:
        if assignment.judgment is None:
            return _next(request, project, role, annotator, notice=str(rejected), notice_kind="error")
        errors = {rejected.field or "__all__": str(rejected)}
        return _render_reveal(request, project, role, annotator, assignment, assignment.judgment, errors, 422)
    notice = "Verdict changed and recorded as a revision." if decided.reveal_outcome == "revised" else "Verdict kept."
    if not request.htmx:
        return _done(request, project, notice)
    return _next(request, project, role, annotator, notice=notice)


@login_required
@require_POST
def skip(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project, role, annotator = _member(request, slug)
    assignment = _own_assignment(project, annotator, assignment_id)
    form = SkipForm(request.POST)
    try:
        if not form.is_valid():
            raise JudgmentRejected("Choose why you skip this pair.", "reason")
        services.assignment_skip(
            assignment_id=assignment.pk, annotator=annotator, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
        )
    except JudgmentRejected as rejected:
        if not request.htmx:
            return _done(request, project, str(rejected), messages.ERROR)
        # The skip controls sit in the review form: show its answers again.
        entered = ReviewForm(request.POST, project=project, checklist=[], rubric=None)
        return _render_workspace(
            request, project=project, role=role, annotator=annotator, assignment=assignment,
            errors={"skip": str(rejected)}, answers=_answers_from_form(entered), status=422,
        )
    if not request.htmx:
        return _done(request, project, "Skipped.")
    return _next(request, project, role, annotator, notice="Skipped.")


@login_required
@require_POST
def undo(request: HttpRequest, slug: str) -> HttpResponse:
    project, role, annotator = _member(request, slug)
    try:
        assignment, withdrawn = services.assignment_undo(project=project, annotator=annotator)
    except services.UndoRefused as refused:
        if not request.htmx:
            return _done(request, project, str(refused), messages.ERROR)
        return _next(request, project, role, annotator, notice=str(refused), notice_kind="error")
    checklist = selectors.checklist_items(selectors.prompt_checklist(prompt_id=assignment.pair.prompt_id))
    answers = _answers_from_judgment(withdrawn, assignment, checklist)
    if not request.htmx:
        return _done(request, project, "Judgment withdrawn; judge the pair again.")
    return _render_workspace(
        request, project=project, role=role, annotator=annotator, assignment=assignment, answers=answers,
        notice="Judgment withdrawn: your answers are back, change them and submit again.",
    )


@login_required
def queue_watch(request: HttpRequest, slug: str) -> HttpResponse:
    """Polled by the empty queue page: 204 while nothing is free for this annotator,
    else a note with a link to the page. Leases nothing and swaps nothing else, so a
    notice on the page (a rationale handed back to copy) stays where it is."""
    project, role, annotator = _member(request, slug)
    if not services.queue_has_room(project=project, annotator=annotator):
        return HttpResponse(status=204)
    return render(request, "annotation/review.html#queue_free", {"project": project})


@login_required
def guidelines(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug)
    context = {
        "project": project,
        "role": role,
        "verdict_options": _verdict_options(project, None),
        "skip_reasons": services.SKIP_REASONS.items(),
        "flags": HUMAN_FLAGS.items(),
    }
    return render(request, "annotation/guidelines.html", context)


@login_required
def history(request: HttpRequest, slug: str) -> HttpResponse:
    """Human judgments: an annotator's own; every annotator's for reviewers and admins."""
    project, role = project_for(request.user, slug)
    judgments = selectors.judgments_visible(project=project, viewer=request.user, role=role)
    before = _int_or_none(request.GET.get("before"))
    if before:
        judgments = judgments.filter(id__lt=before)
    page = list(judgments[:HISTORY_PAGE])
    context = {
        "project": project,
        "role": role,
        "judgments": page,
        "sees_everyone": role_at_least(role, Role.REVIEWER),
        "next_before": page[-1].id if len(page) == HISTORY_PAGE else None,
    }
    return render(request, "annotation/history.html", context)
