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
