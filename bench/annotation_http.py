"""Annotators over real HTTP: "next" and "submit" against a real gunicorn on PostgreSQL.

    python -m bench.annotation_http [--pairs 200000] [--annotators 50] [--seconds 60]
                                    [--workers 4 --threads 4] [--keep-alive 0] [--keep]
                                    [--ceiling-seconds 10]

Builds a project of ``--pairs`` routed pairs with the real importer (``--keep``
reuses the one a previous run left, with its judgments and leases cleared), makes
annotator users with real passwords (the production hasher), starts
``gunicorn config.wsgi`` and, in a separate load process, runs simulated annotators
in threads (httpx): each logs in through the login form, then loops for
``--seconds``: GET the review page (the next pair, "next") → POST the verdict with
the form's fields, as a browser without JavaScript does ("submit", answered by a
redirect back to the page) → GET the page again. Every request's latency is recorded
in the load process (what an annotator waits for), and gunicorn's access log gives
the server's own time of each request. ``--keep-alive 0`` (the default) closes each
connection after its response, as nginx does towards gunicorn in the deployment.

Reference, in the same run: one annotator alone on the same server. The targets
(p95 of next and submit under 100 ms, at least 300 judgments/s in total) are for
PostgreSQL. Afterwards the database is checked: zero pairs with more judgments (plus
leases) than the overlap, zero duplicate judgments, the pairs' counters equal to
the rows. CPU seconds of gunicorn, of the PostgreSQL backends serving it and of the
load process are measured too (per judgment), with the whole machine's busy CPU as
their bound, to show where the time goes.

The ceiling, in the same run (``--ceiling-seconds``, 0 to skip): the same number of
clients, from the same load process, GET a static file (WhiteNoise: no view, no
database) and then the login page (a view and a template through every middleware, no
query) from the same gunicorn. Half of each rate (a judgment is two requests) is the
most judgments/s this machine could serve if a judgment cost no more than that page.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_P95_MS = 100.0
TARGET_RATE = 300.0
PASSWORD = "bench-annotator-Lp7-passphrase"
ROOT = Path(__file__).resolve().parents[1]

SUBMIT = re.compile(r'action="(/projects/[^/]+/annotate/\d+/submit/)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RUBRIC_INPUT = re.compile(r'<input type="hidden" name="rubric" value="(\d+)">')
ACCESS_LINE = re.compile(r'^(GET|POST) (\S+) (\d{3}) (\d+)$')


# --- the project ------------------------------------------------------------------


def write_file(path: Path, n: int) -> None:
    """Pairs that look like real ones: a prompt of a few lines, responses of about 1,500
    characters with paragraphs, a list and a code block (markdown is rendered)."""
    rng = random.Random(n)
    with path.open("w") as handle:
        for i in range(n):
            topic = i % 997
            prompt = (f"Prompt {i}: explain how topic {topic} works, with an example.\n\n"
                      f"Keep it short, and say when it does **not** apply.")
            responses = []
            for side in ("first", "second"):
                points = "\n".join(f"- point {k}: detail {rng.randint(0, 10**6)} about topic {topic}" for k in range(4))
                responses.append(
                    f"The {side} answer to prompt {i}.\n\n"
                    + ("It explains the idea in plain words and gives the reasons. " * rng.randint(6, 10))
                    + f"\n\n{points}\n\n```python\ndef example_{i}():\n    return {topic} * 2\n```\n\n"
                    + ("A closing paragraph with *some* emphasis and a [link](https://example.org). " * 3)
                )
            handle.write(json.dumps({"id": f"h{i}", "prompt": prompt, "response_a": responses[0],
                                     "response_b": responses[1]}) + "\n")


def project_slug(n: int) -> str:
    return f"bench-http-{n}"


def ensure_project(n: int, keep: bool):
    """The project of n routed pairs: reused with --keep when a previous run left it."""
    from django.db import connection

    from curation.importers import dataset_import
    from curation.models import Pair, Project
    from curation.services import project_create

    slug = project_slug(n)
    existing = Project.objects.filter(slug=slug).first()
    if existing is not None and keep and Pair.objects.filter(project=existing).count() == n:
        print(f"reusing project {slug} ({n:,} pairs)")
        return existing
    if existing is not None:
        existing.delete()
    started = time.monotonic()
    project = project_create(name=slug, slug=slug, overlap=3, gold_rate=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"http-{n}.jsonl"
        write_file(path, n)
        dataset_import(path=path, project=project, fmt="concord")
    score = "random()" if connection.vendor == "postgresql" else "(abs(random()) % 1000000) / 1000000.0"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Pair._meta.db_table} SET status = 'routed', routing_score = {score} "
                       "WHERE project_id = %s", [project.pk])
    print(f"built project {slug}: {n:,} routed pairs in {time.monotonic() - started:.0f} s")
    return project


def reset_annotation(project) -> None:
    """Every pair routed and unjudged again: the runs before and after a change start
    from the same queue."""
    from django.db import connection, transaction

    from annotation.models import Assignment
    from curation.models import Judgment, Pair

    with transaction.atomic():
        Assignment.objects.filter(project=project).delete()
        Judgment.objects.filter(project=project, is_human=True).delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Pair._meta.db_table} SET status = 'routed', tier = 'unverified', n_human_judgments = 0, "
                "n_active_leases = 0, consensus_verdict = NULL, consensus_strength = NULL, label_verdict = NULL, "
                "label_source = '' WHERE project_id = %s AND (n_human_judgments > 0 OR n_active_leases > 0 "
                "OR status <> 'routed')",
                [project.pk],
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def ensure_annotators(project, count: int) -> list[str]:
    """Annotator users with a real password (the settings' hasher) and membership."""
    from django.contrib.auth import get_user_model

    from curation.services import annotator_for_user, membership_set

    User = get_user_model()
    names = []
    for i in range(count):
        name = f"{project.slug}-annotator-{i:03}"
        user, created = User.objects.get_or_create(username=name)
        if created or not user.check_password(PASSWORD):
            user.set_password(PASSWORD)
            user.save()
        membership_set(project=project, user=user, role="annotator")
        annotator_for_user(user=user)
        names.append(name)
    return names


def database_checks(project) -> dict:
    """Zero over-assigned pairs, zero duplicate judgments, counters equal to the rows."""
    from django.db.models import Count, F, Q

    from annotation.models import Assignment
    from curation.models import Judgment, Pair

    human = Judgment.objects.filter(project=project, is_human=True)
    duplicates = human.values("pair", "annotator", "is_revision").annotate(n=Count("id")).filter(n__gt=1).count()
    per_pair = human.filter(is_revision=False).values("pair").annotate(n=Count("id"))
    over_judged = per_pair.filter(n__gt=project.overlap).count()
    leases = Assignment.objects.filter(project=project, state="leased").values("pair").annotate(n=Count("id"))
    lease_count = {row["pair"]: row["n"] for row in leases}
    judged = {row["pair"]: row["n"] for row in per_pair}
    touched = set(lease_count) | set(judged)
    over_assigned = sum(1 for pair in touched if judged.get(pair, 0) + lease_count.get(pair, 0) > project.overlap)
    counters_off = (
        Pair.objects.filter(project=project, id__in=touched)
        .annotate(rows=Count("judgments", filter=Q(judgments__is_human=True, judgments__is_revision=False)))
        .exclude(n_human_judgments=F("rows"))
        .count()
    )
    leases_off = sum(
        1 for pair, n in Pair.objects.filter(id__in=touched).values_list("id", "n_active_leases")
        if n != lease_count.get(pair, 0)
    )
    return {"judgments": human.count(), "duplicate_judgments": duplicates, "over_judged_pairs": over_judged,
            "over_assigned_pairs": over_assigned, "pairs_counter_mismatch": counters_off,
            "pairs_lease_counter_mismatch": leases_off}


# --- the server -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn config.wsgi`` with the environment of this process (DATABASE_URL…),
    an access log of method, path, status and microseconds."""

    def __init__(self, workers: int, threads: int, folder: Path, keep_alive: int = 0):
        self.workers, self.threads, self.keep_alive = workers, threads, keep_alive
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = folder / "access.log"
        self.error_log = folder / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        import httpx

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "120",
             "--graceful-timeout", "5", "--keep-alive", str(self.keep_alive), "--access-logfile", str(self.access_log),
             "--access-logformat", "%(m)s %(U)s %(s)s %(D)s", "--error-logfile", str(self.error_log)],
            cwd=ROOT, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.error_log.read_text(errors='replace')}")
            try:
                if httpx.get(self.url + "/accounts/login/", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer in 60 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)

    def cpu_seconds(self) -> float:
        """User + system CPU of the gunicorn workers and the arbiter so far."""
        import psutil

        parent = psutil.Process(self.process.pid)
        total = 0.0
        for proc in [parent, *parent.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def access_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def server_times(self, offset: int) -> dict[str, list[float]]:
        """Milliseconds the server spent on each next (GET) and submit (POST) request
        logged after ``offset``."""
        times: dict[str, list[float]] = {"next": [], "submit": []}
        with self.access_log.open() as handle:
            handle.seek(offset)
            for line in handle:
                found = ACCESS_LINE.match(line.strip())
                if not found or "/annotate/" not in found.group(2):
                    continue
                kind = "submit" if found.group(1) == "POST" else "next"
                times[kind].append(int(found.group(4)) / 1000)
        return times


class PostgresBackendCPU:
    """CPU seconds of the PostgreSQL backends connected to this database (the server's
    connections), read from /proc every half second while the load runs: a backend that
    starts during the run counts from zero, one that ends (CONN_MAX_AGE) keeps what it
    had used at its last sample."""

    def __init__(self, database: str):
        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PostgresBackendCPU:
        # This thread's own connection is sampled too, so that only what it uses during
        # the run counts (not the import and clean-up it ran before: they used to be
        # added in full, from zero, by the sampling thread).
        self._sample(skip_own=False)
        self.started = True
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    def seconds(self) -> float:
        return sum(used - self.first.get(pid, 0.0) for pid, used in self.last.items())

    def _loop(self) -> None:
        from django.db import connection

        try:
            while not self.stop.wait(0.5):
                self._sample()
        finally:
            connection.close()

    def _sample(self, skip_own: bool = True) -> None:
        import psutil
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND (NOT %s OR pid <> pg_backend_pid())",
                           [self.database, skip_own])
            pids = [row[0] for row in cursor.fetchall()]
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if not self.started:
                self.first[pid] = times.user + times.system
            self.last[pid] = times.user + times.system


# --- the load process -------------------------------------------------------------


def annotator_loop(base_url: str, slug: str, username: str, seed: int, start: threading.Barrier,
                   stop_at: list[float], out: dict) -> None:
    """One annotator: log in, then next → submit → next … until the time is up."""
    import httpx

    rng = random.Random(seed)
    review = f"/projects/{slug}/annotate/"
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            page = client.get("/accounts/login/")
            token = CSRF_INPUT.search(page.text).group(1)
            login = client.post("/accounts/login/", data={"username": username, "password": PASSWORD,
                                                          "csrfmiddlewaretoken": token})
            if login.status_code != 302:
                raise RuntimeError(f"login answered {login.status_code}")
            client.get(review)  # warm: the first page of each connection is not timed
            start.wait()
            while True:
                began = time.perf_counter()
                if began >= stop_at[0]:
                    return
                page = client.get(review)
                out["next"].append((time.perf_counter() - began) * 1000)
                out["statuses"].append(page.status_code)
                found = SUBMIT.search(page.text) if page.status_code == 200 else None
                if found is None:
                    out["empty"].append(1)
                    time.sleep(0.2)
                    continue
                data = {"csrfmiddlewaretoken": CSRF_INPUT.search(page.text).group(1),
                        "time_spent_ms": str(rng.randint(2000, 30000)), "rationale": "",
                        "verdict": str(rng.choice([-2, -1, 0, 1, 2])), "reason": "", "note": ""}
                rubric = RUBRIC_INPUT.search(page.text)
                if rubric:
                    data["rubric"] = rubric.group(1)
                began = time.perf_counter()
                answer = client.post(found.group(1), data=data)
                out["submit"].append((time.perf_counter() - began) * 1000)
                out["statuses"].append(answer.status_code)
                if answer.status_code == 302:
                    out["judgments"].append(1)
    except Exception as error:  # noqa: BLE001 — counted and printed, not lost in a thread
        out["errors"].append(f"{username}: {error!r}")


def ceiling_loop(base_url: str, path: str, start: threading.Barrier, stop_at: list[float], out: dict) -> None:
    """One client of the ceiling run: GET ``path`` again and again until the time is up."""
    import httpx

    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            start.wait()
            while (began := time.perf_counter()) < stop_at[0]:
                answer = client.get(path)
                out["requests"].append((time.perf_counter() - began) * 1000)
                out["statuses"].append(answer.status_code)
    except Exception as error:  # noqa: BLE001 — counted and printed, not lost in a thread
        out["errors"].append(f"{path}: {error!r}")


def load_main(spec_path: str) -> None:
    """Entry of the load process: run the annotators (or the ceiling's clients) of the
    spec, write the results."""
    spec = json.loads(Path(spec_path).read_text())
    out = {"next": [], "submit": [], "requests": [], "statuses": [], "judgments": [], "empty": [], "errors": []}
    stop_at = [float("inf")]
    if spec.get("path"):
        start = threading.Barrier(spec["clients"] + 1)
        threads = [threading.Thread(target=ceiling_loop, args=(spec["url"], spec["path"], start, stop_at, out), daemon=True)
                   for _ in range(spec["clients"])]
    else:
        names = spec["usernames"]
        start = threading.Barrier(len(names) + 1)
        threads = [threading.Thread(target=annotator_loop, args=(spec["url"], spec["slug"], name, seed, start, stop_at, out),
                                    daemon=True) for seed, name in enumerate(names)]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=300)
    except threading.BrokenBarrierError:
        out["errors"].append("not every annotator logged in within 300 s")
    began_cpu = time.process_time()
    began = time.perf_counter()
    stop_at[0] = began + spec["seconds"]
    Path(spec["ready"]).write_text("started")
    for thread in threads:
        thread.join(timeout=spec["seconds"] + 120)
    elapsed = time.perf_counter() - began
    out["elapsed"] = elapsed
    out["cpu_seconds"] = time.process_time() - began_cpu
    out["judgments"] = len(out["judgments"])
    out["empty"] = len(out["empty"])
    Path(spec["out"]).write_text(json.dumps(out))


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent on anything but idling: the bound the
    three shares (gunicorn, PostgreSQL, the load process) must add up to."""
    import psutil

    times = psutil.cpu_times()
    return times.user + times.nice + times.system + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0)


def run_load(server: Gunicorn, slug: str, usernames: list[str], seconds: float, folder: Path, database: str,
             **ceiling) -> dict:
    """Start the load process, measure CPU of the server and of the database backends
    while it runs, and return its figures. ``path`` and ``clients`` (the ceiling run)
    make it GET one page instead of annotating."""
    tag = f"{len(usernames)}-{time.monotonic_ns()}"
    spec = {"url": server.url, "slug": slug, "usernames": usernames, "seconds": seconds,
            "out": str(folder / f"out-{tag}.json"), "ready": str(folder / f"ready-{tag}"), **ceiling}
    spec_path = folder / f"spec-{tag}.json"
    spec_path.write_text(json.dumps(spec))
    process = subprocess.Popen([sys.executable, "-m", "bench.annotation_http", "--load-spec", str(spec_path)], cwd=ROOT)
    ready = Path(spec["ready"])
    while not ready.exists():
        if process.poll() is not None:
            raise SystemExit(f"the load process exited with {process.returncode}")
        time.sleep(0.05)
    offset = server.access_offset()
    gunicorn_cpu = server.cpu_seconds()
    machine_cpu = busy_cpu_seconds()
    with PostgresBackendCPU(database) as postgres_cpu:
        process.wait()
    result = json.loads(Path(spec["out"]).read_text())
    result["gunicorn_cpu"] = server.cpu_seconds() - gunicorn_cpu
    result["postgres_cpu"] = postgres_cpu.seconds()
    result["machine_cpu"] = busy_cpu_seconds() - machine_cpu
    time.sleep(0.5)  # the access log is written after the response
    result["server"] = server.server_times(offset)
    return result


# --- figures ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(result: dict) -> dict:
    statuses = result["statuses"]
    judgments = result["judgments"]
    figures = {
        "annotators": None,
        "elapsed_s": result["elapsed"],
        "judgments": judgments,
        "judgments_per_s": judgments / result["elapsed"],
        "requests": len(result["next"]) + len(result["submit"]),
        "errors": len(result["errors"]) + sum(1 for s in statuses if s >= 400),
        "status_5xx": sum(1 for s in statuses if s >= 500),
        "empty_queue_pages": result["empty"],
        "cpu_ms_per_judgment": {
            "gunicorn": 1000 * result["gunicorn_cpu"] / max(judgments, 1),
            "postgres": 1000 * result["postgres_cpu"] / max(judgments, 1),
            "load": 1000 * result["cpu_seconds"] / max(judgments, 1),
            "machine": 1000 * result["machine_cpu"] / max(judgments, 1),
        },
        "error_samples": result["errors"][:5],
    }
    for kind in ("next", "submit"):
        for q in (50, 95, 99):
            figures[f"{kind}_p{q}"] = percentile(result[kind], q)
            figures[f"{kind}_server_p{q}"] = percentile(result["server"][kind], q)
        figures[f"{kind}_server_mean"] = statistics.fmean(result["server"][kind]) if result["server"][kind] else 0
    return figures


# What the same server answers at most on this machine, with the same load process
# and the same number of clients: a static file (WhiteNoise, no view, no database) and
# the login page (a Django view and template through every middleware, no query).
CEILING_PAGES = {"static file": "/static/concord.css", "login page": "/accounts/login/"}


def ceiling(server: Gunicorn, clients: int, seconds: float, folder: Path, database: str) -> dict:
    figures = {}
    for label, path in CEILING_PAGES.items():
        result = run_load(server, "", [], seconds, folder, database, path=path, clients=clients)
        served = len(result["requests"])
        figures[label] = {
            "path": path, "clients": clients, "requests": served, "requests_per_s": served / result["elapsed"],
            "errors": len(result["errors"]) + sum(1 for status in result["statuses"] if status >= 400),
            "p50": percentile(result["requests"], 50), "p95": percentile(result["requests"], 95),
            "cpu_ms_per_request": {"gunicorn": 1000 * result["gunicorn_cpu"] / max(served, 1),
                                   "load": 1000 * result["cpu_seconds"] / max(served, 1)},
        }
        one = figures[label]
        print(f"\nceiling, {label} ({path}), {clients} clients: {one['requests_per_s']:,.0f} requests/s, "
              f"p50 {one['p50']:.1f} ms, p95 {one['p95']:.1f} ms, {one['errors']} errors; CPU per request: gunicorn "
              f"{one['cpu_ms_per_request']['gunicorn']:.2f} ms, load process {one['cpu_ms_per_request']['load']:.2f} ms")
    return figures


def print_summary(label: str, figures: dict) -> None:
    cpu = figures["cpu_ms_per_judgment"]
    print(f"\n{label}: {figures['judgments']:,} judgments in {figures['elapsed_s']:.1f} s = "
          f"{figures['judgments_per_s']:.1f}/s; {figures['requests']:,} requests, {figures['errors']} errors, "
          f"{figures['status_5xx']} 5xx, {figures['empty_queue_pages']} empty-queue pages")
    for kind in ("next", "submit"):
        print(f"  {kind:<6} client p50 {figures[f'{kind}_p50']:6.1f}  p95 {figures[f'{kind}_p95']:6.1f}  "
              f"p99 {figures[f'{kind}_p99']:6.1f} ms | server p50 {figures[f'{kind}_server_p50']:6.1f}  "
              f"p95 {figures[f'{kind}_server_p95']:6.1f}  mean {figures[f'{kind}_server_mean']:6.1f} ms")
    print(f"  CPU per judgment (next + submit): gunicorn {cpu['gunicorn']:.1f} ms, PostgreSQL backends "
          f"{cpu['postgres']:.1f} ms, load process {cpu['load']:.1f} ms (the whole machine {cpu['machine']:.1f} ms)")
    for sample in figures["error_samples"]:
        print(f"  error: {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--reference-seconds", type=float, default=20, help="the 1-annotator reference run")
    parser.add_argument("--ceiling-seconds", type=float, default=10,
                        help="each ceiling run (a static file, the login page; 0: none)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--keep-alive", type=int, default=0,
                        help="gunicorn's keep-alive seconds; 0 (a connection per request, as behind nginx, "
                        "whose upstream connections are not kept) lets any free worker take each request")
    parser.add_argument("--keep", action="store_true", help="reuse the project a previous run left (cleared)")
    parser.add_argument("--name", default="annotation_http", help="results file bench/results/<name>.json")
    parser.add_argument("--load-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_spec:
        load_main(args.load_spec)
        return

    from bench.common import report, setup_django

    setup_django()
    import logging

    from django.db import connection

    logging.getLogger("httpx").setLevel(logging.WARNING)
    project = ensure_project(args.pairs, args.keep)
    reset_annotation(project)
    usernames = ensure_annotators(project, args.annotators + 1)
    database = connection.settings_dict["NAME"]
    print(f"{args.pairs:,} routed pairs, {connection.vendor}; gunicorn {args.workers} workers × {args.threads} threads, "
          f"keep-alive {args.keep_alive} s")
    with tempfile.TemporaryDirectory() as tmp, Gunicorn(args.workers, args.threads, Path(tmp), args.keep_alive) as server:
        many = summary(run_load(server, project.slug, usernames[1:], args.seconds, Path(tmp), database))
        many["annotators"] = args.annotators
        print_summary(f"{args.annotators} annotators", many)
        one = summary(run_load(server, project.slug, usernames[:1], args.reference_seconds, Path(tmp), database))
        one["annotators"] = 1
        print_summary("1 annotator (reference)", one)
        top = ceiling(server, args.annotators, args.ceiling_seconds, Path(tmp), database) if args.ceiling_seconds else {}
        server_log = server.error_log.read_text(errors="replace")
    checks = database_checks(project)
    print(f"\ndatabase checks: {checks}")
    tracebacks = server_log.count("Traceback")
    on_postgres = connection.vendor == "postgresql"
    target = "(PostgreSQL)" if on_postgres else "(PostgreSQL only)"
    rows = []
    for kind in ("next", "submit"):
        value, reference = many[f"{kind}_p95"], one[f"{kind}_p95"]
        rows.append({"what": f"{kind} p95, {args.annotators} annotators", "measured": value, "unit": "ms",
                     "target": f"< {TARGET_P95_MS:.0f} ms {target}", "met": value < TARGET_P95_MS if on_postgres else None,
                     "reference": f"1 annotator: {reference:.1f} ms", "ratio": value / reference if reference else None})
    rate, reference_rate = many["judgments_per_s"], one["judgments_per_s"]
    rows.append({"what": f"judgments/s, {args.annotators} annotators", "measured": rate, "unit": "/s",
                 "target": f">= {TARGET_RATE:.0f}/s {target}", "met": rate >= TARGET_RATE if on_postgres else None,
                 "reference": f"1 annotator: {reference_rate:.1f}/s",
                 "ratio": rate / reference_rate if reference_rate else None})
    for label, figures in top.items():
        # A judgment is two requests (the page, the submit): the page's rate halved is
        # the most judgments/s this machine could serve if a judgment cost no more.
        equivalent = figures["requests_per_s"] / 2
        rows.append({"what": f"ceiling: {label}, {args.annotators} clients, requests/s ÷ 2",
                     "measured": equivalent, "unit": "/s", "target": f"(reference for >= {TARGET_RATE:.0f}/s)",
                     "met": None, "reference": f"the review page: {rate:.1f} judgments/s",
                     "ratio": equivalent / rate if rate else None})
    failures = many["errors"] + many["status_5xx"] + one["errors"] + one["status_5xx"] + tracebacks
    failures += sum(figures["errors"] for figures in top.values())
    bad = checks["duplicate_judgments"] + checks["over_assigned_pairs"] + checks["over_judged_pairs"] + \
        checks["pairs_counter_mismatch"] + checks["pairs_lease_counter_mismatch"]
    rows.append({"what": "errors + 5xx + tracebacks", "measured": failures, "unit": "", "target": "0", "met": failures == 0})
    rows.append({"what": "over-assigned pairs + duplicate judgments + counter mismatches", "measured": bad, "unit": "",
                 "target": "0", "met": bad == 0})
    report(args.name, rows, {
        "vendor": connection.vendor, "pairs": args.pairs, "seconds": args.seconds,
        "gunicorn": {"workers": args.workers, "threads": args.threads, "keep_alive": args.keep_alive}, "annotators": many, "reference": one, "ceiling": top,
        "database_checks": checks, "server_tracebacks": tracebacks,
    })
    if failures or bad:
        print(server_log[-3000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
