"""The review page in Chromium: keyboard-only judging, sanitizing, blind mode, undo,
lease expiry, and screenshots at desktop and phone widths."""
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.models import Assignment
from annotation.services import assignment_next, assignment_skip, reorient
from curation.models import Judgment, Pair, Rubric

from ..factories import PairFactory, PromptFactory, ResponseFactory
from ..support.browser import PHONE, assert_no_js_errors
from ..test_pages import HOSTILE
from .conftest import add_ai_verdict, make_annotator, make_routed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def review_path(project) -> str:
    return f"/projects/{project.slug}/annotate/"


def wait_for_count(page, done: int) -> None:
    page.wait_for_function(f"document.querySelector('.counter strong')?.textContent === '{done}'")


def tab_until(page, selector: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement?.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_judge_three_pairs_with_the_keyboard_alone(browser_page, log_in, queue_project):
    page = browser_page
    make_routed(queue_project, 3)
    user, annotator = make_annotator(queue_project)
    log_in(page, user)
    page.goto(review_path(queue_project))
    page.evaluate("window.loadedOnce = true")  # gone if a submit reloaded the page

    shown = {}  # assignment id → the shown verdict given
    for done, (key, verdict) in enumerate([("1", -2), ("4", 1), ("3", 0)]):
        assignment_id = int(page.locator("#review-form").get_attribute("action").split("/")[-3])
        page.keyboard.press(key)
        assert page.locator(f'#review-form input[name=verdict][value="{verdict}"]').is_checked()
        if done == 0:  # Tab to an aspect, rate it with a digit; Tab to the rationale and type
            tab_until(page, "input[name^=aspect-]")
            page.keyboard.press("2")
            assert page.locator('input[name="aspect-helpfulness"][value="-1"]').is_checked()
            assert page.locator(f'#review-form input[name=verdict][value="{verdict}"]').is_checked()
            tab_until(page, "textarea[name=rationale]")
            page.keyboard.type("Left one answers the question. Sorry, 1 2 3 s u ?")  # keys in a text box stay text
        page.keyboard.press("Control+Enter")
        wait_for_count(page, done + 1)
        shown[assignment_id] = verdict

    assert page.evaluate("window.loadedOnce") is True
    assert "Nothing to judge right now" in page.content()
    assert_no_js_errors(page)
    for assignment in Assignment.objects.filter(annotator=annotator).select_related("judgment"):
        judgment = assignment.judgment
        assert assignment.state == "submitted"
        assert judgment.verdict == reorient(shown[assignment.pk], assignment.shown_order)
        assert judgment.shown_order == assignment.shown_order and judgment.time_spent_ms > 0
    first = Judgment.objects.get(rationale__startswith="Left one")
    assert first.aspects == {"helpfulness": reorient(-1, first.shown_order)}
    assert Judgment.objects.filter(annotator=annotator).count() == 3


def test_script_tags_and_event_handlers_in_a_response_run_nothing(browser_page, log_in, queue_project):
    page = browser_page
    prompt = PromptFactory(project=queue_project, text="Show me <img src=x onerror=\"window.pwned=4\">")
    PairFactory(
        project=queue_project, prompt=prompt, status="routed",
        response_a=ResponseFactory(prompt=prompt, text=HOSTILE),
        response_b=ResponseFactory(prompt=prompt, text='<svg onload="window.pwned=5"></svg> **bold**'),
    )
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    user, _ = make_annotator(queue_project)
    log_in(page, user)
    page.goto(review_path(queue_project))
    page.wait_for_selector("#review-form")
    texts = " ".join(page.locator(".response .scroll").all_inner_texts())
    assert "<script>window.pwned = 1</script>" in texts and "<script>alert(1)</script>" in texts
    assert '<svg onload="window.pwned=5"></svg>' in texts
    assert page.evaluate("window.pwned") is None and not dialogs
    assert page.locator(".response img, .response svg, .prompt-card img").count() == 0
    assert_no_js_errors(page)


def test_blind_mode_never_sends_ai_output(browser_page, log_in, queue_project):
    page = browser_page
    for pair in make_routed(queue_project, 2):
        add_ai_verdict(pair, verdict=-2, confidence=0.87)
    bodies = []
    page.on("response", lambda response: bodies.append(response.text()) if "text/html" in response.headers.get("content-type", "") else None)
    user, _ = make_annotator(queue_project)
    log_in(page, user)
    page.goto(review_path(queue_project))
    page.keyboard.press("2")
    page.keyboard.press("Control+Enter")
    wait_for_count(page, 1)
    assert len(bodies) >= 3  # the login page, the review page, the htmx swap
    for html in [*bodies, page.content()]:
        assert "AI-RATIONALE-SECRET" not in html and "87%" not in html and "AI judges" not in html


def test_undo_with_u_brings_the_pair_and_answers_back(browser_page, log_in, queue_project):
    page = browser_page
    make_routed(queue_project, 2)
    user, annotator = make_annotator(queue_project)
    log_in(page, user)
    page.goto(review_path(queue_project))
    first_action = page.locator("#review-form").get_attribute("action")
    page.keyboard.press("5")
    page.keyboard.press("Control+Enter")
    wait_for_count(page, 1)
    assert Judgment.objects.filter(annotator=annotator).count() == 1
    page.keyboard.press("u")
    page.wait_for_selector("text=Judgment withdrawn")
    assert page.locator("#review-form").get_attribute("action") == first_action
    assert page.locator('#review-form input[name=verdict][value="2"]').is_checked()
    assert not Judgment.objects.filter(annotator=annotator).exists()
    page.keyboard.press("1")
    page.keyboard.press("Control+Enter")
    wait_for_count(page, 1)
    judgment = Judgment.objects.get(annotator=annotator)
    assert judgment.verdict == reorient(-2, judgment.shown_order)
    assert_no_js_errors(page)


def test_skip_with_s_asks_for_a_reason(browser_page, log_in, queue_project):
    page = browser_page
    make_routed(queue_project, 2)
    user, annotator = make_annotator(queue_project)
    log_in(page, user)
    page.goto(review_path(queue_project))
    page.keyboard.press("s")
    assert page.locator("#skip-dialog").is_visible()
    page.keyboard.press("ArrowDown")  # the reason select has focus: first reason
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=Skipped.")
    skipped = Assignment.objects.get(annotator=annotator, state="skipped")
    assert skipped.skip_reason == "broken_prompt"
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()


def test_lease_expiry_gives_the_pair_to_someone_else(browser, browser_page, log_in, live_server, queue_project):
    queue_project.overlap = 1
    queue_project.save()
    (pair,) = make_routed(queue_project, 1)
    slow_page = browser_page
    slow_user, slow = make_annotator(queue_project)
    log_in(slow_page, slow_user)
    slow_page.goto(review_path(queue_project))
    slow_page.wait_for_selector("#review-form")
    Assignment.objects.filter(annotator=slow).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    other_context = browser.new_context(base_url=live_server.url)
    quick_page = other_context.new_page()
    quick_user, quick = make_annotator(queue_project)
    log_in(quick_page, quick_user)
    quick_page.goto(review_path(queue_project))
    quick_page.wait_for_selector("#review-form")
    assert Assignment.objects.get(annotator=slow).state == "expired"
    assert Assignment.objects.get(annotator=quick).pair_id == pair.pk

    slow_page.keyboard.press("3")
    tab_until(slow_page, "textarea[name=rationale]")
    slow_page.keyboard.type("words worth keeping")
    slow_page.keyboard.press("Control+Enter")
    slow_page.wait_for_selector("text=ran out")
    assert "Nothing to judge right now" in slow_page.content()
    assert "Your rationale, to copy: “words worth keeping”" in slow_page.content()
    quick_page.keyboard.press("3")
    quick_page.keyboard.press("Control+Enter")
    wait_for_count(quick_page, 1)
    other_context.close()
    pair.refresh_from_db()
    assert (pair.n_human_judgments, pair.n_active_leases) == (1, 0)
    assert list(Judgment.objects.values_list("annotator", flat=True)) == [quick.pk]


def test_empty_queue_page_notices_a_slot_given_back(browser_page, log_in, queue_project):
    """Another annotator holds the only slot; the empty page asks every 20 s (a faked
    clock here) and, once that slot is skipped, offers it with a link, leasing nothing."""
    queue_project.overlap = 1
    queue_project.save()
    (pair,) = make_routed(queue_project, 1)
    _, holder = make_annotator(queue_project)
    held = assignment_next(project=queue_project, annotator=holder)
    user, annotator = make_annotator(queue_project)
    page = browser_page
    page.clock.install()
    log_in(page, user)
    page.goto(review_path(queue_project))
    page.wait_for_selector("text=Nothing to judge right now")
    with page.expect_response(lambda response: "/annotate/watch/" in response.url) as first:
        page.clock.run_for(20_500)
    assert first.value.status == 204
    assert page.locator("#queue-watch").inner_text() == "This page looks for a free pair every 20 seconds."

    assignment_skip(assignment_id=held.pk, annotator=holder, reason="unsure")
    with page.expect_response(lambda response: "/annotate/watch/" in response.url) as second:
        page.clock.run_for(20_000)
    assert second.value.status == 200
    page.wait_for_selector("text=A pair is free again")
    assert not Assignment.objects.filter(annotator=annotator).exists()
    page.click("text=Judge it")
    page.wait_for_selector("#review-form")
    assert Assignment.objects.get(annotator=annotator, state="leased").pair_id == pair.pk
    assert_no_js_errors(page)


SCREENSHOT_PROMPT = [
    {"role": "system", "content": "You are a careful Python tutor."},
    {"role": "user", "content": "My script reads a CSV of orders and should print the total per customer."},
    {"role": "assistant", "content": "Sure. Can you show me the code and a few lines of the file?"},
    {"role": "user", "content": "Here: `orders.csv` has `customer,amount`. My loop prints every row instead of totals."},
]
SCREENSHOT_A = """Use a dictionary to **accumulate** the amounts, then print once at the end:

```python
import csv
from collections import defaultdict

totals = defaultdict(float)
with open("orders.csv", newline="") as handle:
    for row in csv.DictReader(handle):
        totals[row["customer"]] += float(row["amount"])

for customer, total in sorted(totals.items()):
    print(f"{customer:<20} {total:>10.2f}")
```

Why it works:

1. `DictReader` names the columns, so `row["amount"]` reads clearly.
2. `defaultdict(float)` starts each customer at `0.0`.
3. Printing happens **after** the loop, so each customer appears once.

If amounts can be empty, guard with `float(row["amount"] or 0)`."""
SCREENSHOT_B = """You could print inside the loop but only when the customer changes. Sort the file first:

```python
rows = sorted(open("orders.csv").readlines()[1:])
current, total = None, 0
for line in rows:
    customer, amount = line.strip().split(",")
    if customer != current and current is not None:
        print(current, total); total = 0
    current = customer
    total += float(amount)
print(current, total)
```

This avoids extra memory."""


def test_review_page_screenshots_desktop_and_phone(browser, browser_page, log_in, live_server, queue_project, tmp_path):
    """Screenshots for docs/screenshots (set CONCORD_SCREENSHOT_DIR=docs/screenshots to
    refresh them); checks that nothing overflows sideways on a phone and that the
    verdict buttons are on screen at both widths."""
    out = Path(os.environ.get("CONCORD_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    queue_project.name = "Python tutoring"
    queue_project.instructions = "Prefer the response that solves the user's problem correctly."
    queue_project.save()
    prompt = PromptFactory(project=queue_project, text=SCREENSHOT_PROMPT[-1]["content"], messages=SCREENSHOT_PROMPT)
    pair = PairFactory(
        project=queue_project, prompt=prompt, status="routed",
        response_a=ResponseFactory(prompt=prompt, text=SCREENSHOT_A),
        response_b=ResponseFactory(prompt=prompt, text=SCREENSHOT_B),
    )
    Rubric.objects.create(project=queue_project, prompt=prompt, kind="checklist", origin="ai", items=[
        {"text": "Prints one total per customer"}, {"text": "Handles the header row"}, {"text": "Explains the fix"}])
    user, annotator = make_annotator(queue_project, username="maria")
    Assignment.objects.create(  # fixed order, so the pictures are the same every run
        project=queue_project, pair=pair, annotator=annotator, shown_order="ab",
        leased_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(minutes=10),
    )
    Pair.objects.filter(pk=pair.pk).update(n_active_leases=1)
    for name, page, viewport in [("desktop", browser_page, None), ("phone", None, PHONE)]:
        context = None
        if page is None:
            context = browser.new_context(viewport=viewport, base_url=live_server.url, is_mobile=True, has_touch=True)
            page = context.new_page()
        log_in(page, user)
        page.goto(review_path(queue_project))
        page.wait_for_selector("#review-form")
        width = page.viewport_size["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name}: sideways overflow"
        for button in page.locator(".verdict-face").all():
            box = button.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["y"] + box["height"] <= page.viewport_size["height"], f"{name}: verdict button below the screen"
        page.screenshot(path=str(out / f"review-{name}.png"))
        page.screenshot(path=str(tmp_path / f"review-{name}-full.png"), full_page=True)  # to look at, not kept
        if context:
            context.close()
