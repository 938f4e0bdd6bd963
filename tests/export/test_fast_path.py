"""The million-pair paths of the export (docs/export.md, "Speed") give what the
per-item path gives: the plain trl rows byte for byte, each pair's agreement column
and the card's per-judge figures as counted from the judgments in Python."""
import json
from collections import Counter

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.exports import ExportOptions, export_write
from curation.exports.files import JsonlSink
from curation.exports.formats import TrlWriter
from curation.models import JudgeConfig, Judgment, Pair, Prompt

pytestmark = pytest.mark.django_db


def export(project, tmp_path, name, **options):
    return export_write(project=project, options=ExportOptions.from_dict({"format": "trl", **options}),
                        output=tmp_path / name / "data.jsonl")


# Scalars only, as in a plain trl row; text made of the characters that could fool the
# cut between rows: braces, commas, quotes, backslashes, the first key, any unicode.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.sampled_from(['},{"prompt":', '}', '{', ',', '"', '\\', ':', 'prompt', '\n', 'é', '\u2028'])
             | st.characters(codec="utf-8")).map("".join),  # no lone surrogates: not text a database holds
)
FLAT_ROWS = st.lists(
    st.tuples(SCALARS, st.dictionaries(st.sampled_from(["chosen", "pair_id", "tier"]), SCALARS))
    .map(lambda first_and_rest: {"prompt": first_and_rest[0], **first_and_rest[1]}),  # "prompt" first
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(rows=FLAT_ROWS)
def test_write_flat_gives_the_bytes_of_write(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("flat")
    one, other = JsonlSink(folder / "one.jsonl"), JsonlSink(folder / "other.jsonl")
    one.write(rows)
    other.write_flat(rows, first_key="prompt")
    one.finish()
    other.finish()
    assert one.partial.read_bytes() == other.partial.read_bytes()
    assert (one.rows, one.sha256) == (other.rows, other.sha256)


def test_plain_trl_rows_are_byte_identical_to_the_per_item_path(export_project, tmp_path, monkeypatch):
    # One prompt also stored as a single-turn conversation (the fast path reads it as text).
    prompt = Pair.objects.filter(project=export_project).order_by("id").first().prompt
    Prompt.objects.filter(pk=prompt.pk).update(messages=[{"role": "user", "content": prompt.text}])
    fast = export(export_project, tmp_path, "fast")
    monkeypatch.setattr(TrlWriter, "plain", property(lambda self: False))
    slow = export(export_project, tmp_path, "slow")
    fast_bytes = (tmp_path / "fast" / "data.jsonl").read_bytes()
    assert fast_bytes == (tmp_path / "slow" / "data.jsonl").read_bytes()
    assert fast.rows == slow.rows > 10
    assert fast.stats == slow.stats


def test_small_batches_give_the_same_file(export_project, tmp_path):
    options = ExportOptions.from_dict({"format": "trl"})
    one = export_write(project=export_project, options=options, output=tmp_path / "one" / "data.jsonl")
    many = export_write(project=export_project, options=options, output=tmp_path / "many" / "data.jsonl", batch_size=3)
    assert one.sha256["data.jsonl"] == many.sha256["data.jsonl"]


def _python_agreement_and_tally(project, pair_ids: set[int]):
    """What the per-batch Python count gave: per pair, the share of its sources (first
    human records, AI judges' verdicts) agreeing with the label; per judge, the counts."""
    ai = set(JudgeConfig.objects.filter(project=project, kind="ai").values_list("id", flat=True))
    pairs = {p.id: p for p in Pair.objects.filter(id__in=pair_ids)}
    signs: dict[int, list[int]] = {}
    tally: dict = {}
    for j in Judgment.objects.filter(pair_id__in=pair_ids):
        if j.is_human and j.is_revision:
            continue
        key = None if j.is_human else j.judge_config_id
        counts = tally.setdefault(key, Counter())
        counts["n"] += 1
        if j.verdict is None:
            continue
        counts["parsed"] += 1
        sign = (j.verdict > 0) - (j.verdict < 0)
        label, consensus = pairs[j.pair_id].label_verdict, pairs[j.pair_id].consensus_verdict
        if label is not None:
            counts["n_label"] += 1
            counts["agree_label"] += sign == (label > 0) - (label < 0)
        if consensus is not None:
            counts["n_consensus"] += 1
            counts["agree_consensus"] += sign == (consensus > 0) - (consensus < 0)
        if j.position_consistent is not None:
            counts["n_position"] += 1
            counts["position_consistent"] += bool(j.position_consistent)
        if j.is_human or j.judge_config_id in ai:
            signs.setdefault(j.pair_id, [0, 0, 0])[sign + 1] += 1
    agreement = {}
    for pair_id, counts in signs.items():
        label = pairs[pair_id].label_verdict
        agreeing = counts[0] if label < 0 else counts[2] if label > 0 else counts[1]
        agreement[pair_id] = round(agreeing / sum(counts), 4)
    return agreement, tally


def test_agreement_column_and_judge_figures_match_a_count_in_python(export_project, tmp_path):
    from curation.overview import judge_figures

    result = export(export_project, tmp_path, "out", keep_ties=True)
    rows = [json.loads(line) for line in (tmp_path / "out" / "data.jsonl").read_text().splitlines()]
    exported = {row["pair_id"]: row["agreement"] for row in rows}
    expected, tally = _python_agreement_and_tally(export_project, set(exported))
    assert exported == {pair_id: expected.get(pair_id) for pair_id in exported}
    assert sum(value is not None for value in exported.values()) > 10
    figures = judge_figures(tally)
    assert [judge["name"] for judge in figures["judges"]] == ["judge-a", "judge-b"]
    for judge in figures["judges"]:
        assert judge["name"] in result.card
    assert result.stats.with_sources == sum(value is not None for value in exported.values())


def _read_ahead_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "export-read-ahead"]


def test_an_error_while_writing_stops_the_read_ahead(export_project, tmp_path, monkeypatch):
    """The caller fails mid-stream (here: a sink that cannot write): the export fails
    with that error, leaves no file, the reading thread is gone and the connection
    still answers."""
    from curation.exports import files

    calls = []

    def broken_write(self, rows, first_key):
        calls.append(len(rows))
        if len(calls) == 2:
            raise OSError("disk full")
        return original(self, rows, first_key)

    original = files.JsonlSink.write_flat  # what the plain trl path writes with
    monkeypatch.setattr(files.JsonlSink, "write_flat", broken_write)
    with pytest.raises(OSError, match="disk full"):
        export_write(project=export_project, options=ExportOptions.from_dict({"format": "trl"}),
                     output=tmp_path / "broken" / "data.jsonl", batch_size=3)
    assert not list((tmp_path / "broken").glob("*.jsonl*"))
    assert _read_ahead_threads() == []
    assert Pair.objects.filter(project=export_project).count() > 0


def test_an_error_in_the_read_ahead_reaches_the_caller(export_project, tmp_path, monkeypatch):
    """A query of the reading thread fails: the export raises that error (on SQLite the
    tally reads in the caller's thread, the same error)."""
    from curation.exports import selection

    def failing_fetch(self, cursor, first_id, last_id):
        raise RuntimeError("judgments unreadable")

    monkeypatch.setattr(selection.JudgmentTally, "fetch", failing_fetch)
    with pytest.raises(RuntimeError, match="judgments unreadable"):
        export_write(project=export_project, options=ExportOptions.from_dict({"format": "trl"}),
                     output=tmp_path / "failing" / "data.jsonl", batch_size=3)
    assert _read_ahead_threads() == []
    assert not list((tmp_path / "failing").glob("*.jsonl*"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the read-ahead thread runs on PostgreSQL")
def test_a_database_error_in_the_read_ahead_is_djangos(export_project, tmp_path, monkeypatch):
    """The thread's queries fail as the caller's would: with Django's DatabaseError."""
    from django.db import DatabaseError

    from curation.exports import selection

    monkeypatch.setattr(selection.JudgmentTally, "fetch",
                        lambda self, cursor, first, last: cursor.execute("SELECT * FROM no_such_table"))
    with pytest.raises(DatabaseError, match="no_such_table"):
        export_write(project=export_project, options=ExportOptions.from_dict({"format": "trl"}),
                     output=tmp_path / "db-error" / "data.jsonl", batch_size=3)
    assert _read_ahead_threads() == []


def test_the_cyclic_collector_is_paused_for_the_stream_and_runs_again_however_it_ends(export_project, tmp_path,
                                                                                    monkeypatch):
    import gc

    from curation.exports import files

    seen = []
    original = files.JsonlSink.write_flat

    def watching_write(self, rows, first_key):
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise OSError("disk full")
        return original(self, rows, first_key)

    assert gc.isenabled()
    export(export_project, tmp_path, "ok")
    assert gc.isenabled()
    monkeypatch.setattr(files.JsonlSink, "write_flat", watching_write)
    with pytest.raises(OSError, match="disk full"):
        export_write(project=export_project, options=ExportOptions.from_dict({"format": "trl"}),
                     output=tmp_path / "broken" / "data.jsonl", batch_size=3)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()  # someone else's choice is left as it was
    try:
        export(export_project, tmp_path, "off")
        assert not gc.isenabled()
    finally:
        gc.enable()
