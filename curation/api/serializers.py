"""Input and output shapes of the API. Output serializers read only what the view's
selector loaded (select_related), so no list endpoint queries per row."""
from django.urls import reverse
from rest_framework import serializers

from curation.exports.options import FORMATS as EXPORT_FORMATS
from curation.exports.options import MARGINS, TIERS
from curation.importers import FORMATS as IMPORT_FORMATS
from curation.models import ExportJob, GenerationJob, Judgment, Pair, Project, Prompt, Rubric

# --- output ---------------------------------------------------------------------------


class ProjectOut(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["slug", "name", "description", "mode", "verdict_scale", "aspects", "overlap", "quorum",
                  "rationale_required", "created_at"]


class ProjectDetailOut(ProjectOut):
    role = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()

    class Meta(ProjectOut.Meta):
        fields = ProjectOut.Meta.fields + ["instructions", "role", "counts"]

    def get_role(self, project) -> str:
        return self.context["role"]

    def get_counts(self, project) -> dict:
        return self.context["counts"]


class PromptOut(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = ["id", "text", "messages", "category", "origin", "external_id", "metadata", "created_at"]


class PromptBriefOut(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = ["id", "text", "messages", "category"]


class ResponseOut(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    producer = serializers.CharField()
    n_chars = serializers.IntegerField()


class ResponseBlindOut(serializers.Serializer):
    """What an annotator sees of a response: no producer (it can bias the verdict)."""

    id = serializers.IntegerField()
    text = serializers.CharField()


class PairOut(serializers.ModelSerializer):
    prompt = PromptBriefOut()
    response_a = ResponseOut()
    response_b = ResponseOut()

    class Meta:
        model = Pair
        fields = ["id", "prompt", "response_a", "response_b", "tier", "status", "label_verdict", "label_source",
                  "gold_verdict", "consensus_verdict", "consensus_strength", "routing_score", "ensemble_mu",
                  "ensemble_sigma", "flags", "n_human_judgments", "origin", "external_id", "metadata", "created_at"]


class PairBlindOut(serializers.ModelSerializer):
    """A pair as an annotator may see it: the texts, nothing about labels or AI."""

    prompt = PromptBriefOut()
    response_a = ResponseBlindOut()
    response_b = ResponseBlindOut()

    class Meta:
        model = Pair
        fields = ["id", "prompt", "response_a", "response_b"]


class JudgmentOut(serializers.ModelSerializer):
    kind = serializers.SerializerMethodField()
    annotator = serializers.SerializerMethodField()
    judge = serializers.SerializerMethodField()

    class Meta:
        model = Judgment
        fields = ["id", "pair_id", "kind", "annotator", "judge", "verdict", "strength_known", "rationale", "aspects",
                  "checklist_answers", "shown_order", "mode", "is_revision", "time_spent_ms", "used_assistance",
                  "context", "confidence", "expected_verdict", "position_consistent", "length_rule_applied",
                  "verdict_before_length_rule", "parse_ok", "runs", "flags", "created_at"]

    def get_kind(self, judgment) -> str:
        return "human" if judgment.is_human else "ai"

    def get_annotator(self, judgment) -> str | None:
        return judgment.annotator.name if judgment.annotator_id else None

    def get_judge(self, judgment) -> str | None:
        return judgment.judge_config.name if judgment.judge_config_id else None


class RubricOut(serializers.ModelSerializer):
    class Meta:
        model = Rubric
        fields = ["id", "prompt_id", "kind", "version", "parent_id", "items", "text", "task_type", "origin",
                  "created_at"]


class JobOut(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = ["id", "method", "params", "state", "n_items", "n_done", "n_failed", "rows_created", "error",
                  "created_by", "created_at", "started_at", "finished_at"]

    def get_created_by(self, job) -> str | None:
        return job.created_by.get_username() if job.created_by_id else None


class ExportOut(serializers.ModelSerializer):
    files = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ["id", "format", "options", "state", "n_rows", "n_total", "files", "sha256", "error", "created_by",
                  "created_at", "finished_at"]

    def get_files(self, job) -> list[dict]:
        names = [path.rsplit("/", 1)[-1] for path in job.files]
        base = reverse("api:export_download", args=[self.context["project"].slug, job.pk])
        return [{"name": name, "download": f"{base}?file={name}"} for name in names]

    def get_created_by(self, job) -> str | None:
        return job.created_by.get_username() if job.created_by_id else None


class ExportDetailOut(ExportOut):
    class Meta(ExportOut.Meta):
        fields = ExportOut.Meta.fields + ["dataset_card"]


# --- input ----------------------------------------------------------------------------


MAX_ID = 2**63 - 1  # ids are 64-bit; a larger number is an input error, not a server error


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class PairFilters(serializers.Serializer):
    tier = serializers.ChoiceField(choices=Pair.Tier.values, required=False)
    status = serializers.ChoiceField(choices=Pair.Status.values, required=False)
    has_gold = serializers.BooleanField(required=False, allow_null=True, default=None,
                                        help_text="only pairs with (true) or without (false) a gold verdict")
    routed = serializers.BooleanField(required=False, allow_null=True, default=None,
                                      help_text="only pairs routed to humans (true) or not (false)")
    category = serializers.CharField(required=False, max_length=100)


class PromptFilters(serializers.Serializer):
    category = serializers.CharField(required=False, max_length=100)
    origin = serializers.CharField(required=False, max_length=50)


class JudgmentFilters(serializers.Serializer):
    pair = id_field(required=False)
    kind = serializers.ChoiceField(choices=["human", "ai"], required=False)
    annotator = serializers.CharField(required=False, max_length=150)
    judge = serializers.CharField(required=False, max_length=100)
    since = serializers.DateTimeField(required=False, help_text="created at or after")


class RubricFilters(serializers.Serializer):
    prompt = id_field(required=False)
    kind = serializers.ChoiceField(choices=Rubric.Kind.values, required=False)


class JobFilters(serializers.Serializer):
    state = serializers.ChoiceField(choices=GenerationJob.State.values, required=False)
    method = serializers.CharField(required=False, max_length=40)


class JudgmentIn(serializers.Serializer):
    """A human judgment from an external tool; validated and recorded by the same
    service as the review page (scale, rationale, one per annotator, overlap)."""

    pair = id_field()
    verdict = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, help_text="stored orientation: -2 A much better … +2 B much better")
    shown_order = serializers.ChoiceField(choices=["ab", "ba"], required=False, default="",
                                          help_text="which side was shown on the left")
    mode = serializers.ChoiceField(choices=["blind", "reveal_after", "assisted"], required=False,
                                   help_text="default: the project's mode")
    rationale = serializers.CharField(required=False, default="", allow_blank=True, max_length=20_000)
    aspects = serializers.DictField(child=serializers.IntegerField(), required=False, default=dict)
    checklist_answers = serializers.DictField(child=serializers.BooleanField(), required=False, default=dict)
    time_spent_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=86_400_000)
    used_assistance = serializers.BooleanField(required=False, default=False)
    context = serializers.CharField(required=False, default="", allow_blank=True, max_length=2_000)


class JobIn(serializers.Serializer):
    method = serializers.CharField(max_length=40, help_text="a run_job --method value (sample, judge, …)")
    params = serializers.DictField(required=False, default=dict)


class ExportIn(serializers.Serializer):
    """Export options (docs/export.md); omitted options take the format's default."""

    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="trl")
    min_tier = serializers.ChoiceField(choices=TIERS, required=False, allow_null=True)
    keep_ties = serializers.BooleanField(required=False, allow_null=True, default=None)
    keep_flagged = serializers.BooleanField(required=False, allow_null=True, default=None)
    min_agreement = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    min_strength = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    judges = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    annotators = serializers.ListField(child=serializers.CharField(max_length=150), required=False, default=list)
    origins = serializers.ListField(child=serializers.CharField(max_length=50), required=False, default=list)
    since = serializers.DateField(required=False, allow_null=True)
    until = serializers.DateField(required=False, allow_null=True)
    test_fraction = serializers.FloatField(required=False, default=0.0, min_value=0, max_value=0.999)
    seed = serializers.IntegerField(required=False, default=0, min_value=-(2**31), max_value=2**31 - 1)
    parquet = serializers.BooleanField(required=False, default=False)
    strict = serializers.BooleanField(required=False, default=False)
    margin = serializers.ChoiceField(choices=MARGINS, required=False, allow_null=True)
    conversational = serializers.BooleanField(required=False, default=False)
    implicit_prompt = serializers.BooleanField(required=False, default=False)
    with_rationale = serializers.BooleanField(required=False, default=False)
    synthetic_scores = serializers.BooleanField(required=False, default=False)
    include_ai_justifications = serializers.BooleanField(required=False, default=False)
    long = serializers.BooleanField(required=False, default=False)


class ImportIn(serializers.Serializer):
    file = serializers.FileField(help_text="JSON, JSON Lines or CSV; .gz is read as gzip")
    format = serializers.ChoiceField(choices=["auto", *IMPORT_FORMATS], default="auto")
    dry_run = serializers.BooleanField(default=False)


class ImportOut(serializers.Serializer):
    format = serializers.CharField()
    records = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    seconds = serializers.FloatField()
    summary = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()
    field = serializers.CharField(allow_null=True)
