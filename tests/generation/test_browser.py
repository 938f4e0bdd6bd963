"""The project page in Chromium: start a job, watch it progress live, polling stops at the end."""

import pytest

from curation.models import GenerationJob, Membership
from tests.factories import PromptFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture
def browser_page(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + Playwright's sync API
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1200, "height": 900})
        browser.close()
    close_live_server_connections()


def close_live_server_connections() -> None:
    """The live server's request threads keep a database connection open between requests
    (CONN_MAX_AGE); on PostgreSQL it would block dropping the test database at the end."""
    import gc
    import warnings

    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    with warnings.catch_warnings():  # isinstance() on every object wakes deprecated module attributes
        warnings.simplefilter("ignore")
        wrappers = [o for o in gc.get_objects() if isinstance(o, BaseDatabaseWrapper) and o is not connection]
    for wrapper in wrappers:
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


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
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    page.select_option("select[name=method]", "sample")
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
