"""Secure defaults and the production settings' deploy check."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "CONCORD_HTTPS")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_secure_defaults(tmp_path):
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup();"
        "from django.conf import settings as s; print(s.DEBUG, s.ALLOWED_HOSTS, s.EMBEDDED);"
        "print(open(os.path.join(s.VAR_DIR, 'secret_key')).read() == s.SECRET_KEY)",
        {"CONCORD_VAR_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "False ['localhost', '127.0.0.1', '[::1]'] True"
    assert second == "True"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_key_required_with_database_url(tmp_path):
    result = run_python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()",
        {"CONCORD_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"},
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")},
        "CONCORD_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        "SECRET_KEY": "a-long-random-production-secret-key-9f8a7d6c5b4e3f2a1b0c9d8e7f6a5b4c3d2e1f0",
        "CONCORD_HTTPS": "1",
        "ALLOWED_HOSTS": "concord.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
