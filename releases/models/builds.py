"""Image builds of approved releases, and the callback deliveries that report on them."""
from django.db import models


class Build(models.Model):
    class State(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Kind(models.TextChoices):
        """What produced the image (releases.builds.promote decides which)."""

        BUILD = "build"  # built by the backend: the first environment of the chain
        PROMOTE = "promote"  # the predecessor's image, copied by digest in the registry, not rebuilt
        REBUILD = "rebuild"  # built again where a promotion was expected, asked for explicitly (audited)

    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="builds")
    backend = models.CharField(max_length=32)
    attempt = models.PositiveSmallIntegerField(default=1)
    external_id = models.CharField(max_length=256, blank=True, help_text="The CI system's id (pipeline, run).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING, db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    log_url = models.URLField(max_length=1024, blank=True)
    image_reference = models.CharField(max_length=512, blank=True)
    image_digest = models.CharField(max_length=71, blank=True)
    error = models.TextField(blank=True)
    # The local builder's sign of life, renewed every LEASE_RENEW_SECONDS while it builds: a build
    # whose heartbeat is older than RELEASE_LEASE_SECONDS was interrupted (releases.jobs).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BUILD)
    # A promotion's source: the SUCCEEDED build (of the predecessor environment's release) whose digest
    # it copied, or, for a refused promotion, the candidate that was refused. Kept: it is the evidence.
    source_build = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The dependency lock this build was asked to install (DependencyLock.sha256; empty: the release has none).
    dependency_lock_sha256 = models.CharField(max_length=64, blank=True)
    # The base image the build started from, by digest (empty: scratch, or a backend that did not say).
    base_image = models.CharField(max_length=512, blank=True)
    # The smoke test of the pushed digest (releases.builds.smoke.SmokeResult); a promotion carries its source's.
    # None: none was run or reported.
    smoke_test = models.JSONField(null=True, blank=True)
    # The image's operating system packages, from its dpkg database: {"distro": "debian-12", "packages":
    # [{"name", "version", "arch"}]} (releases.builds.os_packages), for the SBOM. None: not known.
    os_packages = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["release", "attempt"], name="build_attempt_unique")]

    def __str__(self) -> str:
        return f"build #{self.pk} of release #{self.release_id} ({self.backend}, attempt {self.attempt})"


class CallbackDelivery(models.Model):
    """Delivery ids already processed: a replayed callback is acknowledged and ignored."""

    delivery_id = models.CharField(max_length=128, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)
    build = models.ForeignKey(Build, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
