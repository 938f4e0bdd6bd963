"""Secure defaults and the production settings' deploy check."""
import os
import re
import secrets
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


def production_env() -> dict:
    """The environment file of docs/deploy.md (the block after its production-env
    marker), with a real secret key in place of the placeholder."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"<!-- production-env.*?-->\s*```ini\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md lost its production-env block"
    env = dict(line.split("=", 1) for line in block.group(1).splitlines() if line and not line.startswith("#"))
    assert env["SECRET_KEY"].startswith("REPLACE-WITH")
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE")},
        **production_env(),
        # Folders this machine can write (the documented ones live under /srv).
        "CONCORD_VAR_DIR": str(tmp_path / "var"), "STATIC_ROOT": str(tmp_path / "static"),
        "CONCORD_EXPORT_DIR": str(tmp_path / "exports"),
    }
    assert env["CONCORD_HTTPS"] == "1" and env["DATABASE_URL"].startswith("postgres://")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_without_https(tmp_path):
    """The check above can fail: the same settings without CONCORD_HTTPS are not clean."""
    env = {**{k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")},
           **production_env(), "CONCORD_HTTPS": "0", "CONCORD_VAR_DIR": str(tmp_path / "var"),
           "STATIC_ROOT": str(tmp_path / "static"), "CONCORD_EXPORT_DIR": str(tmp_path / "exports")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout  # no HSTS


def test_every_setting_is_documented_in_deploy_md():
    """Each environment variable config/settings.py reads has a row in docs/deploy.md's table."""
    read = set(re.findall(r"env(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", (ROOT / "config" / "settings.py").read_text()))
    read |= set(re.findall(r"\"([A-Z][A-Z0-9_]+)\" in env", (ROOT / "config" / "settings.py").read_text()))
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", (ROOT / "docs" / "deploy.md").read_text(), re.M))
    assert len(read) > 30
    assert not read - documented, f"settings missing from docs/deploy.md's table: {sorted(read - documented)}"
