"""Run the benchmarks one after another and write the table in docs/benchmarks.md.

    make bench                                   # all of them (about an hour on 2 cores)
    python -m bench.run_all --quick              # smaller sizes, a few minutes
    python -m bench.run_all --only export,routing
    python -m bench.run_all --report-only        # rebuild docs/benchmarks.md from bench/results/

Each benchmark runs in its own process (so each peak memory is its own) and writes
``bench/results/<name>.json``; the table puts each measured figure beside its target
and, where the benchmark has a reference run on the same machine (PostgreSQL's COPY,
llama.cpp, one annotator, the SQL path the aggregates replace), the ratio. The targets
are for PostgreSQL: with no ``DATABASE_URL`` pointing at PostgreSQL, the benchmarks
that need it are skipped with that reason, and the others still run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import common

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
TABLE_START = "<!-- results table: written by python -m bench.run_all -->"
TABLE_END = "<!-- end of results table -->"


@dataclass(frozen=True)
class Benchmark:
    name: str  # the results file's name (bench/results/<name>.json) and the --only value
    module: str
    args: list[str] = field(default_factory=list)
    quick_args: list[str] = field(default_factory=list)
    postgres: bool = True


# In the order they run: the synthetic million-pair project first, then what reads it.
BENCHMARKS = [
    Benchmark("synthetic", "bench.synthetic", ["--pairs", "1000000", "--replace"],
              ["--pairs", "20000", "--project", "bench-quick", "--replace"]),
    Benchmark("scale_report", "bench.scale_report", ["--project", "bench-1m"], ["--project", "bench-quick", "--repeat", "1", "--review", "10"]),
    Benchmark("annotation_http", "bench.annotation_http", [],
              ["--pairs", "20000", "--seconds", "15", "--reference-seconds", "5"]),
    Benchmark("import_concord", "bench.import_concord", ["--pairs", "1000000"], ["--pairs", "50000"]),
    Benchmark("export", "bench.export", ["--pairs", "1000000"], ["--pairs", "50000"]),
    Benchmark("annotation_queue", "bench.annotation_queue", [], ["--pairs", "20000", "--rounds", "50"]),
    Benchmark("generation", "bench.generation", [], ["--new-tokens", "16", "--repeats", "1"], postgres=False),
    Benchmark("routing", "bench.routing", [], ["--seeds", "1"], postgres=False),
]


def on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def run(benchmarks: list[Benchmark], *, quick: bool) -> dict[str, str]:
    """Run each benchmark; return name → outcome (ok, failed (exit n), skipped: why)."""
    outcomes = {}
    for bench in benchmarks:
        if bench.postgres and not on_postgres():
            outcomes[bench.name] = "skipped: needs DATABASE_URL=postgres://… (the targets are for PostgreSQL)"
            print(f"\n== {bench.name}: {outcomes[bench.name]}", flush=True)
            continue
        command = [sys.executable, "-m", bench.module, *(bench.quick_args if quick else bench.args)]
        print(f"\n== {bench.name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.call(command, cwd=ROOT)
        took = time.monotonic() - started
        outcomes[bench.name] = "ok" if code == 0 else f"failed (exit {code})"
        print(f"== {bench.name}: {outcomes[bench.name]} in {took:.0f} s", flush=True)
    return outcomes


def _figure(value: float, unit: str) -> str:
    if unit in ("×", "x"):
        return f"{value:.2f}×"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.3g} {unit}"


def table_rows() -> list[str]:
    """One Markdown row per measured figure in bench/results/*.json, benchmarks in run order."""
    order = {bench.name: i for i, bench in enumerate(BENCHMARKS)}
    # A "<name>_before.json" (the figures before a change, kept as the reference) follows <name>.
    files = sorted(common.RESULTS.glob("*.json"), key=lambda p: (
        order.get(p.stem.removesuffix("_before").split("-")[0], len(order)), p.stem.endswith("_before"), p.stem))
    lines = ["| benchmark | what | measured | target | met | reference run (ratio) | when |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for path in files:
        payload = json.loads(path.read_text())
        for row in payload.get("rows", []):
            met = {True: "yes", False: "**no**", None: "—"}[row.get("met")]
            ratio = ""
            if row.get("ratio") is not None:
                ratio = f"{row['ratio']:.3g}× vs {row.get('reference', '')}".replace("|", "/")
            lines.append(
                f"| `{path.stem}` | {row['what']} | {_figure(row['measured'], row['unit'])} | "
                f"{row['target']} | {met} | {ratio} | {payload.get('when', '')[:10]} |"
            )
    return lines


def write_doc() -> None:
    """Replace the table between the markers of docs/benchmarks.md (the prose is kept)."""
    text = DOC.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        raise SystemExit(f"{DOC} has lost its table markers ({TABLE_START!r} … {TABLE_END!r}); put them back")
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    DOC.write_text(head + TABLE_START + "\n" + "\n".join(table_rows()) + "\n" + TABLE_END + tail)
    print(f"table written to {DOC}")


def main() -> None:
    names = [bench.name for bench in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated names, from: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that every benchmark runs")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the table from bench/results/")
    options = parser.parse_args()
    chosen = BENCHMARKS
    if options.only:
        wanted = [name.strip() for name in options.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(names)}")
        chosen = [bench for bench in BENCHMARKS if bench.name in wanted]
    if options.quick and not options.report_only:
        # A smoke run: its figures go to var/, the committed results and table stay.
        os.environ["CONCORD_BENCH_RESULTS"] = str(ROOT / "var" / "bench-quick")
    outcomes = {} if options.report_only else run(chosen, quick=options.quick)
    if not options.quick or options.report_only:
        write_doc()
    failed = {name: outcome for name, outcome in outcomes.items() if outcome.startswith("failed")}
    for name, outcome in outcomes.items():
        print(f"  {name:<18} {outcome}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
