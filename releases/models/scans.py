"""Scan reports and their findings."""
from django.db import models

from releases.models.json_lists import JsonListHead, JsonListLength
from releases.scanning import severity

# "The latest report" of a release, everywhere: newest first, the id breaking a tie.
NEWEST_FIRST = ("-created_at", "-id")


class ScanReportQuerySet(models.QuerySet):
    def newest_first(self) -> "ScanReportQuerySet":
        return self.order_by(*NEWEST_FIRST)

    def latest_for(self, release) -> "ScanReport | None":
        """The report a release's decisions and approvals are bound to (None before its first scan)."""
        return self.filter(release=release).newest_first().first()

    def latest_per_release(self) -> "ScanReportQuerySet":
        """Only the newest report of each release (one query, however many releases)."""
        newest = ScanReport.objects.filter(release=models.OuterRef("release")).newest_first().values("pk")[:1]
        return self.filter(pk=models.Subquery(newest))

    def with_list_heads(self, count: int) -> "ScanReportQuerySet":
        """`dependencies` and `issues` not loaded; instead `<name>_head` (at least their first `count`
        items) and `<name>_count`, computed by the database (releases/models/json_lists.py)."""
        return self.defer("dependencies", "issues").annotate(
            dependencies_head=JsonListHead("dependencies", count), dependencies_count=JsonListLength("dependencies"),
            issues_head=JsonListHead("issues", count), issues_count=JsonListLength("issues"))


class ScanReport(models.Model):
    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="scan_reports")
    scanner = models.CharField(max_length=32)
    scanner_version = models.CharField(max_length=64, blank=True)
    advisory_sync = models.ForeignKey("releases.AdvisorySync", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", help_text="The advisory snapshot scanned against.")
    advisory_snapshot_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    counts = models.JSONField(default=dict, help_text="Definite findings by severity.")
    possible_counts = models.JSONField(default=dict, help_text="Possible (unpinned) findings by severity.")
    dependencies = models.JSONField(default=list, help_text="The parsed dependency list.")
    issues = models.JSONField(default=list, help_text="Lines the parser could not use, and scanner notes.")
    passed = models.BooleanField()
    policy = models.ForeignKey("releases.EnvironmentPolicy", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", help_text="The policy version decided under (empty: default).")
    decision = models.JSONField(default=dict, blank=True,
                                help_text="Every reason: blocking, waived, ignored, warnings, gates.")
    summary = models.CharField(max_length=500)
    raw_output = models.JSONField(null=True, blank=True, help_text="An external scanner's report, verbatim.")
    base_image = models.CharField(max_length=512, blank=True, help_text="The base image (by digest) whose OS "
                                  "packages were scanned with the model's; empty: a files-only image, no base.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScanReportQuerySet.as_manager()

    class Meta:
        ordering = list(NEWEST_FIRST)

    def __str__(self) -> str:
        return f"scan #{self.pk} of release #{self.release_id}: {'passed' if self.passed else 'failed'}"


SEVERITY_ORDER = severity.ORDER  # inside Finding, `severity` is the field


class Finding(models.Model):
    report = models.ForeignKey(ScanReport, on_delete=models.CASCADE, related_name="findings")
    package = models.CharField(max_length=256)
    version = models.CharField(max_length=128, blank=True, help_text="Pinned version; empty when unpinned.")
    specifier = models.CharField(max_length=512, blank=True)
    ecosystem = models.CharField(max_length=16, default="pypi")
    advisory_id = models.CharField(max_length=128)
    aliases = models.JSONField(default=list)
    summary = models.TextField(blank=True)
    severity = models.CharField(max_length=8, choices=severity.CHOICES)
    score = models.FloatField(null=True, blank=True)
    fixed_versions = models.JSONField(default=list)
    definite = models.BooleanField(help_text="False: possible, because the requirement is unpinned.")
    source_file = models.CharField(max_length=256)
    line = models.PositiveIntegerField()
    role = models.CharField(max_length=16, default="runtime",
                            help_text="runtime, build (python_env.yaml build_dependencies), constraint (a pin "
                                      "from a -c file: installed at that version whenever anything requires it) "
                                      "or os (a package of the base image).")
    # A package the lock pulled in (releases.locking): the chain from a declared requirement down to the
    # package that requires it, e.g. ["mlflow", "alembic"]; empty for what the model declares itself.
    pulled_in_by = models.JSONField(default=list, blank=True)
    # 0 = CRITICAL … 4 = UNKNOWN (severity.ORDER), computed and stored by the database, so that a page
    # of a report's findings, most severe first, is read from an index instead of sorting the report.
    severity_rank = models.GeneratedField(
        expression=models.Case(*(models.When(severity=level.value, then=models.Value(rank))
                                 for rank, level in enumerate(SEVERITY_ORDER)),
                               default=models.Value(len(SEVERITY_ORDER))),
        output_field=models.PositiveSmallIntegerField(), db_persist=True)

    class Meta:
        ordering = ["-definite", "package", "advisory_id"]
        indexes = [models.Index(fields=["report", "-definite", "severity_rank", "package", "advisory_id", "id"],
                                name="finding_most_severe_first")]

    def __str__(self) -> str:
        return f"{self.package} {self.version or self.specifier}: {self.advisory_id} ({self.severity})"
