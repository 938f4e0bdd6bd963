"""Routing scores, the human budget, statuses and auto-accept strata (methods.md §4.3)."""
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.models import AutoAcceptStratum, Pair
from curation.routing import PairEvidence, in_audit_sample, routing_score, routing_weights, score_parts
from curation.services import pairs_route
from tests.factories import HumanJudgmentFactory

DEFAULTS = routing_weights(None)


def test_score_formula_known_value():
    evidence = PairEvidence(
        n_verdicts=3, mean_confidence=0.8, any_inconsistent=True, n_a=2, n_b=1, mean_verdict=-1.0, gold_in_category=1
    )
    parts = score_parts(evidence)
    assert parts == pytest.approx(
        {"confidence": 0.2, "position_inconsistency": 1.0, "judge_disagreement": 1 / 3, "ambiguity": 0.5, "novelty": 0.5}
    )
    assert routing_score(evidence, DEFAULTS) == pytest.approx(0.35 * 0.2 + 0.2 + 0.2 / 3 + 0.15 * 0.5 + 0.1 * 0.5, abs=1e-6)


def test_score_without_ai_and_with_ensemble_strength():
    assert routing_score(PairEvidence(), DEFAULTS) == pytest.approx(0.35 + 0.15 + 0.10)
    confident = PairEvidence(n_verdicts=2, mean_confidence=1.0, n_a=2, mean_verdict=-2.0, gold_in_category=9)
    assert routing_score(confident, DEFAULTS) == pytest.approx(0.01)
    # The ensemble's μ, when set, replaces the judges' mean verdict.
    weak = PairEvidence(n_verdicts=2, mean_confidence=1.0, n_a=2, mean_verdict=-2.0, ensemble_mu=0.0, gold_in_category=9)
    assert routing_score(weak, DEFAULTS) == pytest.approx(0.15 + 0.01)


def test_weights_come_from_the_project_with_defaults_for_the_rest():
    weights = routing_weights({"confidence": 1.0, "novelty": "lots", "unknown": 3, "ambiguity": True})
    assert weights == {**DEFAULTS, "confidence": 1.0}


def test_audit_sample_is_stable_and_near_its_fraction():
    drawn = [in_audit_sample(1, pair_id, 0.1) for pair_id in range(5000)]
    assert drawn == [in_audit_sample(1, pair_id, 0.1) for pair_id in range(5000)]
    assert 400 < sum(drawn) < 600
    assert not any(in_audit_sample(1, pair_id, 0.0) for pair_id in range(100))


@pytest.mark.django_db
def test_statuses_after_a_round_without_budget(project, build):
    project.overlap = 2
    project.save()
    needs = build(ai={"j": -1})
    gold = build(humans=[1, 1])
    silver = build(ai={"j": {"verdict": -1, "confidence": 0.9}, "k": {"verdict": -2, "confidence": 0.9}})
    disagreeing = build(humans=[1, -1])
    rejected = build(ai={"j": 1}, status="rejected")
    summary = pairs_route(project=project)
    statuses = dict(Pair.objects.values_list("id", "status"))
    assert statuses[needs.id] == "routed"
    assert statuses[gold.id] == "accepted" and statuses[silver.id] == "accepted"
    assert statuses[disagreeing.id] == "open"
    assert statuses[rejected.id] == "rejected"
    assert (summary.routed, summary.accepted, summary.awaiting_adjudication) == (1, 2, 1)
    assert Pair.objects.filter(routing_score__isnull=True).count() == 0


@pytest.mark.django_db
def test_budget_takes_the_highest_scores_and_keeps_pairs_in_progress(project, build):
    project.human_budget = 2
    project.save()
    certain = build(ai={"j": {"verdict": -2, "confidence": 0.99}})
    unsure = build(ai={"j": {"verdict": 1, "confidence": 0.4}})
    inconsistent = build(ai={"j": {"verdict": 1, "confidence": 0.6, "position_consistent": False}})
    no_ai = build()
    pairs_route(project=project)
    routed = set(Pair.objects.filter(status="routed").values_list("id", flat=True))
    assert routed == {no_ai.id, inconsistent.id}
    # A pair with a human judgment keeps its place and counts against the budget.
    HumanJudgmentFactory(pair=inconsistent, verdict=1)
    Pair.objects.filter(pk=inconsistent.pk).update(n_human_judgments=1)
    Pair.objects.filter(pk=unsure.pk).update(routing_score=None)
    project.human_budget = 1
    project.save()
    pairs_route(project=project)
    assert set(Pair.objects.filter(status="routed").values_list("id", flat=True)) == {inconsistent.id}
    project.human_budget = 3
    project.save()
    pairs_route(project=project)
    assert set(Pair.objects.filter(status="routed").values_list("id", flat=True)) == {inconsistent.id, no_ai.id, unsure.id}
    assert Pair.objects.get(pk=certain.pk).status == "open"


@pytest.mark.django_db
def test_equal_scores_are_broken_by_id(project, build):
    project.human_budget = 2
    project.save()
    pairs = [build() for _ in range(4)]
    pairs_route(project=project)
    assert set(Pair.objects.filter(status="routed").values_list("id", flat=True)) == {pairs[0].id, pairs[1].id}


@pytest.mark.django_db
def test_route_query_count_is_fixed(project, build, django_assert_max_num_queries):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            pairs_route(project=project)
        return len(queries)

    for _ in range(3):
        build(humans=[-1], ai={"j": -1})
    first = count()
    for _ in range(30):
        build(humans=[1], ai={"j": -1, "k": 1})
    assert count() <= first + 1  # + at most one UPDATE chunk
    assert first <= 16  # PostgreSQL adds two SET LOCAL for the strata aggregate


def stratum_data(build, *, category, n, agree, with_humans=True):
    """n pairs judged by humans and judge "j" (agreeing on the first ``agree``)."""
    for i in range(n):
        human = -1 if i < agree else 1
        build(humans=[human] if with_humans else [], ai={"j": {"verdict": -1, "confidence": 0.5}}, category=category)


@pytest.mark.django_db
def test_auto_accept_stratum_with_evidence_and_audit(project, build):
    project.auto_accept_min_pairs = 30
    project.auto_accept_threshold = 0.85
    project.audit_fraction = 0.3
    project.overlap = 3
    project.save()
    stratum_data(build, category="maths", n=40, agree=40)
    stratum_data(build, category="poetry", n=40, agree=30)
    fresh_maths = [build(ai={"j": {"verdict": -1, "confidence": 0.5}}, category="maths") for _ in range(20)]
    fresh_poetry = [build(ai={"j": {"verdict": -1, "confidence": 0.5}}, category="poetry") for _ in range(5)]
    tie = build(ai={"j": {"verdict": 0, "confidence": 0.5}}, category="maths")

    summary = pairs_route(project=project)

    maths = AutoAcceptStratum.objects.get(project=project, category="maths")
    poetry = AutoAcceptStratum.objects.get(project=project, category="poetry")
    assert (maths.active, maths.n, maths.agreement) == (True, 40, 1.0)
    assert maths.ci_low == pytest.approx(1.0)
    assert (poetry.active, poetry.n, poetry.agreement) == (False, 40, 0.75)
    assert poetry.ci_low < 0.75 < poetry.ci_high
    assert summary.strata_changed == ["maths"]
    for pair in Pair.objects.filter(id__in=[p.id for p in fresh_maths]):
        assert (pair.tier, pair.label_verdict, pair.label_source) == ("silver", -1, "auto_accept")
        audited = in_audit_sample(project.id, pair.id, 0.3)
        assert pair.status == ("routed" if audited else "accepted")
    auto_accepted = Pair.objects.filter(label_source="auto_accept").values_list("id", flat=True)
    assert len(auto_accepted) == 60  # the 20 new pairs and the 40 with one agreeing human (quorum 3)
    assert summary.audit == sum(in_audit_sample(project.id, pair_id, 0.3) for pair_id in auto_accepted) > 0
    assert Pair.objects.get(pk=tie.pk).tier == "unverified"  # a tie is not covered by the evidence
    assert set(Pair.objects.filter(id__in=[p.id for p in fresh_poetry]).values_list("tier", "status").distinct()) == {
        ("unverified", "routed")
    }

    # Humans now disagree with the judge on maths: the stratum loses its acceptance
    # and its pairs lose their silver tier at the next round.
    for pair in Pair.objects.filter(prompt__category="maths", n_human_judgments=1)[:20]:
        HumanJudgmentFactory(pair=pair, verdict=1)
    summary = pairs_route(project=project)
    maths.refresh_from_db()
    assert not maths.active and maths.agreement == pytest.approx(40 / 60)
    assert summary.strata_changed == ["maths"]
    assert set(Pair.objects.filter(id__in=[p.id for p in fresh_maths]).values_list("tier", "status").distinct()) == {
        ("unverified", "routed")
    }


@pytest.mark.django_db
def test_route_pairs_command(project, build):
    build(ai={"j": -1})
    from io import StringIO

    out = StringIO()
    call_command("route_pairs", "--project", project.slug, stdout=out)
    assert "1 routed to humans" in out.getvalue()


@pytest.mark.django_db
def test_import_routes_the_new_pairs(project, tmp_path):
    import json
    from io import StringIO

    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Q{i}?", "response_a": "a", "response_b": f"b{i}"}) + "\n" for i in range(3)))
    err = StringIO()
    call_command("import_dataset", str(path), "--project", project.slug, "--no-progress", stdout=StringIO(), stderr=err)
    assert "3 routed to humans" in err.getvalue()
    assert Pair.objects.filter(project=project, status="routed").count() == 3


@pytest.mark.django_db
def test_the_category_a_judge_gets_wrong_reaches_humans_first(project, build):
    """methods.md §2.11: with a judge unsure and inconsistent on one category, that
    category's pairs take the human budget."""
    project.human_budget = 10
    project.save()
    for i in range(20):
        build(ai={"j": {"verdict": -2, "confidence": 0.95}, "k": {"verdict": -1, "confidence": 0.9}}, category="easy")
        build(
            ai={"j": {"verdict": 1, "confidence": 0.55, "position_consistent": i % 2 == 0}, "k": {"verdict": -1, "confidence": 0.6}},
            category="hard",
        )
    pairs_route(project=project)
    routed = Pair.objects.filter(status="routed")
    assert routed.count() == 10
    assert set(routed.values_list("prompt__category", flat=True)) == {"hard"}
    assert set(Pair.objects.filter(prompt__category="easy").values_list("tier", "status").distinct()) == {("silver", "accepted")}


@pytest.mark.django_db
def test_upload_queues_a_routing_round(client, member, project, tmp_path, django_capture_on_commit_callbacks):
    import json

    from django.urls import reverse

    from curation.tasks import route_pairs

    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": "Q?", "response_a": "a", "response_b": "b"}) + "\n")
    client.force_login(member("admin"))
    route_pairs.app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True), path.open("rb") as handle:
            client.post(reverse("curation:project_import", args=[project.slug]), {"file": handle, "format": "auto"})
    finally:
        route_pairs.app.conf.task_always_eager = False
    assert Pair.objects.get(project=project).status == "routed"
