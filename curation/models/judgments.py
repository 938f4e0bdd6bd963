"""Judgments by people and by AI judges, and the decisions built on them."""
from django.conf import settings
from django.db import models

from .content import Pair, Response
from .projects import Project

VERDICT_RANGE = models.Q(verdict__gte=-2, verdict__lte=2)


class Annotator(models.Model):
    """A human identity whose judgments count in agreement.

    App users get one on their first judgment; imported annotators (PandaLM's three,
    a concord file's named annotators) exist without a login.
    """

    name = models.CharField(max_length=150, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annotator",
    )
    source = models.CharField(max_length=50, default="app", help_text="app, or the import it came from")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class JudgeConfig(models.Model):
    """An AI judge: method, model, template version and parameters.

    Agreement is reported per JudgeConfig. ``kind`` separates real AI judges from
    construction intents (rmboost-intent) and labels carried over from an import's
    source, which are stored like AI judgments but never count as human.
    """

    class Kind(models.TextChoices):
        AI = "ai", "AI judge"
        CONSTRUCTION = "construction", "Construction intent"
        SOURCE = "source", "Imported source label"

    class Method(models.TextChoices):
        PAIRWISE = "judge_pairwise", "Pairwise checklist"
        RUBRIC = "judge_rubric", "Rubric then judge"
        ASPECTS = "rate_aspects", "Pointwise aspects"
        ENSEMBLE = "ensemble_strength", "Ensemble strength"
        CDR = "cdr", "Strong-over-weak log density ratio"
        CONSTRUCTION = "construction", "Construction intent"
        IMPORTED = "imported", "Imported"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judge_configs")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=15, choices=Kind.choices, default=Kind.AI)
    method = models.CharField(max_length=30, choices=Method.choices)
    backend = models.CharField(max_length=30, blank=True)
    model = models.CharField(max_length=300, blank=True)
    template_version = models.CharField(max_length=50, blank=True)
    params = models.JSONField(default=dict, blank=True)
    params_hash = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="judgeconfig_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Judgment(models.Model):
    """One verdict on a pair, human or AI, in stored orientation (negative = A better).

    A human judgment has ``annotator`` set, an AI judgment ``judge_config``. AI
    judgments keep every run (shown order, option probabilities, rationale) in
    ``runs``; ``verdict`` is null when the judge's output did not parse.
    """

    class Mode(models.TextChoices):
        BLIND = "blind", "Blind"
        REVEAL_AFTER = "reveal_after", "Reveal after"
        ASSISTED = "assisted", "Assisted"
        IMPORTED = "imported", "Imported"

    class ShownOrder(models.TextChoices):
        AB = "ab", "A left, B right"
        BA = "ba", "B left, A right"

    # project, annotator and judge_config have no index of their own: the indexes in
    # Meta lead with them (each extra index is written on every judgment).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgments", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.PROTECT, related_name="judgments")
    annotator = models.ForeignKey(
        Annotator, null=True, blank=True, on_delete=models.PROTECT, related_name="judgments", db_index=False
    )
    judge_config = models.ForeignKey(
        JudgeConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="judgments", db_index=False
    )
    is_human = models.BooleanField()
    verdict = models.SmallIntegerField(null=True, blank=True)
    strength_known = models.BooleanField(
        default=True, help_text="False for binary or 3-way sources (A, B, tie)."
    )
    raw_value = models.CharField(max_length=50, blank=True)
    raw_scale = models.CharField(max_length=50, blank=True)
    verdict_before_length_rule = models.SmallIntegerField(null=True, blank=True)
    length_rule_applied = models.BooleanField(default=False)
    confidence = models.FloatField(null=True, blank=True)
    expected_verdict = models.FloatField(null=True, blank=True)
    position_consistent = models.BooleanField(null=True, blank=True)
    parse_ok = models.BooleanField(default=True)
    rationale = models.TextField(blank=True)
    aspects = models.JSONField(default=dict, blank=True)
    checklist_answers = models.JSONField(default=dict, blank=True)
    runs = models.JSONField(default=list, blank=True)
    rubric = models.ForeignKey(
        "curation.Rubric", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shown_order = models.CharField(max_length=2, choices=ShownOrder.choices, blank=True)
    mode = models.CharField(max_length=15, choices=Mode.choices, blank=True)
    is_revision = models.BooleanField(
        default=False, help_text="A change made after the AI verdict was revealed."
    )
    revises = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    used_assistance = models.BooleanField(default=False)
    context = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True)
    llm_calls = models.ManyToManyField("curation.LLMCall", blank=True, related_name="judgments")
    generation_job = models.ForeignKey(
        "curation.GenerationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Counted in the project's agreement counts (``curation.agreement_counts``); a
    # database default, so rows inserted by raw SQL (the COPY import) are caught up.
    aggregated = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(verdict__isnull=True) | VERDICT_RANGE,
                name="judgment_verdict_range",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(annotator__isnull=False, judge_config__isnull=True, is_human=True)
                    | models.Q(annotator__isnull=True, judge_config__isnull=False, is_human=False)
                ),
                name="judgment_one_judge",
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True)
                | models.Q(confidence__gte=0, confidence__lte=1),
                name="judgment_confidence_range",
            ),
            models.CheckConstraint(
                condition=models.Q(parse_ok=True) | models.Q(verdict__isnull=True),
                name="judgment_unparsed_has_no_verdict",
            ),
            models.UniqueConstraint(
                fields=["pair", "annotator", "is_revision"],
                condition=models.Q(annotator__isnull=False),
                name="judgment_one_per_annotator_per_pair",
            ),
            models.UniqueConstraint(
                fields=["pair", "judge_config"],
                condition=models.Q(judge_config__isnull=False),
                name="judgment_one_per_judge_per_pair",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "is_human", "pair"], name="judgment_project_kind_pair"),
            models.Index(fields=["judge_config", "pair"], name="judgment_judge_pair"),
            models.Index(fields=["annotator", "created_at"], name="judgment_annotator_time"),
            models.Index(fields=["project", "created_at"], name="judgment_project_time"),
            models.Index(
                fields=["project", "id"], name="judgment_not_aggregated", condition=models.Q(aggregated=False)
            ),
            # The review page's "done" counter: an annotator's first records in a project
            # (125 ms through the annotator index at 10,000 judgments each; 1M pairs).
            models.Index(
                fields=["annotator", "project"], name="judgment_annotator_firsts",
                condition=models.Q(is_revision=False, annotator__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        who = self.annotator or self.judge_config
        return f"{who} on pair {self.pair_id}: {self.verdict}"


class Score(models.Model):
    """A pointwise score of one response: an aspect rating (1–5), a CDR log ratio, a reward."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scores")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="scores")
    judge_config = models.ForeignKey(JudgeConfig, on_delete=models.PROTECT, related_name="scores")
    aspect = models.CharField(max_length=50)
    value = models.FloatField(null=True, blank=True)
    expected = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(default=list, blank=True)
    rationale = models.TextField(blank=True)
    parse_ok = models.BooleanField(default=True)
    details = models.JSONField(default=dict, blank=True)
    llm_call = models.ForeignKey(
        "curation.LLMCall", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "judge_config", "aspect"], name="score_unique_per_aspect"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aspect}={self.value}"


class Adjudication(models.Model):
    """A reviewer's final decision on a pair (marking a pair gold is one).

    Several may exist; the newest is final. Imported expert labels are kept as
    adjudications with ``source = import``.
    """

    class Source(models.TextChoices):
        REVIEW = "review", "Reviewer decision"
        MARK_GOLD = "mark_gold", "Marked gold"
        IMPORT = "import", "Imported expert label"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="adjudications")
    pair = models.ForeignKey(Pair, on_delete=models.PROTECT, related_name="adjudications")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.SmallIntegerField()
    note = models.TextField(blank=True)
    source = models.CharField(max_length=15, choices=Source.choices, default=Source.REVIEW)
    source_detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=VERDICT_RANGE, name="adjudication_verdict_range"),
        ]
        indexes = [models.Index(fields=["pair", "-created_at"], name="adjudication_pair_time")]

    def __str__(self) -> str:
        return f"Adjudication of pair {self.pair_id}: {self.verdict}"


class AutoAcceptStratum(models.Model):
    """A (judge, prompt category) stratum whose measured agreement with humans earned
    auto-acceptance as silver, with the evidence it was decided on."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="auto_accept_strata")
    judge_config = models.ForeignKey(JudgeConfig, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=100, blank=True)
    n = models.PositiveIntegerField()
    agreement = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    active = models.BooleanField(default=True)
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "judge_config", "category"], name="stratum_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.judge_config} × {self.category or '(none)'}"
