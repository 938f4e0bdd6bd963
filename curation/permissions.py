"""Project membership and roles, checked at the top of every view."""
from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership, Project

Role = Membership.Role


def project_role(user, project: Project) -> str | None:
    """The user's role in the project; superusers are admins everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )
    return membership


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and Membership.RANK[role] >= Membership.RANK[needed]


def project_for(user, slug: str, needed: str = Role.ANNOTATOR) -> tuple[Project, str]:
    """The project and the user's role, or 404 for non-members (a project's existence
    is not revealed) and 403 for members whose role is too low."""
    try:
        project = Project.objects.get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project.")
    role = project_role(user, project)
    if role is None:
        raise Http404("No such project.")
    if not role_at_least(role, needed):
        raise PermissionDenied(f"This needs the {needed} role in {project.name}.")
    return project, role


def visible_projects(user):
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)
