"""Projects, their members and roles."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

DEFAULT_ASPECTS = ["helpfulness", "honesty", "instruction_following", "truthfulness"]

DEFAULT_ROUTING_WEIGHTS = {
    "confidence": 0.35,
    "position_inconsistency": 0.20,
    "judge_disagreement": 0.20,
    "ambiguity": 0.15,
    "novelty": 0.10,
}


def default_aspects() -> list[str]:
    return list(DEFAULT_ASPECTS)


def default_routing_weights() -> dict[str, float]:
    return dict(DEFAULT_ROUTING_WEIGHTS)


class Project(models.Model):
    class Mode(models.TextChoices):
        BLIND = "blind", "Blind: AI output never reaches the browser"
        REVEAL_AFTER = "reveal_after", "Reveal after: AI shown once the human submits"
        ASSISTED = "assisted", "Assisted: AI shown from the start"

    class ConsensusWeighting(models.TextChoices):
        MAJORITY = "majority", "Majority: every annotator counts the same"
        GOLD_ACCURACY = "gold_accuracy", "Weighted by each annotator's accuracy on gold pairs"

    class Scale(models.IntegerChoices):
        THREE = 3, "Three levels (A, tie, B)"
        FIVE = 5, "Five levels (A much better … B much better)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    instructions = models.TextField(
        blank=True, help_text="Guidelines shown to annotators (markdown)."
    )
    verdict_scale = models.PositiveSmallIntegerField(choices=Scale.choices, default=Scale.FIVE)
    aspects = models.JSONField(default=default_aspects, blank=True)
    overlap = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Human judgments wanted per routed pair.",
    )
    quorum = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Human records needed for consensus; empty means the overlap.",
    )
    consensus_weighting = models.CharField(
        max_length=16,
        choices=ConsensusWeighting.choices,
        default=ConsensusWeighting.MAJORITY,
        help_text="How human records combine into consensus. Weighted: an annotator counts with their "
        "accuracy on gold pairs, 0.75 until they have answered 10.",
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.BLIND)
    lease_minutes = models.PositiveSmallIntegerField(default=10, validators=[MinValueValidator(1)])
    gold_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of queue requests answered with a known-answer pair.",
    )
    rationale_required = models.BooleanField(default=False)
    length_rule_k = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=500,
        help_text="Length rule: a slight win by a response longer by more than K characters "
        "becomes a tie. Empty disables the rule.",
    )
    silver_confidence = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    routing_weights = models.JSONField(default=default_routing_weights, blank=True)
    human_budget = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most pairs waiting for human judgments at once; each routing round tops the queue up "
        "with the highest routing scores. Empty routes every unverified pair that needs humans.",
    )
    auto_accept_min_pairs = models.PositiveIntegerField(default=100)
    auto_accept_threshold = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    audit_fraction = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    default_model = models.CharField(
        max_length=300, blank=True, help_text="Model name or path; empty means the site default."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Judgments of the project with an id up to this are in the agreement counts (set by
    # a rebuild, which then need not mark millions of rows; later ones carry
    # ``Judgment.aggregated``).
    agreement_judgments_through = models.BigIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(overlap__gte=1), name="project_overlap_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_quorum(self) -> int:
        return self.quorum or self.overlap


class Membership(models.Model):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"
        ADMIN = "admin", "Admin"

    # Higher rank includes the rights of the lower ones.
    RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.ADMIN: 3}

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"

    def has_role(self, role: str) -> bool:
        return self.RANK[self.role] >= self.RANK[role]
