from django.contrib import admin

from .models import (
    Adjudication,
    Annotator,
    AutoAcceptStratum,
    ExportJob,
    GenerationJob,
    JobItem,
    JudgeConfig,
    Judgment,
    LLMCall,
    Membership,
    Pair,
    Project,
    Prompt,
    PromptTemplate,
    Response,
    Rubric,
    Score,
    Skill,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "mode", "overlap", "created_at"]
    list_filter = ["mode", "verdict_scale"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    list_select_related = ["user", "project"]
    autocomplete_fields = ["user", "project"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "project", "category", "origin", "created_at"]
    list_filter = ["origin", "project", "category"]
    search_fields = ["text", "external_id", "content_hash"]
    list_select_related = ["project"]
    raw_id_fields = ["parent", "generation_job"]
    show_full_result_count = False

    @admin.display(description="text")
    def short_text(self, obj: Prompt) -> str:
        return obj.text[:80]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "producer", "producer_kind", "n_chars", "created_at"]
    list_filter = ["producer_kind", "prompt__project"]
    search_fields = ["text", "producer", "content_hash"]
    list_select_related = ["prompt"]
    raw_id_fields = ["prompt", "parent_response", "llm_call", "generation_job"]
    show_full_result_count = False


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "tier", "status", "label_verdict", "label_source", "n_human_judgments"]
    list_filter = ["tier", "status", "label_source", "origin", "project"]
    search_fields = ["external_id", "content_hash", "prompt__text"]
    list_select_related = ["project", "prompt"]
    raw_id_fields = ["prompt", "response_a", "response_b", "generation_job"]
    show_full_result_count = False


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "kind", "version", "origin", "created_at"]
    list_filter = ["kind", "origin", "project"]
    search_fields = ["text", "prompt__text"]
    list_select_related = ["project", "prompt"]
    raw_id_fields = ["prompt", "parent", "judge_config", "llm_call", "created_by"]


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "source", "created_at"]
    list_filter = ["source", "project"]
    search_fields = ["name", "definition"]
    list_select_related = ["project"]
    raw_id_fields = ["source_prompts"]


@admin.register(Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(JudgeConfig)
class JudgeConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "method", "backend", "model", "template_version", "is_active"]
    list_filter = ["kind", "method", "backend", "is_active", "project"]
    search_fields = ["name", "model"]
    list_select_related = ["project"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "annotator", "judge_config", "verdict", "confidence", "parse_ok", "mode", "created_at"]
    list_filter = ["is_human", "parse_ok", "mode", "length_rule_applied", "position_consistent", "project"]
    search_fields = ["rationale", "annotator__name", "judge_config__name"]
    list_select_related = ["pair", "annotator", "judge_config"]
    raw_id_fields = ["pair", "annotator", "judge_config", "rubric", "revises", "llm_calls", "generation_job"]
    show_full_result_count = False


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["id", "response", "judge_config", "aspect", "value", "parse_ok"]
    list_filter = ["aspect", "parse_ok", "project"]
    search_fields = ["rationale", "aspect"]
    list_select_related = ["response", "judge_config"]
    raw_id_fields = ["response", "judge_config", "llm_call"]
    show_full_result_count = False


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "reviewer", "verdict", "source", "created_at"]
    list_filter = ["source", "project"]
    search_fields = ["note", "source_detail", "reviewer__username"]
    list_select_related = ["pair", "reviewer"]
    raw_id_fields = ["pair", "reviewer"]


@admin.register(AutoAcceptStratum)
class AutoAcceptStratumAdmin(admin.ModelAdmin):
    list_display = ["judge_config", "category", "project", "n", "agreement", "ci_low", "active", "decided_at"]
    list_filter = ["active", "project"]
    search_fields = ["category", "judge_config__name"]
    list_select_related = ["judge_config", "project"]


class JobItemInline(admin.TabularInline):
    model = JobItem
    extra = 0
    fields = ["key", "state", "attempts", "error", "worker", "finished_at"]
    readonly_fields = fields
    show_change_link = True
    max_num = 0


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "method", "state", "n_items", "n_done", "n_failed", "created_by", "created_at"]
    list_filter = ["state", "method", "project"]
    search_fields = ["method", "error"]
    list_select_related = ["project", "created_by"]
    raw_id_fields = ["created_by"]


@admin.register(JobItem)
class JobItemAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "key", "state", "attempts", "worker", "finished_at"]
    list_filter = ["state"]
    search_fields = ["key", "error"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]
    show_full_result_count = False


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ["id", "backend", "model", "template_name", "template_version", "n_output_tokens", "latency_ms", "short_error", "created_at"]
    list_filter = ["backend", "kind", "template_name", "model"]
    search_fields = ["prompt_hash", "output", "error", "call_key"]
    list_select_related = ["project"]
    raw_id_fields = ["project", "job"]
    show_full_result_count = False

    @admin.display(description="error")
    def short_error(self, obj: LLMCall) -> str:
        return obj.error[:60]


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "created_at"]
    list_filter = ["name"]
    search_fields = ["name", "text"]


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "format", "state", "n_rows", "created_by", "created_at"]
    list_filter = ["state", "format", "project"]
    search_fields = ["format", "error"]
    list_select_related = ["project", "created_by"]
    raw_id_fields = ["created_by"]


# --- exports (issue 8) ------------------------------------------------------------


def _start_exports(modeladmin, request, projects, options: dict) -> None:
    from django.contrib import messages
    from django.urls import reverse
    from django.utils.html import format_html

    from .permissions import Role, project_role, role_at_least
    from .exports import ExportError
    from .services import export_start

    for project in projects:
        if not role_at_least(project_role(request.user, project), Role.ADMIN):
            modeladmin.message_user(request, f"Not exported: you are not an admin of {project.name}.", messages.ERROR)
            continue
        try:
            job = export_start(project=project, options=options, user=request.user)
        except ExportError as error:
            modeladmin.message_user(request, f"Not exported: {project.name}: {error.message}", messages.ERROR)
            continue
        url = reverse("curation:export_list", args=[project.slug])
        modeladmin.message_user(
            request, format_html('Export #{} of {} started: <a href="{}">follow it on the Exports page</a>.', job.pk, project.name, url),
            messages.SUCCESS,
        )


@admin.action(description="Export training pairs (trl, silver or better, 10% test split)")
def export_trl(modeladmin, request, queryset):
    _start_exports(modeladmin, request, queryset, {"format": "trl", "test_fraction": 0.1})


@admin.action(description="Export everything (concord, for a lossless re-import)")
def export_concord(modeladmin, request, queryset):
    _start_exports(modeladmin, request, queryset, {"format": "concord"})


ProjectAdmin.actions = [*(ProjectAdmin.actions or []), export_trl, export_concord]
