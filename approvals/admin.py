"""Admin: platform admins shape the approval chains; decisions are read-only records."""
from django.contrib import admin

from approvals.models import ApprovalDecision, ApprovalRule, ApprovalStage
from releases.admin_filters import model_filter, requester_filter, text_filter
from releases.readonly_admin import ReadOnlyAdmin


class ApprovalRuleInline(admin.TabularInline):
    model = ApprovalRule
    extra = 1


@admin.register(ApprovalStage)
class ApprovalStageAdmin(admin.ModelAdmin):
    list_display = ["environment", "order", "name", "rule_summary"]
    list_filter = ["environment"]
    inlines = [ApprovalRuleInline]

    @admin.display(description="rules")
    def rule_summary(self, stage):
        return ", ".join(str(rule) for rule in stage.rules.select_related("group"))


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin):
    list_display = ["release", "stage", "user", "approved", "self_approval", "report_seen", "updated_at"]
    list_filter = ["approved", "self_approval", "stage__environment", "created_at",
                   model_filter("release__model_name"), requester_filter("release__requested_by__username"),
                   text_filter("approver (username)", "approver", "user__username"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["release__model_name", "user__username", "comment"]
    date_hierarchy = "created_at"
    list_select_related = ["release__environment", "stage__environment", "user"]

    @admin.display(description="scan report seen", ordering="scan_report_id")
    def report_seen(self, decision):
        # The id, not the report: loading each row's report (its raw scanner output too) would cost a query a row.
        return f"#{decision.scan_report_id}"
