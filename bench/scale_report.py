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

Then the review page at that scale (``--review N``, 0 to skip): the annotator with the
most judgments in the project (about 10,000 at 1M) opens the review page ("next")
and submits a verdict N times, in this process through Django's test client (no HTTP
server: ``bench.annotation_http`` measures that with 50 annotators), medians and p95
against 100 ms. The reference is the same run with the two indexes that serve the
page's counter and undo (``judgment_annotator_firsts``, ``assignment_last_submitted``)
dropped. Both runs are rolled back (the indexes come back, no judgment stays).
"""
import argparse
import random
import statistics
import time

from bench.annotation_http import RUBRIC_INPUT, SUBMIT
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
    parser.add_argument("--review", type=int, default=60, help="review page rounds (next + submit); 0 skips them")
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
    if args.review:
        rows += review_rows(project, args.review)
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


REVIEW_INDEXES = ("judgment_annotator_firsts", "assignment_last_submitted")
REVIEW_TARGET_MS = 100


class _RollBack(Exception):
    pass


def review_timings(project, user, rounds: int, *, drop_indexes: bool) -> tuple[list[float], list[float]]:
    """(next ms, submit ms) of ``rounds`` review-page rounds, in a transaction rolled back."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client

    if "testserver" not in settings.ALLOWED_HOSTS:  # the test client's host
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(user)
    review = f"/projects/{project.slug}/annotate/"
    rng = random.Random(5)
    nexts: list[float] = []
    submits: list[float] = []
    try:
        with transaction.atomic():
            if drop_indexes:
                with connection.cursor() as cursor:
                    for name in REVIEW_INDEXES:
                        cursor.execute(f"DROP INDEX {name}")
            for i in range(rounds + 1):  # the first round warms up and is not kept
                started = time.perf_counter()
                page = client.get(review)
                between = time.perf_counter()
                found = SUBMIT.search(page.content.decode())
                if page.status_code != 200 or found is None:
                    raise RuntimeError(f"the review page answered {page.status_code} without a pair to judge")
                data = {"time_spent_ms": "5000", "rationale": "", "verdict": str(rng.choice([-2, -1, 0, 1, 2]))}
                rubric = RUBRIC_INPUT.search(page.content.decode())
                if rubric:
                    data["rubric"] = rubric.group(1)
                answer = client.post(found.group(1), data=data)
                if answer.status_code != 302:
                    raise RuntimeError(f"the submit answered {answer.status_code}")
                if i:
                    nexts.append((between - started) * 1000)
                    submits.append((time.perf_counter() - between) * 1000)
            raise _RollBack
    except _RollBack:
        pass
    return nexts, submits


def review_rows(project, rounds: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from curation.models import Judgment

    top = (
        Judgment.objects.filter(project=project, is_human=True, is_revision=False)
        .values("annotator__user").annotate(n=Count("id")).order_by("-n").first()
    )
    user = get_user_model().objects.get(pk=top["annotator__user"])
    now = review_timings(project, user, rounds, drop_indexes=False)
    before = review_timings(project, user, rounds, drop_indexes=True)
    rows = []
    for label, ours, theirs in (("next", now[0], before[0]), ("submit", now[1], before[1])):
        for name, pick in (("median", statistics.median), ("p95", p95)):
            measured, reference = pick(ours), pick(theirs)
            rows.append({
                "what": f"review page {label} {name}, annotator with {top['n']:,} judgments (in-process)",
                "measured": measured, "unit": "ms", "target": f"< {REVIEW_TARGET_MS} ms",
                "met": measured < REVIEW_TARGET_MS,
                "reference": f"without the two indexes {reference:,.1f} ms", "ratio": measured / reference,
            })
            print(f"  review {label} {name}: {measured:.1f} ms (without the indexes {reference:.1f} ms)", flush=True)
    return rows


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


if __name__ == "__main__":
    main()
