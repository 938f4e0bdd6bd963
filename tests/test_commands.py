"""The import_dataset and setup_demo commands as a curator runs them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from curation.models import Pair, Project, Prompt

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


def test_import_command_summary_and_create_project(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"prompt": "Q", "response_a": "a", "response_b": "b"}) + "\n")
    call_command("import_dataset", str(path), "--project", "new-one", "--create-project", "--no-progress")
    out = capsys.readouterr().out
    assert "Imported 1 concord records" in out and "1 pairs new" in out
    assert Project.objects.get(slug="new-one").pairs.count() == 1


def test_import_command_unknown_project(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("{}\n")
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("import_dataset", str(path), "--project", "nope")


def test_import_command_error_exit_status_1(tmp_path, project):
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({"prompt": "Q", "response_a": "a", "response_b": "b"})
        + "\n"
        + json.dumps({"prompt": "Q2", "response_a": "a", "response_b": "b", "judgments": [{"annotator": "x", "verdict": 9}]})
        + "\n"
    )
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(path), "--project", project.slug, "--no-progress")
    assert error.value.returncode == 1
    assert "line 2, field 'judgments[0].verdict'" in str(error.value)
    assert not Pair.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_import_command_as_a_process_exits_1(tmp_path, project, settings):
    """The real command line: exit status and message on stderr."""
    path = tmp_path / "d.csv"
    path.write_text("prompt,response_a\nq,a\n")
    env = _subprocess_env(settings)
    result = subprocess.run(
        [sys.executable, "manage.py", "import_dataset", str(path), "--project", project.slug, "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "line 2, field 'response_b': missing column" in result.stderr


def _subprocess_env(settings):
    import os

    from django.db import connection

    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        env["CONCORD_SQLITE_PATH"] = db["NAME"]
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return env


def test_setup_demo_is_idempotent(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the demo password file goes here, not into the real var/
    call_command("setup_demo")
    first = capsys.readouterr().out
    assert "Login: admin / " in first
    n_prompts = Prompt.objects.filter(project__slug="demo").count()
    assert n_prompts >= 30
    categories = set(Prompt.objects.filter(project__slug="demo").values_list("category", flat=True))
    assert categories == {"facts", "reasoning", "coding", "writing", "advice", "safety"}
    call_command("setup_demo")
    second = capsys.readouterr().out
    assert Prompt.objects.filter(project__slug="demo").count() == n_prompts
    assert first.splitlines()[-1] == second.splitlines()[-1]  # same login printed again
