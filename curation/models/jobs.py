"""Jobs and provenance: generation/judge jobs with their items, model calls,
prompt templates and exports."""
from django.conf import settings
from django.db import models

from .projects import Project


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class GenerationJob(models.Model):
    """A generation or judge job, split into idempotent items."""

    State = JobState

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generation_jobs")
    method = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    n_items = models.PositiveIntegerField(default=0)
    n_done = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    rows_created = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="genjob_project_time")]

    def __str__(self) -> str:
        return f"{self.method} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES


class JobItem(models.Model):
    """One unit of a job (a prompt to sample, a pair to judge), run as one Celery task.

    ``key`` is unique within the job; a worker claims an item by moving it from
    pending to running, so a duplicated or redelivered task does nothing twice.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="jobitem_unique_key"),
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="jobitem_state_heartbeat")]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.key} ({self.state})"


class LLMCall(models.Model):
    """Provenance of one model call. ``call_key`` (job item, step, run index) makes a
    retried item reuse the call it already made instead of calling the model again."""

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="llm_calls"
    )
    job = models.ForeignKey(
        GenerationJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_calls"
    )
    call_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    backend = models.CharField(max_length=30)
    model = models.CharField(max_length=300)
    model_revision = models.CharField(max_length=100, blank=True)
    template_name = models.CharField(max_length=100, blank=True)
    template_version = models.CharField(max_length=50, blank=True)
    kind = models.CharField(max_length=20, default="generate", help_text="generate or score")
    params = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    prompt_hash = models.CharField(max_length=64)
    prompt_text = models.TextField(blank=True)
    output = models.TextField(blank=True)
    logprobs = models.JSONField(null=True, blank=True)
    n_prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    n_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=30, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="llmcall_project_time")]

    def __str__(self) -> str:
        return f"{self.model} {self.template_name} ({self.latency_ms} ms)"


class PromptTemplate(models.Model):
    """A versioned prompt template; editing makes a new version, every artifact names it."""

    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    text = models.TextField()
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="template_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ExportJob(models.Model):
    State = JobState

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    format = models.CharField(max_length=20)
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    n_rows = models.PositiveIntegerField(default=0)
    n_total = models.PositiveIntegerField(null=True, blank=True)
    files = models.JSONField(default=list, blank=True, help_text="Paths relative to the export dir.")
    dataset_card = models.TextField(blank=True)
    sha256 = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.format} #{self.pk} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES
