"""Project pages: the list, a project's overview, its pairs, import, settings, members."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import dashboard as dashboard_panels
from . import judge_stats, selectors, services, tasks
from .ai_display import annotate_ai_judgments
from .forms import (
    AdjudicationForm,
    ExportForm,
    ImportForm,
    JudgeConfigForm,
    MemberForm,
    PairFilterForm,
    ProjectCreateForm,
    ProjectSettingsForm,
)
from .importers import RecordError, dataset_import_upload
from .models import Adjudication, Annotator, JudgeConfig, Membership, Pair
from .permissions import Role, project_for, role_at_least, visible_projects
from .templatetags.concord import VERDICT_LABELS


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list_with_counts(visible_projects(request.user))
    form = ProjectCreateForm() if request.user.is_staff else None
    return render(request, "curation/project_list.html", {"projects": projects, "form": form})


@login_required
@require_POST
def project_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff users create projects.")
    form = ProjectCreateForm(request.POST)
    if not form.is_valid():
        projects = selectors.project_list_with_counts(visible_projects(request.user))
        return render(request, "curation/project_list.html", {"projects": projects, "form": form}, status=400)
    project = services.project_create(created_by=request.user, **form.cleaned_data)
    messages.success(request, f"Created {project.name}.")
    return redirect("curation:project_detail", slug=project.slug)


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug)
    context = {
        "project": project,
        "role": role,
        "counts": selectors.project_counts(project),
        "import_form": ImportForm() if role_at_least(role, Role.ADMIN) else None,
        "export_form": ExportForm() if role_at_least(role, Role.ADMIN) else None,
    }
    return render(request, "curation/project_detail.html", context)


@login_required
def pair_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.REVIEWER)
    form = PairFilterForm(request.GET)
    valid = form.is_valid()
    after = form.cleaned_data.get("after") if valid else None
    conditions = selectors.pair_conditions(project, form.cleaned_data) if valid else []
    pairs = selectors.pair_page(project=project, pair_filters=form.filters(), after=after, conditions=conditions)
    next_after = pairs[-1].id if len(pairs) == 50 else None
    query = request.GET.copy()
    if next_after:
        query["after"] = next_after
    context = {
        "project": project,
        "role": role,
        "pairs": pairs,
        "form": form,
        "filtered_by": _describe_filters(project, form.extra_filters()),
        "next_query": query.urlencode() if next_after else "",
    }
    return render(request, "curation/pair_list.html", context)


@login_required
def pair_detail(request: HttpRequest, slug: str, pair_id: int) -> HttpResponse:
    project, role = project_for(request.user, slug)
    try:
        pair, judgments = selectors.pair_detail(project=project, pair_id=pair_id, viewer=request.user, role=role)
    except Pair.DoesNotExist:
        raise Http404("No such pair in this project.")
    can_review = role_at_least(role, Role.REVIEWER)
    context = {
        "project": project,
        "role": role,
        "pair": pair,
        "human_judgments": [j for j in judgments if j.is_human],
        "ai_judgments": annotate_ai_judgments([j for j in judgments if not j.is_human]) if can_review else [],
        "can_review": can_review,
        "adjudications": list(selectors.adjudications_of(pair)) if can_review else [],
        "adjudication_form": AdjudicationForm(project=project) if can_review else None,
    }
    return render(request, "curation/pair_detail.html", context)


@login_required
@require_POST
def project_import(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    limit = settings.CONCORD_MAX_UPLOAD_BYTES
    if length > limit:
        messages.error(request, f"The upload is {length / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB. "
                                "Use `manage.py import_dataset` for larger files.")
        return redirect("curation:project_detail", slug=slug)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Import: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("curation:project_detail", slug=slug)
    upload = form.cleaned_data["file"]
    try:
        summary = dataset_import_upload(
            upload=upload, project=project, fmt=form.cleaned_data["format"], dry_run=form.cleaned_data["dry_run"]
        )
    except RecordError as error:
        messages.error(request, f"Nothing was imported from {upload.name}: {error}")
        return redirect("curation:project_detail", slug=slug)
    if not summary.dry_run:
        # Outside the import's transaction: the import stands even if routing fails.
        tasks.route_pairs.delay_on_commit(project.id)
    messages.success(request, f"{upload.name}: {summary.line()}")
    return redirect("curation:project_detail", slug=slug)


@login_required
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    form = ProjectSettingsForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("curation:project_settings", slug=slug)
    return render(request, "curation/project_settings.html", {"project": project, "role": role, "form": form})


@login_required
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.membership_set(project=project, user=form.user, role=form.cleaned_data["role"])
        messages.success(request, f"{form.user.username} is now {form.cleaned_data['role']} in {project.name}.")
        return redirect("curation:project_members", slug=slug)
    members = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    context = {"project": project, "role": role, "form": form, "members": members}
    return render(request, "curation/project_members.html", context)


# --- curation (issue 7): dashboard, adjudication, routing -----------------------------


def _describe_filters(project, filters: list[tuple[str, object]]) -> list[str]:
    """Readable names of the dashboard-link filters in use (judge and annotator names)."""
    names = dict(filters)
    judge = JudgeConfig.objects.filter(project=project, id=names["judge"]).first() if "judge" in names else None
    annotator = (
        Annotator.objects.filter(id=names["annotator"], judgments__project=project).first()
        if "annotator" in names
        else None
    )
    words = {
        "judge": f"judge {judge.name if judge else '(unknown)'}",
        "annotator": f"annotator {annotator.name if annotator else '(unknown)'}",
        "human": f"human verdict {VERDICT_LABELS.get(names.get('human'), '')}",
        "ai": f"AI verdict {VERDICT_LABELS.get(names.get('ai'), '')}",
        "gold": "gold pairs",
        "wrong": "answered gold wrong",
        "inconsistent": "position-inconsistent",
        "longer_wins": "longer response won",
        "week": f"week of {names.get('week')}",
        "label_source": f"label from {names.get('label_source')}",
        "category_none": "no category",
    }
    return [words[key] for key, _ in filters]


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """The reviewer dashboard; heavy panels load lazily with ``?panel=<name>``."""
    project, role = project_for(request.user, slug, Role.REVIEWER)
    panel = request.GET.get("panel")
    if panel:
        if panel not in dashboard_panels.PANELS:
            raise Http404(f"No dashboard panel {panel!r}.")
        context = {"project": project, "role": role, **dashboard_panels.panel_context(project, panel)}
        return render(request, f"curation/dashboard.html#{panel}", context)
    context = {"project": project, "role": role, "panels": list(dashboard_panels.PANELS)[1:]}
    return render(request, "curation/dashboard.html", context)


@login_required
def adjudication_queue(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.REVIEWER)
    form = PairFilterForm(request.GET)
    after = form.cleaned_data.get("after") if form.is_valid() else None
    pairs = selectors.adjudication_page(project=project, after=after)
    for pair in pairs:
        pair.form = AdjudicationForm(project=project, prefix=f"p{pair.id}")
    context = {
        "project": project,
        "role": role,
        "pairs": pairs,
        "total": selectors.adjudication_queue(project).count(),
        "annotators": dashboard_panels.panel_context(project, "annotators")["annotators"],
        "next_after": pairs[-1].id if len(pairs) == 25 else None,
    }
    return render(request, "curation/adjudication_queue.html", context)


@login_required
@require_POST
def adjudicate(request: HttpRequest, slug: str, pair_id: int) -> HttpResponse:
    """Record a reviewer decision (or a gold mark) from the queue (htmx) or the pair page."""
    project, role = project_for(request.user, slug, Role.REVIEWER)
    pair = get_object_or_404(Pair.objects.select_related("project"), project=project, id=pair_id)
    prefix = f"p{pair.id}" if request.htmx else None
    form = AdjudicationForm(request.POST, project=project, prefix=prefix)
    error = None
    if form.is_valid():
        try:
            decision = services.adjudication_record(
                pair=pair,
                reviewer=request.user,
                verdict=form.cleaned_data["verdict"],
                note=form.cleaned_data["note"],
                source=Adjudication.Source.MARK_GOLD
                if form.cleaned_data["action"] == "mark_gold"
                else Adjudication.Source.REVIEW,
            )
        except services.AdjudicationRejected as rejected:
            error = str(rejected)
    else:
        error = "; ".join(" ".join(errors) for errors in form.errors.values())
    if request.htmx:
        if error is None:
            context = {"project": project, "role": role, "pair": pair, "decision": decision}
        else:
            queued = selectors.adjudication_page(project=project, after=None, pair_id=pair.id)
            pair = queued[0] if queued else pair
            pair.form = form
            context = {"project": project, "role": role, "pair": pair, "error": error}
        return render(request, "curation/adjudication_queue.html#queue_row", context)
    if error:
        messages.error(request, f"Nothing was recorded: {error}")
    else:
        messages.success(request, f"Recorded: {decision.get_source_display().lower()}, pair {pair.id} is gold.")
    return redirect("curation:pair_detail", slug=slug, pair_id=pair.id)


@login_required
@require_POST
def route(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    tasks.route_pairs.delay_on_commit(project.id)
    messages.success(request, "A routing round has started; the queue and statuses update when it finishes.")
    return redirect("curation:dashboard", slug=slug)


# --- AI judges (issue 5) -------------------------------------------------------------


@login_required
def judges(request: HttpRequest, slug: str) -> HttpResponse:
    """Every JudgeConfig with its figures, the project's rule sets (AutoRule) and, for
    admins, a form to add a judge. ``?ruleset=N`` shows version N of the rule set."""
    project, role = project_for(request.user, slug, Role.REVIEWER)
    is_admin = role_at_least(role, Role.ADMIN)
    form = JudgeConfigForm(request.POST or None, project=project) if is_admin else None
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only admins add judges.")
        if form.is_valid():
            judge = services.judge_config_add(project=project, **form.cleaned_data)
            messages.success(request, f"Added judge {judge.name}: run it with run_job --method judge --param judge={judge.name}.")
            return redirect("curation:judges", slug=slug)
    versions = selectors.ruleset_versions(project)
    wanted = request.GET.get("ruleset")
    ruleset = next((v for v in versions if str(v.version) == wanted), versions[0] if versions else None)
    if ruleset is not None:
        ruleset.refresh_from_db(fields=["items", "text"])
    context = {
        "project": project,
        "role": role,
        "judges": judge_stats.judge_stats(project),
        "small_n": judge_stats.SMALL_N,
        "form": form,
        "ruleset_versions": versions,
        "ruleset": ruleset,
        "rules": selectors.ruleset_with_sources(ruleset) if ruleset else [],
    }
    return render(request, "curation/judges.html", context, status=400 if form is not None and form.errors else 200)
