"""The project page in Chromium: start a job, watch it progress live, polling stops at the end.

Uses the shared Chromium of tests/support/browser.py (one sync Playwright per process)."""

import pytest

from curation.models import GenerationJob, Membership
from tests.factories import PromptFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

def test_start_a_job_and_watch_it_finish(live_server, celery_worker, browser_page, project, member, settings):
    settings.CONCORD_BACKEND = "fake"
    member(Membership.Role.ADMIN, username="curator")
    PromptFactory.create_batch(3, project=project)
    celery_worker(env={"CONCORD_BACKEND": "fake", "CONCORD_FAKE_DELAY": "0.4"})
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "curator")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    # Choosing the method swaps in its parameter fields (htmx): fill them only after
    # the swap, or it replaces what was typed with the defaults (seen: n=2, not 3).
    with page.expect_response(lambda response: "/jobs/params/" in response.url):
        page.select_option("select[name=method]", "sample")
    page.wait_for_function("() => !document.querySelector('select[name=method]').classList.contains('htmx-request')")
    page.click("details.job-params-box summary")
    page.fill("input[name=param-n]", "3")
    page.fill("input[name=param-prompts_per_item]", "1")
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if "/progress/" in r.url else None)
    page.click("text=Start job")
    assert page.inner_text(".messages").startswith("Started sample job")
    job = GenerationJob.objects.get()
    card = page.locator(f"#job-{job.pk}")
    card.locator(".job-state.job-done").wait_for(timeout=60_000)  # swapped in by polling, no reload
    assert "3 done · 0 failed · 3 items" in card.inner_text()
    assert polls and polls[-1] == 286 and all(status == 200 for status in polls[:-1])
    seen = len(polls)
    page.wait_for_timeout(3000)
    assert len(polls) == seen  # polling stopped by itself
    job.refresh_from_db()
    assert job.state == "done" and job.rows_created["responses"] == 9
