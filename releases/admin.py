"""Admin: auditors read everything; status changes only through lifecycle actions."""
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from releases import record_admin, services, waivers  # noqa: F401 (record_admin registers builds, findings)
from releases.admin_filters import SeverityFilter, model_filter, requester_filter, text_filter
from releases.lifecycle import TransitionError
from releases.models import (
    Advisory,
    AdvisorySync,
    AffectedPackage,
    Environment,
    EnvironmentPolicy,
    Release,
    ReleaseEvent,
    ReleaseFile,
    ScanReport,
    Waiver,
)
from releases.permissions import MANAGE_ANY, REQUEST, can_manage
from releases.readonly_admin import ReadOnlyAdmin, ReadOnlyInline


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
    list_filter = ["status", "environment", "failed_step", "created_at", model_filter(), requester_filter(),
                   SeverityFilter]
    search_fields = ["model_name", "mlflow_run_id", "requested_by__username", "image_digest"]
    list_select_related = ["environment", "requested_by"]
    date_hierarchy = "created_at"
    # The events are not an inline: a release can have thousands. Its page shows the newest ones
    # (gateway_project/audit/admin.py) and links to the event list filtered by release.
    inlines = [ReleaseFileInline]
    actions = ["cancel_selected"]
    readonly_fields = [f.name for f in Release._meta.fields]

    def has_add_permission(self, request):
        return False  # releases are requested through the API or the portal

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail refers to them

    def has_cancel_permission(self, request):
        # Offered to those who may cancel some release (their own, or any); each release is checked again below.
        return request.user.has_perm(REQUEST) or request.user.has_perm(MANAGE_ANY)

    @admin.action(description="Cancel selected releases", permissions=["cancel"])
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
    list_display = ["created_at", "release", "sequence", "from_status", "to_status", "actor_name", "message",
                    "chain_hash"]
    list_filter = ["to_status", "release__environment", "created_at", model_filter("release__model_name"),
                   text_filter("actor (username)", "actor", "actor__username"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["release__model_name", "message", "actor__username"]
    date_hierarchy = "created_at"
    list_select_related = ["release__environment", "actor"]
    readonly_fields = ["release", "sequence", "from_status", "to_status", "actor", "actor_username", "message", "data",
                       "created_at", "chain_hash"]  # the chain (releases.audit_chain), shown, never edited


@admin.register(ScanReport)
class ScanReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "release", "scanner", "passed", "summary", "advisory_sync", "duration_ms", "created_at"]
    list_filter = ["passed", "scanner", "release__environment", "created_at", SeverityFilter,
                   model_filter("release__model_name"), requester_filter("release__requested_by__username"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["release__model_name", "findings__advisory_id", "findings__package"]
    list_select_related = ["release__environment", "advisory_sync"]
    date_hierarchy = "created_at"
    # Not an inline of findings: a report can hold thousands. The first ones, and a link to all.
    readonly_fields = ["most_severe_findings"]

    def get_queryset(self, request):
        # A row of the list needs none of the large columns (an external scanner's raw report can be 20 MiB).
        return super().get_queryset(request).defer("raw_output", "dependencies", "issues", "decision")

    @admin.display(description="findings")
    def most_severe_findings(self, report):
        return record_admin.findings_summary(report)


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
                    "unchanged", "withdrawn", "failed", "removed"]
    list_filter = ["outcome"]


@admin.register(EnvironmentPolicy)
class EnvironmentPolicyAdmin(admin.ModelAdmin):
    """Saving never edits a policy: it adds the next version, so every decision's version stays readable."""

    list_display = ["environment", "version", "block_at", "unknown_counts_as", "ignore_unfixed", "possible_findings",
                    "unpinned_requirements", "unpinned_build_dependencies", "direct_references", "resolve_dependencies",
                    "model_file_dangerous", "model_file_unreadable", "model_file_unknown", "require_smoke_test",
                    "created_by", "created_at"]
    list_filter = ["environment"]
    readonly_fields = ["version", "created_by", "created_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # decisions refer to their version

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        obj.save()  # EnvironmentPolicy.save adds the next version


@admin.register(Waiver)
class WaiverAdmin(admin.ModelAdmin):
    list_display = ["id", "advisory_id", "package", "model_name", "environment", "state", "expires_at", "created_by",
                    "approved_by"]
    list_filter = ["environment", "created_at", "expires_at", model_filter()]
    search_fields = ["advisory_id", "package", "model_name", "reason"]
    list_select_related = ["environment", "created_by", "approved_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_by", "created_at", "approved_by", "approved_at", "revoked_at"]
    actions = ["approve_selected", "revoke_selected"]

    def has_add_permission(self, request):
        return waivers.is_security_officer(request.user)

    def has_change_permission(self, request, obj=None):
        # A waiver never changes once it exists (Waiver.save refuses): the list and its approve and
        # revoke actions stay, the form of an existing waiver is read-only.
        return waivers.is_security_officer(request.user) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: decisions name the waivers they used

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if obj.expires_at and obj.expires_at > waivers.max_expiry():
            raise PermissionError("expiry beyond WAIVER_MAX_DAYS")  # the form's clean() stops this first
        obj.save()

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class BoundedExpiry(form):
            def clean_expires_at(self):
                value = self.cleaned_data["expires_at"]
                if value <= timezone.now() or value > waivers.max_expiry():
                    raise ValidationError(f"Between now and {settings.WAIVER_MAX_DAYS} days from now.")
                return value

        return BoundedExpiry

    def _each(self, request, queryset, func, verb):
        for waiver in queryset:
            try:
                func(waiver, request.user)
                self.message_user(request, f"Waiver #{waiver.pk} {verb}.")
            except (waivers.WaiverRefused, waivers.WaiverConflict) as exc:
                self.message_user(request, f"#{waiver.pk}: {exc}", messages.ERROR)

    def has_decide_permission(self, request):
        return waivers.is_security_officer(request.user)

    @admin.action(description="Approve selected waivers", permissions=["decide"])
    def approve_selected(self, request, queryset):
        self._each(request, queryset, waivers.approve, "approved")

    @admin.action(description="Revoke selected waivers", permissions=["decide"])
    def revoke_selected(self, request, queryset):
        self._each(request, queryset, waivers.revoke, "revoked")
