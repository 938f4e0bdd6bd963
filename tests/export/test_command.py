"""manage.py export_dataset: options, summary line, errors that name the problem."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .conftest import DEFAULT_PAIRS

pytestmark = pytest.mark.django_db


def export(*args) -> str:
    out = io.StringIO()
    call_command("export_dataset", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_writes_split_files_card_and_summary(export_project, tmp_path):
    output = tmp_path / "exports" / "dpo.jsonl"
    line = export("--project", export_project.slug, "--format", "trl", "--output", str(output),
                  "--test-fraction", "0.2", "--seed", "5", "--margin", "--batch-size", "7")
    train, test = tmp_path / "exports" / "dpo.train.jsonl", tmp_path / "exports" / "dpo.test.jsonl"
    rows = [json.loads(x) for path in (train, test) for x in path.read_text().splitlines()]
    assert len(rows) == DEFAULT_PAIRS and all(row["margin"] >= 1 for row in rows)
    assert line.startswith(f"Exported {DEFAULT_PAIRS} pairs as {DEFAULT_PAIRS} rows")
    assert "dpo.train.jsonl" in line and "dpo.test.jsonl" in line and "README.md" in line
    card = (tmp_path / "exports" / "README.md").read_text()
    assert "test fraction 0.2 by prompt, seed 5" in card


def test_command_parquet_and_filters(export_project, tmp_path):
    line = export("--project", export_project.slug, "--format", "csv", "--output", str(tmp_path / "gold"),
                  "--min-tier", "gold", "--parquet")
    assert (tmp_path / "gold.parquet").exists() and line.startswith("Exported 3 pairs")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--project", "nope", "--output", "x.jsonl"], "No project with slug 'nope'"),
        (["--project", "export-fixture", "--output", "x.jsonl", "--test-fraction", "1.5"],
         "test_fraction: test_fraction must be between 0 and 1"),
        (["--project", "export-fixture", "--output", "x.jsonl", "--format", "hh", "--margin"],
         "margin: margin is written by the trl format only"),
        (["--project", "export-fixture", "--output", "x.jsonl", "--since", "yesterday"],
         "since must be a date (YYYY-MM-DD)"),
    ],
)
def test_command_errors_name_the_problem(export_project, tmp_path, args, message):
    args = [str(tmp_path / "out" / "x.jsonl") if arg == "x.jsonl" else arg for arg in args]
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export(*args)
    assert not (tmp_path / "out").exists()


def test_help_documents_every_option():
    from curation.management.commands.export_dataset import Command

    parser = Command().create_parser("manage.py", "export_dataset")
    text = parser.format_help()
    for option in ("--format", "--output", "--parquet", "--min-tier", "--keep-ties", "--keep-flagged",
                   "--min-agreement", "--min-strength", "--judge", "--annotator", "--origin", "--since", "--until",
                   "--test-fraction", "--seed", "--strict", "--margin", "--conversational", "--implicit-prompt",
                   "--with-rationale", "--synthetic-scores", "--include-ai-justifications", "--long"):
        assert option in text
    assert all(action.help for action in parser._actions)
