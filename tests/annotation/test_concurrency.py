"""Many annotators at once against a live server on PostgreSQL: no pair gets more
judgments than the overlap, nobody judges a pair twice, no judgment is lost."""
import random
import threading
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotation.models import Assignment
from curation.models import Judgment, Pair
from tests.support.annotators import (
    annotate_leftovers,
    annotate_until_empty,
    assert_judgments_consistent,
    new_results,
)

from ..factories import PairFactory
from .conftest import make_annotator, make_routed

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 24
ROUTED = 40
GHOST_LEASES = 10


def annotate(base_url: str, slug: str, session: str, seed: int, start: threading.Barrier, results: dict):
    """One annotator thread, logged in by its session cookie."""
    try:
        with httpx.Client(base_url=base_url, cookies={settings.SESSION_COOKIE_NAME: session}, timeout=30) as client:
            start.wait()
            annotate_until_empty(client, slug, random.Random(seed), results)
    except Exception as error:  # noqa: BLE001 — reported by the test, not lost in a thread
        results["errors"].append(repr(error))


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

    results = new_results()
    start = threading.Barrier(ANNOTATORS)
    threads = [
        threading.Thread(target=annotate, args=(live_server.url, queue_project.slug, session, seed, start, results))
        for seed, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an annotator never finished"
    annotate_leftovers(live_server.url, queue_project.slug, results)

    assert_judgments_consistent(queue_project, results, pairs)
    judgments = Judgment.objects.filter(project=queue_project, is_human=True)
    assert Assignment.objects.filter(state="expired").count() == GHOST_LEASES
    gold_checks = judgments.filter(pair__in=golds).count()
    assert gold_checks == Assignment.objects.filter(is_gold_check=True, state="submitted").count() > 0
