from django.contrib import admin

from .models import Assignment


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "annotator", "state", "shown_order", "is_gold_check", "leased_at", "lease_expires_at"]
    list_filter = ["state", "is_gold_check", "project"]
    search_fields = ["annotator__name", "skip_reason"]
    list_select_related = ["pair", "annotator"]
    raw_id_fields = ["pair", "annotator", "judgment"]
    show_full_result_count = False
