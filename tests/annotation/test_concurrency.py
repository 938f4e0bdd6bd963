"""Many annotators at once against a live server on PostgreSQL: no pair gets more
judgments than the overlap, nobody judges a pair twice, no judgment is lost."""
import random
import re
import threading
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from annotation.models import Assignment
from curation.models import Judgment, Pair

from ..factories import PairFactory
from .conftest import make_annotator, make_routed

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 24
ROUTED = 40
GHOST_LEASES = 10
SUBMIT = re.compile(r'action="/projects/[^/]+/annotate/(\d+)/submit/"')


def annotate_until_empty(base_url: str, slug: str, session: str, seed: int, start: threading.Barrier, results: dict):
    """One annotator: take a pair, judge it (or now and then skip it), until the queue
    has nothing left for them. Counts what the server confirmed."""
    try:
        _annotate(base_url, slug, session, random.Random(seed), start, results)
    except Exception as error:  # noqa: BLE001 — reported by the test, not lost in a thread
        results["errors"].append(repr(error))


def _annotate(base_url, slug, session, rng, start, results):
    with httpx.Client(base_url=base_url, cookies={settings.SESSION_COOKIE_NAME: session}, timeout=30) as client:
        start.wait()
        response = client.get(f"/projects/{slug}/annotate/")
        while True:
            results["statuses"].append(response.status_code)
            found = SUBMIT.search(response.text) if response.status_code < 400 else None
            if found is None:
                return
            assignment = found.group(1)
            headers = {"X-CSRFToken": client.cookies["csrftoken"], "HX-Request": "true"}
            if rng.random() < 0.1:
                response = client.post(f"/projects/{slug}/annotate/{assignment}/skip/", data={"reason": "unsure"}, headers=headers)
                if response.status_code == 200 and "Skipped." in response.text:
                    results["skips"].append(int(assignment))
                continue
            verdict = rng.choice([-2, -1, 0, 1, 2])
            response = client.post(f"/projects/{slug}/annotate/{assignment}/submit/", data={"verdict": verdict}, headers=headers)
            if response.status_code == 200 and "Saved." in response.text:
                results["submitted"].append(int(assignment))


def test_many_annotators_at_once(live_server, queue_project):
    if connection.vendor != "postgresql":
        pytest.skip("the concurrency test needs PostgreSQL (SELECT … FOR UPDATE SKIP LOCKED); CI runs it there")
    queue_project.overlap = 3
    queue_project.gold_rate = 0.2
    queue_project.save()
    pairs = make_routed(queue_project, ROUTED)
    golds = [PairFactory(project=queue_project, status="accepted", gold_verdict=1) for _ in range(4)]
    # Leases that lapsed before the rush: the first requests must give each slot back exactly once.
    past = timezone.now() - timedelta(hours=1)
    for pair in pairs[:GHOST_LEASES]:
        _, ghost = make_annotator(queue_project)
        Assignment.objects.create(project=queue_project, pair=pair, annotator=ghost, shown_order="ab",
                                  leased_at=past, lease_expires_at=past + timedelta(minutes=10))
        Pair.objects.filter(pk=pair.pk).update(n_active_leases=1)
    sessions = []
    for _ in range(ANNOTATORS):
        user, _ = make_annotator(queue_project)
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies[settings.SESSION_COOKIE_NAME].value)

    results = {"statuses": [], "submitted": [], "skips": [], "errors": []}
    start = threading.Barrier(ANNOTATORS)
    threads = [
        threading.Thread(target=annotate_until_empty, args=(live_server.url, queue_project.slug, session, seed, start, results))
        for seed, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an annotator never finished"

    assert not results["errors"], results["errors"]
    # No server error, and no judgment refused: every lease handed out had a free slot.
    assert not [status for status in results["statuses"] if status >= 400], Counter(results["statuses"])
    judgments = Judgment.objects.filter(project=queue_project, is_human=True)
    # Zero lost: every confirmed submission is a row, and there is no other row.
    assert len(results["submitted"]) == len(set(results["submitted"])) == judgments.count()
    assert set(results["submitted"]) == set(Assignment.objects.filter(state="submitted").values_list("id", flat=True))
    # Zero duplicates.
    assert not judgments.values("pair", "annotator").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Zero over-assignment, and with this many annotators every routed pair reached its overlap.
    per_pair = Counter(judgments.values_list("pair_id", flat=True))
    assert all(per_pair[pair.pk] == queue_project.overlap for pair in pairs), per_pair
    for pair in Pair.objects.filter(project=queue_project):
        assert (pair.n_human_judgments, pair.n_active_leases) == (per_pair[pair.pk], 0), pair.pk
    assert not Assignment.objects.filter(state="leased").exists()
    assert Assignment.objects.filter(state="expired").count() == GHOST_LEASES
    gold_checks = judgments.filter(pair__in=golds).count()
    assert gold_checks == Assignment.objects.filter(is_gold_check=True, state="submitted").count() > 0
