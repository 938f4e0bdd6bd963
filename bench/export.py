"""Export of a large project to TRL JSONL: rows/s, peak memory, and the ratio to
PostgreSQL's own COPY of the same rows.

    DATABASE_URL=postgres://… SECRET_KEY=x python -m bench.export [--pairs 1000000] [--keep]

Loads N silver pairs (two prompts' worth of responses per prompt, two agreeing AI
judgments per pair) into a fresh project with set-based INSERT … SELECT on
PostgreSQL, runs ANALYZE (the local server has autovacuum off), catches up the
project's agreement counts (which the dataset card reads; untimed, printed), then in
child processes (so each peak memory is the export's alone):

1. the real export (``export_write``: server-side cursor, batches, per-batch
   agreement query, JSONL, dataset card) of all pairs, and of the 10% whose origin
   is ``bench-small``, to show that memory does not grow with the export;
2. ``COPY (SELECT …) TO STDOUT`` of the same rows (prompt, both responses, label,
   id, tier and label source, joined the same way), read and discarded: once with
   the server's default plan and once with the export stream's planner settings;
   the ratio is against the faster of the two.

Targets: ≥ 100,000 rows/s, peak memory < 300 MB, export time within 3× of COPY.
``--keep`` reuses the project of an earlier run with the same --pairs.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import report, setup_django

TARGET_ROWS_PER_S = 100_000
TARGET_PEAK_MB = 300
TARGET_RATIO = 3.0
ROOT = Path(__file__).resolve().parents[1]


def load(project_id: int, n_pairs: int) -> None:
    """n_pairs pairs over n_pairs/2 prompts (responses r0, r1, r2; pairs r0–r1 and
    r1–r2), silver, labels alternating in sign and strength, two AI judgments each."""
    from django.db import connection, transaction

    from curation.models import JudgeConfig

    judges = [
        JudgeConfig.objects.create(project_id=project_id, name=name, method="judge_pairwise", model=name).pk
        for name in ("bench-judge-a", "bench-judge-b")
    ]
    n_prompts = (n_pairs + 1) // 2
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO curation_prompt (project_id, text, messages, content_hash, category, origin, external_id,
                                         metadata, created_at)
            SELECT %(project)s, t, NULL, encode(sha256(convert_to('text:' || t, 'UTF8')), 'hex'), 'c' || (g %% 12),
                   'bench', g::text, '{}', now()
            FROM generate_series(1, %(n)s) AS g,
                 LATERAL (SELECT 'Benchmark prompt ' || g || ': explain topic ' || (g %% 997)
                                 || ' in simple words, with an example.' AS t) AS x
            """,
            {"project": project_id, "n": n_prompts},
        )
        cursor.execute(
            """
            INSERT INTO curation_response (prompt_id, text, content_hash, producer, producer_kind, params, conditioning,
                                           n_chars, finish_reason, created_at)
            SELECT p.id, t, encode(sha256(convert_to(t, 'UTF8')), 'hex'), 'bench-model-' || k, 'model', '{}', '{}',
                   length(t), 'stop', now()
            FROM curation_prompt p CROSS JOIN generate_series(0, 2) AS k,
                 LATERAL (SELECT 'Answer ' || k || ' to prompt ' || p.external_id || '. '
                                 || repeat('Some words of explanation, said plainly. ', 4 + 2 * k) AS t) AS x
            WHERE p.project_id = %(project)s
            """,
            {"project": project_id},
        )
        cursor.execute(
            """
            INSERT INTO curation_pair (project_id, prompt_id, response_a_id, response_b_id, content_hash, external_id,
                                       origin, metadata, tier, status, gold_source, label_verdict, label_source, flags,
                                       n_human_judgments, n_active_leases, created_at, updated_at)
            SELECT %(project)s, r.prompt_id, r.ids[j], r.ids[j + 1],
                   encode(sha256(convert_to(r.prompt_id || ':' || r.ids[j] || ':' || r.ids[j + 1], 'UTF8')), 'hex'),
                   '', CASE WHEN r.prompt_id %% 10 = 0 THEN 'bench-small' ELSE 'bench' END, '{}', 'silver', 'open', '',
                   (ARRAY[-1, 1, -2, 2])[1 + (r.prompt_id + j) %% 4], 'ai_consensus', '[]', 0, 0, now(), now()
            FROM (SELECT prompt_id, array_agg(id ORDER BY id) AS ids FROM curation_response
                  WHERE prompt_id IN (SELECT id FROM curation_prompt WHERE project_id = %(project)s)
                  GROUP BY prompt_id) AS r
            CROSS JOIN generate_series(1, 2) AS j
            ORDER BY r.prompt_id, j
            LIMIT %(n)s
            """,
            {"project": project_id, "n": n_pairs},
        )
        cursor.execute(
            """
            INSERT INTO curation_judgment (project_id, pair_id, judge_config_id, is_human, verdict, strength_known,
                                           raw_value, raw_scale, length_rule_applied, confidence, position_consistent,
                                           parse_ok, rationale, aspects, checklist_answers, runs, shown_order, mode,
                                           is_revision, used_assistance, context, flags, created_at)
            SELECT %(project)s, p.id, j.judge, false, p.label_verdict, true, '', '', false, 0.9, true, true,
                   'Benchmark rationale.', '{}', '{}', '[]', '', 'imported', false, false, '', '[]', now()
            FROM curation_pair p CROSS JOIN unnest(%(judges)s::bigint[]) AS j(judge)
            WHERE p.project_id = %(project)s
            """,
            {"project": project_id, "judges": judges},
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


CHILD_EXPORT = """
import json, sys, time
from bench.common import setup_django, peak_rss_mb
setup_django()
from pathlib import Path
from curation.exports import ExportOptions, export_write
from curation.models import Project
project = Project.objects.get(slug=sys.argv[1])
options = ExportOptions.from_dict(json.loads(sys.argv[3]))
base = peak_rss_mb()
started = time.monotonic()
result = export_write(project=project, options=options, output=Path(sys.argv[2]))
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "rows": result.rows, "peak_mb": peak_rss_mb(), "base_mb": base,
                  "bytes": sum((result.directory / f["name"]).stat().st_size for f in result.files)}))
"""

CHILD_COPY = """
import json, sys, time
from bench.common import setup_django, peak_rss_mb
setup_django()
from django.db import connection
sql = '''COPY (SELECT p.id, pr.text, ra.text, rb.text, p.label_verdict, p.label_source, p.tier
               FROM curation_pair p JOIN curation_prompt pr ON pr.id = p.prompt_id
               JOIN curation_response ra ON ra.id = p.response_a_id JOIN curation_response rb ON rb.id = p.response_b_id
               WHERE p.project_id = %s AND p.tier IN ('silver', 'gold') AND p.label_verdict <> 0
               ORDER BY p.id) TO STDOUT'''
started = time.monotonic()
n_bytes = 0
with connection.cursor() as cursor:
    for name, value in json.loads(sys.argv[2]).items():
        cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
    with cursor.cursor.copy(sql, (int(sys.argv[1]),)) as copy:
        for block in copy:
            n_bytes += len(block)
print(json.dumps({"seconds": time.monotonic() - started, "bytes": n_bytes, "peak_mb": peak_rss_mb()}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse the project of an earlier run of this size")
    parser.add_argument("--output", type=Path, default=Path("/tmp/concord-bench-export"))
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from curation.models import Pair, Project

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark needs PostgreSQL: set DATABASE_URL (and SECRET_KEY).")
    slug = f"bench-export-{args.pairs}"
    project = Project.objects.filter(slug=slug).first()
    load_seconds = None
    if project is None or not args.keep or Pair.objects.filter(project=project).count() != args.pairs:
        if project is not None:
            print(f"Deleting the earlier {slug} project…")
            with connection.cursor() as cursor:
                for table in ("curation_judgment", "curation_pair"):
                    cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project.pk])
            project.delete()
        project = Project.objects.create(name=slug, slug=slug)
        print(f"Loading {args.pairs:,} pairs…", flush=True)
        started = time.monotonic()
        load(project.pk, args.pairs)
        load_seconds = time.monotonic() - started
        print(f"  loaded in {load_seconds:.0f} s", flush=True)
    # Rows written by SQL are counted into the agreement counts on their first read; the
    # dataset card reads the agreement report, so without this the first export would
    # carry a one-off catch-up of every pair (minutes at 1M). Not part of the export,
    # and in a child process: Linux keeps a parent's peak RSS in the children it forks,
    # which would then show as the exports' peak memory.
    started = time.monotonic()
    subprocess.run([sys.executable, "manage.py", "agreement_aggregates", "--project", slug], cwd=ROOT, check=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE curation_pair, curation_judgment, curation_agreementcount")
    print(f"  agreement counts caught up in {time.monotonic() - started:.0f} s", flush=True)

    args.output.mkdir(parents=True, exist_ok=True)
    trl = json.dumps({"format": "trl"})
    small = child(CHILD_EXPORT, slug, str(args.output / "small" / "data.jsonl"),
                  json.dumps({"format": "trl", "origins": ["bench-small"]}))
    full = child(CHILD_EXPORT, slug, str(args.output / "full" / "data.jsonl"), trl)
    from curation.exports.selection import STREAM_SETTINGS

    # Two references: COPY with the server's default plan, and with the plan settings
    # the export's stream uses (index nested loops, no JIT). The ratio is taken
    # against the faster of the two, so a better plan cannot flatter the export.
    copy_default = child(CHILD_COPY, str(project.pk), "{}")
    copy_same_plan = child(CHILD_COPY, str(project.pk), json.dumps(STREAM_SETTINGS))
    copy = min(copy_default, copy_same_plan, key=lambda run: run["seconds"])
    rate = full["rows"] / full["seconds"]
    ratio = full["seconds"] / copy["seconds"]
    rows = [
        {"what": f"export {full['rows']:,} pairs to trl JSONL", "measured": rate, "unit": "rows/s",
         "target": f">= {TARGET_ROWS_PER_S:,} rows/s", "met": rate >= TARGET_ROWS_PER_S},
        {"what": "export time vs COPY (SELECT …) TO STDOUT", "measured": ratio, "unit": "×",
         "target": f"<= {TARGET_RATIO:g}×", "met": ratio <= TARGET_RATIO, "ratio": ratio,
         "reference": f"COPY {copy['seconds']:.2f} s (default plan {copy_default['seconds']:.2f} s, export's plan "
                      f"{copy_same_plan['seconds']:.2f} s), export {full['seconds']:.2f} s"},
        {"what": f"peak memory, export of {small['rows']:,} rows", "measured": small["peak_mb"], "unit": "MB",
         "target": f"< {TARGET_PEAK_MB} MB", "met": small["peak_mb"] < TARGET_PEAK_MB},
        {"what": f"peak memory, export of {full['rows']:,} rows", "measured": full["peak_mb"], "unit": "MB",
         "target": f"< {TARGET_PEAK_MB} MB, flat", "met": full["peak_mb"] < TARGET_PEAK_MB
         and full["peak_mb"] < small["peak_mb"] + 50},
    ]
    report("export", rows, {"pairs": args.pairs, "load_seconds": load_seconds, "export": full, "small": small,
                            "copy": copy, "copy_default_plan": copy_default, "copy_export_plan": copy_same_plan,
                            "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
