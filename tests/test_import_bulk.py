"""The PostgreSQL fast path of import (curation/importers/bulk.py) writes what the ORM
path writes, field by field; re-import creates nothing; a bad last line writes nothing."""
import json

import pytest
from django.db import connection

from curation.importers import RecordError, dataset_import
from curation.models import Adjudication, Annotator, JudgeConfig, Judgment, Pair, Prompt, Response, Rubric, Score
from tests.factories import ProjectFactory, UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the bulk import path is PostgreSQL's"),
]

IGNORED = {"id", "project", "project_id", "created_at", "updated_at"}

RICH_ROWS = [
    {
        "id": "p1", "prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5",
        "producer_a": "model-x", "response_a_meta": {"producer_kind": "model", "params": {"t": 0.7}, "n_tokens": 1,
                                                      "finish_reason": "stop", "conditioning": {"persona": "p"}},
        "metadata": {"category": "math", "difficulty": 1.5}, "flags": ["checked"], "ensemble_mu": -0.5,
        "ensemble_sigma": 0.25, "prompt_metadata": {"src": "hand"}, "prompt_id": 17, "origin": "hand",
        "judgments": [
            {"annotator": "bulk-ann-1", "verdict": -2, "rationale": "A is right", "aspects": {"truthfulness": -2},
             "shown_order": "ab", "time_spent_ms": 1200, "mode": "blind", "checklist_answers": {"c1": True}},
            {"annotator": "bulk-ann-2", "verdict": -1, "raw_value": "A>B", "raw_scale": "likert"},
        ],
        "ai_judgments": [
            {"judge": "bulk-judge", "verdict": -1, "rationale": "A", "confidence": 0.9, "aspects": {"h": -1, "note": "x"},
             "verdict_before_length_rule": -2, "length_rule_applied": True, "expected_verdict": -1.25,
             "position_consistent": True, "runs": [{"v": -1}], "model": "m1", "backend": "b1"},
        ],
        "scores": [{"side": "a", "judge": "bulk-scorer", "aspect": "helpfulness", "value": 4.0, "rationale": "ok"},
                   {"side": "b", "judge": "bulk-scorer", "aspect": "helpfulness", "value": None}],
        "rubrics": [{"kind": "checklist", "items": ["is it 4?"], "text": "t"}],
    },
    # The same pair, sides swapped: one pair, labels re-oriented, a revision, a new judge.
    {
        "prompt": "What is 2 + 2?", "response_a": "5", "response_b": " 4 ",
        "judgments": [
            {"annotator": "bulk-ann-3", "verdict": 2, "aspects": {"truthfulness": 1}, "shown_order": "ab"},
            {"annotator": "bulk-ann-1", "verdict": 1, "revised": True, "rationale": "changed my mind"},
            {"annotator": "bulk-ann-2", "verdict": 2},  # already given above: kept once
        ],
        "ai_judgments": [{"judge": "bulk-judge-2", "verdict": 1, "confidence": 0.8, "kind": "source"}],
        "adjudications": [{"verdict": 1, "source": "review", "reviewer": "nobody-here", "note": "B wrong"},
                          {"verdict": 1, "source": "review", "reviewer": "bulk-reviewer"}],
        "rubrics": [{"kind": "checklist", "items": ["other"]}, {"kind": "rubric", "version": 2, "items": []}],
    },
    {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
        "response_a": "Blue.", "response_b": "Colours are wavelengths of light that...",
        "ai_judgments": [{"judge": "bulk-judge", "verdict": 2, "confidence": 0.95},
                         {"judge": "bulk-judge-3", "verdict": 1, "confidence": 0.99}],
    },
    {"prompt": "A prompt for generation to work on.", "metadata": {"category": "writing"},
     "rubrics": [{"kind": "guideline", "text": "be kind", "task_type": "open"}]},
    {"prompt": "Same sides", "response_a": "x  y", "response_b": "x y"},
    {"prompt": "Gold one", "response_a": "left", "response_b": "right", "gold": {"verdict": -1, "note": "n"},
     "judgments": [{"annotator": "bulk-ann-1", "verdict": 0}]},
    {"prompt": "Consensus", "response_a": "aa", "response_b": "bb",
     "judgments": [{"annotator": f"bulk-ann-{i}", "verdict": 1} for i in range(1, 4)]},
    {"prompt": "Unparsed", "response_a": "aa", "response_b": "bb",
     "ai_judgments": [{"judge": "bulk-judge", "verdict": None, "parse_ok": False}]},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _values(queryset, rename: dict) -> list[dict]:
    rows = []
    for row in queryset.values():
        for key, mapping in rename.items():
            row[key] = mapping.get(row[key], row[key])
        rows.append({k: v for k, v in row.items() if k not in IGNORED})
    return rows


def snapshot(project) -> dict:
    """Every row the import wrote for the project, with ids replaced by natural keys."""
    prompts = dict(Prompt.objects.filter(project=project).values_list("id", "content_hash"))
    responses = {
        pk: (prompts[prompt_id], content_hash)
        for pk, prompt_id, content_hash in Response.objects.filter(prompt_id__in=prompts).values_list(
            "id", "prompt_id", "content_hash")
    }
    pairs = dict(Pair.objects.filter(project=project).values_list("id", "content_hash"))
    judges = dict(JudgeConfig.objects.filter(project=project).values_list("id", "name"))
    annotators = dict(Annotator.objects.values_list("id", "name"))
    judgments = {
        pk: (pairs[pair_id], annotators.get(a) or judges.get(j), revision)
        for pk, pair_id, a, j, revision in Judgment.objects.filter(project=project).values_list(
            "id", "pair_id", "annotator_id", "judge_config_id", "is_revision")
    }

    def keyed(rows, *keys):
        return sorted(rows, key=lambda row: json.dumps([row[k] for k in keys], default=str))

    return {
        "prompts": keyed(_values(Prompt.objects.filter(project=project), {}), "content_hash"),
        "responses": keyed(_values(Response.objects.filter(prompt_id__in=prompts), {"prompt_id": prompts}),
                           "prompt_id", "content_hash"),
        "pairs": keyed(_values(Pair.objects.filter(project=project),
                               {"prompt_id": prompts, "response_a_id": responses, "response_b_id": responses}),
                       "content_hash"),
        "judgments": keyed(_values(Judgment.objects.filter(project=project),
                                   {"pair_id": pairs, "annotator_id": annotators, "judge_config_id": judges,
                                    "revises_id": judgments}),
                           "pair_id", "annotator_id", "judge_config_id", "is_revision"),
        "adjudications": keyed(_values(Adjudication.objects.filter(project=project), {"pair_id": pairs}),
                               "pair_id", "verdict", "source_detail", "note"),
        "scores": keyed(_values(Score.objects.filter(project=project),
                                {"response_id": responses, "judge_config_id": judges}),
                        "response_id", "judge_config_id", "aspect"),
        "rubrics": keyed(_values(Rubric.objects.filter(project=project), {"prompt_id": prompts}),
                         "prompt_id", "kind", "version"),
        "judge_configs": keyed(_values(JudgeConfig.objects.filter(project=project), {}), "name"),
    }


def import_both(path, **kwargs):
    """The same file through the ORM path and the bulk path, into two fresh projects."""
    orm_project, bulk_project = ProjectFactory(), ProjectFactory()
    orm = dataset_import(path=path, project=orm_project, bulk=False, **kwargs)
    bulk = dataset_import(path=path, project=bulk_project, bulk=True, **kwargs)
    return (orm_project, orm), (bulk_project, bulk)


def test_bulk_path_writes_what_the_orm_path_writes(tmp_path):
    UserFactory(username="bulk-reviewer")
    path = write_jsonl(tmp_path / "rich.jsonl", RICH_ROWS)
    (orm_project, orm), (bulk_project, bulk) = import_both(path)
    assert bulk.counts == orm.counts
    assert bulk.counts["pairs_created"] == 5 and bulk.counts["human_judgments_created"] == 8
    orm_rows, bulk_rows = snapshot(orm_project), snapshot(bulk_project)
    for table in orm_rows:
        assert bulk_rows[table] == orm_rows[table], table
    tiers = sorted(row["tier"] for row in bulk_rows["pairs"])
    assert tiers == ["gold", "gold", "gold", "unverified", "unverified"]  # the refresh ran on both paths


def test_bulk_reimport_creates_nothing_and_matches_the_orm_reimport(tmp_path):
    path = write_jsonl(tmp_path / "rich.jsonl", RICH_ROWS)
    (orm_project, _), (bulk_project, _) = import_both(path)
    before = snapshot(bulk_project)
    again = dataset_import(path=path, project=bulk_project, bulk=True)
    orm_again = dataset_import(path=path, project=orm_project, bulk=False)
    assert snapshot(bulk_project) == before
    for key in ("prompts_created", "responses_created", "pairs_created", "human_judgments_created",
                "ai_judgments_created", "adjudications_created", "scores_created", "rubrics_created"):
        assert again.counts[key] == 0, key
    assert again.counts["pairs_existing"] == orm_again.counts["pairs_existing"] == 6


def test_bulk_import_into_existing_pairs_refreshes_them_like_the_orm(tmp_path):
    first = write_jsonl(tmp_path / "first.jsonl", RICH_ROWS[:1])
    second = write_jsonl(tmp_path / "second.jsonl", RICH_ROWS[1:])
    orm_project, bulk_project = ProjectFactory(), ProjectFactory()
    for path in (first, second):
        dataset_import(path=path, project=orm_project, bulk=False)
        dataset_import(path=path, project=bulk_project, bulk=True)
    assert snapshot(bulk_project) == snapshot(orm_project)


def test_bulk_error_in_the_last_line_writes_nothing(tmp_path):
    project = ProjectFactory()
    lines = [json.dumps(row) for row in RICH_ROWS] + ['{"prompt": "x", "response_a": "a", "response_b": "b", '
                                                     '"judgments": [{"annotator": "z", "verdict": 7}]}']
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    judges_before = JudgeConfig.objects.filter(project=project).count()
    annotators_before = Annotator.objects.count()
    with pytest.raises(RecordError, match=r"line 9, field 'judgments\[0\].verdict'"):
        dataset_import(path=path, project=project, bulk=True)
    assert not Prompt.objects.filter(project=project).exists()
    assert not Pair.objects.filter(project=project).exists()
    assert JudgeConfig.objects.filter(project=project).count() == judges_before
    assert Annotator.objects.count() == annotators_before


def test_bulk_dry_run_counts_and_writes_nothing(tmp_path):
    project = ProjectFactory()
    path = write_jsonl(tmp_path / "rich.jsonl", RICH_ROWS)
    summary = dataset_import(path=path, project=project, bulk=True, dry_run=True)
    assert summary.counts["pairs_created"] == 5
    assert not Pair.objects.filter(project=project).exists()


def test_bulk_path_is_the_default_on_postgresql(tmp_path, django_assert_max_num_queries):
    """A fixed number of statements whatever the file's size (COPY per staging table)."""
    project = ProjectFactory()
    rows = [{"prompt": f"q{i}", "response_a": f"a{i}", "response_b": f"b{i}",
             "judgments": [{"annotator": f"bulk-ann-{i % 3}", "verdict": 1}]} for i in range(300)]
    with django_assert_max_num_queries(60):
        summary = dataset_import(path=write_jsonl(tmp_path / "many.jsonl", rows), project=project)
    assert summary.counts["pairs_created"] == 300
    assert Pair.objects.filter(project=project, tier="unverified", label_verdict=1).count() == 300


def test_bulk_path_with_gold_weighted_consensus_refreshes_every_pair_like_the_orm(tmp_path):
    """Weighted consensus depends on more than the record: the state is not precomputed."""
    from curation.models import Project

    UserFactory(username="bulk-reviewer")
    path = write_jsonl(tmp_path / "rich.jsonl", RICH_ROWS)
    weighting = Project.ConsensusWeighting.GOLD_ACCURACY
    orm_project, bulk_project = ProjectFactory(consensus_weighting=weighting), ProjectFactory(consensus_weighting=weighting)
    dataset_import(path=path, project=orm_project, bulk=False)
    dataset_import(path=path, project=bulk_project, bulk=True)
    assert snapshot(bulk_project) == snapshot(orm_project)
