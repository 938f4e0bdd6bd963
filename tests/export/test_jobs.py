"""Exports as Celery jobs: the form on the project page starts one, a real worker runs
it, the progress partial polls until 286, files download through a role-checked view."""
import hashlib

import pytest
from django.contrib.admin.sites import AdminSite
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django.urls import reverse

from curation.admin import ProjectAdmin, export_concord
from curation.models import ExportJob, Membership, Project

from ..factories import MembershipFactory, ProjectFactory, UserFactory
from .conftest import CONVERSATION_ROW, DEFAULT_PAIRS, SPECIAL_ROWS, import_rows, silver_rows, wait_for

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_export_runs_on_a_real_worker_with_progress_and_download(celery_worker_process, client, tmp_path):
    project = ProjectFactory(slug="jobs")
    import_rows(project, SPECIAL_ROWS + silver_rows() + [CONVERSATION_ROW], tmp_path)
    admin = UserFactory()
    MembershipFactory(project=project, user=admin, role=Membership.Role.ADMIN)
    client.force_login(admin)

    page = client.get(reverse("curation:project_detail", args=[project.slug])).content.decode()
    assert 'id="export-section"' in page and 'hx-post="/projects/jobs/exports/new/"' in page

    response = client.post(reverse("curation:export_create", args=[project.slug]),
                           {"format": "trl", "test_fraction": "0.2", "seed": "1", "conversational": "on"}, **HTMX)
    assert response.status_code == 200
    job = ExportJob.objects.get(project=project)
    assert f'hx-get="/projects/jobs/exports/{job.pk}/progress/"' in response.content.decode()
    progress_url = reverse("curation:export_progress", args=[project.slug, job.pk])

    log = tmp_path / "worker.log"
    finished = wait_for(lambda: client.get(progress_url).status_code == 286, what="the export to finish", log=log)
    assert finished
    job.refresh_from_db()
    assert job.state == "done", job.error
    assert job.n_rows == DEFAULT_PAIRS + 1  # the conversation pair is gold too
    names = [path.rsplit("/", 1)[-1] for path in job.files]
    assert names == ["jobs-trl.train.jsonl", "jobs-trl.test.jsonl", "README.md"]
    final = client.get(progress_url).content.decode()
    assert "is ready" in final and "hx-get" not in final  # polling stops
    for name in names:
        download = client.get(reverse("curation:export_download", args=[project.slug, job.pk, name]))
        assert download.status_code == 200
        assert f'filename="{name}"' in download["Content-Disposition"]
        body = b"".join(download.streaming_content)
        if name != "README.md":
            assert hashlib.sha256(body).hexdigest() == job.sha256[name]
    assert "## Pairs by tier and split" in job.dataset_card

    # A failing export is recorded with its message, and leaves no file.
    response = client.post(reverse("curation:export_create", args=[project.slug]), {"format": "trl", "test_fraction": "0", "seed": "0"})
    assert response.status_code == 302
    failed = ExportJob.objects.exclude(pk=job.pk).get()
    wait_for(lambda: ExportJob.objects.get(pk=failed.pk).is_finished, what="the failing export", log=log)
    failed.refresh_from_db()
    assert failed.state == "failed" and "has a multi-turn prompt" in failed.error and failed.files == []
    folder = celery_worker_process / project.slug / f"export-{failed.pk}"
    assert not [p for p in folder.iterdir() if p.is_file()] if folder.exists() else True
    page = client.get(reverse("curation:export_list", args=[project.slug])).content.decode()
    assert "has a multi-turn prompt" in page and "jobs-trl.train.jsonl" in page


@pytest.mark.django_db
def test_export_pages_need_the_admin_role(client, project, member):
    job = ExportJob.objects.create(project=project, format="trl", state="done", files=[f"{project.slug}/export-1/x.jsonl"])
    urls = [
        ("get", reverse("curation:export_list", args=[project.slug])),
        ("post", reverse("curation:export_create", args=[project.slug])),
        ("get", reverse("curation:export_progress", args=[project.slug, job.pk])),
        ("get", reverse("curation:export_download", args=[project.slug, job.pk, "x.jsonl"])),
    ]
    client.force_login(UserFactory())
    assert {getattr(client, method)(url).status_code for method, url in urls} == {404}
    client.force_login(member(Membership.Role.REVIEWER))
    assert {getattr(client, method)(url).status_code for method, url in urls} == {403}
    page = client.get(reverse("curation:project_detail", args=[project.slug])).content.decode()
    assert "export-section" not in page and "/exports/" not in page


@pytest.mark.django_db
def test_download_serves_only_the_jobs_own_files(client, project, member, settings, tmp_path):
    settings.CONCORD_EXPORT_DIR = tmp_path
    (tmp_path / project.slug / "export-1").mkdir(parents=True)
    (tmp_path / project.slug / "export-1" / "data.jsonl").write_text("{}\n")
    (tmp_path / "secret.txt").write_text("no")
    job = ExportJob.objects.create(project=project, format="trl", state="done",
                                   files=[f"{project.slug}/export-1/data.jsonl"])
    client.force_login(member(Membership.Role.ADMIN))
    ok = client.get(reverse("curation:export_download", args=[project.slug, job.pk, "data.jsonl"]))
    assert ok.status_code == 200 and b"".join(ok.streaming_content) == b"{}\n"
    assert client.get(reverse("curation:export_download", args=[project.slug, job.pk, "secret.txt"])).status_code == 404
    assert client.get(f"/projects/{project.slug}/exports/{job.pk}/files/..%2Fsecret.txt").status_code == 404
    other = ProjectFactory()
    foreign = ExportJob.objects.create(project=other, format="trl", state="done", files=[f"{other.slug}/export-1/data.jsonl"])
    assert client.get(reverse("curation:export_download", args=[project.slug, foreign.pk, "data.jsonl"])).status_code == 404


@pytest.mark.django_db
def test_form_errors_come_back_in_the_section(project_admin_client, project):
    response = project_admin_client.post(reverse("curation:export_create", args=[project.slug]),
                                         {"format": "hh", "test_fraction": "0", "seed": "0", "margin": "abs_s"}, **HTMX)
    assert response.status_code == 200
    assert "margin is written by the trl format only" in response.content.decode()
    assert not ExportJob.objects.exists()


@pytest.mark.django_db
def test_admin_action_starts_exports_for_project_admins(project, django_capture_on_commit_callbacks):
    superuser = UserFactory(is_superuser=True, is_staff=True)
    staff = UserFactory(is_staff=True)
    other = ProjectFactory()
    request = RequestFactory().post("/admin/curation/project/")
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin = ProjectAdmin(Project, AdminSite())
    assert export_concord in model_admin.actions
    request.user = staff
    export_concord(model_admin, request, Project.objects.filter(pk=project.pk))
    assert not ExportJob.objects.exists()
    request.user = superuser
    with django_capture_on_commit_callbacks() as callbacks:
        export_concord(model_admin, request, Project.objects.filter(pk__in=[project.pk, other.pk]))
    assert ExportJob.objects.filter(format="concord").count() == 2
    assert len(callbacks) == 2  # one task each, enqueued on commit
