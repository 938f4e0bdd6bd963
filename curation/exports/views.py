"""Export pages: the form and its live progress (htmx polling that stops with 286),
past exports, and downloads served through a view that checks the role."""
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from curation import services
from curation.forms import ExportForm
from curation.models import ExportJob
from curation.permissions import Role, project_for

from .options import ExportError

STOP_POLLING = 286  # htmx stops polling on this status
MAX_ID = 2**63 - 1


def _export(project, export_id: int, **filters) -> ExportJob:
    if export_id > MAX_ID:
        raise Http404("No such export.")
    return get_object_or_404(ExportJob, project=project, pk=export_id, **filters)


@login_required
def export_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    exports = ExportJob.objects.filter(project=project).select_related("created_by")[:50]
    context = {"project": project, "role": role, "export_form": ExportForm(), "exports": exports}
    return render(request, "curation/exports.html", context)


@login_required
@require_POST
def export_create(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    form = ExportForm(request.POST)
    job = None
    if form.is_valid():
        try:
            job = services.export_start(project=project, options=form.options(), user=request.user)
        except ExportError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
    if request.htmx:
        context = {"project": project, "role": role, "export_form": form, "job": job}
        return render(request, "curation/exports.html#export_section", context)
    if job is None:
        messages.error(request, "Export: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    else:
        messages.success(request, f"Export #{job.pk} started.")
    return redirect("curation:export_list", slug=slug)


@login_required
def export_progress(request: HttpRequest, slug: str, export_id: int) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    job = _export(project, export_id)
    response = render(request, "curation/exports.html#export_progress", {"project": project, "job": job})
    if job.is_finished:
        response.status_code = STOP_POLLING
    return response


@login_required
def export_download(request: HttpRequest, slug: str, export_id: int, filename: str) -> FileResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    job = _export(project, export_id, state=ExportJob.State.DONE)
    root = Path(settings.CONCORD_EXPORT_DIR).resolve()
    for relative in job.files:
        path = (root / relative).resolve()
        if path.name == filename and path.is_relative_to(root):
            if not path.is_file():
                raise Http404("The file is gone from the export folder.")
            return FileResponse(path.open("rb"), as_attachment=True, filename=filename)
    raise Http404("No such file in this export.")
