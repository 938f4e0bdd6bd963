"""The review page over HTTP: permissions, modes, sanitizing, htmx swaps, history."""
import re

import pytest
from django.urls import reverse

from annotation.models import Assignment
from curation.models import Judgment, Pair, Rubric

from ..factories import HumanJudgmentFactory, PairFactory, PromptFactory, ResponseFactory, UserFactory
from ..test_pages import HOSTILE, parse_elements
from .conftest import add_ai_verdict, make_annotator, make_routed

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def review_url(project) -> str:
    return reverse("annotation:review", args=[project.slug])


def leased(project, user) -> Assignment:
    return Assignment.objects.get(project=project, annotator__user=user, state="leased")


def open_review(client, project, role: str = "annotator"):
    """A new member logs in and opens the review page: (user, annotator, their lease or None)."""
    user, annotator = make_annotator(project, role=role)
    client.force_login(user)
    client.get(review_url(project))
    return user, annotator, Assignment.objects.filter(project=project, annotator=annotator, state="leased").first()


def submit(client, assignment, **data):
    url = reverse("annotation:submit", args=[assignment.project.slug, assignment.pk])
    return client.post(url, data, **HTMX)


def test_login_and_membership_are_required(client, queue_project):
    make_routed(queue_project, 1)
    assert client.get(review_url(queue_project)).status_code == 302
    client.force_login(UserFactory())
    assert client.get(review_url(queue_project)).status_code == 404
    assert client.get(reverse("annotation:guidelines", args=[queue_project.slug])).status_code == 404
    assert not Assignment.objects.exists()


def test_someone_elses_assignment_is_a_404(client, queue_project):
    make_routed(queue_project, 1)
    owner, _ = make_annotator(queue_project)
    client.force_login(owner)
    client.get(review_url(queue_project))
    assignment = leased(queue_project, owner)
    intruder, _ = make_annotator(queue_project)
    client.force_login(intruder)
    assert submit(client, assignment, verdict=1).status_code == 404
    skip_url = reverse("annotation:skip", args=[queue_project.slug, assignment.pk])
    assert client.post(skip_url, {"reason": "unsure"}).status_code == 404
    assert not Judgment.objects.exists()


def test_page_shows_the_pair_in_the_shown_order_with_counts(client, queue_project):
    prompt = PromptFactory(project=queue_project, text="Write a haiku", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write a haiku"}])
    pair = PairFactory(
        project=queue_project, prompt=prompt, status="routed",
        response_a=ResponseFactory(prompt=prompt, text="STORED-A text here"),
        response_b=ResponseFactory(prompt=prompt, text="STORED-B"),
    )
    Rubric.objects.create(project=queue_project, prompt=prompt, kind="checklist", origin="ai",
                          items=[{"text": "Has 17 syllables"}])
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(review_url(queue_project)).content.decode()
    assignment = leased(queue_project, user)
    left, right = ("STORED-A", "STORED-B") if assignment.shown_order == "ab" else ("STORED-B", "STORED-A")
    assert html.index(left) < html.index(right)
    assert "Be brief." in html and "Has 17 syllables" in html
    assert "18 characters · 3 words" in html or "8 characters · 1 words" in html
    assert 'href="/projects/%s/annotate/guidelines/"' % queue_project.slug in html
    assert "is_gold" not in html and str(pair.pk) not in re.findall(r'name="pair[^"]*" value="(\d+)"', html)


def test_htmx_submit_stores_unshuffled_and_swaps_in_the_next_pair(client, queue_project):
    make_routed(queue_project, 2)
    user, annotator, first = open_review(client, queue_project)
    response = submit(client, first, **{"verdict": "-2", "aspect-honesty": "1", "rationale": "left wins",
                                        "flags": ["both_bad"], "time_spent_ms": "1500"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="workspace"') and "<html" not in html  # the partial only
    assert "Saved." in html and "<strong>1</strong> judged by you" in html
    judgment = Judgment.objects.get(annotator=annotator)
    flip = -1 if first.shown_order == "ba" else 1
    assert (judgment.verdict, judgment.aspects) == (-2 * flip, {"honesty": flip})
    assert judgment.flags == ["both_bad"] and judgment.time_spent_ms <= 1500
    second = leased(queue_project, user)
    assert second.pair_id != first.pair_id
    assert reverse("annotation:submit", args=[queue_project.slug, second.pk]) in html


def test_rejected_submission_keeps_what_was_typed(client, queue_project):
    queue_project.rationale_required = True
    queue_project.save()
    make_routed(queue_project, 1)
    user, _, assignment = open_review(client, queue_project)
    response = submit(client, assignment, **{"verdict": "1", "aspect-helpfulness": "-1"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "asks for a rationale" in html
    assert re.search(r'name="aspect-helpfulness" value="-1"[^>]*checked', html)
    response = submit(client, assignment, rationale="my careful reasoning")
    assert response.status_code == 422 and "Choose a verdict" in response.content.decode()
    assert "my careful reasoning" in response.content.decode()
    assert not Judgment.objects.exists()


def test_plain_post_without_javascript_redirects(client, queue_project):
    make_routed(queue_project, 2)
    user, _, assignment = open_review(client, queue_project)
    url = reverse("annotation:submit", args=[queue_project.slug, assignment.pk])
    response = client.post(url, {"verdict": "0"})
    assert response.status_code == 302 and response["Location"] == review_url(queue_project)
    assert Judgment.objects.filter(verdict=0).count() == 1


def test_hostile_response_is_inert_on_the_review_page(client, queue_project):
    prompt = PromptFactory(project=queue_project)
    PairFactory(project=queue_project, prompt=prompt, status="routed",
                response_a=ResponseFactory(prompt=prompt, text=HOSTILE))
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(review_url(queue_project)).content.decode()
    elements = parse_elements(html)
    assert all(attrs.get("src", "").startswith("/static/") for tag, attrs in elements if tag == "script")
    assert not [(tag, name) for tag, attrs in elements for name in attrs if name.startswith("on")]
    assert not [attrs for tag, attrs in elements if attrs.get("href", "").lower().startswith("javascript")]
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html


def test_blind_mode_sends_no_ai_output(client, queue_project):
    (pair,) = make_routed(queue_project, 1)
    add_ai_verdict(pair, confidence=0.93)
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(review_url(queue_project)).content.decode()
    assert "AI-RATIONALE-SECRET" not in html and "93%" not in html and "AI judges" not in html
    html = submit(client, leased(queue_project, user), verdict="1").content.decode()
    assert "AI-RATIONALE-SECRET" not in html


def test_assisted_mode_shows_ai_verdicts_in_the_shown_orientation(client, queue_project):
    queue_project.mode = "assisted"
    queue_project.save()
    (pair,) = make_routed(queue_project, 1)
    add_ai_verdict(pair, verdict=-2, confidence=0.93)
    user, annotator = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(review_url(queue_project)).content.decode()
    assignment = leased(queue_project, user)
    expected = "A much better" if assignment.shown_order == "ab" else "B much better"
    assert re.search(rf'ai-verdict-value">{expected}<', html) and "93%" in html and "AI-RATIONALE-SECRET" in html
    submit(client, assignment, verdict="0")
    judgment = Judgment.objects.get(annotator=annotator)
    assert judgment.mode == "assisted" and judgment.used_assistance


def test_reveal_after_shows_ai_only_after_submitting_and_records_a_change(client, queue_project):
    queue_project.mode = "reveal_after"
    queue_project.save()
    (pair, _) = make_routed(queue_project, 2)
    add_ai_verdict(pair)
    user, annotator = make_annotator(queue_project)
    client.force_login(user)
    assert "AI-RATIONALE-SECRET" not in client.get(review_url(queue_project)).content.decode()
    assignment = leased(queue_project, user)
    html = submit(client, assignment, verdict="-1").content.decode()
    if assignment.pair_id == pair.pk:
        assert "AI-RATIONALE-SECRET" in html
    assert 'id="reveal-form"' in html and "Saved: A better" in html
    reveal_url = reverse("annotation:reveal", args=[queue_project.slug, assignment.pk])
    html = client.post(reveal_url, {"verdict": "1", "rationale": "changed my mind"}, **HTMX).content.decode()
    assert "recorded as a revision" in html and 'id="review-form"' in html
    first, revision = Judgment.objects.filter(annotator=annotator).order_by("id")
    assert revision.is_revision and revision.revises == first and revision.verdict == -first.verdict
    assignment.refresh_from_db()
    assert assignment.reveal_outcome == "revised"


def test_skip_needs_a_reason_and_moves_on(client, queue_project):
    make_routed(queue_project, 2)
    user, _, assignment = open_review(client, queue_project)
    url = reverse("annotation:skip", args=[queue_project.slug, assignment.pk])
    response = client.post(url, {"reason": "", "rationale": "half-written thought"}, **HTMX)
    assert response.status_code == 422 and "half-written thought" in response.content.decode()
    response = client.post(url, {"reason": "harmful"}, **HTMX)
    assert response.status_code == 200 and "Skipped." in response.content.decode()
    assignment.refresh_from_db()
    assert (assignment.state, assignment.skip_reason) == ("skipped", "harmful")
    assert leased(queue_project, user).pair_id != assignment.pair_id


def test_undo_brings_the_answers_back(client, queue_project):
    make_routed(queue_project, 2)
    user, annotator, first = open_review(client, queue_project)
    html = submit(client, first, **{"verdict": "2", "rationale": "keep me", "aspect-honesty": "-2"}).content.decode()
    assert 'data-action="undo"' in html
    html = client.post(reverse("annotation:undo", args=[queue_project.slug]), **HTMX).content.decode()
    assert "Judgment withdrawn" in html and "keep me" in html
    assert re.search(r'name="verdict" value="2"[^>]*checked', html)
    assert re.search(r'name="aspect-honesty" value="-2"[^>]*checked', html)
    assert reverse("annotation:submit", args=[queue_project.slug, first.pk]) in html
    assert not Judgment.objects.filter(annotator=annotator).exists()
    pair = Pair.objects.get(pk=first.pair_id)
    assert (pair.n_human_judgments, pair.n_active_leases) == (0, 1)


def test_history_shows_annotators_only_their_own(client, queue_project):
    (pair,) = make_routed(queue_project, 1)
    user, annotator = make_annotator(queue_project)
    HumanJudgmentFactory(pair=pair, annotator=annotator, flags=["MINE-FLAG"])
    HumanJudgmentFactory(pair=pair, flags=["THEIRS-FLAG"])
    url = reverse("annotation:history", args=[queue_project.slug])
    client.force_login(user)
    html = client.get(url).content.decode()
    assert "MINE-FLAG" in html and "THEIRS-FLAG" not in html
    reviewer, _ = make_annotator(queue_project, role="reviewer")
    client.force_login(reviewer)
    html = client.get(url).content.decode()
    assert "MINE-FLAG" in html and "THEIRS-FLAG" in html


def test_guidelines_are_sanitized_markdown(client, queue_project):
    queue_project.instructions = "Prefer **correct** answers.\n\n<script>window.pwned=1</script>"
    queue_project.save()
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(reverse("annotation:guidelines", args=[queue_project.slug])).content.decode()
    assert "<strong>correct</strong>" in html and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_project_page_links_and_start_card(client, queue_project):
    (pair,) = make_routed(queue_project, 3)[:1]
    user, annotator = make_annotator(queue_project)
    HumanJudgmentFactory(pair=pair, annotator=annotator)
    client.force_login(user)
    html = client.get(reverse("curation:project_detail", args=[queue_project.slug])).content.decode()
    assert f'href="{review_url(queue_project)}"' in html and "Start annotating" in html
    assert "You have judged <strong>1</strong> pair here" in html


def test_empty_queue(client, queue_project):
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    assert "Nothing to judge right now" in client.get(review_url(queue_project)).content.decode()


def watch(client, project):
    return client.get(reverse("annotation:queue_watch", args=[project.slug]), **HTMX)


def test_empty_queue_watch_finds_a_slot_given_back_without_leasing_it(client, queue_project, django_assert_num_queries):
    """Another annotator holds the last slot: nothing to judge, and the page asks again;
    once that slot is skipped (or its lease lapses) the watch says so, leasing nothing."""
    queue_project.overlap = 1
    queue_project.save()
    (pair,) = make_routed(queue_project, 1)
    holder, _, held = open_review(client, queue_project)
    user, annotator, nothing = open_review(client, queue_project)
    assert nothing is None
    page = client.get(review_url(queue_project)).content.decode()
    assert "Nothing to judge right now" in page and 'hx-trigger="every 20s"' in page
    # session, user, the membership with its project and annotator; savepoint, sweep,
    # release savepoint, the slot check
    with django_assert_num_queries(7):
        assert watch(client, queue_project).status_code == 204
    client.force_login(holder)
    client.post(reverse("annotation:skip", args=[queue_project.slug, held.pk]), {"reason": "unsure"}, **HTMX)
    client.force_login(user)
    response = watch(client, queue_project)
    assert response.status_code == 200
    free = response.content.decode()
    assert "A pair is free again" in free and review_url(queue_project) in free and "hx-trigger" not in free
    assert not Assignment.objects.filter(annotator=annotator).exists()
    assert Pair.objects.get(pk=pair.pk).n_active_leases == 0
    # A lapsed lease counts as free too: the watch sweeps it, as the queue does.
    _, _, lease = open_review(client, queue_project)
    Assignment.objects.filter(pk=lease.pk).update(lease_expires_at=lease.leased_at)
    client.force_login(user)
    assert watch(client, queue_project).status_code == 200
    assert Assignment.objects.get(pk=lease.pk).state == "expired"
    # Not a member: no such project; not logged in: the login page.
    client.force_login(UserFactory())
    assert watch(client, queue_project).status_code == 404
    client.logout()
    assert watch(client, queue_project).status_code == 302


@pytest.mark.parametrize("size", [4, 80])
def test_http_submit_runs_a_fixed_number_of_queries(size, client, queue_project, django_assert_num_queries):
    """The whole request: session, membership, submit, next pair and the page."""
    pairs = make_routed(queue_project, size)
    for pair in pairs[: size // 2]:
        HumanJudgmentFactory(pair=pair)
        add_ai_verdict(pair)
    user, _, assignment = open_review(client, queue_project)
    # 31 (the membership, its project and annotator in one; no savepoint in the record),
    # and 5 for the agreement counts: count the refreshed pair at once, in the same
    # transaction (load the pair and its judgments, upsert the counts, mark the judgment
    # and the pair), so it is never marked stale
    with django_assert_num_queries(36):
        response = submit(client, assignment, **{"verdict": "1", "rationale": "r", "aspect-honesty": "1"})
    assert response.status_code == 200


def test_gold_checks_are_not_marked_in_the_page(client, queue_project):
    queue_project.gold_rate = 1.0
    queue_project.save()
    make_routed(queue_project, 1)
    PairFactory(project=queue_project, status="accepted", gold_verdict=2, gold_source="llmbar")
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(review_url(queue_project)).content.decode()
    assert leased(queue_project, user).is_gold_check
    assert "gold" not in html.lower() and "llmbar" not in html.lower()


def test_three_level_scale(client, queue_project):
    queue_project.verdict_scale = 3
    queue_project.save()
    make_routed(queue_project, 1)
    user, annotator = make_annotator(queue_project)
    client.force_login(user)
    html = client.get(review_url(queue_project)).content.decode()
    assert re.findall(r'name="verdict" value="(-?\d)" data-key="(\d)"', html) == [("-1", "1"), ("0", "2"), ("1", "3")]
    assignment = leased(queue_project, user)
    assert submit(client, assignment, verdict="2").status_code == 422
    assert submit(client, assignment, verdict="-1").status_code == 200
    assert Judgment.objects.get(annotator=annotator).verdict == (1 if assignment.shown_order == "ba" else -1)


def test_waiting_counter_stops_at_a_cap(client, queue_project, monkeypatch):
    monkeypatch.setattr("annotation.selectors.WAITING_SHOWN", 3)
    make_routed(queue_project, 5)
    user, _ = make_annotator(queue_project)
    client.force_login(user)
    assert "<strong>3+</strong> pairs waiting" in client.get(review_url(queue_project)).content.decode()
