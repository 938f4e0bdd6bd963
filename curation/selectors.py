"""Reads of the curation domain, shared by views, the API and commands."""
from django.db.models import Count, Prefetch, QuerySet

from .models import Judgment, Pair, Project, Prompt
from .permissions import Role, role_at_least


def project_counts(project: Project) -> dict:
    """Counts for the project page: a fixed handful of aggregate queries."""
    tiers = dict(
        Pair.objects.filter(project=project).values_list("tier").annotate(n=Count("id")).values_list("tier", "n")
    )
    statuses = dict(
        Pair.objects.filter(project=project).values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    kinds = dict(
        Judgment.objects.filter(project=project)
        .values_list("is_human")
        .annotate(n=Count("id"))
        .values_list("is_human", "n")
    )
    return {
        "prompts": Prompt.objects.filter(project=project).count(),
        "pairs": sum(tiers.values()),
        "tiers": {tier: tiers.get(tier, 0) for tier in Pair.Tier.values},
        "statuses": {status: statuses.get(status, 0) for status in Pair.Status.values},
        "human_judgments": kinds.get(True, 0),
        "ai_judgments": kinds.get(False, 0),
        "judgments": sum(kinds.values()),
    }


def project_list_with_counts(projects: QuerySet[Project]) -> QuerySet[Project]:
    return projects.annotate(n_pairs=Count("pairs", distinct=True)).order_by("name")


def pair_page(*, project: Project, pair_filters: dict, after: int | None, limit: int = 50) -> list[Pair]:
    """One page of pairs in id order (keyset pagination: fast at any depth)."""
    queryset = (
        Pair.objects.filter(project=project, **pair_filters)
        .select_related("prompt")
        .only(
            "id", "tier", "status", "label_verdict", "label_source", "routing_score",
            "n_human_judgments", "created_at", "prompt__text", "prompt__category",
        )
        .order_by("id")
    )
    if after:
        queryset = queryset.filter(id__gt=after)
    return list(queryset[:limit])


def pair_detail(*, project: Project, pair_id: int, viewer, role: str) -> tuple[Pair, list[Judgment]]:
    """A pair with the judgments the viewer may see: annotators see only their own."""
    judgments = Judgment.objects.select_related("annotator", "judge_config", "rubric").order_by(
        "is_human", "created_at", "id"
    )
    if not role_at_least(role, Role.REVIEWER):
        judgments = judgments.filter(annotator__user=viewer)
    pair = (
        Pair.objects.select_related("prompt", "response_a", "response_b")
        .prefetch_related(Prefetch("judgments", queryset=judgments, to_attr="visible_judgments"))
        .get(project=project, id=pair_id)
    )
    return pair, pair.visible_judgments


# --- the REST API (issue 8) -------------------------------------------------------


def api_prompts(*, project: Project, filters: dict) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project, **{k: v for k, v in filters.items() if v})


def api_pairs(*, project: Project, filters: dict) -> QuerySet[Pair]:
    pairs = Pair.objects.filter(project=project).select_related("prompt", "response_a", "response_b")
    for key in ("tier", "status"):
        if filters.get(key):
            pairs = pairs.filter(**{key: filters[key]})
    if filters.get("category"):
        pairs = pairs.filter(prompt__category=filters["category"])
    if filters.get("has_gold") is not None:
        pairs = pairs.filter(gold_verdict__isnull=not filters["has_gold"])
    if filters.get("routed") is True:
        pairs = pairs.filter(status=Pair.Status.ROUTED)
    elif filters.get("routed") is False:
        pairs = pairs.exclude(status=Pair.Status.ROUTED)
    return pairs


def api_judgments(*, project: Project, viewer, role: str, filters: dict) -> QuerySet[Judgment]:
    """Judgments the viewer may read: reviewers and admins all, annotators their own."""
    judgments = Judgment.objects.filter(project=project).select_related("annotator", "judge_config")
    if not role_at_least(role, Role.REVIEWER):
        judgments = judgments.filter(annotator__user=viewer)
    if filters.get("pair"):
        judgments = judgments.filter(pair_id=filters["pair"])
    if filters.get("kind"):
        judgments = judgments.filter(is_human=filters["kind"] == "human")
    if filters.get("annotator"):
        judgments = judgments.filter(annotator__name=filters["annotator"])
    if filters.get("judge"):
        judgments = judgments.filter(judge_config__name=filters["judge"])
    if filters.get("since"):
        judgments = judgments.filter(created_at__gte=filters["since"])
    return judgments
