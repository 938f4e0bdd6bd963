"""A quick overview beside the full agreement report (``curation.agreement.report``).

``agreement_overview`` is the ``overview`` part of the API's agreement endpoint: counts per tier
and label source, judgment counts, and per judge the sign (3-way) agreement with
human consensus and with the final label, each with its n — all SQL aggregates, a
fixed handful of queries whatever the project's size. The dataset card shows the
same per-judge figures over the exported pairs (summed batch by batch with
``judge_counts``, see ``curation.exports``); the card adds the project's full report.
"""
from collections import Counter

from django.db.models import Count, Q

from .models import JudgeConfig, Judgment, Pair, Project

COUNT_NAMES = ("n", "parsed", "n_label", "agree_label", "n_consensus", "agree_consensus", "n_position",
               "position_consistent")


def same_sign_q(field_name: str, other: str) -> Q:
    """Both values have the same 3-way label (negative, zero or positive)."""
    return (
        Q(**{f"{field_name}__lt": 0, f"{other}__lt": 0})
        | Q(**{field_name: 0, other: 0})
        | Q(**{f"{field_name}__gt": 0, f"{other}__gt": 0})
    )


def judge_counts(*, judgment: str = "", pair: str = "pair__") -> dict:
    """Aggregates per judge, written from the judgment's side (judgment="", pair="pair__")
    or from the pair's (judgment="judgments__", pair=""). Humans count their first
    (unrevised) records only; they group under judge None."""
    verdict = f"{judgment}verdict"
    counted = Q(**{f"{judgment}is_human": False}) | Q(**{f"{judgment}is_revision": False})
    parsed = counted & Q(**{f"{verdict}__isnull": False})

    def count(condition: Q) -> Count:
        return Count(f"{judgment}id", filter=condition)

    return {
        "n": count(counted),
        "parsed": count(parsed),
        "n_label": count(parsed & Q(**{f"{pair}label_verdict__isnull": False})),
        "agree_label": count(counted & same_sign_q(verdict, f"{pair}label_verdict")),
        "n_consensus": count(parsed & Q(**{f"{pair}consensus_verdict__isnull": False})),
        "agree_consensus": count(counted & same_sign_q(verdict, f"{pair}consensus_verdict")),
        "n_position": count(counted & Q(**{f"{judgment}position_consistent__isnull": False})),
        "position_consistent": count(counted & Q(**{f"{judgment}position_consistent": True})),
    }


def _rate(agreeing: int, n: int) -> float | None:
    return round(agreeing / n, 4) if n else None


def _figures(counts: Counter) -> dict:
    return {
        "judgments": counts["n"],
        "parsed": counts["parsed"],
        "agreement_with_human_consensus": _rate(counts["agree_consensus"], counts["n_consensus"]),
        "n_with_human_consensus": counts["n_consensus"],
        "agreement_with_label": _rate(counts["agree_label"], counts["n_label"]),
        "n_with_label": counts["n_label"],
        "position_consistency": _rate(counts["position_consistent"], counts["n_position"]),
    }


def judge_figures(counts: dict[int | None, Counter]) -> dict:
    """Readable figures from summed judge_counts: humans (judge None) and each judge."""
    configs = JudgeConfig.objects.filter(id__in=[key for key in counts if key is not None]).order_by("name")
    return {
        "humans": {
            **_figures(counts.get(None, Counter())),
            "note": "first (unrevised) human records against the final label and the human consensus",
        },
        "judges": [
            {
                "name": config.name,
                "kind": config.kind,
                "method": config.method,
                "model": config.model,
                "template_version": config.template_version,
                **_figures(counts[config.id]),
            }
            for config in configs
        ],
    }


def agreement_overview(*, project: Project) -> dict:
    """The project's figures: four aggregate queries and one for the judges' names."""
    pairs = Pair.objects.filter(project=project).order_by()
    tiers = dict(pairs.values_list("tier").annotate(n=Count("id")))
    sources = dict(pairs.values_list("label_source").annotate(n=Count("id")))
    rows = (
        Judgment.objects.filter(project=project)
        .order_by()
        .values("judge_config_id")
        .annotate(**judge_counts())
    )
    counts = {row["judge_config_id"]: Counter({name: row[name] for name in COUNT_NAMES}) for row in rows}
    figures = judge_figures(counts)
    return {
        "pairs": sum(tiers.values()),
        "tiers": {tier: tiers.get(tier, 0) for tier in Pair.Tier.values},
        "label_sources": {source or "none": n for source, n in sorted(sources.items())},
        "human_judgments": figures["humans"]["judgments"],
        "ai_judgments": sum(j["judgments"] for j in figures["judges"]),
        **figures,
        "scale": "3-way sign agreement (A better, tie, B better)",
    }
