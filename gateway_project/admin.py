"""API tokens in admin: who holds which token, until when, last used when. Never the secret
(only its digest is stored). Revoking is the one action, for those who may change tokens."""
from django.contrib import admin

from gateway_project import tokens, vendor_admin  # noqa: F401 (re-registers third-party admins)
from gateway_project.audit import admin as audit_admin  # noqa: F401 (the release page, history, exports)
from gateway_project.models import ApiToken
from releases.readonly_admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["prefix", "name", "user", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    exclude = ["digest"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            tokens.revoke(token)
        self.message_user(request, f"{queryset.count()} token(s) revoked.")

    def has_change_permission(self, request, obj=None):
        # The action needs "change"; the form stays read-only because every field is read-only.
        return request.user.has_perm("gateway_project.change_apitoken")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ApiToken._meta.fields if f.name != "digest"]
