"""Agreement reports: matrices built by SQL aggregation equal a direct count over the
records; which records count; the report command on the PandaLM test set."""
import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation import agreement, metrics
from curation.models import JudgeConfig, Judgment, Pair, Project
from curation.selectors import pair_conditions
from tests.curation.test_metrics import naive_cohen, naive_krippendorff
from tests.factories import AIJudgmentFactory, HumanJudgmentFactory

pytestmark = pytest.mark.django_db


def sign(v):
    return (v > 0) - (v < 0)


@pytest.fixture
def scenario(build):
    """Six pairs, three annotators, two AI judges, plus records that must not count."""
    rows = [
        ([-2, -1, -2], {"j1": -2, "j2": -1}),
        ([1, 1, 2], {"j1": 1, "j2": -1}),
        ([0, 0, 1], {"j1": 0, "j2": 2}),
        ([-1, 1], {"j1": -1}),
        ([2], {"j1": 2, "j2": 1}),
        ([-1, -1, -1], {"j1": {"verdict": None, "parse_ok": False, "confidence": None}, "j2": -2}),
    ]
    pairs = []
    for humans, ai in rows:
        pair = build(humans=[(f"ann-{i}", v) for i, v in enumerate(humans)], ai=ai)
        pairs.append(pair)
    # Records that must not count anywhere:
    build.judge("source-label", kind=JudgeConfig.Kind.SOURCE)
    build.judge("intent", kind=JudgeConfig.Kind.CONSTRUCTION)
    AIJudgmentFactory(pair=pairs[0], judge_config=build.judge("source-label"), verdict=2)
    AIJudgmentFactory(pair=pairs[0], judge_config=build.judge("intent"), verdict=2)
    original = Judgment.objects.get(pair=pairs[1], annotator__name="ann-0")
    HumanJudgmentFactory(pair=pairs[1], annotator=original.annotator, verdict=-2, is_revision=True, revises=original)
    return {"pairs": pairs, "rows": rows, "judges": (build.judge("j1"), build.judge("j2"))}


def test_human_human_matches_a_direct_computation(project, scenario):
    units = [humans for humans, _ in scenario["rows"] if len(humans) >= 2]
    report = agreement.human_human(project)
    assert report["n_units"] == 5 and report["n_values"] == 14
    assert report["scale"] == "5-level"
    for level in metrics.LEVELS:
        assert report["krippendorff_alpha"][level] == pytest.approx(naive_krippendorff(units, level), abs=1e-4)
    agreeing = sum(sum(sign(a) == sign(b) for i, a in enumerate(u) for b in u[i + 1 :]) for u in units)
    pairs = sum(len(u) * (len(u) - 1) // 2 for u in units)
    assert report["percent_agreement"] == pytest.approx(agreeing / pairs, abs=1e-4)
    assert report["fleiss_kappa"] is None  # one pair has two records, the others three
    low, high = report["intervals"]["krippendorff_alpha_nominal"]
    assert low <= report["krippendorff_alpha"]["nominal"] <= high


def test_human_ai_matches_a_direct_computation(project, scenario):
    j1, j2 = scenario["judges"]
    entries = {entry["judge"]: entry for entry in agreement.human_ai(project)}
    assert set(entries) == {"j1", "j2"}  # source and construction labels never count
    for judge, name in ((j1, "j1"), (j2, "j2")):
        items = [
            (h, ai[name])
            for humans, ai in scenario["rows"]
            for h in humans
            if isinstance(ai.get(name), int)
        ]
        entry = entries[name]
        assert entry["n"] == len(items)
        humans_, ais = [h for h, _ in items], [a for _, a in items]
        assert entry["cohen_kappa"] == pytest.approx(naive_cohen(humans_, ais), abs=1e-4)
        assert entry["percent_agreement"] == pytest.approx(
            sum(sign(h) == sign(a) for h, a in items) / len(items), abs=1e-4
        )
        assert entry["krippendorff_alpha_ordinal"] == pytest.approx(
            naive_krippendorff([[h, a] for h, a in items], "ordinal"), abs=1e-4
        )
        matrix = np.zeros((5, 5), dtype=int)
        for h, a in items:
            matrix[h + 2, a + 2] += 1
        assert entry["confusion"] == matrix.tolist()
    assert entries["j1"]["n_unparsed"] == 1 and entries["j2"]["n_unparsed"] == 0


def test_assisted_records_are_left_out_of_human_ai_only(project, build):
    pair = build(humans=[-1, -1], ai={"j": 1})
    Judgment.objects.filter(pair=pair, annotator__name="annotator-0").update(mode="assisted")
    (entry,) = agreement.human_ai(project)
    assert entry["n"] == 1
    assert agreement.human_human(project)["n_values"] == 2


def test_three_way_records_make_their_pair_three_way(project, build):
    """PandaLM-style records lack strength: every comparison on their pair is 3-way;
    an AI verdict without strength makes its own comparisons 3-way."""
    mixed = build(humans=[-2, -1], ai={"j": -2})
    Judgment.objects.filter(pair=mixed, annotator__name="annotator-1").update(strength_known=False)
    five_level = build(humans=[-2], ai={"j": -2})
    (entry,) = agreement.human_ai(project)
    assert entry["scale"] == "mixed"
    assert entry["confusion"][0][0] == 1  # the five-level pair: −2 vs −2
    assert entry["confusion"][1][1] == 2  # the 3-way pair: both records vs −2, as signs
    human_human = agreement.human_human(project)
    assert human_human["scale"] == "3-way"
    assert human_human["percent_agreement_exact"] == 1.0  # the unit is compared on signs
    # The pair list's cell filter uses the same rule as the matrix.
    def in_cell(h: int, a: int) -> set[int]:
        conditions = pair_conditions(project, {"judge": entry["judge_id"], "human": h, "ai": a})
        return set(Pair.objects.filter(*conditions).values_list("id", flat=True))

    assert in_cell(-1, -1) == {mixed.id}
    assert in_cell(-2, -2) == {five_level.id}


def test_breakdowns_by_category_and_week(project, build):
    for _ in range(3):
        build(humans=[-1, -1], ai={"j": -1}, category="maths")
    build(humans=[1, -1], ai={"j": 1}, category="poetry")
    rows = {row["category"]: row for row in agreement.by_category(project)}
    assert rows["maths"]["judges"]["j"]["percent_agreement"] == 1.0
    assert rows["maths"]["judges"]["j"]["small"] is True
    assert rows["poetry"]["judges"]["j"]["percent_agreement"] == 0.5
    assert rows["poetry"]["human_human"]["percent_agreement"] == 0.0
    series = agreement.over_time(project)
    (week,) = series["human_human"]
    assert week["n"] == 4 and week["value"] == pytest.approx(0.75)
    assert series["j"][0]["n"] == 8


def test_gold_accuracy_of_judges_and_annotators(project, build):
    for verdict, ai_verdict in ((-1, -1), (-1, 0), (1, 1), (1, -2)):
        pair = build(humans=[("alice", verdict), ("bob", -verdict)], ai={"j": {"verdict": ai_verdict, "confidence": 0.9}})
        Pair.objects.filter(pk=pair.pk).update(gold_verdict=verdict)
    gold = agreement.judges_against_gold(project)
    (entry,) = gold.values()
    assert entry["n"] == 4 and entry["accuracy"] == 0.5 and entry["tie_rate"] == 0.25
    assert entry["ece"] == pytest.approx(abs(0.5 - 0.9))  # one bin, accuracy 0.5 at confidence 0.9
    by_name = {row["annotator"]: row for row in agreement.annotators(project)}
    assert by_name["alice"]["gold_accuracy"] == 1.0 and by_name["bob"]["gold_accuracy"] == 0.0
    assert by_name["alice"]["vs_rest"]["percent_agreement"] == 0.0


def test_length_bias_and_position_consistency(project, build):
    build(humans=[-1], ai={"j": {"verdict": -1, "position_consistent": True}}, lengths=(900, 100))
    build(humans=[1], ai={"j": {"verdict": -1, "position_consistent": False}}, lengths=(900, 100))
    build(humans=[1], ai={"j": {"verdict": 1, "position_consistent": True}}, lengths=(50, 100))
    (entry,) = agreement.human_ai(project)
    assert entry["longer_wins"] == 1.0  # the judge always chose the longer side
    same = entry["longer_wins_same_items"]
    assert (same["judge"], same["human"], same["gap"]) == (1.0, pytest.approx(2 / 3, abs=1e-4), pytest.approx(1 / 3, abs=1e-4))
    assert entry["position_consistency"] == pytest.approx(2 / 3, abs=1e-4)
    humans = agreement.human_stats(project)
    assert humans["longer_wins"] == pytest.approx(2 / 3, abs=1e-4)


def test_report_query_count_does_not_grow_with_data(project, build):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            agreement.report(project, breakdowns=True)
        return len(queries)

    build(humans=[-1, 1], ai={"j": -1, "k": 1})
    small = count()
    for verdict in (-2, -1, 0, 1, 2) * 4:
        build(humans=[verdict, -verdict, 1], ai={"j": verdict, "k": -1}, category=f"c{verdict}")
    assert count() == small
    # catching up the pairs built since the last read: 6; SET LOCAL on PostgreSQL: 2
    assert small <= (27 if connection.vendor == "postgresql" else 25), small


@pytest.mark.shared_data
def test_agreement_report_on_pandalm(shared_data, db):
    path = shared_data / "pandalm" / "testset-v1.json"
    call_command("import_dataset", str(path), "--project", "pandalm", "--create-project", "--format", "pandalm",
                 "--no-progress", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("agreement_report", "--project", "pandalm", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["n_pairs"] == 863 and report["n_human_judgments"] == 2589
    human_human = report["human_human"]
    assert set(human_human["krippendorff_alpha"]) == {"nominal", "ordinal", "interval"}
    assert human_human["scale"] == "3-way"
    assert human_human["fleiss_kappa"] is not None  # every pair has three human judgments
    assert report["human_ai"] == []  # no AI judge has run

    project = Project.objects.get(slug="pandalm")
    units: dict[int, list[int]] = {}
    for pair_id, verdict in Judgment.objects.filter(project=project, is_human=True).values_list("pair_id", "verdict"):
        units.setdefault(pair_id, []).append(verdict)
    values = list(units.values())
    for level in ("nominal", "ordinal", "interval"):
        assert human_human["krippendorff_alpha"][level] == pytest.approx(naive_krippendorff(values, level), abs=1e-4)
    counts = [[u.count(v) for v in (-1, 0, 1)] for u in values]
    assert human_human["fleiss_kappa"] == pytest.approx(metrics.fleiss_kappa(counts), abs=1e-4)
    assert 0.8 < human_human["krippendorff_alpha"]["nominal"] < 0.9
    agreeing = sum(sum(a == b for i, a in enumerate(u) for b in u[i + 1 :]) for u in values)
    assert human_human["percent_agreement"] == pytest.approx(agreeing / (3 * len(values)), abs=1e-4)

    # With an AI judge's verdicts the human–AI list fills in, one entry per judge.
    judge = JudgeConfig.objects.get(project=project, name="pairwise-checklist")
    for pair in Pair.objects.filter(project=project)[:40]:
        AIJudgmentFactory(pair=pair, judge_config=judge, verdict=pair.label_verdict or 0)
    out = StringIO()
    call_command("agreement_report", "--project", "pandalm", "--json", stdout=out)
    (entry,) = json.loads(out.getvalue())["human_ai"]
    assert set(entry) >= {"judge", "n", "cohen_kappa", "weighted_kappa_quadratic", "krippendorff_alpha_ordinal", "percent_agreement"}
    assert entry["judge"] == "pairwise-checklist" and entry["n"] == 120


def test_agreement_report_text_and_unknown_project(project, build):
    build(humans=[-1, -1], ai={"j": -1})
    out = StringIO()
    call_command("agreement_report", "--project", project.slug, stdout=out)
    assert "Krippendorff's α nominal" in out.getvalue() and "j (n = 2" in out.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("agreement_report", "--project", "nope")


def test_per_aspect_agreement(project, build):
    pair = build(humans=[-1], ai={"j": -1})
    Judgment.objects.filter(pair=pair, is_human=True).update(aspects={"honesty": 2, "helpfulness": -1})
    Judgment.objects.filter(pair=pair, is_human=False).update(aspects={"honesty": 2, "helpfulness": 1})
    rows = {row["aspect"]: row for row in agreement.by_aspect(project)}
    assert set(rows) == {"honesty", "helpfulness"}
    assert rows["honesty"]["percent_agreement_exact"] == 1.0
    assert rows["helpfulness"]["percent_agreement"] == 0.0
