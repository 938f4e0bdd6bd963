"""Project pages: the list, a project's overview, its pairs, import, settings, members."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import ExportForm, ImportForm, MemberForm, PairFilterForm, ProjectCreateForm, ProjectSettingsForm
from .importers import RecordError, dataset_import_upload
from .models import Membership, Pair
from .permissions import Role, project_for, role_at_least, visible_projects


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
    after = form.cleaned_data.get("after") if form.is_valid() else None
    pairs = selectors.pair_page(project=project, pair_filters=form.filters(), after=after)
    next_after = pairs[-1].id if len(pairs) == 50 else None
    query = request.GET.copy()
    if next_after:
        query["after"] = next_after
    context = {
        "project": project,
        "role": role,
        "pairs": pairs,
        "form": form,
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
    context = {
        "project": project,
        "role": role,
        "pair": pair,
        "human_judgments": [j for j in judgments if j.is_human],
        "ai_judgments": [j for j in judgments if not j.is_human],
        "can_review": role_at_least(role, Role.REVIEWER),
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
