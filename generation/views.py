"""Job pages: start a job, watch its progress live, cancel it, retry its failed items."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from curation.models import GenerationJob
from curation.permissions import Role, project_for

from . import selectors
from .forms import JobStartForm
from .jobs import JobStartError, job_cancel, job_retry_failed, job_start

JOBS_PAGE_SIZE = 50

# htmx stops polling when the answer has this status (the job has ended).
STOP_POLLING = 286


def _back(request: HttpRequest, slug: str):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("generation:job_list", slug=slug)


def _job_or_404(project, job_id: int) -> GenerationJob:
    try:
        return selectors.project_job(project, job_id)
    except GenerationJob.DoesNotExist:
        raise Http404("No such job in this project.")


def job_start_form(project) -> JobStartForm:
    return JobStartForm(params_url=reverse("generation:job_params", args=[project.slug]))


@login_required
def job_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.REVIEWER)
    context = {
        "project": project,
        "role": role,
        "jobs": selectors.project_jobs(project, limit=JOBS_PAGE_SIZE),
        "form": job_start_form(project) if role == Role.ADMIN else None,
    }
    return render(request, "generation/jobs.html", context)


@login_required
def job_params(request: HttpRequest, slug: str) -> HttpResponse:
    """The parameter fields of the chosen method (swapped in when the method changes)."""
    project, role = project_for(request.user, slug, Role.ADMIN)
    form = JobStartForm(method=request.GET.get("method", "sample"))
    return render(request, "generation/jobs.html#param_fields", {"project": project, "role": role, "form": form})


@login_required
@require_POST
def job_start_view(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    form = JobStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The job did not start: choose a method.")
        return _back(request, slug)
    try:
        job = job_start(project=project, method=form.cleaned_data["method"], params=form.params(), created_by=request.user)
    except JobStartError as error:
        messages.error(request, f"The job did not start: {error}")
        return _back(request, slug)
    messages.success(request, f"Started {job.method} job #{job.pk} with {job.n_items} items.")
    return _back(request, slug)


@login_required
def job_progress(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.REVIEWER)
    job = _job_or_404(project, job_id)
    context = {"project": project, "role": role, "job": job, "failed_items": selectors.failed_items(job)}
    response = render(request, "generation/jobs.html#job_card", context)
    if job.is_finished:
        response.status_code = STOP_POLLING
    return response


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    job = job_cancel(job=_job_or_404(project, job_id))
    messages.success(request, f"Job #{job.pk} cancelled: pending items will not run.")
    return _back(request, slug)


@login_required
@require_POST
def job_retry_view(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project, role = project_for(request.user, slug, Role.ADMIN)
    job = _job_or_404(project, job_id)
    try:
        count = job_retry_failed(job=job)
    except JobStartError as error:
        messages.error(request, f"Nothing was retried: {error}")
        return _back(request, slug)
    messages.success(request, f"Job #{job.pk}: {count} failed item{'s' if count != 1 else ''} queued again.")
    return _back(request, slug)
