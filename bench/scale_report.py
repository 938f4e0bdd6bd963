"""Agreement report, dashboard panels and judges page at scale, from the agreement
counts, against the SQL aggregation they replace (issue 9: 1M pairs / 3M judgments,
each under 500 ms).

    python -m bench.scale_report --project bench-1m [--rebuild] [--repeat 3]

Runs on an existing project (``python -m bench.synthetic`` loads one on PostgreSQL;
``python -m bench.agreement --pairs 300000 --keep`` imports a smaller one). Before
timing, the project's counts are caught up (``--rebuild``: recounted from scratch;
either is timed and printed; at 1M pairs a one-off of minutes). Then, each with an
empty dashboard cache and in the same run:

- ``agreement.report`` (bootstrap intervals, no breakdowns: what
  ``manage.py agreement_report`` prints) and with ``breakdowns``;
- each dashboard panel, first load (``dashboard.panel_context``, cache cleared);
- the judges page figures (``judge_stats.judge_stats``);

from the counts, and the same from the SQL reference (``agreement.SqlSource``:
``agreement.from_sql``, the panels with ``dashboard.source`` swapped,
``judge_stats(source=SQL)``). The figure is the best of ``--repeat`` runs (the SQL
reference runs once: about 30 s a figure at 1M); the ratio is counts / SQL. Targets
are for PostgreSQL.
"""
import argparse
import time

from bench.common import report, setup_django

TARGET_S = 0.5


def best(function, repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        started = time.monotonic()
        function()
        times.append(time.monotonic() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="bench-1m", help="project slug")
    parser.add_argument("--rebuild", action="store_true", help="recount the project's agreement counts first")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure from the counts (best kept)")
    parser.add_argument("--no-sql", action="store_true", help="skip the SQL reference (30 s a figure at 1M)")
    args = parser.parse_args()
    setup_django()
    from django.core.cache import cache
    from django.db import connection

    from curation import agreement, agreement_counts, dashboard, judge_stats
    from curation.models import Judgment, Pair, Project

    project = Project.objects.get(slug=args.project)
    started = time.monotonic()
    if args.rebuild:
        n_counted = agreement_counts.rebuild(project)
    else:
        n_counted = agreement_counts.catch_up(project=project)
    prepare_seconds = time.monotonic() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The catch-up or rebuild just rewrote every pair's and judgment's markers;
            # autovacuum (off on the benchmark machine) would re-analyze them. Without it
            # the planner believes every pair is still stale and scans for them.
            cursor.execute("ANALYZE curation_agreementcount, curation_pair, curation_judgment")
    n_pairs = Pair.objects.filter(project=project).count()
    n_judgments = Judgment.objects.filter(project=project).count()

    figures = {
        "agreement report (intervals)": (
            lambda: agreement.report(project), lambda: agreement.from_sql(project)),
        "agreement report with breakdowns": (
            lambda: agreement.report(project, breakdowns=True), lambda: agreement.from_sql(project, breakdowns=True)),
        "judges page figures (judge_stats)": (
            lambda: judge_stats.judge_stats(project), lambda: judge_stats.judge_stats(project, source=judge_stats.SQL)),
    }
    counts_source = dashboard.source

    def panel(name: str, sql: bool):
        def run():
            dashboard.source = agreement.SqlSource if sql else counts_source
            try:
                return dashboard.panel_context(project, name)
            finally:
                dashboard.source = counts_source
        return run

    for name in dashboard.PANELS:
        figures[f"dashboard panel {name}, first load"] = (panel(name, False), panel(name, True))

    rows = []
    for what, (from_counts, from_sql) in figures.items():
        seconds = best(from_counts, args.repeat, before=cache.clear)
        row = {"what": what, "measured": seconds * 1000, "unit": "ms", "target": f"<= {TARGET_S * 1000:.0f} ms",
               "met": seconds <= TARGET_S}
        if not args.no_sql:
            reference = best(from_sql, 1, before=cache.clear)
            row.update(reference=f"SQL {reference * 1000:,.0f} ms", ratio=seconds / reference)
        rows.append(row)
        print(f"  {what}: {seconds * 1000:.0f} ms", flush=True)
    report(
        "scale_report",
        rows,
        {
            "project": project.slug,
            "pairs": n_pairs,
            "judgments": n_judgments,
            "database": connection.vendor,
            "prepare": "rebuild" if args.rebuild else "catch up",
            "prepare_seconds": round(prepare_seconds, 1),
            "pairs_counted": n_counted,
        },
    )


if __name__ == "__main__":
    main()
