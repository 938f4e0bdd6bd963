"""The export form in a real browser: htmx posts it, polls the job a real worker runs,
stops polling when it is done, and the download link serves the file."""
import json

import pytest

from curation.models import ExportJob, Membership

from ..factories import MembershipFactory, ProjectFactory, UserFactory
from .conftest import DEFAULT_PAIRS, SPECIAL_ROWS, import_rows, silver_rows


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_export_form_polls_until_done_and_downloads(celery_worker_process, browser, live_server, tmp_path):
    project = ProjectFactory(name="Browser export", slug="browser-export")
    import_rows(project, SPECIAL_ROWS + silver_rows(), tmp_path)
    user = UserFactory(username="curator", password="curator-pass-1")
    MembershipFactory(project=project, user=user, role=Membership.Role.ADMIN)

    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", "curator")
        page.fill("input[name=password]", "curator-pass-1")
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(f"{live_server.url}/projects/{project.slug}/")
        section = page.locator("#export-section")
        section.locator("select[name=format]").select_option("trl")
        section.locator("input[name=test_fraction]").fill("0")
        section.get_by_role("button", name="Start export").click()
        # The section is swapped in place (no page load) and polls until the job is done.
        page.wait_for_selector("text=is ready", timeout=90_000)
        polling = page.locator(".export-progress[hx-get]")
        assert polling.count() == 0
        assert page.url.endswith(f"/projects/{project.slug}/")
        with page.expect_download() as download_info:
            page.get_by_role("link", name="browser-export-trl.jsonl").click()
        path = download_info.value.path()
        rows = [json.loads(line) for line in open(path, encoding="utf-8")]
        assert len(rows) == DEFAULT_PAIRS and {"prompt", "chosen", "rejected", "pair_id"} <= set(rows[0])
        page.screenshot(path=str(tmp_path / "export-done.png"), full_page=True)
    finally:
        context.close()
    job = ExportJob.objects.get(project=project)
    assert job.state == "done" and job.n_rows == DEFAULT_PAIRS
