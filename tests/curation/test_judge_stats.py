"""Judge figures (curation/judge_stats.py) and ``evaluate_judge`` on constructed judgments
with known answers, and their query count."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation import agreement
from curation.judge_stats import evaluation, judge_stats
from curation.services import pairs_refresh
from tests.factories import AdjudicationFactory, JudgeConfigFactory

pytestmark = pytest.mark.django_db


def with_gold(pairs_and_gold):
    """Give pairs a known answer the way the app does: a reviewer decision."""
    for pair, gold in pairs_and_gold:
        AdjudicationFactory(pair=pair, verdict=gold)
    pairs_refresh(pair_ids=[pair.id for pair, _ in pairs_and_gold])


@pytest.fixture
def constructed(project, build):
    """Judge ``j`` on eight pairs (five with a decisive gold label), ``idle`` on none.

    gold set (gold ≠ 0): p1 −1/AI −1 right · p2 +2/AI +1 right, inconsistent ·
    p3 −1/AI 0 (length rule, was −1) wrong · p4 +1/AI unparsed · p7 −2/AI +2 wrong, B longer.
    outside: p5 gold tie/AI −1 · p6 no gold/AI +1, B longer · p8 no gold/AI −1, B longer.
    """
    judge = build.judge("j")
    p1 = build(humans=[-1], ai={judge: -1})
    p2 = build(humans=[-1], ai={judge: {"verdict": 1, "position_consistent": False}})
    p3 = build(ai={judge: {"verdict": 0, "verdict_before_length_rule": -1, "length_rule_applied": True}})
    p4 = build(ai={judge: {"verdict": None, "parse_ok": False, "position_consistent": None, "confidence": None}})
    p5 = build(ai={judge: -1})
    build(ai={judge: 1}, lengths=(20, 500))
    p7 = build(ai={judge: 2}, lengths=(10, 300))
    build(ai={judge: -1}, lengths=(10, 300))
    with_gold([(p1, -1), (p2, 2), (p3, -1), (p4, 1), (p5, 0), (p7, -2)])
    JudgeConfigFactory(project=project, name="idle")
    return judge


def test_known_figures(project, constructed):
    entries = {entry["name"]: entry for entry in judge_stats(project)}
    assert list(entries) == ["idle", "j"]
    gold, overall = entries["j"]["gold"], entries["j"]["all"]
    # Gold set: 4 parsed (p1, p2, p3, p7), 2 right; the tie on p3 is wrong.
    assert (gold["n_parsed"], gold["n_correct"], gold["accuracy"]) == (4, 2, 0.5)
    assert (gold["parse_failures"], gold["tie_rate"]) == (1, 0.25)
    assert gold["ece"] == 0.3  # one bin at confidence 0.8 with accuracy 0.5
    # All eight: 7 parsed, one tie, one length rule, 6 of 7 consistent.
    assert (overall["n_judgments"], overall["n_parsed"], overall["parse_failures"]) == (8, 7, 1)
    assert overall["tie_rate"] == round(1 / 7, 4)
    assert overall["length_rule_rate"] == round(1 / 7, 4)
    assert (overall["n_position_known"], overall["position_consistency"]) == (7, round(6 / 7, 4))
    # Decisive verdicts on unequal lengths: p6 (+1, B longer), p7 (+2, B longer), p8 (−1, B longer).
    assert (overall["n_decisive_unequal"], overall["longer_wins"]) == (3, round(2 / 3, 4))
    assert "accuracy" not in overall
    assert entries["j"]["small"] is True
    idle = entries["idle"]
    assert idle["all"]["n_judgments"] == 0 and idle["gold"]["accuracy"] is None and idle["humans"] is None


def test_agreement_with_humans_is_the_agreement_report(project, constructed):
    """The same κ and percent agreement as curation.agreement, not a second implementation."""
    (entry,) = [e for e in judge_stats(project) if e["name"] == "j"]
    (reference,) = agreement.human_ai(project, intervals=False)
    assert entry["humans"]["n"] == reference["n"] == 2
    assert entry["humans"]["percent_agreement"] == reference["percent_agreement"] == 0.5
    assert entry["humans"]["cohen_kappa"] == reference["cohen_kappa"]


def test_query_count_does_not_grow_with_judges_or_judgments(project, build, constructed):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            judge_stats(project)
        return len(queries)

    small = count()
    for i in range(6):
        build(humans=[1, -1], ai={f"extra-{i}": 1, "j2": {"verdict": -1, "position_consistent": False}})
    assert count() == small
    # judges, stale-pair check, catching up the pairs built since the last read (pairs,
    # judgments, upsert, two marks), judge names, three count figures (judge stats,
    # calibration, human matrices), savepoint and release (+ 2 SET LOCAL on PostgreSQL)
    assert small <= (14 if connection.vendor == "postgresql" else 12), small


def test_evaluate_judge_json(project, constructed, capsys):
    call_command("evaluate_judge", "--project", project.slug, "--judge", "j", "--json")
    result = json.loads(capsys.readouterr().out)
    assert {key: result[key] for key in ("n", "accuracy", "position_consistency", "tie_rate", "parse_failures")} == {
        "n": 4,
        "accuracy": 0.5,
        "position_consistency": 0.75,  # p1, p3, p7 consistent; p2 not; p4 unknown
        "tie_rate": 0.25,
        "parse_failures": 1,
    }
    assert result["all_judgments"]["n_judgments"] == 8
    assert result == json.loads(json.dumps(evaluation(project, constructed)))


def test_evaluate_judge_text(project, constructed, capsys):
    call_command("evaluate_judge", "--project", project.slug, "--judge", "j")
    out = capsys.readouterr().out
    assert "n = 4" in out and "accuracy against gold       0.500  (2 of 4)" in out
    assert "parse failures              1" in out and "tie rate                    0.250" in out


def test_evaluate_judge_unknown_names(project, constructed):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("evaluate_judge", "--project", "nope", "--judge", "j")
    with pytest.raises(CommandError, match="No judge 'nobody' in project .*its judges: idle, j") as error:
        call_command("evaluate_judge", "--project", project.slug, "--judge", "nobody")
    assert error.value.returncode == 1


def test_evaluate_judge_without_gold(project, capsys):
    JudgeConfigFactory(project=project, name="fresh")
    call_command("evaluate_judge", "--project", project.slug, "--judge", "fresh", "--json")
    result = json.loads(capsys.readouterr().out)
    assert (result["n"], result["accuracy"], result["tie_rate"], result["parse_failures"]) == (0, None, None, 0)
