"""100 annotators at once over HTTP against a real gunicorn on PostgreSQL: zero 5xx,
zero over-assigned pairs, zero lost or duplicated judgments (issue 9)."""
import random
import threading

import httpx
import pytest
from django.db import connection

from tests.annotation.conftest import make_annotator, make_routed
from tests.factories import ProjectFactory
from tests.support.annotators import (
    annotate_leftovers,
    annotate_until_empty,
    assert_judgments_consistent,
    log_in,
    new_results,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 100
ROUTED = 60
OVERLAP = 3
PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory's


def annotator_session(base_url: str, slug: str, username: str, seed: int, start: threading.Barrier, results: dict):
    """One annotator: log in through the form, then next → submit until the queue is empty."""
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            start.wait()
            log_in(client, username, PASSWORD)
            annotate_until_empty(client, slug, random.Random(seed), results)
    except Exception as error:  # noqa: BLE001 — reported by the test, not lost in a thread
        results["errors"].append(f"{username}: {error!r}")


def test_hundred_annotators_against_gunicorn(live_gunicorn):
    if connection.vendor != "postgresql":
        pytest.skip("100 concurrent annotators need PostgreSQL (SELECT … FOR UPDATE SKIP LOCKED); CI runs it there")
    project = ProjectFactory(overlap=OVERLAP, gold_rate=0.0)
    routed = make_routed(project, ROUTED)
    usernames = [make_annotator(project, username=f"annotator{i:03}")[0].username for i in range(ANNOTATORS)]
    # 3 × 6 threads: 18 requests in flight at most, within PostgreSQL's connection limit.
    server = live_gunicorn(workers=3, threads=6)

    results = new_results()
    start = threading.Barrier(ANNOTATORS)
    threads = [
        threading.Thread(target=annotator_session, args=(server.url, project.slug, name, seed, start, results))
        for seed, name in enumerate(usernames)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert not any(thread.is_alive() for thread in threads), "an annotator never finished:\n" + server.output()[-3000:]

    annotate_leftovers(server.url, project.slug, results)
    assert not [s for s in results["statuses"] if s >= 500], server.output()[-3000:]
    assert_judgments_consistent(project, results, routed)
    assert len(results["submitted"]) == ROUTED * OVERLAP
    assert " 500 " not in server.output() and "Traceback" not in server.output()
