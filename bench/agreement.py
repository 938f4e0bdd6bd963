"""Agreement report, dashboard panels and a routing round over a million judgments.

    python -m bench.agreement [--pairs 200000] [--keep]

Writes a synthetic concord file (each pair: three human judgments from a pool of 60
annotators, two AI judges with confidence and position consistency; 30 categories,
some pairs on gold), imports it into a fresh project with the real importer, then
times what a reviewer waits for: the full ``agreement_report`` (with bootstrap
intervals and breakdowns), the judges page's figures (``judge_stats``), each dashboard panel, the adjudication queue count, and a
routing round (``pairs_route``), first with an empty cache and then cached (the
summary panel is never cached; the ratio is first load / cached). For scale it also
records how long merely loading every judgment into Python takes (one
``values_list`` pass), which a report that did not aggregate in SQL would spend
before computing anything, in memory that grows with the data. Run it against PostgreSQL with DATABASE_URL
set (the targets are for PostgreSQL); without ``--keep`` the project is deleted.
"""
import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from bench.common import report, setup_django

TARGET_REPORT_S = 15.0
TARGET_PANEL_S = 5.0
TARGET_ROUTE_S = 120.0
TARGET_CACHED_S = 1.0


def write_file(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for i in range(n):
            truth = rng.choice((-2, -1, -1, 0, 1, 1, 2))
            humans = [
                {"annotator": f"bench-ann-{(i * 3 + k) % 60}", "verdict": truth if rng.random() < 0.8 else rng.randint(-2, 2)}
                for k in range(3)
            ]
            judges = [
                {
                    "judge": name,
                    "verdict": truth if rng.random() < accuracy else rng.randint(-2, 2),
                    "confidence": round(rng.uniform(0.4, 0.99), 3),
                    "position_consistent": rng.random() < 0.85,
                }
                for name, accuracy in (("bench-judge-a", 0.75), ("bench-judge-b", 0.6))
            ]
            record = {
                "id": f"agreement-bench-{i}",
                "prompt": f"Agreement benchmark prompt {i}: explain topic {i % 1009}.",
                "response_a": f"Answer A {i}. " + "words " * rng.randint(5, 60),
                "response_b": f"Answer B {i}. " + "other words " * rng.randint(5, 60),
                "category": f"category-{i % 30}",
                "judgments": humans,
                "ai_judgments": judges,
            }
            if i % 50 == 0:
                record["adjudication"] = {"verdict": truth or 1, "note": "bench gold"}
            handle.write(json.dumps(record) + "\n")


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.monotonic()
    result = function(*args, **kwargs)
    return time.monotonic() - started, result


def with_aggregate_session(function):
    from curation.agreement import aggregate_session

    with aggregate_session():
        return function()


def delete_project(project_id: int) -> None:
    """Raw deletes in dependency order: the ORM collector would load a million ids."""
    from django.db import connection, transaction

    from curation.models import Adjudication, AutoAcceptStratum, JudgeConfig, Judgment, Pair, Project, Prompt, Response

    tables = [
        (Judgment, "project_id"), (Adjudication, "project_id"), (AutoAcceptStratum, "project_id"),
        (Pair, "project_id"),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for model, column in tables:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE {column} = %s", [project_id])
        cursor.execute(
            f"DELETE FROM {Response._meta.db_table} WHERE prompt_id IN "
            f"(SELECT id FROM {Prompt._meta.db_table} WHERE project_id = %s)",
            [project_id],
        )
        for model in (Prompt, JudgeConfig):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE project_id = %s", [project_id])
        Project.objects.filter(pk=project_id).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200_000, help="pairs (five judgments each)")
    parser.add_argument("--keep", action="store_true", help="keep the project afterwards")
    args = parser.parse_args()
    setup_django()
    from django.core.cache import cache
    from django.db import connection

    from curation import agreement, dashboard, judge_stats
    from curation.importers import dataset_import
    from curation.models import Judgment
    from curation.selectors import adjudication_queue
    from curation.services import pairs_route, project_create

    slug = f"bench-agreement-{int(time.time())}"
    project = project_create(name=slug, slug=slug)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "agreement.jsonl"
            write_file(path, args.pairs)
            import_seconds, _ = timed(dataset_import, path=path, project=project, fmt="concord")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        n_judgments = Judgment.objects.filter(project=project).count()
        reference_seconds, _ = timed(
            lambda: sum(1 for _ in Judgment.objects.filter(project=project).values_list(
                "pair_id", "annotator_id", "judge_config_id", "verdict", "strength_known", "is_revision", "mode"
            ).iterator(chunk_size=20_000))
        )
        report_seconds, result = timed(agreement.report, project, breakdowns=True)
        judges_seconds, judges = timed(judge_stats.judge_stats, project)
        cache.clear()
        panels = {name: timed(dashboard.panel_context, project, name)[0] for name in dashboard.PANELS}
        cached = {name: timed(dashboard.panel_context, project, name)[0] for name in dashboard.PANELS}
        queue_seconds, queued = timed(with_aggregate_session, lambda: adjudication_queue(project).count())
        route_seconds, summary = timed(pairs_route, project=project)
    finally:
        if not args.keep:
            delete_project(project.id)

    where = f"{n_judgments:,} judgments, {connection.vendor}"
    rows = [
        {"what": f"agreement report with breakdowns ({where})", "measured": report_seconds, "unit": "s",
         "target": f"<= {TARGET_REPORT_S:.0f} s", "met": report_seconds <= TARGET_REPORT_S},
        *(
            {"what": f"dashboard panel {name}, first load", "measured": seconds, "unit": "s",
             "target": f"<= {TARGET_PANEL_S:.0f} s", "met": seconds <= TARGET_PANEL_S}
            for name, seconds in panels.items()
        ),
        {"what": "counts panel again (tier and status counts fresh)", "measured": cached["summary"], "unit": "s",
         "target": f"<= {TARGET_CACHED_S} s", "met": cached["summary"] <= TARGET_CACHED_S,
         "reference": f"first load {panels['summary']:.1f} s", "ratio": panels["summary"] / cached["summary"]},
        {"what": "the six agreement panels again (cached)", "measured": sum(cached.values()) - cached["summary"],
         "unit": "s", "target": "<= 0.5 s", "met": sum(cached.values()) - cached["summary"] <= 0.5,
         "reference": f"first load {sum(panels.values()) - panels['summary']:.1f} s",
         "ratio": (sum(panels.values()) - panels["summary"]) / max(1e-3, sum(cached.values()) - cached["summary"])},
        {"what": f"judges page figures, {len(judges)} judges (judge_stats)", "measured": judges_seconds, "unit": "s",
         "target": f"<= {TARGET_PANEL_S:.0f} s", "met": judges_seconds <= TARGET_PANEL_S,
         "reference": f"loading every judgment {reference_seconds:.1f} s",
         "ratio": judges_seconds / max(1e-3, reference_seconds)},
        {"what": f"adjudication queue count ({queued:,} pairs)", "measured": queue_seconds, "unit": "s",
         "target": f"<= {TARGET_PANEL_S:.0f} s", "met": queue_seconds <= TARGET_PANEL_S},
        {"what": f"routing round over {summary.pairs:,} pairs", "measured": route_seconds, "unit": "s",
         "target": f"<= {TARGET_ROUTE_S:.0f} s", "met": route_seconds <= TARGET_ROUTE_S},
    ]
    report(
        "agreement",
        rows,
        {
            "pairs": args.pairs,
            "judgments": n_judgments,
            "import_seconds": round(import_seconds, 1),
            "load_every_judgment_seconds": round(reference_seconds, 2),
            "human_human_alpha_nominal": result["human_human"]["krippendorff_alpha"]["nominal"],
        },
    )


if __name__ == "__main__":
    main()
