"""Fixtures of the generation tests: a private filesystem broker and a scripted backend."""
import pytest

from generation.backends.fake import FakeBackend
from generation.methods import base as method_base
from tests.support.worker import filesystem_broker


@pytest.fixture(autouse=True)
def private_broker(settings, tmp_path):
    """Unit tests publish into a throw-away filesystem broker, never into var/ or Redis."""
    folder = tmp_path / "broker"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker(folder)
    return folder


@pytest.fixture
def fake_backend(monkeypatch, settings):
    """A FakeBackend that every job item uses: ``fake_backend.script = [...]`` to script it."""
    settings.CONCORD_BACKEND = "fake"
    backend = FakeBackend("fake-model")
    monkeypatch.setattr(method_base, "get_backend", lambda model=None: backend)
    return backend


@pytest.fixture
def run_items():
    """Run every pending item of a job in this process, as a worker would."""
    from curation.models import JobItem
    from generation.jobs import item_run

    def run(job, worker: str = "test-worker") -> list[str]:
        ids = JobItem.objects.filter(job=job, state=JobItem.State.PENDING).values_list("id", flat=True)
        return [item_run(item_id=item_id, worker=worker) for item_id in list(ids)]

    return run


def queued_messages(broker_folder) -> int:
    return len(list((broker_folder / "queue").iterdir()))
