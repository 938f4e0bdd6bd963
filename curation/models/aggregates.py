"""Counts behind the agreement report and the dashboard (``curation.agreement_counts``)."""
from django.db import models

from .projects import Project


class AgreementCount(models.Model):
    """One additive count of a project's agreement figures, keyed by what the report
    groups by: ``figure`` (which count: human–AI cells, unit-type profiles, per-judge
    stats…), the AI judge and annotator (0 for none), a group (category, week, longer
    side, aspect or stat name), a profile (a human–human unit's value counts, a scale)
    and two values (human and AI verdicts, a scale, a confidence bin).

    Kept in the same transaction as the judgments they count; ``n`` may fall back to 0
    (the row stays). ``total`` holds a sum of floats (AI confidences) where a figure
    needs one.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="agreement_counts")
    figure = models.CharField(max_length=16)
    judge_id = models.BigIntegerField(default=0)
    annotator_id = models.BigIntegerField(default=0)
    group_key = models.CharField(max_length=120, blank=True, default="")
    profile = models.CharField(max_length=40, blank=True, default="")
    h = models.SmallIntegerField(default=0)
    a = models.SmallIntegerField(default=0)
    n = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "figure", "judge_id", "annotator_id", "group_key", "profile", "h", "a"],
                name="agreement_count_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.figure} {self.judge_id}/{self.annotator_id} {self.group_key} {self.profile} {self.h},{self.a}: {self.n}"


class RowTally(models.Model):
    """Signed changes to how many pairs a project has per tier and status, and how many
    prompts: database triggers on the pair and prompt tables add one row per insert,
    delete or change of tier/status (per statement on PostgreSQL), so the counts are
    right whatever wrote the rows (the ORM, a bulk UPDATE, COPY, raw SQL).

    Append-only, so concurrent writers never wait on each other here;
    ``curation.tallies`` sums a project's rows and folds them into one per key when
    they grow. ``project_id`` is a plain column, not a foreign key: the triggers
    still write while a project's pairs are being deleted with it.
    """

    class Kind(models.TextChoices):
        PAIR = "pair", "Pair"
        PROMPT = "prompt", "Prompt"

    project_id = models.BigIntegerField()
    kind = models.CharField(max_length=6, choices=Kind.choices)
    tier = models.CharField(max_length=10, blank=True, default="")
    status = models.CharField(max_length=10, blank=True, default="")
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["project_id"], name="row_tally_project")]

    def __str__(self) -> str:
        return f"{self.kind} {self.tier} {self.status}: {self.n:+d} (project {self.project_id})"
