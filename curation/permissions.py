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
    project, role, _ = project_membership(user, slug, needed)
    return project, role


def project_membership(
    user, slug: str, needed: str = Role.ANNOTATOR, *, with_annotator: bool = False
) -> tuple[Project, str, Membership | None]:
    """``project_for`` with the membership row (None for superusers, who need none).

    One query: the membership is read with its project (and, with ``with_annotator``,
    the user's annotator identity, which every request of the review page needs), since
    a member-only page runs this on every request.
    """
    membership = None
    if not user.is_authenticated:
        raise Http404("No such project.")
    if user.is_superuser:
        project = Project.objects.filter(slug=slug).first()
        role = Role.ADMIN
    else:
        related = ("project", "user__annotator") if with_annotator else ("project",)
        membership = Membership.objects.select_related(*related).filter(project__slug=slug, user=user).first()
        project, role = (membership.project, membership.role) if membership else (None, None)
    if project is None:
        raise Http404("No such project.")
    if not role_at_least(role, needed):
        raise PermissionDenied(f"This needs the {needed} role in {project.name}.")
    return project, role, membership


def visible_projects(user):
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)
