"""The README's first command on a clean copy of the repository: `make run` serves the
app with a worker, prints URL and login, stops cleanly on Ctrl-C, and a second run
reuses what exists."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_checkout(target: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)  # keeps mtimes: make sees the venv as up to date
    (target / ".venv").symlink_to(ROOT / ".venv")


def start(checkout: Path, env: dict, port: int) -> tuple[subprocess.Popen, str, list[str]]:
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"], cwd=checkout, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 300
    login = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Login: "):
            login = line.strip()
        if "Concord is running at" in line:
            return process, login, lines
    process.kill()
    raise AssertionError("make run did not start:\n" + "".join(lines[-40:]))


def stop_with_ctrl_c(process: subprocess.Popen) -> list[tuple[psutil.Process, str]]:
    children = [(child, " ".join(child.cmdline())) for child in psutil.Process(process.pid).children(recursive=True)]
    os.killpg(process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    process.wait(timeout=60)
    return children


def still_running(children) -> list[str]:
    alive = []
    for child, cmdline in children:
        try:
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                alive.append(cmdline)
        except psutil.NoSuchProcess:
            pass
    return alive


def log_in(base: str, login: str) -> str:
    username, password = re.fullmatch(r"Login: (\S+) / (\S+)", login).groups()
    with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as client:
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        token = client.cookies["csrftoken"]
        response = client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert response.status_code == 200
        return response.text


def test_make_run_on_a_clean_copy(tmp_path):
    call_command("prepare_model", verbosity=0)  # converted once per machine, reused here
    checkout = tmp_path / "concord"
    copy_checkout(checkout)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "CONCORD_VAR_DIR")}
    env.update({"CONCORD_MODEL_PATH": settings.CONCORD_MODEL_PATH, "PYTHONUNBUFFERED": "1"})
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    process, login, lines = start(checkout, env, port)
    assert login, "make run printed no login"
    assert f"Concord is running at {base}/" in "".join(lines)
    page = log_in(base, login)
    assert "Demo" in page  # the demo project is listed
    children = stop_with_ctrl_c(process)
    assert any("gunicorn" in cmdline for _, cmdline in children)
    assert any("celery" in cmdline and "worker" in cmdline for _, cmdline in children)
    time.sleep(1)
    assert still_running(children) == []

    process, login_again, _ = start(checkout, env, port)
    try:
        assert login_again == login  # same admin, same password: nothing was recreated
        assert "Demo" in log_in(base, login_again)
    finally:
        stop_with_ctrl_c(process)
    assert (checkout / "var" / "concord.sqlite3").exists()
