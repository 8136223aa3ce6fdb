"""The offline OSV advisory database, synced by `manage.py sync_advisories`."""
from django.db import models

from releases.scanning import severity


class Advisory(models.Model):
    id = models.CharField(max_length=128, primary_key=True)
    aliases = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    published = models.DateTimeField(null=True, blank=True)
    modified = models.DateTimeField()
    withdrawn = models.DateTimeField(null=True, blank=True, help_text="Withdrawn advisories are never matched.")
    severity_vectors = models.JSONField(default=list, blank=True)
    cvss_score = models.FloatField(null=True, blank=True, help_text="Highest base score of its CVSS vectors.")
    severity = models.CharField(max_length=8, choices=severity.CHOICES,
                                default=severity.Level.UNKNOWN.value)
    references = models.JSONField(default=list, blank=True)
    synced_by = models.ForeignKey("AdvisorySync", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "gateway_advisory"  # read with plain SQL by releases.scanning.sqlstore
        verbose_name_plural = "advisories"
        ordering = ["-modified"]

    def __str__(self) -> str:
        return self.id


class AdvisoryAlias(models.Model):
    """Every id an advisory is known by (its own id included): links records of one vulnerability."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="alias_rows")
    alias = models.CharField(max_length=128, db_index=True)

    class Meta:
        db_table = "gateway_advisory_alias"
        constraints = [models.UniqueConstraint(fields=["advisory", "alias"], name="advisory_alias_unique")]


class AffectedPackage(models.Model):
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    # Names of one ecosystem never match another's: PyPI's `pyyaml` is not Debian's source package `pyyaml`.
    ecosystem = models.CharField(max_length=32, default="PyPI", help_text='"PyPI", or a Debian release: "Debian:12".')
    name = models.CharField(max_length=256, db_index=True,
                            help_text="PEP 503 normalised PyPI name, or a Debian source package.")
    ranges = models.JSONField(default=list, help_text="ECOSYSTEM ranges: lists of OSV events.")
    versions = models.JSONField(default=list, help_text="Explicitly listed affected versions, as published.")
    # Prepared at sync time so that scans never parse the (often long) versions lists.
    listed_canonical = models.TextField(blank=True, help_text='Listed versions in canonical PEP 440 form, "|1|1.1|" '
                                                          "(Debian: as published).")
    versions_outside_ranges = models.JSONField(default=list, help_text="Listed versions no range covers.")
    fixed_versions = models.JSONField(default=list)

    class Meta:
        db_table = "gateway_affected_package"

    def __str__(self) -> str:
        return f"{self.name} ({self.advisory_id})"


class AdvisorySync(models.Model):
    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    source = models.CharField(max_length=1024)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    files_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    withdrawn = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0, help_text="Stored advisories the source no longer holds.")
    removed_ids = models.JSONField(default=list, blank=True, help_text="The first 20 removed ids.")
    absent_kept = models.PositiveIntegerField(default=0, help_text="Absent advisories kept (see the reason).")
    absent_kept_reason = models.CharField(max_length=300, blank=True)
    errors = models.JSONField(default=list, blank=True, help_text="Up to 200 {file, error} entries.")
    duration_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "gateway_advisory_sync"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"sync #{self.pk} {self.outcome} ({self.source})"

    @property
    def changed(self) -> int:
        return self.created + self.updated
