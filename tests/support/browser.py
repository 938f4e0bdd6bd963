"""Playwright in Debian Chromium, for browser tests of every area.

Registered in ``tests/conftest.py`` (``pytest_plugins``). A test marked
``@pytest.mark.browser`` asks for ``browser_page`` (a fresh context on the live
server, 1280×900) and ``log_in``::

    @pytest.mark.browser
    def test_something(browser_page, log_in, member):
        log_in(browser_page, member("annotator"))
        browser_page.goto("/projects/…")

Pages resolve relative URLs against ``live_server``; JavaScript errors on the page
are collected in ``browser_page.js_errors`` (``assert_no_js_errors`` checks them).
Never ``playwright install``: the browser is the system's Chromium.
"""
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TEST_PASSWORD = "pw-for-tests-1"  # tests/factories.py UserFactory
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CONCORD_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in the main thread; Django's ORM calls
    # made by the test itself (building rows, checking them) are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_page(browser, live_server):
    """A page in a fresh browser context (no cookies) on the live server."""
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(error))
    yield page
    context.close()
    close_live_server_connections()


def close_live_server_connections() -> None:
    """The live server's request threads keep a database connection open between requests
    (CONN_MAX_AGE); on PostgreSQL it would block dropping the test database at the end."""
    import gc
    import warnings

    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    def is_other_wrapper(candidate) -> bool:
        try:
            return isinstance(candidate, BaseDatabaseWrapper) and candidate is not connection
        except ReferenceError:  # a dead weak proxy among gc's objects
            return False

    with warnings.catch_warnings():  # isinstance() on every object wakes deprecated module attributes
        warnings.simplefilter("ignore")
        wrappers = [o for o in gc.get_objects() if is_other_wrapper(o)]
    for wrapper in wrappers:
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


@pytest.fixture
def log_in():
    """log_in(page, user[, password]): through the login form, like a person."""

    def log_in_user(page, user, password: str = TEST_PASSWORD) -> None:
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", password)
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return log_in_user


def assert_no_js_errors(page) -> None:
    assert not page.js_errors, f"JavaScript errors on the page: {page.js_errors}"
