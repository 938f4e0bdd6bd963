"""The jobs section of the project page, the jobs page and its actions."""
import pytest
from django.urls import reverse

from curation.models import GenerationJob, JobItem, Membership
from generation.jobs import item_run, job_start
from tests.factories import PromptFactory

from .test_jobs import closed_port

pytestmark = pytest.mark.django_db

Role = Membership.Role


def test_project_page_shows_jobs_to_reviewers_and_the_form_to_admins(client, project, member, fake_backend):
    PromptFactory(project=project)
    job_start(project=project, method="sample", params={})
    detail = reverse("curation:project_detail", args=[project.slug])
    client.force_login(member(Role.ANNOTATOR))
    page = client.get(detail).content.decode()
    assert "Generation jobs" not in page and "/jobs/" not in page
    client.force_login(member(Role.REVIEWER))
    page = client.get(detail).content.decode()
    assert "Generation jobs" in page and "sample" in page and "Start job" not in page
    assert 'hx-trigger="every 2s"' in page  # the running job polls
    client.force_login(member(Role.ADMIN))
    page = client.get(detail).content.decode()
    assert "Start job" in page and 'name="param-n"' in page and "Cancel" in page


def test_start_from_the_form(project_admin_client, project, fake_backend):
    PromptFactory.create_batch(2, project=project)
    url = reverse("generation:job_start", args=[project.slug])
    response = project_admin_client.post(
        url, {"method": "sample", "param-n": "3", "param-pairing": "all", "param-model": "", "param-prompts_per_item": "1"},
        follow=True,
    )
    job = GenerationJob.objects.get()
    assert job.params["n"] == 3 and job.params["pairing"] == "all" and job.n_items == 2
    assert f"Started sample job #{job.pk} with 2 items." in response.content.decode()


def test_start_with_a_bad_parameter_or_broker_down_says_why(project_admin_client, project, fake_backend, settings):
    PromptFactory(project=project)
    url = reverse("generation:job_start", args=[project.slug])
    page = project_admin_client.post(url, {"method": "sample", "param-n": "lots"}, follow=True).content.decode()
    assert "The job did not start: parameter n: &#x27;lots&#x27; is not a valid int" in page
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_CONNECTION_TIMEOUT = 1
    page = project_admin_client.post(url, {"method": "sample"}, follow=True).content.decode()
    assert "is unreachable" in page and "no job was created" in page
    assert not GenerationJob.objects.exists()


def test_progress_polls_until_the_job_ends_then_answers_286(client, project, member, fake_backend, django_assert_max_num_queries):
    PromptFactory(project=project)
    job = job_start(project=project, method="sample", params={})
    client.force_login(member(Role.REVIEWER))
    url = reverse("generation:job_progress", args=[project.slug, job.pk])
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert response.status_code == 200 and "0 done · 0 failed · 1 items" in response.content.decode()
    assert 'hx-trigger="every 2s"' in response.content.decode()
    item_run(item_id=job.items.get().pk, worker="w")
    response = client.get(url)
    assert response.status_code == 286
    body = response.content.decode()
    assert "1 done · 0 failed · 1 items" in body and "hx-trigger" not in body and "2 responses" in body and "1 pairs" in body


def test_failed_items_show_their_error_escaped_and_retry_requeues_them(project_admin_client, project, fake_backend):
    PromptFactory(project=project)
    fake_backend.script = [RuntimeError("<script>alert(1)</script>")]
    job = job_start(project=project, method="sample", params={})
    item_run(item_id=job.items.get().pk, worker="w")
    body = project_admin_client.get(reverse("generation:job_list", args=[project.slug])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
    assert "Retry failed items" in body
    page = project_admin_client.post(reverse("generation:job_retry", args=[project.slug, job.pk]), follow=True)
    assert "1 failed item queued again" in page.content.decode()
    assert JobItem.objects.get().state == "pending"


def test_cancel_button(project_admin_client, project, fake_backend):
    PromptFactory.create_batch(2, project=project)
    job = job_start(project=project, method="sample", params={})
    project_admin_client.post(reverse("generation:job_cancel", args=[project.slug, job.pk]))
    job.refresh_from_db()
    assert job.state == "cancelled" and set(job.items.values_list("state", flat=True)) == {"cancelled"}


def test_permissions(client, project, member, fake_backend):
    PromptFactory(project=project)
    job = job_start(project=project, method="sample", params={})
    outsider = member(Role.ANNOTATOR)
    client.force_login(outsider)
    assert client.get(reverse("generation:job_list", args=[project.slug])).status_code == 403
    assert client.get(reverse("generation:job_progress", args=[project.slug, job.pk])).status_code == 403
    client.force_login(member(Role.REVIEWER))
    assert client.post(reverse("generation:job_cancel", args=[project.slug, job.pk])).status_code == 403
    assert client.post(reverse("generation:job_start", args=[project.slug]), {"method": "sample"}).status_code == 403
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(reverse("generation:job_list", args=[project.slug])).status_code == 404
    job.refresh_from_db()
    assert job.state == "queued"


def test_params_partial_shows_the_chosen_methods_fields(project_admin_client, project):
    body = project_admin_client.get(reverse("generation:job_params", args=[project.slug]), {"method": "rmboost"}).content.decode()
    assert 'name="param-aspects"' in body and 'name="param-pairing"' not in body
