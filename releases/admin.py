"""Admin: auditors read everything; status changes only through lifecycle actions."""
from django.contrib import admin, messages

from releases import services
from releases.lifecycle import TransitionError
from releases.models import (
    Advisory,
    AdvisorySync,
    AffectedPackage,
    Environment,
    Finding,
    Release,
    ReleaseEvent,
    ReleaseFile,
    ScanReport,
)
from releases.permissions import can_manage


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit records: readable by staff with view permission, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReleaseEventInline(ReadOnlyInline):
    model = ReleaseEvent
    fields = ["created_at", "from_status", "to_status", "actor", "message", "data"]
    readonly_fields = fields


class ReleaseFileInline(ReadOnlyInline):
    model = ReleaseFile
    fields = ["name", "size", "sha256", "fetched_at"]
    readonly_fields = fields


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "requires_success_in", "description"]
    ordering = ["order"]


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["id", "model_name", "requested_ref", "model_version", "environment", "status",
                    "requested_by", "created_at"]
    list_filter = ["status", "environment", "failed_step"]
    search_fields = ["model_name", "mlflow_run_id", "requested_by__username", "image_digest"]
    list_select_related = ["environment", "requested_by"]
    date_hierarchy = "created_at"
    inlines = [ReleaseFileInline, ReleaseEventInline]
    actions = ["cancel_selected"]
    readonly_fields = [f.name for f in Release._meta.fields]

    def has_add_permission(self, request):
        return False  # releases are requested through the API or the portal

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail refers to them

    @admin.action(description="Cancel selected releases")
    def cancel_selected(self, request, queryset):
        done = 0
        for release in queryset:
            if not can_manage(request.user, release):
                self.message_user(request, f"#{release.pk}: not allowed.", messages.ERROR)
                continue
            try:
                services.cancel_release(release, request.user, "cancelled from admin")
                done += 1
            except TransitionError as exc:
                self.message_user(request, f"#{release.pk}: {exc}", messages.WARNING)
        self.message_user(request, f"Cancelled {done} release(s).")


@admin.register(ReleaseEvent)
class ReleaseEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "release", "from_status", "to_status", "actor_name", "message"]
    list_filter = ["to_status"]
    search_fields = ["release__model_name", "message", "actor__username"]
    list_select_related = ["release__environment", "actor"]
    readonly_fields = ["release", "from_status", "to_status", "actor", "message", "data", "created_at"]


class FindingInline(ReadOnlyInline):
    model = Finding
    fields = ["severity", "score", "package", "version", "specifier", "advisory_id", "aliases", "fixed_versions",
              "definite", "source_file", "line"]
    readonly_fields = fields


@admin.register(ScanReport)
class ScanReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "release", "scanner", "passed", "summary", "advisory_sync", "duration_ms", "created_at"]
    list_filter = ["passed", "scanner"]
    search_fields = ["release__model_name", "findings__advisory_id", "findings__package"]
    list_select_related = ["release__environment"]
    inlines = [FindingInline]


class AffectedPackageInline(ReadOnlyInline):
    model = AffectedPackage
    fields = ["name", "ranges", "versions", "fixed_versions"]
    readonly_fields = fields


@admin.register(Advisory)
class AdvisoryAdmin(ReadOnlyAdmin):
    list_display = ["id", "severity", "cvss_score", "summary", "modified", "withdrawn"]
    list_filter = ["severity", ("withdrawn", admin.EmptyFieldListFilter)]
    search_fields = ["id", "aliases", "affected__name"]
    inlines = [AffectedPackageInline]


@admin.register(AdvisorySync)
class AdvisorySyncAdmin(ReadOnlyAdmin):
    list_display = ["id", "source", "outcome", "started_at", "duration_seconds", "files_seen", "created", "updated",
                    "unchanged", "withdrawn", "failed"]
    list_filter = ["outcome"]
