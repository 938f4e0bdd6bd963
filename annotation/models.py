"""Assignments: which annotator holds which pair, under what lease."""
from django.db import models

from curation.models import Annotator, Judgment, Pair, Project


class Assignment(models.Model):
    """A pair handed to an annotator. Unique per (pair, annotator): nobody gets the
    same pair twice. While ``state`` is leased the pair's slot is held until
    ``lease_expires_at``; an expired lease gives the slot back to the queue."""

    class State(models.TextChoices):
        LEASED = "leased", "Leased"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    class RevealOutcome(models.TextChoices):
        NONE = "", "Not revealed or no answer"
        KEPT = "kept", "Kept the verdict"
        REVISED = "revised", "Changed the verdict"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=10, choices=State.choices, default=State.LEASED)
    shown_order = models.CharField(max_length=2, choices=Judgment.ShownOrder.choices)
    is_gold_check = models.BooleanField(default=False)
    leased_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)
    # reveal_after mode: what the annotator did once the AI verdicts were shown.
    reveal_outcome = models.CharField(max_length=10, choices=RevealOutcome.choices, blank=True)
    judgment = models.OneToOneField(
        Judgment, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignment"
    )

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="assignment_unique_pair_annotator"),
        ]
        indexes = [
            models.Index(
                fields=["project", "lease_expires_at"],
                name="assignment_active_leases",
                condition=models.Q(state="leased"),
            ),
            models.Index(fields=["annotator", "state"], name="assignment_annotator_state"),
            # The review page's undo: the annotator's last submitted assignment (a sort of
            # 10,000 rows, 49 ms, at 1M pairs without it).
            models.Index(
                fields=["annotator", "project", "-submitted_at", "-id"], name="assignment_last_submitted",
                condition=models.Q(state="submitted"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} ← pair {self.pair_id} ({self.state})"
