"""The auditor screens in Django admin: a release's story on its page, deployment history, exports.

Release's admin (releases/admin.py) is extended here, not there, because the story crosses apps
(approvals, evidence) and dependencies run gateway_project → approvals → releases.
"""
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from gateway_project.audit import deployments, export, story
from releases.admin import ReleaseAdmin
from releases.models import Environment, Release


class ReleaseStoryAdmin(ReleaseAdmin):
    actions = [*ReleaseAdmin.actions, "export_csv", "export_json"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        release = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if release is not None and self.has_view_permission(request, release):
            context["story"] = story.tell(release)
        return super().change_view(request, object_id, form_url, context)

    def _export(self, queryset, export_format: str) -> StreamingHttpResponse:
        _encode, content_type = export.FORMATS[export_format]
        response = StreamingHttpResponse(export.stream(queryset, export_format), content_type=content_type)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="releases-{stamp}.{export_format}"'
        return response

    @admin.action(description="Export selected releases for compliance review (CSV)", permissions=["view"])
    def export_csv(self, request, queryset):
        return self._export(queryset, "csv")

    @admin.action(description="Export selected releases for compliance review (JSON)", permissions=["view"])
    def export_json(self, request, queryset):
        return self._export(queryset, "json")

    def get_urls(self):
        history = path("deployments/", self.admin_site.admin_view(self.deployments_view),
                       name="releases_release_deployments")
        return [history, *super().get_urls()]

    def deployments_view(self, request):
        """What was deployed where at an instant (default now), for one environment or all."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        environments = list(Environment.objects.order_by("order", "name").values_list("name", flat=True))
        wanted = request.GET.get("environment") or None
        raw_at = (request.GET.get("at") or "").strip()
        error, rows, at = "", [], timezone.now()
        if wanted is not None and wanted not in environments:
            error = "No such environment."
        elif raw_at:
            try:
                at = deployments.parse_instant(raw_at)
            except ValueError as exc:
                error = str(exc)
        if not error:
            rows = deployments.deployed_at(at, environment=wanted, limit=deployments.MAX_ROWS)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Deployment history",
                   "environments": environments, "environment": wanted or "", "at": at, "raw_at": raw_at,
                   "rows": rows, "error": error, "limit": deployments.MAX_ROWS,
                   "truncated": len(rows) >= deployments.MAX_ROWS}
        return TemplateResponse(request, "admin/releases/release/deployments.html", context,
                                status=400 if error else 200)


admin.site.unregister(Release)
admin.site.register(Release, ReleaseStoryAdmin)
