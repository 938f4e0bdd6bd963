"""Import of every format, atomicity, idempotency, error messages."""
import gzip
import json

import pytest

from curation.importers import RecordError, dataset_import
from curation.models import Adjudication, Annotator, JudgeConfig, Judgment, Pair, Prompt, Response, Score

pytestmark = pytest.mark.django_db


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def table_counts():
    return {
        model.__name__: model.objects.count()
        for model in (Prompt, Response, Pair, Judgment, Adjudication, Score, JudgeConfig)
    }


CONCORD_ROWS = [
    {
        "id": "p1",
        "prompt": "What is 2 + 2?",
        "response_a": "4",
        "response_b": "5",
        "metadata": {"category": "math"},
        "judgments": [
            {"annotator": "ann-1", "verdict": -2, "rationale": "A is right", "aspects": {"truthfulness": -2}},
            {"annotator": "ann-2", "verdict": -1},
        ],
        "ai_judgments": [{"judge": "gpt-judge", "verdict": -1, "rationale": "A", "confidence": 0.9}],
    },
    {
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour."},
        ],
        "response_a": "Blue.",
        "response_b": "Colours are wavelengths of light that...",
    },
    {"prompt": "A prompt for generation to work on.", "metadata": {"category": "writing"}},
]


def test_concord_import(project, tmp_path):
    path = write_jsonl(tmp_path / "native.jsonl", CONCORD_ROWS)
    summary = dataset_import(path=path, project=project)
    assert summary.format == "concord"
    assert summary.records == 3
    assert Prompt.objects.filter(project=project).count() == 3
    assert Pair.objects.filter(project=project).count() == 2
    first = Pair.objects.get(external_id="p1")
    assert first.response_a.text == "4" and first.response_b.text == "5"
    humans = Judgment.objects.filter(pair=first, is_human=True).order_by("annotator__name")
    assert [(j.annotator.name, j.verdict) for j in humans] == [("ann-1", -2), ("ann-2", -1)]
    assert humans[0].aspects == {"truthfulness": -2}
    ai = Judgment.objects.get(pair=first, is_human=False)
    assert ai.judge_config.name == "gpt-judge" and ai.confidence == 0.9
    assert Annotator.objects.get(name="ann-1").user is None  # an identity without a login
    conversation = Pair.objects.exclude(pk=first.pk).get().prompt
    assert conversation.messages[0] == {"role": "system", "content": "Be brief."}
    assert conversation.text == "Name a colour."
    prompt_only = Prompt.objects.get(text="A prompt for generation to work on.")
    assert prompt_only.category == "writing" and not prompt_only.pairs.exists()


def test_reimport_adds_nothing(project, tmp_path):
    path = write_jsonl(tmp_path / "native.jsonl", CONCORD_ROWS)
    dataset_import(path=path, project=project)
    before = table_counts()
    summary = dataset_import(path=path, project=project)
    assert table_counts() == before
    assert summary.counts["pairs_created"] == 0
    assert summary.counts["pairs_existing"] == 2
    assert summary.counts["human_judgments_existing"] == 2


def test_same_pair_with_sides_swapped_is_one_pair_and_verdicts_are_reoriented(project, tmp_path):
    rows = [
        {"prompt": "Q", "response_a": "left", "response_b": "right", "judgments": [{"annotator": "x", "verdict": -2}]},
        {"prompt": "Q", "response_a": "right", "response_b": "left", "judgments": [{"annotator": "y", "verdict": -2}]},
    ]
    dataset_import(path=write_jsonl(tmp_path / "swap.jsonl", rows), project=project)
    pair = Pair.objects.get()
    assert pair.response_a.text == "left"
    verdicts = dict(Judgment.objects.values_list("annotator__name", "verdict"))
    assert verdicts == {"x": -2, "y": 2}  # y preferred "right", which is stored as B


def test_malformed_line_in_the_middle_names_the_line_and_writes_nothing(project, tmp_path):
    good = [json.dumps(r) for r in CONCORD_ROWS]
    lines = good[:2] + ['{"prompt": "broken", "response_a": "x",'] + good[2:]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = table_counts()
    with pytest.raises(RecordError) as error:
        dataset_import(path=path, project=project)
    assert error.value.location == "line 3"
    assert "broken JSON" in str(error.value)
    assert table_counts() == before


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"prompt": "Q", "response_a": "a", "response_b": "b", "judgments": [{"annotator": "x", "verdict": 3}]},
         "judgments[0].verdict", "-2..2"),
        ({"prompt": "Q", "response_a": "a"}, "response_b", "missing"),
        ({"response_a": "a", "response_b": "b"}, "prompt", "missing"),
        ({"prompt": "Q", "response_a": "a", "response_b": "b", "judgments": [{"verdict": 1}]},
         "judgments[0].annotator", "missing"),
        ({"prompt": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
          "response_a": "a", "response_b": "b"}, "prompt", "end with a user turn"),
        ({"prompt": "Q", "response_a": "a", "response_b": "b", "ai_judgments": [{"judge": "j", "verdict": 1, "confidence": 2}]},
         "ai_judgments[0].confidence", "0..1"),
    ],
)
def test_invalid_record_names_line_and_field(project, tmp_path, row, field, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [CONCORD_ROWS[0], row])
    before = table_counts()
    with pytest.raises(RecordError) as error:
        dataset_import(path=path, project=project, fmt="concord")
    assert error.value.location == "line 2"
    assert error.value.field_name == field
    assert message in error.value.message
    assert table_counts() == before


def test_unknown_format_is_refused(project, tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", CONCORD_ROWS)
    with pytest.raises(RecordError, match="unknown format 'parquet'"):
        dataset_import(path=path, project=project, fmt="parquet")


def test_undetectable_format(project, tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "?", "answer": "!"}])
    with pytest.raises(RecordError, match="cannot detect the format"):
        dataset_import(path=path, project=project)


def test_dry_run_counts_and_writes_nothing(project, tmp_path):
    path = write_jsonl(tmp_path / "native.jsonl", CONCORD_ROWS)
    before = table_counts()
    summary = dataset_import(path=path, project=project, dry_run=True)
    assert summary.counts["pairs_created"] == 2
    assert summary.line().startswith("Would import 3 concord records")
    assert table_counts() == before


def test_gzip_file(project, tmp_path):
    path = tmp_path / "native.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in CONCORD_ROWS)
    assert dataset_import(path=path, project=project).counts["pairs_created"] == 2


def test_llmbar_file_gold_labels(project, shared_data):
    path = shared_data / "llmbar" / "natural.json"
    rows = json.loads(path.read_text())
    summary = dataset_import(path=path, project=project)
    assert summary.format == "llmbar"
    assert Pair.objects.filter(project=project).count() == len(rows) == 100
    assert Pair.objects.filter(project=project, tier="gold").count() == 100
    first = Pair.objects.get(response_a__text=rows[0]["output_1"], response_b__text=rows[0]["output_2"])
    expected = -1 if rows[0]["label"] == 1 else 1
    assert first.label_verdict == expected and first.label_source == "gold_import"
    assert (first.gold_verdict, first.gold_source) == (expected, "llmbar/natural")
    adjudication = Adjudication.objects.get(pair=first)
    assert adjudication.source == "import" and adjudication.source_detail == "llmbar/natural"
    assert first.prompt.category == "natural"


def test_pandalm_file_three_human_judgments(project, shared_data):
    path = shared_data / "pandalm" / "testset-v1.json"
    rows = json.loads(path.read_text())
    summary = dataset_import(path=path, project=project)
    assert summary.format == "pandalm"
    pairs = Pair.objects.filter(project=project)
    # The release repeats 136 pairs (the same texts under another model pair); each pair is stored once.
    assert pairs.count() == 863
    assert summary.counts["pairs_existing"] == len(rows) - 863
    assert Judgment.objects.filter(project=project, is_human=True).count() == 3 * 863
    assert set(Annotator.objects.filter(judgments__project=project).values_list("name", flat=True).distinct()) == {
        "pandalm-annotator1", "pandalm-annotator2", "pandalm-annotator3",
    }
    row = rows[0]
    pair = pairs.get(response_a__text=row["response1"], response_b__text=row["response2"])
    got = sorted(pair.judgments.values_list("annotator__name", "verdict"))
    mapping = {0: 0, 1: -1, 2: 1}
    assert got == [(f"pandalm-annotator{n}", mapping[row[f"annotator{n}"]]) for n in (1, 2, 3)]
    assert not pair.judgments.first().strength_known
    # A unanimous pair reaches consensus at the default quorum of 3 and becomes gold.
    unanimous = pairs.filter(tier="gold", label_source="human_consensus")
    assert unanimous.exists()


def test_trl_standard_sides_shuffled_and_source_judgment(project, tmp_path):
    rows = [{"prompt": f"Question {i}?", "chosen": f"good answer {i}", "rejected": f"bad answer {i}"} for i in range(40)]
    dataset_import(path=write_jsonl(tmp_path / "prefs.jsonl", rows), project=project)
    pairs = Pair.objects.filter(project=project).select_related("response_a", "response_b")
    assert pairs.count() == 40
    chosen_in_a = sum(p.response_a.text.startswith("good") for p in pairs)
    assert 5 < chosen_in_a < 35  # shuffled, not always A
    for pair in pairs:
        judgment = pair.judgments.get()
        assert judgment.judge_config.name == "source:prefs"
        assert judgment.judge_config.kind == "source"
        expected = -1 if pair.response_a.text.startswith("good") else 1
        assert judgment.verdict == expected
    # Deterministic: a second project gets the same sides.
    other = type(project).objects.create(name="o", slug="o")
    dataset_import(path=tmp_path / "prefs.jsonl", project=other)
    again = {p.prompt.text: p.response_a.text for p in Pair.objects.filter(project=other).select_related("prompt", "response_a")}
    assert again == {p.prompt.text: p.response_a.text for p in pairs.select_related("prompt")}


def test_trl_conversational_and_implicit_prompt(project, tmp_path):
    rows = [
        {
            "prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                       {"role": "user", "content": "Tell a joke"}],
            "chosen": [{"role": "assistant", "content": "Why did the chicken..."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        },
        {
            "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
            "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "22"}],
        },
    ]
    summary = dataset_import(path=write_jsonl(tmp_path / "conv.jsonl", rows), project=project, fmt="trl")
    assert summary.counts["pairs_created"] == 2
    joke = Prompt.objects.get(text="Tell a joke")
    assert len(joke.messages) == 3
    assert Prompt.objects.get(text="2+2?").messages is None
    texts = set(Response.objects.values_list("text", flat=True))
    assert {"4", "22", "No.", "Why did the chicken..."} == texts


def test_ultrafeedback_responses_ratings_and_pairs(project, tmp_path):
    def completion(model, text, ratings):
        return {
            "model": model,
            "response": text,
            "annotations": {
                aspect: {"Rating": str(r), "Rationale": f"{aspect} rationale"}
                for aspect, r in zip(("instruction_following", "honesty", "truthfulness", "helpfulness"), ratings)
            },
        }

    row = {
        "source": "evol_instruct",
        "instruction": "Explain gravity.",
        "completions": [
            completion("m1", "Gravity pulls masses together.", (5, 5, 5, 5)),
            completion("m2", "Gravity is a force.", (4, 4, 4, 4)),
            completion("m3", "Gravity is magic.", (1, 2, 1, "N/A")),
        ],
    }
    dataset_import(path=write_jsonl(tmp_path / "uf.jsonl", [row]), project=project)
    assert Response.objects.count() == 3
    assert Score.objects.count() == 12
    assert Score.objects.filter(value__isnull=True).count() == 1  # "N/A" kept as unrated
    pairs = Pair.objects.select_related("response_a", "response_b")
    assert pairs.count() == 3
    verdicts = {(p.response_a.producer, p.response_b.producer): p.judgments.get().verdict for p in pairs}
    # m = 5, 4, 4/3: Δ = −1 → −2 (|Δ| ≥ 1.0 is "much"), ...
    assert verdicts == {("m1", "m2"): -2, ("m1", "m3"): -2, ("m2", "m3"): -2}
    assert pairs.first().prompt.category == "evol_instruct"


def test_hh_transcripts_split_into_prompt_and_final_replies(project, tmp_path):
    row = {
        "chosen": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How do I boil an egg?\n\nAssistant: Put it in boiling water for 9 minutes.",
        "rejected": "\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How do I boil an egg?\n\nAssistant: Why would you?",
    }
    dataset_import(path=write_jsonl(tmp_path / "hh.jsonl", [row]), project=project)
    pair = Pair.objects.select_related("prompt").get()
    assert pair.prompt.messages == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How do I boil an egg?"},
    ]
    sides = {pair.response_a.text, pair.response_b.text}
    assert sides == {"Put it in boiling water for 9 minutes.", "Why would you?"}
    judgment = pair.judgments.get()
    chosen_is_a = pair.response_a.text.startswith("Put")
    assert judgment.verdict == (-1 if chosen_is_a else 1)


def test_hh_prefix_mismatch_is_an_error(project, tmp_path):
    row = {"chosen": "\n\nHuman: A\n\nAssistant: x", "rejected": "\n\nHuman: B\n\nAssistant: y"}
    with pytest.raises(RecordError, match="do not share the same prompt turns"):
        dataset_import(path=write_jsonl(tmp_path / "hh.jsonl", [row]), project=project, fmt="hh")


def test_csv_with_and_without_verdicts(project, tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        "prompt,response_a,response_b,verdict,annotator\n"
        '"Say hi","Hi!","Hello, there, friend",1,carol\n'
        '"Multi\nline prompt",a,b,,\n'
    )
    summary = dataset_import(path=path, project=project)
    assert summary.format == "csv"
    assert Pair.objects.count() == 2
    judgment = Judgment.objects.get()
    assert (judgment.annotator.name, judgment.verdict) == ("carol", 1)
    assert Prompt.objects.filter(text="Multi\nline prompt").exists()


def test_csv_bad_verdict_names_line(project, tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("prompt,response_a,response_b,verdict,annotator\nq,a,b,1,x\nq2,a,b,7,x\n")
    with pytest.raises(RecordError) as error:
        dataset_import(path=path, project=project)
    assert (error.value.location, error.value.field_name) == ("line 3", "verdict")
    assert Pair.objects.count() == 0


def test_json_array_error_names_record_index(project, tmp_path):
    rows = [{"input": "q", "output_1": "a", "output_2": "b", "label": 1}] * 2 + [
        {"input": "q", "output_1": "a", "output_2": "b", "label": 3}
    ]
    path = tmp_path / "llmbar.json"
    path.write_text(json.dumps(rows, indent=1))
    with pytest.raises(RecordError) as error:
        dataset_import(path=path, project=project)
    assert error.value.location.startswith("record 2 (line ")
    assert error.value.field_name == "label"


def test_json_array_streams_in_small_chunks(project, tmp_path, monkeypatch):
    from curation.importers import readers

    monkeypatch.setattr(readers, "CHUNK_SIZE", 7)
    rows = [{"input": f"q{i} ünïcode", "output_1": "a" * 30, "output_2": "b", "label": 2} for i in range(25)]
    path = tmp_path / "llmbar.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    assert dataset_import(path=path, project=project).counts["pairs_created"] == 25


def test_identical_sides_are_skipped_and_reported(project, tmp_path):
    rows = [{"prompt": "Q", "response_a": "same  text", "response_b": "same text"}, CONCORD_ROWS[0]]
    summary = dataset_import(path=write_jsonl(tmp_path / "x.jsonl", rows), project=project)
    assert summary.counts["pairs_created"] == 1
    assert "1 skipped (identical sides)" in summary.line()


def test_empty_file(project, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(RecordError, match="empty"):
        dataset_import(path=path, project=project)
