"""Admin: platform admins shape the approval chains; decisions are read-only records."""
from django.contrib import admin

from approvals.models import ApprovalDecision, ApprovalRule, ApprovalStage
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
    list_display = ["release", "stage", "user", "approved", "self_approval", "scan_report", "updated_at"]
    list_filter = ["approved", "self_approval", "stage__environment"]
    search_fields = ["release__model_name", "user__username", "comment"]
    list_select_related = ["release__environment", "stage__environment", "user"]
