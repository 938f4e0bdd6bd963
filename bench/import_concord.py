"""Import of a large concord JSONL file: pairs/s and peak memory.

    python -m bench.import_concord [--pairs 1000000]

Writes a synthetic file (each line: a prompt, two responses, one human judgment),
imports it into a fresh project with the real importer (validate pass, then write
pass, one transaction) and reports pairs/s against the 50,000 pairs/s target and
peak memory at two file sizes, to show that memory does not grow with the file.
Run it against PostgreSQL with DATABASE_URL set (the target is for PostgreSQL).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import report, setup_django

TARGET_PAIRS_PER_S = 50_000


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
if connection.vendor == "postgresql":
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
print(json.dumps({{"seconds": seconds, "pairs": summary.counts["pairs_created"], "peak_mb": peak_rss_mb(),
                  "base_mb": base, "vendor": connection.vendor, "phases": summary.phases}}))
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
        {"what": f"peak memory, {sizes[0]:,}-line file", "measured": small["peak_mb"], "unit": "MB",
         "target": "bounded", "met": None},
        {"what": f"peak memory, {sizes[-1]:,}-line file ({large['file_mb']:.0f} MB)", "measured": large["peak_mb"],
         "unit": "MB", "target": "about the same as above", "met": large["peak_mb"] < small["peak_mb"] * 1.5 + 50},
    ]
    report("import_concord", rows, {"runs": {str(k): v for k, v in results.items()}})


if __name__ == "__main__":
    main()
