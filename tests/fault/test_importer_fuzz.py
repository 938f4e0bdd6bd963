"""The importers fuzzed with hypothesis (issue 9): whatever the file holds, the import
either succeeds or fails with a RecordError, and a failed import writes nothing.

Each format starts from a valid record and mutates it: fields dropped, values of the
wrong type or arbitrary nested JSON, huge strings, NUL bytes, lone surrogates, bytes
that are not UTF-8, cut lines and plain garbage. Every example runs inside a savepoint
that is rolled back, so examples do not see each other's rows; the row counts of
every table an import writes are compared before and after.
"""
import copy
import csv
import io
import json
import os

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.importers import RecordError, dataset_import
from curation.models import Adjudication, Annotator, JudgeConfig, Judgment, Pair, Prompt, Response, Rubric, Score

pytestmark = pytest.mark.django_db

TABLES = (Prompt, Response, Pair, Judgment, Adjudication, Score, JudgeConfig, Annotator, Rubric)
# 60 examples per format keep the whole file near 30 s in CI; CONCORD_FUZZ_EXAMPLES=2000
# (and derandomize off) digs deeper on a workstation.
FUZZ = settings(max_examples=int(os.environ.get("CONCORD_FUZZ_EXAMPLES", 60)), deadline=None,
                derandomize="CONCORD_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def transcript(last: str) -> str:
    return f"\n\nHuman: Hi there\n\nAssistant: Hello!\n\nHuman: How do I boil an egg?\n\nAssistant: {last}"


def completion(model: str, text: str, rating: int) -> dict:
    aspects = ("instruction_following", "honesty", "truthfulness", "helpfulness")
    return {"model": model, "response": text,
            "annotations": {aspect: {"Rating": str(rating), "Rationale": "why"} for aspect in aspects}}


VALID = {
    "concord": {
        "id": "p1", "prompt": "What is 2 + 2?", "response_a": "4", "response_b": "5", "metadata": {"category": "math"},
        "judgments": [{"annotator": "ann-1", "verdict": -2, "rationale": "A is right", "aspects": {"truthfulness": -2}}],
        "ai_judgments": [{"judge": "gpt-judge", "verdict": -1, "rationale": "A", "confidence": 0.9}],
    },
    "llmbar": {"input": "Name a colour.", "output_1": "Blue.", "output_2": "Seven.", "label": 1},
    "pandalm": {"idx": 0, "cmp_key": "a_b", "instruction": "Rewrite it.", "input": "A wordy sentence.",
                "response1": "Short.", "response2": "Shorter.", "annotator1": 2, "annotator2": 1, "annotator3": 0},
    "trl": {"prompt": "Question?", "chosen": "good answer", "rejected": "bad answer"},
    "ultrafeedback": {"source": "evol_instruct", "instruction": "Explain gravity.",
                      "completions": [completion("m1", "Masses attract.", 5), completion("m2", "Magic.", 1)]},
    "hh": {"chosen": transcript("Boil it 9 minutes."), "rejected": transcript("Why would you?")},
}
CSV_HEADER = ["prompt", "response_a", "response_b", "verdict", "annotator"]
CSV_VALID = ["Say hi", "Hi!", "Hello, friend", "1", "carol"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
nasty_text = st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x" * 200_000, "Human: ", "\n\nAssistant: x",
                              "é" * 1000, "\u202e\u0000", "9" * 400, "9" * 5000]) | st.text(max_size=50)


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in TABLES}


@st.composite
def mutated(draw, record: dict):
    """The record with a few of its fields dropped, retyped, or given nasty text;
    now and then nested one level down (a judgment, a completion)."""
    record = copy.deepcopy(record)
    for _ in range(draw(st.integers(1, 3))):
        target = record
        nested = [v for v in record.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if nested and draw(st.booleans()):
            target = draw(st.sampled_from(nested))[0]
        key = draw(st.sampled_from(sorted(target) + ["unexpected"]))
        action = draw(st.sampled_from(["drop", "json", "text", "wrap"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "json":
            target[key] = draw(json_values)
        elif action == "text":
            target[key] = draw(nasty_text)
        else:
            target[key] = [target.get(key)]
    return record


def encode_line(record) -> bytes:
    # ensure_ascii keeps lone surrogates as \ud800 escapes: valid JSON, invalid text.
    return json.dumps(record, ensure_ascii=bool(hash(str(record)) % 2)).encode("utf-8", "surrogatepass")


@st.composite
def corrupt(draw, line: bytes) -> bytes:
    """Byte-level damage: a cut line, bytes that are not UTF-8, NULs, garbage."""
    how = draw(st.sampled_from(["cut", "invalid_utf8", "nul", "garbage", "none"]))
    if how == "cut" and line:
        return line[: draw(st.integers(0, len(line) - 1))]
    if how == "invalid_utf8":
        at = draw(st.integers(0, len(line)))
        return line[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80"])) + line[at:]
    if how == "nul":
        at = draw(st.integers(0, len(line)))
        return line[:at] + b"\x00" + line[at:]
    if how == "garbage":
        return draw(st.binary(max_size=200))
    return line


@st.composite
def jsonl_file(draw, fmt: str) -> bytes:
    """A few lines: valid ones, mutated ones, damaged ones."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["valid", "mutated", "mutated", "corrupt", "any_json"]))
        if kind == "valid":
            lines.append(encode_line(VALID[fmt]))
        elif kind == "mutated":
            lines.append(encode_line(draw(mutated(VALID[fmt]))))
        elif kind == "corrupt":
            lines.append(draw(corrupt(encode_line(draw(mutated(VALID[fmt]))))))
        else:
            lines.append(encode_line(draw(json_values)))
    if draw(st.booleans()):  # the same records as one JSON array
        return b"[" + b",".join(lines) + b"]"
    return b"\n".join(lines) + b"\n"


@st.composite
def csv_file(draw) -> bytes:
    rows = [CSV_HEADER]
    for _ in range(draw(st.integers(1, 4))):
        row = list(CSV_VALID)
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(row) - 1))
            row[at] = draw(nasty_text | st.sampled_from(["-3", "2.5", "nan", "1e400", "", "None"]))
        if draw(st.booleans()):
            row = row[: draw(st.integers(0, len(row)))] or row + ["extra", "cells"]
        rows.append(row)
    if draw(st.booleans()):
        rows[0] = [draw(st.sampled_from(CSV_HEADER + ["", "junk"])) for _ in rows[0]]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    data = out.getvalue().encode("utf-8", "surrogatepass")
    return draw(corrupt(data)) if draw(st.booleans()) else data


def import_or_refuse(path, project, fmt: str) -> str:
    """The property: imported, or a RecordError with nothing written."""
    before = counts()
    with transaction.atomic():
        try:
            dataset_import(path=path, project=project, fmt=fmt)
            outcome = "imported"
        except RecordError as error:
            assert str(error), "a RecordError must say what is wrong"
            assert counts() == before, f"a failed import wrote rows: {error}"
            outcome = "refused"
        transaction.set_rollback(True)  # the next example starts from the same rows
    return outcome


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_jsonl_importers_import_or_refuse_cleanly(project, tmp_path, fmt):
    path = tmp_path / "fuzz.jsonl"
    outcomes = set()

    @FUZZ
    @given(data=jsonl_file(fmt), declared=st.sampled_from([fmt, "auto"]))
    def check(data, declared):
        path.write_bytes(data)
        outcomes.add(import_or_refuse(path, project, declared))

    check()
    assert outcomes == {"imported", "refused"}  # both sides of the property were exercised


def test_csv_importer_imports_or_refuses_cleanly(project, tmp_path):
    path = tmp_path / "fuzz.csv"
    outcomes = set()

    @FUZZ
    @given(data=csv_file())
    def check(data):
        path.write_bytes(data)
        outcomes.add(import_or_refuse(path, project, "csv"))

    check()
    assert outcomes == {"imported", "refused"}


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_valid_records_import(project, tmp_path, fmt):
    """The fuzzers' seeds are valid: the property is not vacuous."""
    path = tmp_path / "valid.jsonl"
    path.write_bytes(encode_line(VALID[fmt]) + b"\n")
    summary = dataset_import(path=path, project=project, fmt=fmt)
    assert summary.records == 1 and Pair.objects.filter(project=project).count() >= 1


# --- what the fuzzing found (fixed in curation/importers/readers.py) ---------------


def test_csv_row_shorter_than_the_header_is_refused(project, tmp_path):
    """Was an AttributeError: DictReader fills the missing cells with None."""
    path = tmp_path / "short.csv"
    path.write_text("prompt,response_a,response_b,verdict,annotator\nq,a,b,1,x\nq2,a\n")
    with pytest.raises(RecordError, match=r"line 3: fewer cells than header columns \(2 of 5\)"):
        dataset_import(path=path, project=project, fmt="csv")
    assert counts() == dict.fromkeys(counts(), 0)


def test_csv_verdict_of_thousands_of_digits_is_refused(project, tmp_path):
    """Was a ValueError from int() (Python refuses 4,300+ digit strings)."""
    path = tmp_path / "long.csv"
    path.write_text("prompt,response_a,response_b,verdict,annotator\nq,a,b," + "9" * 5000 + ",x\n")
    with pytest.raises(RecordError, match="line 2, field 'verdict': must be an integer in -2..2"):
        dataset_import(path=path, project=project, fmt="csv")


@pytest.mark.parametrize("rating", ["9" * 400, 10**400])
def test_ultrafeedback_ratings_beyond_a_float_are_out_of_range(project, tmp_path, rating):
    """10**400 was an OverflowError (float() of a JSON integer no float holds)."""
    row = copy.deepcopy(VALID["ultrafeedback"])
    row["completions"][1]["annotations"]["honesty"]["Rating"] = rating
    path = tmp_path / "uf.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(RecordError, match=r"field 'completions\[1\].annotations.honesty.Rating': must be in 1..5"):
        dataset_import(path=path, project=project, fmt="ultrafeedback")
    assert counts() == dict.fromkeys(counts(), 0)


@pytest.mark.parametrize("escape, problem", [("\\ud800", "lone UTF-16 surrogate"), ("\\u0000", "NUL character")])
@pytest.mark.parametrize("container", ["jsonl", "array"])
def test_json_escapes_no_column_can_store_are_refused(project, tmp_path, escape, problem, container):
    """Were a UnicodeEncodeError (a lone surrogate) and, on PostgreSQL, a DataError
    (NUL in text) from the middle of the write: refused now, naming the field."""
    good = json.dumps(VALID["trl"])
    bad = good.replace('"bad answer"', f'"bad {escape} answer"')
    path = tmp_path / "bad.json"
    path.write_text("[" + good + ",\n" + bad + "]" if container == "array" else good + "\n" + bad + "\n")
    with pytest.raises(RecordError, match=f"field 'rejected': contains a {problem}"):
        dataset_import(path=path, project=project, fmt="trl")
    assert counts() == dict.fromkeys(counts(), 0)


def test_surrogate_pairs_and_escaped_backslashes_still_import(project, tmp_path):
    """The escape check only refuses what cannot be stored: an emoji written as a
    surrogate pair, or a literal backslash-u text, imports."""
    row = {"prompt": "Smile \U0001F600 and C:\\ud800\\x", "chosen": "yes", "rejected": "no"}
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(row) + "\n")  # ensure_ascii: "\ud83d\ude00" and "\\ud800"
    assert "\\ud83d" in path.read_text()
    dataset_import(path=path, project=project, fmt="trl")
    assert Prompt.objects.get().text == row["prompt"]


@pytest.mark.parametrize("row, field, message", [
    # Found on PostgreSQL: a DataError (value too long for varchar(150)) mid-write.
    ({**VALID["concord"], "judgments": [{"annotator": "a" * 151, "verdict": 1}]}, "pairs[0].human[0].annotator",
     "is 151 characters long; at most 150 fit"),
    ({**VALID["concord"], "ai_judgments": [{"judge": "j" * 101, "verdict": 1}]}, "pairs[0].ai[0].judge",
     "at most 100 fit"),
    ({**VALID["concord"], "judgments": [{"annotator": "x", "verdict": 1, "time_spent_ms": 2**31}]},
     "pairs[0].human[0].time_spent_ms", "is out of range"),
    # PostgreSQL: "invalid input syntax for type json" — NaN and Infinity are not JSON.
    ({**VALID["concord"], "metadata": {"category": "math", "score": float("inf")}}, None,
     "broken JSON (Infinity is not a number JSON allows)"),
    (json.dumps({**VALID["concord"], "metadata": {"score": 1.5}}).replace("1.5", "1e400"), None,
     "broken JSON (1e400 is beyond the range of a number)"),
    ({**VALID["concord"], "ai_judgments": [{"judge": "j", "verdict": 1, "confidence": float("nan")}]}, None,
     "broken JSON (NaN is not a number JSON allows)"),
])
def test_values_no_column_can_hold_are_refused(project, tmp_path, row, field, message):
    path = tmp_path / "big.jsonl"
    first = {"prompt": "Another question?", "response_a": "x", "response_b": "y"}
    path.write_text(json.dumps(first) + "\n" + (row if isinstance(row, str) else json.dumps(row)) + "\n")
    with pytest.raises(RecordError) as raised:
        dataset_import(path=path, project=project)
    assert (raised.value.location, raised.value.field_name) == ("line 2", field)
    assert message in raised.value.message
    assert counts() == dict.fromkeys(counts(), 0)
