"""A real Celery worker process for tests (a pytest plugin, see tests/conftest.py).

``celery_worker`` starts ``celery -A config worker -Q generation,default`` against
the test database (SQLite: the test DB file; PostgreSQL: the test database) and a
real broker: a filesystem broker in a temporary folder on SQLite, the
``CELERY_BROKER_URL`` of the environment (Redis, RabbitMQ) otherwise, with its
queues purged first. Tests using it need ``@pytest.mark.django_db(transaction=True)``
so the worker sees their rows.

    def test_x(celery_worker):
        worker = celery_worker(env={"CONCORD_BACKEND": "fake"})  # started, ready
        ...
        worker.kill()      # SIGKILL the whole worker (main process and pool)
        worker.start()     # a new worker on the same broker
        worker.wait_for_job(job, timeout=60)

The worker's output goes to ``worker.log`` (printed when a wait times out).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def subprocess_env(settings) -> dict:
    """The environment a child process needs to use the test database."""
    from django.db import connection

    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        env["CONCORD_SQLITE_PATH"] = str(db["NAME"])
        env.pop("DATABASE_URL", None)
    else:
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return env


def filesystem_broker(folder: Path) -> dict:
    """Create a filesystem broker's folders; returns its transport options."""
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


class WorkerProcess:
    def __init__(self, env: dict, log: Path, queues: str):
        self.env, self.log, self.queues = env, log, queues
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 90) -> WorkerProcess:
        handle = open(self.log, "a")
        handle.write(f"\n--- worker start {time.strftime('%X')} ---\n")
        handle.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues, "--concurrency", "1",
             "--loglevel", "INFO", "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-mingle",
             "--without-gossip", "--pool", "prefork"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.output()}")
            if " ready." in self.output():
                return self
            time.sleep(0.2)
        raise AssertionError(f"the worker did not become ready:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker's whole process group: no warm shutdown, no acks."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: the main process stops its pool
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_for_job(self, job, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {job.pk} still {job.state} after {timeout} s; worker log:\n{self.output()[-6000:]}")


@pytest.fixture
def celery_worker(settings, tmp_path):
    """Factory: ``celery_worker(env={...}, queues="generation,default")`` → a ready WorkerProcess."""
    from django.db import connection

    from config.celery import app

    base_env = subprocess_env(settings)
    base_env["PYTHONUNBUFFERED"] = "1"
    saved_options = app.conf.broker_transport_options
    if connection.vendor == "sqlite" or settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = tmp_path / "broker"
        settings.CELERY_BROKER_URL = "filesystem://"
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker(folder)
        base_env["CELERY_BROKER_URL"] = "filesystem://"
        base_env["CONCORD_VAR_DIR"] = str(tmp_path / "worker-var")  # its broker folders go here…
        (tmp_path / "worker-var").mkdir(exist_ok=True)
        (tmp_path / "worker-var" / "broker").symlink_to(folder)  # …and are the same folders
    else:
        base_env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            channel = conn.default_channel
            for queue in ("generation", "default"):
                try:
                    channel.queue_purge(queue)
                except Exception:
                    pass
    workers: list[WorkerProcess] = []

    def start(env: dict | None = None, queues: str = "generation,default") -> WorkerProcess:
        worker = WorkerProcess({**base_env, **(env or {})}, tmp_path / "worker.log", queues)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
    app.conf.broker_transport_options = saved_options
