"""Agreement figures available before the full agreement report (methods.md §3) lands.

``agreement_overview`` is the one function the API's agreement endpoint and the
dataset card call: counts per tier and label source, judgment counts, and per judge
the sign (3-way) agreement with human consensus and with the final label, each with
its n — all by SQL aggregation, a fixed handful of queries whatever the project's
size. When the curation metrics (κ, α, intervals) are merged, point this function at
the full report and both callers follow.
"""
from django.db.models import Count, Q, QuerySet

from .models import JudgeConfig, Judgment, Pair, Project


def same_sign_q(field_name: str, other: str) -> Q:
    """Both values have the same 3-way label (negative, zero or positive)."""
    return (
        Q(**{f"{field_name}__lt": 0, f"{other}__lt": 0})
        | Q(**{field_name: 0, other: 0})
        | Q(**{f"{field_name}__gt": 0, f"{other}__gt": 0})
    )


def _rate(agreeing: int, n: int) -> float | None:
    return round(agreeing / n, 4) if n else None


def _agreement_counts(judgments: QuerySet[Judgment]) -> dict:
    return dict(
        n=Count("id"),
        parsed=Count("id", filter=Q(verdict__isnull=False)),
        n_label=Count("id", filter=Q(verdict__isnull=False, pair__label_verdict__isnull=False)),
        agree_label=Count("id", filter=same_sign_q("verdict", "pair__label_verdict")),
        n_consensus=Count("id", filter=Q(verdict__isnull=False, pair__consensus_verdict__isnull=False)),
        agree_consensus=Count("id", filter=same_sign_q("verdict", "pair__consensus_verdict")),
        n_position=Count("id", filter=Q(position_consistent__isnull=False)),
        position_consistent=Count("id", filter=Q(position_consistent=True)),
    )


def _figures(row: dict) -> dict:
    return {
        "judgments": row["n"],
        "parsed": row["parsed"],
        "agreement_with_human_consensus": _rate(row["agree_consensus"], row["n_consensus"]),
        "n_with_human_consensus": row["n_consensus"],
        "agreement_with_label": _rate(row["agree_label"], row["n_label"]),
        "n_with_label": row["n_label"],
        "position_consistency": _rate(row["position_consistent"], row["n_position"]),
    }


def agreement_overview(*, project: Project, pairs: QuerySet[Pair] | None = None) -> dict:
    """Figures over ``pairs`` (default: all of the project's pairs)."""
    if pairs is None:
        pairs = Pair.objects.filter(project=project)
        judgments = Judgment.objects.filter(project=project)
    else:
        judgments = Judgment.objects.filter(pair__in=pairs.values("id"))
    tiers = dict(pairs.order_by().values_list("tier").annotate(n=Count("id")))
    sources = dict(pairs.order_by().values_list("label_source").annotate(n=Count("id")))
    humans = judgments.filter(is_human=True, is_revision=False)
    human_row = humans.aggregate(**_agreement_counts(humans))
    judge_rows = {
        row["judge_config_id"]: row
        for row in judgments.filter(is_human=False)
        .order_by()
        .values("judge_config_id")
        .annotate(**_agreement_counts(judgments))
    }
    configs = JudgeConfig.objects.filter(id__in=list(judge_rows)).order_by("name")
    return {
        "pairs": sum(tiers.values()),
        "tiers": {tier: tiers.get(tier, 0) for tier in Pair.Tier.values},
        "label_sources": {source or "none": n for source, n in sorted(sources.items())},
        "human_judgments": human_row["n"],
        "ai_judgments": sum(row["n"] for row in judge_rows.values()),
        "humans": {
            **_figures(human_row),
            "note": "first (unrevised) human records against the final label and the human consensus",
        },
        "judges": [
            {
                "name": config.name,
                "kind": config.kind,
                "method": config.method,
                "model": config.model,
                "template_version": config.template_version,
                **_figures(judge_rows[config.id]),
            }
            for config in configs
        ],
        "scale": "3-way sign agreement (A better, tie, B better)",
    }
