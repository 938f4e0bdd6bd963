"""``{% jobs_section %}``: the jobs section of the project page (reviewers and admins)."""
from django import template
from django.urls import reverse

from curation.permissions import Role, role_at_least

from .. import selectors

register = template.Library()

RECENT_JOBS = 5


@register.inclusion_tag("generation/jobs.html#jobs_section", takes_context=True)
def jobs_section(context) -> dict:
    project, role = context["project"], context["role"]
    if not role_at_least(role, Role.REVIEWER):
        return {"hidden": True}
    from ..views import job_start_form

    return {
        "project": project,
        "role": role,
        "request": context.get("request"),
        "jobs": selectors.project_jobs(project, limit=RECENT_JOBS),
        "form": job_start_form(project) if role == Role.ADMIN else None,
        "more_url": reverse("generation:job_list", args=[project.slug]),
    }


@register.filter
def params_line(params: dict) -> str:
    """A job's parameters as ``key=value`` text, lists comma-joined, empty values left out."""
    parts = []
    for key, value in (params or {}).items():
        if value in ("", [], None):
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        parts.append(f"{key}={value}")
    return ", ".join(parts)
