"""Simulated annotators over real HTTP, and the checks every concurrency test makes.

Shared by tests/annotation/test_concurrency.py (Django's live server, sessions made
in the test) and tests/fault/test_many_annotators.py (gunicorn, real logins)."""
from __future__ import annotations

import random
import re
from collections import Counter

import httpx
from django.conf import settings
from django.db.models import Count

from annotation.models import Assignment
from curation.models import Judgment, Pair

SUBMIT = re.compile(r'action="/projects/[^/]+/annotate/(\d+)/submit/"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def new_results() -> dict:
    """What the annotator threads record (lists: appends are thread-safe)."""
    return {"statuses": [], "submitted": [], "skips": [], "errors": [], "sessions": []}


def log_in(client: httpx.Client, username: str, password: str) -> None:
    """The real login form: GET it for the CSRF token, POST the credentials."""
    page = client.get("/accounts/login/")
    token = CSRF_INPUT.search(page.text).group(1)
    response = client.post("/accounts/login/", data={"username": username, "password": password,
                                                     "csrfmiddlewaretoken": token})
    if response.status_code != 302:
        raise AssertionError(f"login of {username} answered {response.status_code}")


def annotate_until_empty(client: httpx.Client, slug: str, rng: random.Random, results: dict,
                         skip_rate: float = 0.1) -> None:
    """Take a pair, judge it (or now and then skip it), until the queue has nothing
    left for this annotator. Records every status, what the server confirmed, and the
    session cookie (for ``annotate_leftovers``)."""
    response = client.get(f"/projects/{slug}/annotate/")
    while True:
        results["statuses"].append(response.status_code)
        found = SUBMIT.search(response.text) if response.status_code < 400 else None
        if found is None:
            session = {c.name: c.value for c in client.cookies.jar if c.name == settings.SESSION_COOKIE_NAME}
            results["sessions"].append(session)
            return
        assignment = found.group(1)
        headers = {"X-CSRFToken": client.cookies["csrftoken"], "HX-Request": "true"}
        if rng.random() < skip_rate:
            response = client.post(f"/projects/{slug}/annotate/{assignment}/skip/", data={"reason": "unsure"},
                                   headers=headers)
            if response.status_code == 200 and "Skipped." in response.text:
                results["skips"].append(int(assignment))
            continue
        verdict = rng.choice([-2, -1, 0, 1, 2])
        response = client.post(f"/projects/{slug}/annotate/{assignment}/submit/", data={"verdict": verdict},
                               headers=headers)
        if response.status_code == 200 and "Saved." in response.text:
            results["submitted"].append(int(assignment))


def annotate_leftovers(base_url: str, slug: str, results: dict) -> None:
    """Every annotator comes back once, one after another, and judges what is left.

    "Nothing to judge right now" is true when an annotator asks while others hold the
    last free slots; when one of those is skipped afterwards, its slot is free again,
    and the annotators who already stopped would have taken it had they asked later.
    With nobody else at work and no skips, this pass fills every slot someone can fill,
    so the overlap check after it is exact.
    """
    for session in list(results["sessions"]):
        with httpx.Client(base_url=base_url, cookies=session, timeout=30) as client:
            annotate_until_empty(client, slug, random.Random(0), results, skip_rate=0.0)


def assert_judgments_consistent(project, results: dict, routed: list[Pair]) -> None:
    """No error, no refusal; zero lost, zero duplicated, zero over-assigned judgments;
    every routed pair reached the overlap and holds no lease."""
    assert not results["errors"], results["errors"]
    assert not [status for status in results["statuses"] if status >= 400], Counter(results["statuses"])
    judgments = Judgment.objects.filter(project=project, is_human=True)
    # Zero lost: every confirmed submission is a row, and there is no other row.
    assert len(results["submitted"]) == len(set(results["submitted"])) == judgments.count()
    submitted = Assignment.objects.filter(project=project, state="submitted").values_list("id", flat=True)
    assert set(results["submitted"]) == set(submitted)
    # Zero duplicates: nobody judged a pair twice.
    assert not judgments.values("pair", "annotator").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Zero over-assignment, and with this many annotators every routed pair reached its overlap.
    per_pair = Counter(judgments.values_list("pair_id", flat=True))
    gold_checked = set(Assignment.objects.filter(project=project, is_gold_check=True).values_list("pair_id", flat=True))
    assert all(n <= project.overlap for pair_id, n in per_pair.items() if pair_id not in gold_checked), per_pair
    assert all(per_pair[pair.pk] == project.overlap for pair in routed), per_pair
    for pair in Pair.objects.filter(project=project):
        assert (pair.n_human_judgments, pair.n_active_leases) == (per_pair[pair.pk], 0), pair.pk
    assert not Assignment.objects.filter(project=project, state="leased").exists()
