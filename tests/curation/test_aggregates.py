"""Agreement counts (``curation.agreement_counts``) against the SQL reference: after any
sequence of writes through the services (human judgments, revisions, withdrawals,
AI judgments, adjudications, gold marks) and behind their back (rows written as a bulk
import writes them, gold answers set by SQL), the report built from the counts equals
the report aggregated by SQL, intervals and breakdowns included."""
import json
import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from curation import agreement, agreement_counts, dashboard, judge_stats, services
from curation.models import AgreementCount, JudgeConfig, Judgment, Pair
from curation.selectors import adjudication_queue
from tests.curation.test_tallies import assert_tallies_right
from tests.factories import (
    AIJudgmentFactory,
    AnnotatorFactory,
    HumanJudgmentFactory,
    JudgeConfigFactory,
    PairFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
)

pytestmark = pytest.mark.django_db(transaction=False)

CATEGORIES = ["facts", "code", "math", ""]


def assert_same(project) -> None:
    expected = agreement.from_sql(project, breakdowns=True)
    assert agreement.report(project, breakdowns=True) == expected
    assert agreement.counts(project).awaiting_adjudication() == adjudication_queue(project).count()
    assert (
        judge_stats.judge_stats(project) == judge_stats.judge_stats(project, source=judge_stats.SQL)
    )
    assert agreement.counts(project).judgment_rows() == agreement.SqlSource(project).judgment_rows()
    assert_tallies_right(project)


class World:
    """A project with annotators, judges and pairs, and random writes to it."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.project = ProjectFactory(overlap=4, aspects=["honesty", "helpfulness"])
        self.annotators = [AnnotatorFactory() for _ in range(6)]
        self.judges = [
            JudgeConfigFactory(project=self.project, name=f"judge-{i}", template_version=f"v{i % 2}") for i in range(3)
        ] + [JudgeConfigFactory(project=self.project, name="intent", kind=JudgeConfig.Kind.CONSTRUCTION)]
        self.pairs = [self.new_pair() for _ in range(14)]

    def new_pair(self) -> Pair:
        prompt = PromptFactory(project=self.project, category=self.rng.choice(CATEGORIES))
        n_a, n_b = self.rng.choice([(10, 10), (10, 30), (30, 10)])
        return PairFactory(
            project=self.project,
            prompt=prompt,
            response_a=ResponseFactory(prompt=prompt, n_chars=n_a),
            response_b=ResponseFactory(prompt=prompt, n_chars=n_b),
            gold_verdict=self.rng.choice([None, None, -2, 1, 0]),
        )

    def aspects(self) -> dict:
        return {aspect: self.rng.randint(-2, 2) for aspect in self.project.aspects if self.rng.random() < 0.5}

    def human(self) -> None:
        pair, annotator = self.rng.choice(self.pairs), self.rng.choice(self.annotators)
        try:
            services.judgment_record_human(
                pair=pair,
                annotator=annotator,
                verdict=self.rng.randint(-2, 2),
                shown_order=self.rng.choice(["ab", "ba", ""]),
                mode=self.rng.choice(["blind", "blind", "assisted", "reveal_after"]),
                aspects=self.aspects(),
                time_spent_ms=self.rng.choice([None, 1200, 5400]),
                gold_check=self.rng.random() < 0.2,
            )
        except services.JudgmentRejected:
            pass

    def revision(self) -> None:
        firsts = list(Judgment.objects.filter(project=self.project, is_human=True, is_revision=False))
        if firsts:
            first = self.rng.choice(firsts)
            try:
                services.judgment_record_human(
                    pair=first.pair, annotator=first.annotator, verdict=self.rng.randint(-2, 2), is_revision=True,
                    revises=first, mode="reveal_after",
                )
            except services.JudgmentRejected:
                pass

    def withdraw(self) -> None:
        firsts = list(Judgment.objects.filter(project=self.project, is_human=True, is_revision=False))
        if firsts:
            services.judgment_withdraw_human(judgment=self.rng.choice(firsts), lease_restored=self.rng.random() < 0.5)

    def ai(self) -> None:
        pair, judge = self.rng.choice(self.pairs), self.rng.choice(self.judges)
        parsed = self.rng.random() < 0.85
        fields = {
            "verdict": self.rng.randint(-2, 2) if parsed else None,
            "parse_ok": parsed,
            "confidence": self.rng.choice([None, 0.05, 0.55, 0.95, 1.0, self.rng.random()]),
            "position_consistent": self.rng.choice([None, True, False]),
            "length_rule_applied": self.rng.random() < 0.2,
            "aspects": self.aspects(),
        }
        if judge.kind == JudgeConfig.Kind.CONSTRUCTION:
            if parsed:
                services.judgment_record_construction(pair=pair, judge_config=judge, verdict=fields["verdict"])
        else:
            services.judgment_record_ai(pair=pair, judge_config=judge, **fields)

    def adjudicate(self) -> None:
        pair = self.rng.choice(self.pairs)
        pair.refresh_from_db()
        source = self.rng.choice(["review", "mark_gold"])
        try:
            services.adjudication_record(
                pair=pair, reviewer=None, verdict=None if source == "mark_gold" else self.rng.randint(-2, 2),
                source=source,
            )
        except services.AdjudicationRejected:
            pass

    def imported(self) -> None:
        """Rows as the importers write them: no service call, three-way strength,
        backdated times (other weeks); a new pair now and then."""
        if self.rng.random() < 0.3:
            self.pairs.append(self.new_pair())
        pair = self.rng.choice(self.pairs)
        taken = set(Judgment.objects.filter(pair=pair, is_revision=False).values_list("annotator_id", flat=True))
        free = [a for a in self.annotators if a.id not in taken]
        if free:
            judgment = HumanJudgmentFactory(
                pair=pair, annotator=self.rng.choice(free), verdict=self.rng.choice([-1, 0, 1]),
                strength_known=self.rng.random() < 0.5, mode="imported", aspects=self.aspects(),
            )
            Judgment.objects.filter(pk=judgment.pk).update(created_at=timezone.now() - timedelta(days=self.rng.randint(0, 40)))
        judge = self.rng.choice(self.judges[:3])
        if not Judgment.objects.filter(pair=pair, judge_config=judge).exists():
            AIJudgmentFactory(pair=pair, judge_config=judge, verdict=self.rng.choice([-1, 0, 1]), strength_known=False)
        services.pairs_refresh(pair_ids=[pair.pk])

    def gold_by_sql(self) -> None:
        """A gold answer set behind the services' back, marking the pair as the bulk path does."""
        pair = self.rng.choice(self.pairs)
        Pair.objects.filter(pk=pair.pk).update(gold_verdict=self.rng.choice([None, -1, 2]), agreement_stale=True)

    def step(self) -> None:
        operation = self.rng.choices(
            [self.human, self.revision, self.withdraw, self.ai, self.adjudicate, self.imported, self.gold_by_sql],
            weights=[10, 2, 3, 6, 2, 3, 1],
        )[0]
        operation()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_equal_the_sql_reference_after_random_writes(seed):
    world = World(seed)
    assert_same(world.project)  # nothing counted yet: every pair is caught up on this read
    for step in range(120):
        world.step()
        if step % 30 == 29:
            assert_same(world.project)
    assert_same(world.project)
    # The services keep the counts as they write: nothing stale is left for a read.
    for _ in range(20):
        world.human()
        world.ai()
    world.withdraw()
    world.adjudicate()
    assert agreement_counts._stale_pairs(world.project.pk, None) == []
    assert_same(world.project)


def test_a_rebuild_gives_the_same_counts():
    world = World(7)
    for _ in range(80):
        world.step()
    agreement.report(world.project)
    kept = set(
        AgreementCount.objects.filter(project=world.project).exclude(n=0, total=0).values_list(
            "figure", "judge_id", "annotator_id", "group_key", "profile", "h", "a", "n"
        )
    )
    agreement_counts.rebuild(world.project)
    rebuilt = set(
        AgreementCount.objects.filter(project=world.project).exclude(n=0, total=0).values_list(
            "figure", "judge_id", "annotator_id", "group_key", "profile", "h", "a", "n"
        )
    )
    assert rebuilt == kept
    assert_same(world.project)
    # After a rebuild the judgments are counted through the project's watermark, not
    # their flags: withdrawals, new judgments and decisions on them still add up.
    world.project.refresh_from_db()
    assert world.project.agreement_judgments_through == Judgment.objects.latest("id").id
    for _ in range(60):
        world.step()
    assert_same(world.project)


def test_withdrawal_takes_the_judgment_out_of_the_counts(build, project):
    pair = build(humans=[-2, -2])
    agreement.report(project)
    annotator = AnnotatorFactory()
    judgment = services.judgment_record_human(pair=pair, annotator=annotator, verdict=2, mode="blind")
    assert agreement.human_human(project)["n_values"] == 3
    services.judgment_withdraw_human(judgment=judgment)
    figures = agreement.human_human(project)
    assert (figures["n_values"], figures["percent_agreement"]) == (2, 1.0)
    assert agreement.report(project) == agreement.from_sql(project)


def test_dashboard_panels_read_the_counts(build, project, django_assert_max_num_queries):
    for i in range(5):
        build(humans=[-1, -1, i % 3 - 1], ai={"judge": -1}, category=f"c{i % 2}")
    agreement.report(project)  # caught up
    # Panel queries do not grow with the data: read a handful of count rows each.
    with django_assert_max_num_queries(12):
        context = dashboard.agreement_panel(project)
    assert context["human_human"] == agreement.human_human(project, source=agreement.SqlSource(project))


def test_check_command_finds_a_difference(project, build):
    build(humans=[-1, 1], ai={"judge": 1})
    call_command("agreement_aggregates", "--project", project.slug, "--rebuild")
    call_command("agreement_aggregates", "--project", project.slug, "--check")
    AgreementCount.objects.filter(project=project, figure="hh").update(n=5)
    with pytest.raises(SystemExit) as exit_:
        call_command("agreement_aggregates", "--project", project.slug, "--check")
    assert exit_.value.code == 1


@pytest.mark.parametrize("bulk", [False, True])
def test_an_import_is_caught_up_on_the_next_read(project, tmp_path, bulk):
    """Both import paths (the ORM batches, the COPY fast path on PostgreSQL) write rows
    without counting them; the next read counts them."""
    if bulk and connection.vendor != "postgresql":
        pytest.skip("the COPY import runs on PostgreSQL")
    from curation.importers import dataset_import

    records = []
    for i in range(30):
        record = {
            "prompt": f"prompt {i}", "response_a": f"a {i}", "response_b": f"bb {i}" * (i % 3 + 1),
            "category": f"c{i % 3}",
            "judgments": [
                {"annotator": f"ann-{i % 4}", "verdict": i % 5 - 2},
                {"annotator": f"ann-{(i + 1) % 4}", "verdict": i % 3 - 1},
            ],
            "ai_judgments": [{"judge": "imported-judge", "verdict": i % 2, "confidence": 0.7}],
        }
        if i % 7 == 0:
            record["adjudication"] = {"verdict": 1, "note": "gold"}
        records.append(json.dumps(record))
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(records) + "\n")
    dataset_import(path=path, project=project, fmt="concord", bulk=bulk)
    assert agreement_counts._stale_pairs(project.pk, None)
    assert agreement.report(project, breakdowns=True) == agreement.from_sql(project, breakdowns=True)
    assert agreement_counts._stale_pairs(project.pk, None) == []
