"""Shared pieces of the benchmarks: Django setup, peak memory, and the result line
(measured figure, target, ratio against a reference run on the same machine)."""
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

# CONCORD_BENCH_RESULTS moves them (bench.run_all --quick does, so that a smoke run
# leaves the committed figures alone).
RESULTS = Path(os.environ.get("CONCORD_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def setup_django() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, rows: list[dict], extra: dict | None = None) -> Path:
    """Print a table and write bench/results/<name>.json.

    Each row: what, measured, unit, target (text), met (bool or None), and
    optionally reference and ratio.
    """
    width = max(len(r["what"]) for r in rows)
    print(f"\n{name}")
    for r in rows:
        ratio = f"  ratio {r['ratio']:.2f}× vs {r['reference']}" if r.get("ratio") is not None else ""
        met = {True: "met", False: "MISSED", None: ""}[r.get("met")]
        print(f"  {r['what']:<{width}}  {r['measured']:>12,.1f} {r['unit']:<8} target {r['target']:<22} {met}{ratio}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rows": rows,
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"  → {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path
