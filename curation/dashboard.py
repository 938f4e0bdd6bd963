"""The reviewer dashboard's panels: each a function returning its template context.

The agreement panels read the counts kept by ``curation.agreement_counts`` (one read
of a few hundred rows per figure, after catching up pairs changed by bulk writes), so
every panel runs a fixed number of small queries whatever the amount of data
(``tests/curation/test_dashboard.py`` counts them). Every figure carries the link to
the pair list filtered to the pairs behind it. The agreement panels are cached until
the project's judgments, decisions or strata change (``panel_context``).
"""
import hashlib
from collections.abc import Callable
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count, Max
from django.urls import reverse

from . import agreement, charts
from .models import Adjudication, AutoAcceptStratum, Judgment, Pair, Project
from .selectors import project_counts

VALUE_LABELS = {-2: "A ≫", -1: "A", 0: "tie", 1: "B", 2: "B ≫"}
HUMANS_COLOR = "#3e4c59"


def judge_colors(names) -> dict[str, str]:
    """One colour per judge, the same in every chart (judges sorted by name)."""
    return {name: charts.PALETTE[i % len(charts.PALETTE)] for i, name in enumerate(sorted(names))}


def pairs_url(project: Project, **filters) -> str:
    query = urlencode({key: value for key, value in filters.items() if value is not None and value != ""})
    return reverse("curation:pair_list", args=[project.slug]) + (f"?{query}" if query else "")


def source(project: Project):
    """Where the agreement panels read their matrices: the maintained counts (the
    benchmark swaps in ``agreement.SqlSource`` to time the SQL reference)."""
    return agreement.counts(project)


def summary_panel(project: Project) -> dict:
    """Counts per tier and status, always fresh; the agreement figure and the queue
    sizes, which only judgments and decisions change, from the cache."""
    counts = source(project)  # one catch-up for the cached figures and the fresh counts

    def build() -> dict:
        return {
            "awaiting_adjudication": counts.awaiting_adjudication(),
            "strata_active": AutoAcceptStratum.objects.filter(project=project, active=True).count(),
            "human_human": agreement.human_human(project, intervals=False, source=counts),
        }

    figures = cached(project, "summary-figures", build)
    return {
        "counts": project_counts(project, judgment_kinds=counts.judgment_rows()),
        **figures,
        "links": {
            "routed": pairs_url(project, status="routed"),
            "adjudication": reverse("curation:adjudication_queue", args=[project.slug]),
            "auto_accept": pairs_url(project, label_source="auto_accept"),
        },
    }


def _confusion_table(project: Project, entry: dict) -> dict:
    """Rows of a human × AI heatmap, on the 3-way scale when the items are 3-way."""
    values = [-1, 0, 1] if entry["scale"] == "3-way" else [-2, -1, 0, 1, 2]
    matrix = entry["confusion"]
    rows = []
    for h in values:
        counts = [matrix[h + 2][a + 2] for a in values]
        total = sum(counts)
        rows.append(
            {
                "label": VALUE_LABELS[h],
                "total": total,
                "cells": [
                    {
                        "n": n,
                        "diagonal": h == a,
                        "background": charts.heat(n / total if total else None),
                        "href": pairs_url(project, judge=entry["judge_id"], human=h, ai=a),
                    }
                    for a, n in zip(values, counts)
                ],
            }
        )
    return {"columns": [VALUE_LABELS[a] for a in values], "rows": rows}


def agreement_panel(project: Project) -> dict:
    counts = source(project)
    human_human = agreement.human_human(project, source=counts)
    judges = agreement.human_ai(project, lengths=False, source=counts)  # length bias is the bias panel's
    gold = agreement.judges_against_gold(project, source=counts)
    for entry in judges:
        entry["against_gold"] = gold.get(entry["judge_id"])
        entry["table"] = _confusion_table(project, entry) if entry["n"] else None
        entry["links"] = {
            "all": pairs_url(project, judge=entry["judge_id"]),
            "wrong_on_gold": pairs_url(project, judge=entry["judge_id"], wrong=1),
            "inconsistent": pairs_url(project, judge=entry["judge_id"], inconsistent=1),
        }
    return {
        "human_human": human_human,
        "judges": judges,
        "templates": agreement.by_template(judges),
        "aspects": agreement.by_aspect(project, source=counts),
        "links": {
            "human_human": pairs_url(project, queue="disagree"),
            "humans_vs_ai": pairs_url(project, queue="conflict"),
        },
    }


def time_panel(project: Project) -> dict:
    """Weekly 3-way agreement: humans with each other, and each judge with humans."""
    series = agreement.over_time(project, source=source(project))
    named = {"humans with each other": series.pop("human_human")}
    judge_of = {"humans with each other": None}
    colors = {"humans with each other": HUMANS_COLOR}
    for name, color in judge_colors(series).items():
        named[f"{name} with humans"] = series[name]
        judge_of[f"{name} with humans"] = series[name][0]["judge_id"] if series[name] else None
        colors[f"{name} with humans"] = color

    def link(name: str, week: str) -> str:
        return pairs_url(project, judge=judge_of[name], week=week)

    return {"chart": charts.line_chart(named, link=link, colors=colors)}


def bias_panel(project: Project) -> dict:
    counts = source(project)
    judges = agreement.human_ai(project, intervals=False, source=counts)
    humans = agreement.human_stats(project, source=counts)
    colors = judge_colors(entry["judge"] for entry in judges)
    consistency = charts.bar_chart(
        [
            {
                "label": entry["judge"],
                "value": entry.get("position_consistency"),
                "n": entry.get("n_position_known", 0),
                "color": colors[entry["judge"]],
                "href": pairs_url(project, judge=entry["judge_id"], inconsistent=1),
            }
            for entry in judges
        ]
    )
    longer = [
        {
            "label": "humans (all pairs)",
            "value": humans["longer_wins"],
            "n": humans["n_decisive_unequal"],
            "color": HUMANS_COLOR,
            "href": pairs_url(project, longer_wins=1),
        }
    ]
    for entry in judges:
        longer.append(
            {
                "label": entry["judge"],
                "value": entry.get("longer_wins"),
                "n": entry.get("n_judgments", 0),
                "color": colors[entry["judge"]],
                "href": pairs_url(project, judge=entry["judge_id"], longer_wins=1),
            }
        )
        entry["gap"] = (entry.get("longer_wins_same_items") or {}).get("gap")
    return {
        "consistency": consistency,
        "longer": charts.bar_chart(longer, reference=0.5, reference_label="50%"),
        "humans": humans,
        "judges": judges,
    }


def annotators_panel(project: Project) -> dict:
    rows = agreement.annotators(project, source=source(project))
    for row in rows:
        row["links"] = {
            "all": pairs_url(project, annotator=row["annotator_id"]),
            "gold": pairs_url(project, annotator=row["annotator_id"], gold=1),
            "wrong": pairs_url(project, annotator=row["annotator_id"], wrong=1),
        }
    return {"annotators": rows}


def categories_panel(project: Project) -> dict:
    rows = agreement.by_category(project, source=source(project))
    judges = sorted({name for row in rows for name in row["judges"]})
    for row in rows:
        category = row["category"]
        where = {"category": category} if category else {"category_none": 1}
        row["cells"] = [
            {**cell, "href": pairs_url(project, judge=cell["judge_id"], **where)} if cell else None
            for cell in (row["judges"].get(name) for name in judges)
        ]
        row["href"] = pairs_url(project, **where)
    return {"categories": rows, "judge_names": judges}


def strata_panel(project: Project) -> dict:
    strata = list(
        AutoAcceptStratum.objects.filter(project=project).select_related("judge_config").order_by("-active", "category")
    )
    accepted = dict(
        Pair.objects.filter(project=project, label_source="auto_accept")
        .values_list("prompt__category")
        .annotate(n=Count("id"))
        .values_list("prompt__category", "n")
        .order_by()
    )
    for stratum in strata:
        where = {"category": stratum.category} if stratum.category else {"category_none": 1}
        stratum.n_accepted = accepted.get(stratum.category, 0)
        stratum.accepted_href = pairs_url(project, label_source="auto_accept", **where)
        stratum.evidence_href = pairs_url(project, judge=stratum.judge_config_id, gold=None, **where)
    return {"strata": strata, "n_auto_accepted": sum(accepted.values())}


PANELS = {
    "summary": summary_panel,
    "agreement": agreement_panel,
    "time": time_panel,
    "bias": bias_panel,
    "annotators": annotators_panel,
    "categories": categories_panel,
    "strata": strata_panel,
}

CACHED_PANELS = {"agreement", "time", "bias", "annotators", "categories", "strata"}
CACHE_SECONDS = 600


def data_version(project: Project) -> str:
    """Changes whenever a judgment, a decision or a stratum decision is added (three
    index lookups). A judgment edited in place shows after ``CACHE_SECONDS`` at most."""
    last_judgment = Judgment.objects.filter(project=project).aggregate(last=Max("created_at"))["last"]
    last_decision = Adjudication.objects.filter(project=project).aggregate(last=Max("id"))["last"]
    last_stratum = AutoAcceptStratum.objects.filter(project=project).aggregate(last=Max("decided_at"))["last"]
    return hashlib.sha1(f"{last_judgment}|{last_decision}|{last_stratum}".encode()).hexdigest()


def cached(project: Project, name: str, build: Callable[[], dict]) -> dict:
    """``build()`` run with ``aggregate_session``, cached while the project's
    judgments, decisions and strata are unchanged."""

    def run() -> dict:
        with agreement.aggregate_session():
            return build()

    key = f"concord:dashboard:{project.id}:{name}:{data_version(project)}"
    return cache.get_or_set(key, run, CACHE_SECONDS)


def panel_context(project: Project, name: str) -> dict:
    """A panel's context: the aggregate panels from the cache while the data they were
    built from is unchanged; the counts panel caches only its figures."""
    if name not in CACHED_PANELS:
        return PANELS[name](project)
    return cached(project, name, lambda: PANELS[name](project))
