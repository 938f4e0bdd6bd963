"""What a reviewer waits for on a big project: the agreement report and each dashboard panel.

    python -m bench.scale_baseline [--project bench-1m] [--reference bench/results/scale_baseline.json]

Run it on the project ``bench.synthetic`` loaded (1,000,000 pairs, 3,000,000
judgments). It times ``curation.agreement.report(project)`` exactly as
``manage.py agreement_report --project SLUG`` calls it (intervals, no breakdowns), then
each panel of ``curation.dashboard`` on first load with an empty cache (as the first
reviewer of the day sees it). Target: 500 ms each. ``--reference`` names an earlier
result file (e.g. the "before" figures kept under another name) to print ratios
against. PostgreSQL only.
"""
import argparse
import json
import os
import time
from pathlib import Path

from bench.common import report, setup_django

TARGET_S = 0.5


def timed(function, *args, **kwargs) -> float:
    started = time.monotonic()
    function(*args, **kwargs)
    return time.monotonic() - started


def reference_figures(path: Path | None) -> dict[str, float]:
    if path is None or not path.exists():
        return {}
    return {row["what"]: row["measured"] for row in json.loads(path.read_text())["rows"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="bench-1m", help="slug of a project loaded by bench.synthetic")
    parser.add_argument("--reference", type=Path, help="an earlier result JSON to compare with")
    parser.add_argument("--name", default="scale_baseline", help="result file name under bench/results/")
    args = parser.parse_args(argv)
    setup_django()
    from django.core.cache import cache
    from django.db import connection

    from curation import agreement, dashboard
    from curation.models import Judgment, Pair, Project

    if connection.vendor != "postgresql":
        raise SystemExit(f"bench.scale_baseline measures PostgreSQL; this database is {connection.vendor}.")
    project = Project.objects.filter(slug=args.project).first()
    if project is None:
        raise SystemExit(f"No project {args.project!r}: load it first with python -m bench.synthetic --project {args.project}")
    n_pairs = Pair.objects.filter(project=project).count()
    n_judgments = Judgment.objects.filter(project=project).count()
    print(f"Project {project.slug}: {n_pairs:,} pairs, {n_judgments:,} judgments")
    reference = reference_figures(args.reference)

    load_before = os.getloadavg()[0]
    figures = {"agreement_report (as manage.py agreement_report)": timed(agreement.report, project)}
    for name in dashboard.PANELS:
        cache.clear()
        figures[f"dashboard panel {name}, first load"] = timed(dashboard.panel_context, project, name)
        print(f"  {name}: {figures[f'dashboard panel {name}, first load']:.2f} s", flush=True)
    rows = []
    for what, seconds in figures.items():
        row = {"what": what, "measured": seconds * 1000, "unit": "ms", "target": f"<= {TARGET_S * 1000:.0f} ms",
               "met": seconds <= TARGET_S}
        if what in reference:
            row.update(reference=f"{args.reference.name} {reference[what]:,.0f} ms", ratio=seconds * 1000 / reference[what])
        rows.append(row)
    # The machine may be shared: the load average says how much the figures can be trusted.
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    print(f"  load average (1 min) {load['before']} before, {load['after']} after, on {os.cpu_count()} CPUs")
    report(args.name, rows, {"project": project.slug, "pairs": n_pairs, "judgments": n_judgments, "load_average": load})


if __name__ == "__main__":
    main()
