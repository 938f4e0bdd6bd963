"""Reads for the job pages."""
from curation.models import GenerationJob, JobItem, Project

FAILED_ITEMS_SHOWN = 10


def project_jobs(project: Project, limit: int | None = None) -> list[GenerationJob]:
    """Newest first, each with ``failed_items_shown`` (one more query per job that has failures)."""
    jobs = GenerationJob.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")
    jobs = list(jobs[:limit] if limit else jobs)
    for job in jobs:
        job.failed_items_shown = failed_items(job)
    return jobs


def project_job(project: Project, job_id: int) -> GenerationJob:
    return GenerationJob.objects.select_related("created_by").get(project=project, pk=job_id)


def failed_items(job: GenerationJob, limit: int = FAILED_ITEMS_SHOWN) -> list[JobItem]:
    """The job's failed items with their errors (none queried when the job has none)."""
    if not job.n_failed:
        return []
    return list(
        JobItem.objects.filter(job=job, state=JobItem.State.FAILED)
        .only("id", "key", "attempts", "error", "finished_at")
        .order_by("id")[:limit]
    )
