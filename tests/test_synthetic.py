"""bench/synthetic.py: the synthetic benchmark project is what the app itself would have
written — counts, constraints, consensus and routing as the app recomputes them, and
the pages and commands that read it work."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from annotation.models import Assignment
from bench import synthetic
from curation import services
from curation.models import (
    Adjudication,
    JudgeConfig,
    Judgment,
    Membership,
    Pair,
    Project,
    Prompt,
    Response,
)
from tests.curation.test_tallies import assert_tallies_right

ROOT = Path(__file__).resolve().parents[1]
N_PAIRS = 2000
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bench.synthetic loads with PostgreSQL COPY; this run is on SQLite"
)
PAIR_STATE = ("tier", "status", "label_verdict", "label_source", "consensus_verdict", "consensus_strength",
              "n_human_judgments", "gold_verdict", "gold_source", "routing_score")


@pytest.fixture
def loaded(db):
    result = synthetic.load(N_PAIRS, "synthetic-test", seed=3, rebuild_indexes=False)
    return Project.objects.get(pk=result.project_id), result


def pair_states(project) -> dict[int, tuple]:
    return {row[0]: row[1:] for row in Pair.objects.filter(project=project).values_list("id", *PAIR_STATE)}


@postgres_only
def test_row_counts(loaded):
    project, result = loaded
    judgments = Judgment.objects.filter(project=project)
    assert Pair.objects.filter(project=project).count() == N_PAIRS
    assert Prompt.objects.filter(project=project).count() == N_PAIRS // 2
    assert Response.objects.filter(prompt__project=project).count() == 3 * N_PAIRS // 2
    assert judgments.count() == 3 * N_PAIRS == result.counts["curation_judgment"]
    assert judgments.filter(is_human=True).count() == 2 * N_PAIRS
    assert judgments.filter(is_human=False).count() == N_PAIRS
    assert JudgeConfig.objects.filter(project=project, kind="ai").count() == 4
    roles = dict(Membership.objects.filter(project=project).values_list("role").annotate(n=Count("id")))
    assert roles == {"annotator": 200, "reviewer": 1}
    assert judgments.filter(is_human=True).values("annotator").distinct().count() == 200
    # Every human judgment came through the queue: one submitted assignment, linked.
    assignments = Assignment.objects.filter(project=project)
    assert assignments.count() == 2 * N_PAIRS
    assert assignments.filter(state="submitted", judgment__annotator=F("annotator"), judgment__pair=F("pair"),
                              shown_order=F("judgment__shown_order")).count() == 2 * N_PAIRS
    assert not judgments.filter(created_at__gt=timezone.now()).exists()
    assert_tallies_right(project)  # COPY fires the row tallies' triggers too


@postgres_only
def test_no_annotator_judges_a_pair_twice_and_counters_match(loaded):
    project, _ = loaded
    humans = Judgment.objects.filter(project=project, is_human=True)
    assert not humans.values("pair", "annotator").annotate(n=Count("id")).filter(n__gt=1).exists()
    ai = Judgment.objects.filter(project=project, is_human=False)
    assert not ai.values("pair", "judge_config").annotate(n=Count("id")).filter(n__gt=1).exists()
    mismatched = Pair.objects.filter(project=project).annotate(
        counted=Count("judgments", filter=Q(judgments__is_human=True))
    ).exclude(counted=F("n_human_judgments"))
    assert not mismatched.exists()
    assert not Pair.objects.filter(project=project, n_human_judgments__gt=project.overlap).exists()
    # AI judgments are stored as the judge job stores them: two runs, a verdict only when parsed.
    assert not ai.exclude(runs__1__shown_order="BA").exists()
    assert not ai.filter(parse_ok=False, verdict__isnull=False).exists()
    assert ai.filter(position_consistent=False).exists() and ai.filter(position_consistent=True).exists()


@postgres_only
def test_consensus_tiers_and_routing_are_what_the_app_recomputes(loaded):
    project, _ = loaded
    before = pair_states(project)
    tiers = {state[0] for state in before.values()}
    assert tiers == {"gold", "silver", "unverified"}
    statuses = {state[1] for state in before.values()}
    assert statuses == {"accepted", "routed", "open"}
    assert Adjudication.objects.filter(project=project, source="import").count() == Pair.objects.filter(
        project=project, label_source="gold_import").count() > 0
    assert Adjudication.objects.filter(project=project, source="review").exists()
    # pairs_refresh recomputes consensus, tier, label and status with curation/consensus.py.
    assert services.pairs_refresh(pair_ids=list(before)) == 0
    # A routing round rescores every pair and fills the human budget: nothing moves.
    summary = services.pairs_route(project=project)
    assert summary.routed == sum(1 for state in before.values() if state[1] == "routed")
    assert pair_states(project) == before


@postgres_only
def test_a_wrong_label_would_be_caught(loaded):
    """The consistency check above can fail: corrupt one pair and refresh notices."""
    project, _ = loaded
    pair = Pair.objects.filter(project=project, tier="gold", label_source="human_consensus").first()
    Pair.objects.filter(pk=pair.pk).update(tier="silver", consensus_verdict=None)
    assert services.pairs_refresh(pair_ids=[pair.pk]) == 1


@postgres_only
def test_agreement_report_command_matches(loaded):
    project, _ = loaded
    out = io.StringIO()
    call_command("agreement_report", "--project", project.slug, "--json", "--no-intervals", stdout=out)
    report = json.loads(out.getvalue())
    assert report["n_pairs"] == N_PAIRS
    assert report["n_human_judgments"] == 2 * N_PAIRS
    assert {entry["judge"] for entry in report["human_ai"]} == {name for name, *_ in synthetic.JUDGES}
    assert 0.2 < report["human_human"]["krippendorff_alpha"]["ordinal"] < 0.95  # noisy, not random


@postgres_only
def test_dashboard_and_annotation_queue_work(loaded, client):
    project, _ = loaded
    reviewer = Membership.objects.get(project=project, role="reviewer").user
    client.force_login(reviewer)
    url = reverse("curation:dashboard", args=[project.slug])
    assert client.get(url).status_code == 200
    for panel in synthetic_panels():
        response = client.get(url, {"panel": panel}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, panel

    annotator = Membership.objects.filter(project=project, role="annotator").first().user
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    response = client.get(reverse("annotation:review", args=[project.slug]))
    assert response.status_code == 200
    leased = Assignment.objects.get(project=project, annotator__user=annotator, state="leased")
    assert not Judgment.objects.filter(pair=leased.pair, annotator__user=annotator).exists()
    assert leased.pair.status == "routed" or leased.is_gold_check


@postgres_only
def test_the_review_rounds_of_scale_report_leave_nothing_behind(loaded):
    """bench.scale_report times the review page with and without two indexes it drops
    inside a transaction: the rounds run, and the indexes and judgments are as before."""
    from bench import scale_report

    project, _ = loaded

    def state():
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [list(scale_report.REVIEW_INDEXES)])
            return sorted(row[0] for row in cursor.fetchall()), Judgment.objects.count(), Assignment.objects.count()

    before = state()
    assert before[0] == sorted(scale_report.REVIEW_INDEXES)
    rows = scale_report.review_rows(project, 3)
    assert [row["what"].split(",")[0] for row in rows] == [
        "review page next median", "review page next p95", "review page submit median", "review page submit p95"]
    assert all(row["measured"] > 0 and row["ratio"] > 0 for row in rows)
    assert state() == before


def synthetic_panels():
    from curation.dashboard import PANELS

    return list(PANELS)


@postgres_only
def test_rebuilt_indexes_and_replace(db):
    def schema():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) ORDER BY 1",
                [synthetic.LOADED_TABLES],
            )
            indexes = cursor.fetchall()
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) "
                "ORDER BY 1",
                [synthetic.LOADED_TABLES],
            )
            return indexes, cursor.fetchall()

    before = schema()
    result = synthetic.load(200, "synthetic-rebuild", seed=1, rebuild_indexes=True)
    assert schema() == before
    assert len(before[0]) > 20 and any("FOREIGN KEY" in definition for _, definition in before[1])
    with pytest.raises(SystemExit, match="--replace"):
        synthetic.load(200, "synthetic-rebuild", seed=1)
    again = synthetic.load(200, "synthetic-rebuild", seed=2, replace=True)
    assert again.project_id != result.project_id
    assert not Project.objects.filter(pk=result.project_id).exists()
    assert Judgment.objects.filter(project_id=again.project_id).count() == 600


def test_refuses_sqlite(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(CONCORD_VAR_DIR=str(tmp_path), CONCORD_SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    run = subprocess.run([sys.executable, "-m", "bench.synthetic", "--pairs", "10"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2
    assert "needs PostgreSQL" in run.stderr and "sqlite" in run.stderr
