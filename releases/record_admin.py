"""Admin lists of builds, findings, model files and release evidence: read-only records, for auditors to filter
and search.

Findings are a list of their own (filtered by report from a release's page) because a report can
hold thousands: a page shows one page of them, never the whole report.
"""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from releases.admin_filters import model_filter, requester_filter, text_filter
from releases.models import Build, DependencyLock, Finding, ModelFile, ReleaseEvidence
from releases.readonly_admin import ReadOnlyAdmin


@admin.register(Build)
class BuildAdmin(ReadOnlyAdmin):
    list_display = ["id", "release", "kind", "source", "backend", "attempt", "state", "image_digest", "started_at",
                    "finished_at"]
    list_filter = ["state", "kind", "backend", "release__environment", "started_at",
                   model_filter("release__model_name"), requester_filter("release__requested_by__username"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["release__model_name", "image_digest", "image_reference", "external_id"]
    list_select_related = ["release__environment"]
    date_hierarchy = "started_at"

    @admin.display(description="promoted from", ordering="source_build_id")
    def source(self, build):
        # The id, not the row: following the foreign key would cost a query a row.
        return f"build #{build.source_build_id}" if build.source_build_id else ""


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["advisory_id", "severity", "definite", "package", "version", "specifier", "role", "report",
                    "source_file", "line", "pulled_in_by"]
    list_filter = ["severity", "definite", "role", text_filter("scan report id", "report", "report_id"),
                   model_filter("report__release__model_name")]
    search_fields = ["advisory_id", "package"]
    # Most severe first, read from the finding_most_severe_first index (see Finding.severity_rank).
    ordering = ["-definite", "severity_rank", "package", "advisory_id", "id"]
    list_select_related = ["report"]
    show_full_result_count = False  # a second COUNT over millions of findings, for a number nobody needs


@admin.register(DependencyLock)
class DependencyLockAdmin(ReadOnlyAdmin):
    """Each release's lock as resolved at fetch time: the file shipped (content) and why there is none."""

    list_display = ["id", "release", "outcome", "package_count", "python_version", "platform", "sha256", "uv_version",
                    "created_at"]
    list_filter = ["outcome", "created_at", model_filter("release__model_name"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["sha256", "release__model_name", "content"]
    list_select_related = ["release__environment"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")


@admin.register(ModelFile)
class ModelFileAdmin(ReadOnlyAdmin):
    """Every file of a release's model as the fetch step downloaded and scanned it: size, SHA-256 (what the
    build checks), format and verdict; its findings name each import and call and what it was classified."""

    list_display = ["path", "verdict", "format", "size", "sha256", "release", "scanned_at"]
    list_filter = ["verdict", "release__environment", "scanned_at", model_filter("release__model_name"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["path", "sha256"]
    list_select_related = ["release__environment"]
    date_hierarchy = "scanned_at"


@admin.register(ReleaseEvidence)
class ReleaseEvidenceAdmin(ReadOnlyAdmin):
    """Each successful build's signed attestation and SBOM, and where the push stands. The release's page
    verifies the attestation; the SBOM (up to MAX_SBOM_BYTES) is served by the API, not put in a form."""

    list_display = ["id", "release", "subject_digest", "key_id", "push_state", "push_mode", "pushed_at", "created_at"]
    list_filter = ["push_state", "push_mode", "created_at", model_filter("release__model_name"),
                   text_filter("release id", "release", "release_id")]
    search_fields = ["subject_digest", "envelope_digest", "sbom_digest", "subject_name"]
    list_select_related = ["release__environment"]
    date_hierarchy = "created_at"
    exclude = ["sbom"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("sbom", "envelope")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ReleaseEvidence._meta.fields if f.name != "sbom"]


SUMMARY_FINDINGS = 20  # on a report's or a release's page; the rest through the link


def findings_url(report_id: int, **filters) -> str:
    query = "&".join(f"{name}={value}" for name, value in {"report": report_id, **filters}.items())
    return f"{reverse('admin:releases_finding_changelist')}?{query}"


def most_severe(report_id: int, limit: int = SUMMARY_FINDINGS) -> list[Finding]:
    return list(Finding.objects.filter(report_id=report_id).order_by(*FindingAdmin.ordering)[:limit])


def findings_summary(report) -> str:
    """The report's most severe findings as a small table, and a link to all of them."""
    if report.pk is None:
        return "-"
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>", (
        (f.severity, "definite" if f.definite else "possible", f.advisory_id, f.package, f.version or f.specifier,
         f.role) for f in most_severe(report.pk)))
    total = Finding.objects.filter(report_id=report.pk).count()
    return format_html('<table><tr><th>severity</th><th></th><th>advisory</th><th>package</th><th>role</th></tr>'
                       '{}</table><p><a href="{}">All {} findings</a></p>', rows, findings_url(report.pk), total)
