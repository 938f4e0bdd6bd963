"""The annotation queue at scale: latency of "next pair" and "submit".

    python -m bench.annotation_queue [--pairs 200000] [--rounds 300]

Imports a synthetic project with the real importer, routes every pair (random routing
scores), then times ``assignment_next`` and ``assignment_submit`` for 20 annotators
taking turns, in two states of the queue:

- fresh: every routed pair still needs judgments;
- drained: the top half of the queue (by routing score) already has all its
  judgments but is still routed, so "next" must walk past it (the slow case; routing
  normally moves finished pairs out of the queue).

Each is run at a tenth of the size too, as the reference: the ratio shows how the
latency grows with the project (a fixed number of indexed queries should keep it near
1). The target is for PostgreSQL (DATABASE_URL set); the project is left in the
database, named in the output.
"""
import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import report, setup_django

TARGET_P95_MS = 50.0
ANNOTATORS = 20


def write_file(path: Path, n: int) -> None:
    with path.open("w") as handle:
        for i in range(n):
            handle.write(json.dumps({
                "id": f"q{i}",
                "prompt": f"Queue benchmark prompt {i}: compare two answers about topic {i % 991}.",
                "response_a": f"First answer to {i}. " + "Reasons and details. " * 6,
                "response_b": f"Second answer to {i}. " + "Other reasons, other details. " * 5,
            }) + "\n")


def build_project(n: int, tmp: Path):
    from django.db import connection

    from curation.importers import dataset_import
    from curation.models import Pair
    from curation.services import project_create

    path = tmp / f"queue-{n}.jsonl"
    write_file(path, n)
    slug = f"bench-queue-{n}-{int(time.time())}"
    project = project_create(name=slug, slug=slug, overlap=3, gold_rate=0.0)
    dataset_import(path=path, project=project, fmt="concord")
    score = "random()" if connection.vendor == "postgresql" else "(abs(random()) % 1000000) / 1000000.0"
    table = Pair._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET status = 'routed', routing_score = {score} WHERE project_id = %s", [project.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    return project


def drain_top_half(project) -> None:
    from django.db import connection

    from curation.models import Pair

    table = Pair._meta.db_table
    half = Pair.objects.filter(project=project).count() // 2
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET n_human_judgments = %s WHERE id IN (SELECT id FROM {table} "
            f"WHERE project_id = %s AND status = 'routed' ORDER BY routing_score DESC, id LIMIT %s)",
            [project.overlap, project.pk, half],
        )
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")


def time_rounds(project, rounds: int, tag: str) -> dict:
    from annotation.services import Submission, assignment_next, assignment_submit
    from curation.models import Annotator

    annotators = [Annotator.objects.get_or_create(name=f"{project.slug}-{tag}-{i}")[0] for i in range(ANNOTATORS)]
    rng = random.Random(1)
    next_ms, submit_ms = [], []
    for round_ in range(rounds):
        annotator = annotators[round_ % ANNOTATORS]
        started = time.perf_counter()
        assignment = assignment_next(project=project, annotator=annotator, rng=rng)
        next_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        assignment_submit(assignment_id=assignment.pk, annotator=annotator, submission=Submission(verdict=rng.choice([-1, 0, 1])))
        submit_ms.append((time.perf_counter() - started) * 1000)
    return {
        "next_p50": statistics.median(next_ms),
        "next_p95": statistics.quantiles(next_ms, n=20)[-1],
        "submit_p50": statistics.median(submit_ms),
        "submit_p95": statistics.quantiles(submit_ms, n=20)[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (max(2000, args.pairs // 10), args.pairs):
            project = build_project(n, Path(tmp))
            print(f"{n:,} routed pairs in project {project.slug} ({connection.vendor})")
            measured[(n, "fresh")] = time_rounds(project, args.rounds, "fresh")
            drain_top_half(project)
            measured[(n, "drained")] = time_rounds(project, args.rounds, "drained")
    small, large = sorted({n for n, _ in measured})
    rows = []
    for state in ("fresh", "drained"):
        for step in ("next", "submit"):
            reference = measured[(small, state)][f"{step}_p95"]
            value = measured[(large, state)][f"{step}_p95"]
            rows.append({
                "what": f"{step} p95, {state} queue, {large:,} pairs",
                "measured": value,
                "unit": "ms",
                "target": f"< {TARGET_P95_MS:.0f} ms (PostgreSQL)",
                "met": value < TARGET_P95_MS if connection.vendor == "postgresql" else None,
                "reference": f"{small:,} pairs: {reference:.1f} ms",
                "ratio": value / reference if reference else None,
            })
            rows.append({
                "what": f"{step} p50, {state} queue, {large:,} pairs",
                "measured": measured[(large, state)][f"{step}_p50"],
                "unit": "ms",
                "target": "—",
                "met": None,
            })
    report("annotation_queue", rows, {"vendor": connection.vendor, "pairs": args.pairs, "rounds": args.rounds,
                                      "raw": {f"{n}-{state}": v for (n, state), v in measured.items()}})


if __name__ == "__main__":
    main()
