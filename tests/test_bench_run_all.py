"""bench.run_all: the table in docs/benchmarks.md is written from the results files."""
import json

import pytest

from bench import common, run_all


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    common.RESULTS.mkdir()
    return common.RESULTS


def write(results, stem, benchmark, rows):
    (results / f"{stem}.json").write_text(json.dumps({"benchmark": benchmark, "when": "2026-12-04T20:00:00Z", "rows": rows}))


def test_table_rows_in_run_order_with_target_met_and_ratio(results):
    write(results, "export", "export", [{"what": "rows/s", "measured": 22796.4, "unit": "rows/s",
                                         "target": ">= 100,000 rows/s", "met": False}])
    write(results, "scale_report_before", "scale_report", [{"what": "report", "measured": 100422.0, "unit": "ms",
                                                            "target": "<= 500 ms", "met": False}])
    write(results, "scale_report", "scale_report", [{"what": "report", "measured": 152.4, "unit": "ms",
                                                     "target": "<= 500 ms", "met": True, "ratio": 0.00152,
                                                     "reference": "SQL | 100 s"}])
    rows = run_all.table_rows()[2:]
    assert [row.split("|")[1].strip() for row in rows] == ["`scale_report`", "`scale_report_before`", "`export`"]
    assert "| 152 ms | <= 500 ms | yes | 0.00152× vs SQL / 100 s |" in rows[0]
    assert "| 22,796 rows/s | >= 100,000 rows/s | **no** |" in rows[2]


def test_write_doc_replaces_only_the_table_and_refuses_a_doc_without_markers(results, tmp_path, monkeypatch):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"intro\n{run_all.TABLE_START}\nold table\n{run_all.TABLE_END}\nprose\n")
    monkeypatch.setattr(run_all, "DOC", doc)
    write(results, "routing", "routing", [{"what": "errors found", "measured": 2.9, "unit": "×", "target": "> 1", "met": True}])
    run_all.write_doc()
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("prose\n") and "old table" not in text
    assert "| `routing` | errors found | 2.90× | > 1 | yes |" in text
    doc.write_text("no markers")
    with pytest.raises(SystemExit, match="lost its table markers"):
        run_all.write_doc()


def test_unknown_benchmark_names_are_refused(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["run_all", "--only", "export,nope"])
    with pytest.raises(SystemExit):
        run_all.main()
    assert "unknown benchmark nope" in capsys.readouterr().err
