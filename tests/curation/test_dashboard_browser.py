"""The dashboard and the adjudication queue in a real browser (Debian Chromium)."""
import pytest

from curation.models import Adjudication, Membership, Pair
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def log_in(page, live_server, project):
    """A reviewer of the project, logged in through the form (shared fixtures in tests/support/browser.py)."""
    reviewer = UserFactory(username="reviewer-in-browser")
    MembershipFactory(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "reviewer-in-browser")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_dashboard_panels_load_and_a_cell_leads_to_its_pairs(browser_page, live_server, project, build):
    project.overlap = 3
    project.save()
    flipped = build(humans=[1, 1, 1], ai={"judge-x": -1})
    build(humans=[-1, -1, -1], ai={"judge-x": -1})
    log_in(browser_page, live_server, project)
    browser_page.goto(f"{live_server.url}/projects/{project.slug}/dashboard/")
    for selector in ("#curation-summary-stats", "table.confusion", "#bias svg rect", "#over-time svg circle",
                     "#annotators", "#categories", "#strata"):
        browser_page.wait_for_selector(selector)
    assert browser_page.locator("#annotators tbody tr").count() == 3
    # Row B (human +1), column A (AI −1): three records, all on the flipped pair.
    cell = browser_page.locator("table.confusion a[href*='human=1&ai=-1']")
    assert cell.inner_text() == "3"
    cell.click()
    browser_page.wait_for_selector("text=Filtered by judge judge-x")
    links = browser_page.locator("table.table tbody td:first-child a")
    assert links.count() == 1 and links.first.inner_text() == str(flipped.id)
    browser_page.wait_for_load_state("networkidle")


def test_adjudicating_in_the_queue_swaps_the_item(browser_page, live_server, project, build):
    project.overlap = 3
    project.save()
    pair = build(humans=[-1, 1, 0])
    log_in(browser_page, live_server, project)
    browser_page.goto(f"{live_server.url}/projects/{project.slug}/adjudication/")
    item = browser_page.locator(f"#queue-{pair.id}")
    item.locator("button[type=submit]").click()  # no verdict chosen yet
    browser_page.wait_for_selector(f"#queue-{pair.id} .error")
    assert not Adjudication.objects.exists()
    browser_page.locator(f"#queue-{pair.id} input[value='0']").check()
    browser_page.locator(f"#queue-{pair.id} textarea").fill("Both answers are equally good.")
    browser_page.locator(f"#queue-{pair.id} button[type=submit]").click()
    browser_page.wait_for_selector(f"#queue-{pair.id} .decided")
    browser_page.wait_for_load_state("networkidle")
    assert (Pair.objects.get(pk=pair.pk).tier, Adjudication.objects.get().note) == ("gold", "Both answers are equally good.")
