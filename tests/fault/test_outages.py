"""Outages (issue 9): the broker down when a job starts — a clear error, nothing
half-created; the database down — a clear 503 page, not a traceback; and both
recover without a restart, the same server process answering again once the
service is back. The outages are made with a loopback TCP proxy that is cut and
restored under a live gunicorn (tests/support/tcp_proxy.py)."""
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from curation import services
from curation.exports import ExportError
from curation.models import ExportJob, GenerationJob, JobItem, Membership
from tests.factories import MembershipFactory, ProjectFactory, PromptFactory, UserFactory
from tests.support.annotators import log_in
from tests.support.tcp_proxy import TcpProxy

PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory's
DOWN_PAGE = "Concord cannot reach its database right now"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is


@pytest.fixture
def broker_down(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_CONNECTION_TIMEOUT = 1


@pytest.fixture
def admin_api(project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Membership.Role.ADMIN)
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- broker down: a clear error, nothing created ----------------------------------


@pytest.mark.django_db
def test_export_start_with_the_broker_down_creates_nothing(project, broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ExportError) as raised:
        services.export_start(project=project, options={"format": "trl"})
    assert raised.value.unavailable and raised.value.field is None
    assert "task broker at redis://127.0.0.1:" in raised.value.message and "no export was created" in raised.value.message
    assert not callbacks and not ExportJob.objects.exists()


@pytest.mark.django_db
def test_api_job_and_export_starts_answer_503_with_the_broker_down(project, admin_api, broker_down, settings):
    settings.CONCORD_BACKEND = "fake"
    PromptFactory(project=project)
    base = f"/api/projects/{project.slug}/"
    job = admin_api.post(base + "jobs/", {"method": "sample", "params": {}}, format="json")
    assert job.status_code == 503, job.content
    assert "task broker at redis://127.0.0.1:" in job.json()["detail"] and "no job was created" in job.json()["detail"]
    export = admin_api.post(base + "exports/", {"format": "trl"}, format="json")
    assert export.status_code == 503, export.content
    assert "no export was created" in export.json()["detail"]
    assert not GenerationJob.objects.exists() and not JobItem.objects.exists() and not ExportJob.objects.exists()


@pytest.mark.django_db
def test_export_page_shows_the_broker_error(project_admin_client, project, broker_down):
    response = project_admin_client.post(f"/projects/{project.slug}/exports/new/", {"format": "trl", "test_fraction": 0, "seed": 0},
                                        HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "is unreachable" in response.content.decode() and "no export was created" in response.content.decode()
    assert not ExportJob.objects.exists()


@pytest.mark.django_db
def test_export_removed_when_publishing_fails_after_the_commit(project, monkeypatch, django_capture_on_commit_callbacks):
    """The broker answered the check, then failed the publish: the job goes again."""
    from curation.tasks import run_export

    def refuse(*args, **kwargs):
        raise ConnectionError("broker went away")

    monkeypatch.setattr(run_export, "apply_async", refuse)
    with pytest.raises(ExportError, match="broker went away.*the export was removed"):
        with django_capture_on_commit_callbacks(execute=True):
            services.export_start(project=project, options={"format": "trl"})
    assert not ExportJob.objects.exists()


# --- recovery without a restart, through a cut proxy ------------------------------


def redis_target(settings) -> tuple[str, int, str]:
    url = urlsplit(settings.CELERY_BROKER_URL)
    if url.scheme != "redis":
        pytest.skip("the broker outage test needs a Redis broker (CELERY_BROKER_URL=redis://…); CI runs it there")
    return url.hostname or "127.0.0.1", url.port or 6379, url.path


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_broker_outage_and_recovery_under_a_live_server(live_gunicorn, settings):
    """Job start while the broker is cut: 503 naming the broker, nothing created; the
    broker back: the same server process starts the job."""
    host, port, db = redis_target(settings)
    project = ProjectFactory()
    PromptFactory(project=project)
    admin = UserFactory()
    MembershipFactory(project=project, user=admin, role=Membership.Role.ADMIN)
    token = Token.objects.create(user=admin).key
    with TcpProxy(host, port) as proxy:
        server = live_gunicorn(workers=1, threads=2, env={
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{proxy.port}{db}", "CONCORD_BACKEND": "fake",
            "CELERY_BROKER_CONNECTION_TIMEOUT": "2"})
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=30)
        start = {"method": "sample", "params": {}}
        path = f"/api/projects/{project.slug}/jobs/"

        assert api.post(path, json=start).status_code == 201  # the broker is up: the job starts
        assert api.post(f"/api/projects/{project.slug}/exports/", json={"format": "trl"}).status_code == 202

        proxy.cut()
        down = api.post(path, json=start)
        assert down.status_code == 503, down.text
        assert f"task broker at redis://127.0.0.1:{proxy.port}" in down.json()["detail"]
        assert "no job was created" in down.json()["detail"]
        export_down = api.post(f"/api/projects/{project.slug}/exports/", json={"format": "trl"})
        assert export_down.status_code == 503 and "no export was created" in export_down.json()["detail"]
        assert (GenerationJob.objects.count(), JobItem.objects.count(), ExportJob.objects.count()) == (1, 1, 1)

        proxy.restore()
        up = api.post(path, json=start)
        assert up.status_code == 201, up.text
        job = GenerationJob.objects.get(pk=up.json()["id"])
        assert (job.state, job.n_items, JobItem.objects.filter(job=job).count()) == ("queued", 1, 1)
        assert api.post(f"/api/projects/{project.slug}/exports/", json={"format": "trl"}).status_code == 202
        assert (GenerationJob.objects.count(), ExportJob.objects.count()) == (2, 2)
        assert server.process.poll() is None and "Traceback" not in server.output()
    _purge_queues(settings)


def _purge_queues(settings) -> None:
    """The jobs published here are not for the next test's worker."""
    from config.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        for queue in ("generation", "default"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:
                pass


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_database_outage_gives_503_and_recovers_without_a_restart(live_gunicorn, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the database outage test cuts a TCP connection to PostgreSQL; CI runs it there")
    db = settings.DATABASES["default"]
    project = ProjectFactory()
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=Membership.Role.ADMIN)
    with TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy:
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        server = live_gunicorn(workers=1, threads=2, env={
            "DATABASE_URL": f"postgres://{db['USER']}{password}@127.0.0.1:{proxy.port}/{db['NAME']}"})
        pid = server.process.pid
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            log_in(browser, user.username, PASSWORD)
            assert browser.get("/projects/").status_code == 200

            proxy.cut()
            for path in ("/projects/", f"/projects/{project.slug}/annotate/", "/accounts/login/"):
                page = browser.get(path)
                assert page.status_code == 503, (path, page.status_code, page.text[:500])
                assert DOWN_PAGE in page.text and "Traceback" not in page.text
                assert page.headers["Retry-After"] == "5"
            api = browser.get(f"/api/projects/{project.slug}/", headers={"Accept": "application/json"})
            assert api.status_code == 503
            assert api.json() == {"detail": "The database is unavailable. Try again in a moment."}

            proxy.restore()
            assert browser.get("/projects/").status_code == 200  # same session, same process
            assert browser.get(f"/projects/{project.slug}/annotate/").status_code == 200
    assert server.process.pid == pid and server.process.poll() is None
    assert "Traceback" not in server.output()
