"""Every format loads with Hugging Face `datasets` (JSON and Parquet) with the expected
columns and row count; field-level checks of each format against methods.md §5."""
import hashlib
import json

import pytest
from datasets import load_dataset

from curation.exports import ExportError, ExportOptions, export_write
from curation.models import Pair

from .conftest import ALL_PAIRS, DEFAULT_PAIRS, SCORED_PAIRS

pytestmark = pytest.mark.django_db

EXTRAS = ["pair_id", "label_source", "tier", "agreement"]

# format, options, columns, rows
CASES = [
    ("trl", {}, ["prompt", "chosen", "rejected", *EXTRAS], DEFAULT_PAIRS),
    ("trl", {"conversational": True, "margin": "abs_s"}, ["prompt", "chosen", "rejected", "margin", *EXTRAS], DEFAULT_PAIRS),
    ("trl", {"implicit_prompt": True, "strict": True}, ["chosen", "rejected"], DEFAULT_PAIRS),
    ("ultrafeedback", {}, ["prompt", "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected",
                           *EXTRAS], SCORED_PAIRS),
    ("helpsteer2", {}, ["split", "prompt", "response_1", "response_2", "preference_strength", "preference_statement",
                        "preference_elaboration", "three_most_similar_preferences", "all_preferences_unprocessed",
                        *EXTRAS], DEFAULT_PAIRS),
    ("hh", {}, ["chosen", "rejected", *EXTRAS], DEFAULT_PAIRS),
    ("openai", {}, ["input", "preferred_output", "non_preferred_output"], DEFAULT_PAIRS),
    ("csv", {}, ["prompt", "response_a", "response_b", "verdict", "label_source", "tier", "pair_id", "agreement"],
     DEFAULT_PAIRS),
    # concord exports the whole project: every pair, then prompt lines for the rubrics
    # of p-adj's prompt and for the prompt without pairs.
    ("concord", {}, None, ALL_PAIRS + 2),
]


def run(project, tmp_path, fmt, **options):
    return export_write(project=project, options=ExportOptions.from_dict({"format": fmt, **options}),
                        output=tmp_path / "out" / "data")


@pytest.mark.parametrize("parquet", [False, True], ids=["json", "parquet"])
@pytest.mark.parametrize("fmt,options,columns,rows", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_format_loads_with_datasets(export_project, tmp_path, fmt, options, columns, rows, parquet):
    result = run(export_project, tmp_path, fmt, parquet=parquet, **options)
    [data] = [f for f in result.files if f["data"]]
    path = result.directory / data["name"]
    builder = "parquet" if parquet else ("csv" if fmt == "csv" else "json")
    dataset = load_dataset(builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert dataset.num_rows == rows == data["rows"]
    if columns is not None:
        assert dataset.column_names == columns
    assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    card = (result.directory / "README.md").read_text()
    assert data["sha256"] in card and f"path: {data['name']}" in card


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def pair_by_external_id(project, external_id):
    return Pair.objects.select_related("response_a", "response_b", "prompt").get(project=project, external_id=external_id)


def test_trl_standard_fields_and_label_priority(export_project, tmp_path):
    run(export_project, tmp_path, "trl")
    rows = {row["pair_id"]: row for row in read_jsonl(tmp_path / "out" / "data.jsonl")}
    adjudicated = pair_by_external_id(export_project, "p-adj")
    row = rows[adjudicated.id]
    # Adjudicated −2 (A better) beats the AI judges; chosen = A.
    assert row == {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5", "pair_id": adjudicated.id,
                   "label_source": "adjudication", "tier": "gold", "agreement": row["agreement"]}
    # Sources: ann-1 (−2), ann-2's first record (−1), judge-a (−1), judge-b (−2): all A → 1.0.
    assert row["agreement"] == 1.0
    consensus = rows[pair_by_external_id(export_project, "p-consensus").id]
    assert consensus["label_source"] == "human_consensus" and consensus["chosen"].startswith("Soft rain")
    imported = rows[pair_by_external_id(export_project, "p-gold-import").id]
    assert imported["label_source"] == "gold_import" and imported["chosen"] == "Paris."
    sources = {row["label_source"] for row in rows.values()}
    assert sources == {"adjudication", "human_consensus", "gold_import", "ai_consensus"}
    excluded = {pair_by_external_id(export_project, x).id for x in ("p-tie", "p-flagged", "p-empty", "p-unverified")}
    assert not excluded & set(rows)


def test_card_counts_and_agreement_figures(export_project, tmp_path):
    result = run(export_project, tmp_path, "trl", test_fraction=0.3, seed=2)
    card = (tmp_path / "out" / "README.md").read_text()
    train = result.stats.pairs_by_tier_split[("silver", "train")]
    test = result.stats.pairs_by_tier_split[("silver", "test")]
    assert train + test == 30 and f"| silver | {train} | {test} | 30 |" in card
    assert "| ai_consensus | 30 |" in card and "| adjudication | 1 |" in card
    # judge-a judged p-adj and the 30 silver pairs, all agreeing with the label; no human consensus among them.
    assert "| judge-a | ai | imported | model-a | 2 | 31 | 31 | — (n=0) | 100.0% (n=31) | 100.0% |" in card
    # Human first records on the exported pairs: ann-1, ann-2 on p-adj and four on p-consensus.
    assert "Human records: 6; agreement with the final label 100.0% (n=6)." in card
    assert "all sources agree on 32 of them" in card  # p-gold-import has no source
    assert "- ties excluded" in card and "| sample | 20 |" in card
    # The project's agreement report, the same figures as `agreement_report`.
    from curation.agreement import report

    figures = report(export_project, intervals=False)
    alpha = figures["human_human"]["krippendorff_alpha"]["ordinal"]
    assert "## Agreement in the project" in card
    assert f"Krippendorff's α ordinal {alpha:.3f} [" in card
    assert {j["judge"] for j in figures["human_ai"]} <= {line.split("|")[1].strip() for line in card.splitlines()
                                                         if line.startswith("| judge-")}


def test_filters_min_tier_ties_flags(export_project, tmp_path):
    def count(**options):
        return run(export_project, tmp_path, "trl", **options).stats.pairs

    assert count() == DEFAULT_PAIRS
    assert count(min_tier="gold") == 3
    assert count(min_tier="unverified") == DEFAULT_PAIRS + 1
    assert count(keep_ties=True) == DEFAULT_PAIRS + 1
    assert count(keep_flagged=True) == DEFAULT_PAIRS + 1
    assert count(judges=["judge-b"]) == 1 + 30  # p-adj and the silver pairs
    assert count(annotators=["ann-3"]) == 1
    assert count(origins=["rmboost"]) == 10
    assert count(min_strength=1.5) == 1  # only p-consensus has a human consensus (|mean| = 1.5)
    # p-gold-import has no source besides its expert label: no agreement to measure, left out.
    assert count(min_agreement=1.0) == DEFAULT_PAIRS - 1


def test_min_agreement_counts_each_source(export_project, tmp_path):
    pair = pair_by_external_id(export_project, "p-consensus")
    from tests.factories import AIJudgmentFactory, JudgeConfigFactory

    # An AI judge disagreeing with the human consensus: 4 humans agree, 1 judge does not → 0.8.
    judge = JudgeConfigFactory(project=export_project, name="contrarian")
    AIJudgmentFactory(pair=pair, judge_config=judge, verdict=-1)
    result = run(export_project, tmp_path, "trl", min_agreement=0.9)
    assert result.stats.pairs == DEFAULT_PAIRS - 2  # and p-gold-import, which has no source
    assert result.stats.skipped == {"pair agreement below the minimum": 2}
    rows = read_jsonl(tmp_path / "out" / "data.jsonl")
    assert pair.id not in {row["pair_id"] for row in rows}
    result = run(export_project, tmp_path, "trl", min_agreement=0.8)
    assert result.stats.pairs == DEFAULT_PAIRS - 1
    assert {r["pair_id"]: r["agreement"] for r in read_jsonl(tmp_path / "out" / "data.jsonl")}[pair.id] == 0.8


def test_trl_multi_turn_prompt_is_an_error_naming_the_pair(conversation_project, tmp_path):
    chat = pair_by_external_id(conversation_project, "p-chat")
    with pytest.raises(ExportError, match=f"pair {chat.id} has a multi-turn prompt"):
        run(conversation_project, tmp_path, "trl")
    assert not list((tmp_path / "out").glob("data*")), "a failed export leaves no files"
    run(conversation_project, tmp_path, "trl", conversational=True)
    row = {r["pair_id"]: r for r in read_jsonl(tmp_path / "out" / "data.jsonl")}[chat.id]
    assert row["prompt"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Pick a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"},
    ]
    assert row["chosen"] == [{"role": "assistant", "content": "Green."}]


def test_trl_margins(export_project, tmp_path):
    run(export_project, tmp_path, "trl", margin="abs_s")
    rows = {r["pair_id"]: r for r in read_jsonl(tmp_path / "out" / "data.jsonl")}
    assert rows[pair_by_external_id(export_project, "p-adj").id]["margin"] == 2.0
    result = run(export_project, tmp_path, "trl", margin="consensus_strength")
    assert result.stats.pairs == 1 and result.stats.skipped == {"no consensus_strength for the margin": DEFAULT_PAIRS - 1}
    assert read_jsonl(tmp_path / "out" / "data.jsonl")[0]["margin"] == 1.5


def test_hh_transcripts_and_marker_error(conversation_project, tmp_path):
    run(conversation_project, tmp_path, "hh", min_tier="gold")
    rows = {r["pair_id"]: r for r in read_jsonl(tmp_path / "out" / "data.jsonl")}
    chat = rows[pair_by_external_id(conversation_project, "p-chat").id]
    prefix = "You are terse.\n\nHuman: Pick a colour.\n\nAssistant: Blue.\n\nHuman: Another one?"
    assert chat["chosen"] == prefix + "\n\nAssistant: Green."
    assert chat["rejected"].startswith(prefix + "\n\nAssistant: I would rather")
    simple = rows[pair_by_external_id(conversation_project, "p-adj").id]
    assert simple == {**simple, "chosen": "\n\nHuman: What is 2 + 2?\n\nAssistant: 4"}

    pair = pair_by_external_id(conversation_project, "p-gold-import")
    pair.response_b.text = "Paris.\n\nHuman: and Spain?"
    pair.response_b.save()
    with pytest.raises(ExportError, match=f"pair {pair.id}: a assistant turn contains '\\\\n\\\\nHuman:'"):
        run(conversation_project, tmp_path, "hh")


def test_openai_rows_and_sidecar(conversation_project, tmp_path):
    result = run(conversation_project, tmp_path, "openai", min_tier="gold")
    rows = read_jsonl(tmp_path / "out" / "data.jsonl")
    meta = read_jsonl(tmp_path / "out" / "data.meta.jsonl")
    assert len(rows) == len(meta) == result.stats.pairs == 4
    for row, info in zip(rows, meta):
        assert set(row) == {"input", "preferred_output", "non_preferred_output"}
        assert row["input"]["messages"][-1]["role"] == "user"
        assert len(row["preferred_output"]) == len(row["non_preferred_output"]) == 1
        assert set(info) == {"pair_id", "label_source", "tier", "agreement", "split"}
    chat_index = [m["pair_id"] for m in meta].index(pair_by_external_id(conversation_project, "p-chat").id)
    assert rows[chat_index]["input"]["messages"][0] == {"role": "system", "content": "You are terse."}


def test_ultrafeedback_scores_and_prompt_id(export_project, tmp_path):
    result = run(export_project, tmp_path, "ultrafeedback", test_fraction=0.3, seed=1)
    assert result.stats.skipped == {"no aspect ratings (use --synthetic-scores)": DEFAULT_PAIRS - SCORED_PAIRS}
    names = [f["name"] for f in result.files]
    assert names == ["data.train_prefs.jsonl", "data.test_prefs.jsonl"]
    rows = read_jsonl(tmp_path / "out" / "data.train_prefs.jsonl") + read_jsonl(tmp_path / "out" / "data.test_prefs.jsonl")
    adj = next(r for r in rows if r["prompt"] == "What is 2 + 2?")
    assert adj["prompt_id"] == hashlib.sha256(b"What is 2 + 2?").hexdigest()
    assert adj["chosen"] == [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}]
    assert adj["messages"] == adj["chosen"]
    assert adj["score_chosen"] == 4.75 and adj["score_rejected"] == 1.5
    assert all(r["score_chosen"] > r["score_rejected"] for r in rows)
    result = run(export_project, tmp_path, "ultrafeedback", synthetic_scores=True)
    assert result.stats.pairs == DEFAULT_PAIRS
    assert "synthetic" in result.card


def test_helpsteer2_strength_and_justifications(export_project, tmp_path):
    run(export_project, tmp_path, "helpsteer2", test_fraction=0.5, seed=3, include_ai_justifications=True)
    rows = {r["pair_id"]: r for r in read_jsonl(tmp_path / "out" / "data.jsonl")}
    adj = rows[pair_by_external_id(export_project, "p-adj").id]
    assert adj["response_1"] == "4" and adj["preference_strength"] == -3
    # The label's human rationale: ann-1 agrees with the adjudicated label.
    assert adj["preference_statement"] == "A is correct."
    assert adj["preference_elaboration"] == "B is off by one."
    humans = [p for p in adj["all_preferences_unprocessed"] if not p["statement"].startswith("[AI judge")]
    assert [p["strength"] for p in humans] == [-3, -1, -3]  # ann-1, ann-2, ann-2's revision
    assert any(p["statement"].startswith("[AI judge judge-a] ") for p in adj["all_preferences_unprocessed"])
    consensus = rows[pair_by_external_id(export_project, "p-consensus").id]
    assert consensus["preference_strength"] == 1  # median of (1, 2, 1, 2) rounds half toward zero
    assert len(consensus["three_most_similar_preferences"]) == 3
    strengths = sorted(p["strength"] for p in consensus["three_most_similar_preferences"])
    assert strengths in ([1, 1, 3], [1, 3, 3])
    assert {r["split"] for r in rows.values()} == {"train", "validation"}


def test_helpsteer2_flattens_multi_turn_prompts(conversation_project, tmp_path):
    run(conversation_project, tmp_path, "helpsteer2", min_tier="gold")
    rows = {r["pair_id"]: r for r in read_jsonl(tmp_path / "out" / "data.jsonl")}
    chat = rows[pair_by_external_id(conversation_project, "p-chat").id]
    assert chat["prompt"] == ("<extra_id_0>System\nYou are terse.\n<extra_id_1>User\nPick a colour."
                              "\n<extra_id_1>Assistant\nBlue.\n<extra_id_1>User\nAnother one?")


def test_csv_long_one_row_per_human_judgment(export_project, tmp_path):
    import csv

    run(export_project, tmp_path, "csv", long=True, min_tier="gold")
    with (tmp_path / "out" / "data.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    adj = [r for r in rows if r["prompt"] == "What is 2 + 2?"]
    assert [(r["annotator"], r["verdict"], r["revised"]) for r in adj] == [
        ("ann-1", "-2", "False"), ("ann-2", "-1", "False"), ("ann-2", "-2", "True")]
    assert {r["label"] for r in adj} == {"-2"}


def test_strict_moves_extras_to_a_sidecar(export_project, tmp_path):
    run(export_project, tmp_path, "trl", strict=True, test_fraction=0.25)
    for split in ("train", "test"):
        rows = read_jsonl(tmp_path / "out" / f"data.{split}.jsonl")
        meta = read_jsonl(tmp_path / "out" / f"data.{split}.meta.jsonl")
        assert len(rows) == len(meta) and all(set(r) == {"prompt", "chosen", "rejected"} for r in rows)
        assert {m["split"] for m in meta} == {split}


def test_bad_options_are_named():
    with pytest.raises(ExportError) as error:
        ExportOptions.from_dict({"format": "trl", "margin": "huge"})
    assert error.value.field == "margin"
    with pytest.raises(ExportError) as error:
        ExportOptions.from_dict({"format": "nope"})
    assert error.value.field == "format"
    with pytest.raises(ExportError) as error:
        ExportOptions.from_dict({"format": "trl", "test_fraction": 1})
    assert error.value.field == "test_fraction"
    with pytest.raises(ExportError) as error:
        ExportOptions.from_dict({"format": "hh", "conversational": True})
    assert error.value.field == "conversational"
