"""A real gunicorn serving Concord for tests (a pytest plugin, see tests/conftest.py).

``live_gunicorn`` starts ``gunicorn config.wsgi`` on a free loopback port against the
test database, in the same way ``tests/support/worker.py`` starts a Celery worker
(its ``subprocess_env``). Tests using it need
``@pytest.mark.django_db(transaction=True)`` so the server sees their rows.

    def test_x(live_gunicorn):
        server = live_gunicorn(workers=3, threads=6, env={"DATABASE_URL": ...})
        httpx.get(server.url + "/accounts/login/")

The server runs ``tests.support.live_settings`` (the real settings with the cheap
password hasher of the tests' users). Its output goes to ``gunicorn.log``.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .worker import ROOT, subprocess_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornProcess:
    def __init__(self, env: dict, log: Path, workers: int, threads: int):
        self.env, self.log, self.workers, self.threads = env, log, workers, threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 60) -> GunicornProcess:
        handle = open(self.log, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "120",
             "--graceful-timeout", "5", "--access-logfile", "-"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/accounts/login/", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # quick shutdown: no request of a test is left
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@pytest.fixture
def live_gunicorn(settings, tmp_path):
    """Factory: ``live_gunicorn(workers=2, threads=4, env={...})`` → a started GunicornProcess."""
    base_env = subprocess_env(settings)
    base_env.update(DJANGO_SETTINGS_MODULE="tests.support.live_settings", SECRET_KEY=settings.SECRET_KEY,
                    PYTHONUNBUFFERED="1")
    servers: list[GunicornProcess] = []

    def start(workers: int = 2, threads: int = 4, env: dict | None = None) -> GunicornProcess:
        server = GunicornProcess({**base_env, **(env or {})}, tmp_path / "gunicorn.log", workers, threads)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
