"""What is judged: prompts, responses, pairs, and the rubrics and skills around them."""
from django.conf import settings
from django.db import models

from .projects import Project


class Prompt(models.Model):
    """A request to answer: a single text or a list of chat messages.

    ``text`` is the last user turn (or the whole text); ``messages`` holds the full
    conversation when there is one. ``content_hash`` is unique per project.
    """

    # No index of its own: (project, content_hash) and (project, category) lead with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts", db_index=False)
    text = models.TextField()
    messages = models.JSONField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    origin = models.CharField(
        max_length=50, blank=True, help_text="How the prompt arrived: an import format, "
        "a synthesis method (codeclm, skillmix) or manual."
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    external_id = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    generation_job = models.ForeignKey(
        "curation.GenerationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="prompt_unique_content_per_project"
            ),
        ]
        indexes = [models.Index(fields=["project", "category"], name="prompt_project_category")]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def is_conversation(self) -> bool:
        return bool(self.messages) and len(self.messages) > 1


class Response(models.Model):
    class ProducerKind(models.TextChoices):
        MODEL = "model", "Model"
        HUMAN = "human", "Human"
        IMPORT = "import", "Imported"

    # No index of its own: the unique (prompt, content_hash) leads with it.
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses", db_index=False)
    text = models.TextField()
    content_hash = models.CharField(
        max_length=64, help_text="sha256 of the whitespace-normalised text."
    )
    producer = models.CharField(max_length=300, help_text="Model name+revision or source.")
    producer_kind = models.CharField(
        max_length=10, choices=ProducerKind.choices, default=ProducerKind.IMPORT
    )
    params = models.JSONField(default=dict, blank=True)
    conditioning = models.JSONField(default=dict, blank=True)
    n_chars = models.PositiveIntegerField(default=0)
    n_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=30, blank=True)
    parent_response = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    llm_call = models.ForeignKey(
        "curation.LLMCall", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generation_job = models.ForeignKey(
        "curation.GenerationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "content_hash"], name="response_unique_content_per_prompt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.producer}: {self.text[:60]}"


class Pair(models.Model):
    class Tier(models.TextChoices):
        UNVERIFIED = "unverified", "Unverified"
        SILVER = "silver", "Silver"
        GOLD = "gold", "Gold"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ROUTED = "routed", "Routed to humans"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    TIER_RANK = {Tier.UNVERIFIED: 0, Tier.SILVER: 1, Tier.GOLD: 2}

    # No index of its own: the unique (project, content_hash) and the tier, status and
    # queue indexes lead with it.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs", db_index=False)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="pairs")
    response_a = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="pairs_as_a")
    response_b = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="pairs_as_b")
    content_hash = models.CharField(
        max_length=64,
        help_text="sha256 of the prompt hash and both response hashes, side-independent.",
    )
    external_id = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=50, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    generation_job = models.ForeignKey(
        "curation.GenerationJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.UNVERIFIED)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # A known answer (LLMBar's expert label, an adjudication): used for gold checks
    # in the queue and for judge accuracy.
    gold_verdict = models.SmallIntegerField(null=True, blank=True)
    gold_source = models.CharField(max_length=100, blank=True)
    consensus_verdict = models.SmallIntegerField(null=True, blank=True)
    consensus_strength = models.FloatField(null=True, blank=True)
    # The label an export uses, with where it came from (adjudication, human
    # consensus, silver AI consensus, imported gold).
    label_verdict = models.SmallIntegerField(null=True, blank=True)
    label_source = models.CharField(max_length=30, blank=True)
    routing_score = models.FloatField(null=True, blank=True)
    ensemble_mu = models.FloatField(null=True, blank=True)
    ensemble_sigma = models.FloatField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)
    # Denormalised counters kept by the services, so the queue never counts rows.
    n_human_judgments = models.PositiveIntegerField(default=0)
    n_active_leases = models.PositiveIntegerField(default=0)
    # Agreement counts (``curation.agreement_counts``): whether the pair's current state
    # may differ from what the counts hold (a new pair, a new gold answer; a database
    # default, so rows written by raw SQL are caught up too), whether the counts hold
    # the pair at all, and the gold answer they were counted with.
    agreement_stale = models.BooleanField(default=True, db_default=True)
    agreement_counted = models.BooleanField(default=False, db_default=False)
    agreement_gold = models.SmallIntegerField(null=True, blank=True)
    # Where the counts hold the pair in the adjudication queue: null (not queued), 0
    # (humans vs AI) or the number of human judgments (humans disagree).
    agreement_queue = models.SmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="pair_unique_content_per_project"
            ),
            models.CheckConstraint(
                condition=~models.Q(response_a=models.F("response_b")), name="pair_sides_differ"
            ),
            models.CheckConstraint(
                condition=models.Q(gold_verdict__isnull=True)
                | models.Q(gold_verdict__gte=-2, gold_verdict__lte=2),
                name="pair_gold_verdict_range",
            ),
            models.CheckConstraint(
                condition=models.Q(label_verdict__isnull=True)
                | models.Q(label_verdict__gte=-2, label_verdict__lte=2),
                name="pair_label_verdict_range",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "tier"], name="pair_project_tier"),
            models.Index(fields=["project", "status", "tier"], name="pair_project_status_tier"),
            models.Index(
                fields=["project", "-routing_score", "id"],
                name="pair_queue_order",
                condition=models.Q(status="routed"),
            ),
            models.Index(
                fields=["project", "id"],
                name="pair_gold_checks",
                condition=models.Q(gold_verdict__isnull=False),
            ),
            models.Index(
                fields=["project", "id"], name="pair_agreement_stale", condition=models.Q(agreement_stale=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Pair {self.pk} ({self.tier})"


class Rubric(models.Model):
    """A checklist, rubric, reference solution, rule set or guideline, versioned.

    ``items`` is a list of objects: ``{"text", "weight"?, "why"?, "sources"?, "support"?,
    "retired"?}``. A prompt-level rubric has ``prompt`` set; a project-level one (a rule
    set) does not. Editing makes a new version with ``parent`` pointing to the old one.
    """

    class Kind(models.TextChoices):
        CHECKLIST = "checklist", "Checklist"
        RUBRIC = "rubric", "Rubric"
        REFERENCE_SOLUTION = "reference_solution", "Reference solution"
        RULESET = "ruleset", "Rule set"
        GUIDELINE = "guideline", "Guideline"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rubrics")
    prompt = models.ForeignKey(
        Prompt, null=True, blank=True, on_delete=models.CASCADE, related_name="rubrics"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    version = models.PositiveIntegerField(default=1)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    items = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True, help_text="Free text, e.g. a reference solution.")
    task_type = models.CharField(max_length=20, blank=True)
    origin = models.CharField(max_length=50, help_text="AI method, human, autorule or import.")
    judge_config = models.ForeignKey(
        "curation.JudgeConfig", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    llm_call = models.ForeignKey(
        "curation.LLMCall", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "prompt", "kind", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "kind", "version"],
                condition=models.Q(prompt__isnull=False),
                name="rubric_unique_prompt_version",
            ),
            models.UniqueConstraint(
                fields=["project", "kind", "version"],
                condition=models.Q(prompt__isnull=True),
                name="rubric_unique_project_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"


class Skill(models.Model):
    """A skill behind instruction following (Instruct-SkillMix, CodecLM metadata)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="skills")
    name = models.CharField(max_length=200)
    definition = models.TextField(blank=True)
    source = models.CharField(max_length=50, help_text="extracted from prompts, or enumerated")
    source_prompts = models.ManyToManyField(Prompt, blank=True, related_name="skills")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="skill_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name
