"""Import of a large concord JSONL file: pairs/s and peak memory.

    python -m bench.import_concord [--pairs 1000000]

Writes a synthetic file (each line: a prompt, two responses, one human judgment),
imports it into a fresh project with the real importer (validate pass, then write
pass, one transaction) and reports pairs/s against the 50,000 pairs/s target and
peak memory at two file sizes, to show that memory does not grow with the file.
Run it against PostgreSQL with DATABASE_URL set (the target is for PostgreSQL).

Reference, on PostgreSQL, in the same run: the database alone writing the rows the
import wrote (``copy_reference``). The import's prompts, responses, pairs and
judgments are read out with ``COPY … TO`` (not timed), then written again with
``COPY … FROM`` into the same tables, under a second project, with every index,
trigger and foreign key in place, and ``SET CONSTRAINTS ALL IMMEDIATE`` runs the
deferred foreign-key checks the commit would run; then it is all rolled back. No
importer can write those rows faster than that on the same machine: it is the floor,
and the ratio says how far above it the import is.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import report, setup_django

TARGET_PAIRS_PER_S = 50_000
COPY_CHUNK = 1 << 20


def write_file(path: Path, n: int) -> None:
    with path.open("w") as handle:
        for i in range(n):
            handle.write(
                json.dumps(
                    {
                        "id": f"b{i}",
                        "prompt": f"Benchmark prompt {i}: explain topic {i % 997} in simple words.",
                        "response_a": f"Answer A to prompt {i}. " + "Some words of explanation. " * 8,
                        "response_b": f"Answer B to prompt {i}. " + "Other words, said differently. " * 6,
                        "metadata": {"category": f"c{i % 12}"},
                        "judgments": [{"annotator": f"bench-annotator-{i % 50}", "verdict": (i % 5) - 2}],
                    }
                )
                + "\n"
            )


def copy_reference(project) -> dict:
    """Seconds PostgreSQL takes to write ``project``'s prompts, responses, pairs and
    judgments again with COPY into the same tables (indexes, triggers, foreign keys
    and their deferred checks included), and the rows per table. Rolled back:
    nothing is left behind."""
    from django.db import connection, transaction
    from django.db.models import Max

    from curation.models import Judgment, Pair, Prompt, Response
    from curation.services import project_create

    models = (Prompt, Response, Pair, Judgment)  # each refers only to the ones before it
    tables = {model._meta.db_table for model in models}
    pk = int(project.pk)
    where = {
        Prompt: f"project_id = {pk}",
        Response: f"prompt_id IN (SELECT id FROM curation_prompt WHERE project_id = {pk})",
        Pair: f"project_id = {pk}",
        Judgment: f"project_id = {pk}",
    }
    rows, steps, seconds = {}, {}, 0.0
    with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
        copy = project_create(name=f"{project.slug} copy", slug=f"{project.slug}-copy")
        # Each table's rows get ids past its last one; references follow (the project
        # becomes the copy, other references are kept).
        shift = {model._meta.db_table: model.objects.aggregate(top=Max("pk"))["top"] or 0 for model in models}
        files = {}
        with connection.cursor() as cursor:
            raw = cursor.cursor
            for model in models:
                table = model._meta.db_table
                columns, values = [], []
                for field in model._meta.concrete_fields:
                    column = connection.ops.quote_name(field.column)
                    target = field.related_model._meta.db_table if field.is_relation else None
                    columns.append(column)
                    if field.primary_key:
                        values.append(f"{column} + {shift[table]}")
                    elif target == "curation_project":
                        values.append(str(copy.pk))
                    elif target in tables:
                        values.append(f"{column} + {shift[target]}")
                    else:
                        values.append(column)
                files[model] = (Path(tmp) / table, ", ".join(columns))
                query = f"COPY (SELECT {', '.join(values)} FROM {table} WHERE {where[model]}) TO STDOUT"
                with files[model][0].open("wb") as out, raw.copy(query) as stream:
                    for block in stream:
                        out.write(block)
            started = time.perf_counter()
            for model in models:
                path, columns = files[model]
                with path.open("rb") as source, raw.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as stream:
                    while block := source.read(COPY_CHUNK):
                        stream.write(block)
                rows[model._meta.db_table] = raw.rowcount
                steps[model._meta.db_table] = time.perf_counter() - started - sum(steps.values())
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            seconds = time.perf_counter() - started
            steps["foreign-key checks"] = seconds - sum(steps.values())
        transaction.set_rollback(True)
    return {"seconds": seconds, "rows": rows, "steps": steps}


def run_one(path: Path, n: int) -> dict:
    """Import in a child process so its peak memory is the import's alone."""
    code = f"""
import json, time
from bench.common import setup_django, peak_rss_mb
setup_django()
from django.db import connection
from curation.importers import dataset_import
from curation.services import project_create
from curation.models import Project
Project.objects.filter(slug="bench-import").delete() if not Project.objects.filter(slug="bench-import", pairs__isnull=False).exists() else None
slug = "bench-import-{n}-" + str(int(time.time()))
project = project_create(name=slug, slug=slug)
base = peak_rss_mb()
started = time.monotonic()
summary = dataset_import(path={str(path)!r}, project=project, fmt="concord")
seconds = time.monotonic() - started
peak_mb = peak_rss_mb()
reference = None
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    from bench.import_concord import copy_reference
    reference = copy_reference(project)
print(json.dumps({{"seconds": seconds, "pairs": summary.counts["pairs_created"], "peak_mb": peak_mb,
                  "base_mb": base, "vendor": connection.vendor, "phases": summary.phases, "copy": reference}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    args = parser.parse_args()
    if os.environ.get("CONCORD_IMPORT_EXPLAIN"):
        # EXPLAIN ANALYZE runs each INSERT but reports no row counts: the result would say 0 pairs.
        parser.error("unset CONCORD_IMPORT_EXPLAIN: with it the importer explains its statements and counts "
                     "nothing, so the benchmark cannot measure pairs/s")
    setup_django()
    sizes = sorted({max(1000, args.pairs // 10), args.pairs})
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"bench-{n}.jsonl"
            write_file(path, n)
            results[n] = run_one(path, n)
            results[n]["file_mb"] = path.stat().st_size / 2**20
            path.unlink()
    small, large = results[sizes[0]], results[sizes[-1]]
    rate = large["pairs"] / large["seconds"]
    rows = [
        {"what": f"import {large['pairs']:,} pairs ({large['vendor']})", "measured": rate, "unit": "pairs/s",
         "target": f">= {TARGET_PAIRS_PER_S:,} pairs/s", "met": rate >= TARGET_PAIRS_PER_S},
    ]
    if large.get("copy"):
        floor = large["copy"]
        floor_rate = large["pairs"] / floor["seconds"]
        rows[0].update(reference=f"COPY of the same rows {floor['seconds']:,.1f} s, import {large['seconds']:,.1f} s",
                       ratio=large["seconds"] / floor["seconds"])
        rows.append({"what": f"PostgreSQL alone: COPY of the same {sum(floor['rows'].values()):,} rows, constraints checked",
                     "measured": floor_rate, "unit": "pairs/s", "target": f">= {TARGET_PAIRS_PER_S:,} pairs/s",
                     "met": floor_rate >= TARGET_PAIRS_PER_S})
    rows += [
        {"what": f"peak memory, {sizes[0]:,}-line file", "measured": small["peak_mb"], "unit": "MB",
         "target": "bounded", "met": None},
        {"what": f"peak memory, {sizes[-1]:,}-line file ({large['file_mb']:.0f} MB)", "measured": large["peak_mb"],
         "unit": "MB", "target": "about the same as above", "met": large["peak_mb"] < small["peak_mb"] * 1.5 + 50},
    ]
    report("import_concord", rows, {"runs": {str(k): v for k, v in results.items()}})


if __name__ == "__main__":
    main()
