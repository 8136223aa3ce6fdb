"""Release requests, their environments, fetched files and audit trail."""
from django.conf import settings
from django.db import models

from releases.statuses import Status, Step

SYSTEM_ACTOR = "system"


class Environment(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    order = models.PositiveSmallIntegerField(help_text="Position in the promotion chain.")
    requires_success_in = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A release here needs a SUCCEEDED release of the same model version there first.",
    )
    description = models.CharField(max_length=255, blank=True)
    min_soak_minutes = models.PositiveIntegerField(
        default=0, help_text="How long the predecessor release must have been SUCCEEDED before promotion here.")
    allow_self_approval = models.BooleanField(
        default=False, help_text="Let the requester or the MLflow run's author approve (audited).")
    approval_ttl_hours = models.PositiveIntegerField(
        default=72, help_text="A release waiting for approval longer than this is rejected.")
    mlflow_alias_on_success = models.CharField(
        max_length=255, blank=True, help_text="Set this alias on the model version once released here (e.g. "
        "'production'), so MLflow shows what is deployed. Failing to set it is an event, not a failure.")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    model_name = models.CharField(max_length=256, db_index=True)
    # As requested: "3" for a version, "@champion" for an alias.
    requested_ref = models.CharField(max_length=256)
    model_version = models.CharField(max_length=32, blank=True, help_text="Resolved registry version.")
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_source = models.CharField(max_length=1024, blank=True)
    mlflow_download_uri = models.CharField(max_length=1024, blank=True)
    # The MLflow run's metrics and tags at fetch time: the input of the quality gates.
    mlflow_run_metrics = models.JSONField(default=dict, blank=True)
    mlflow_run_tags = models.JSONField(default=dict, blank=True)
    mlflow_run_author = models.CharField(max_length=256, blank=True, help_text="The MLflow run's user_id.")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="releases")

    # Written only by releases.lifecycle.transition (compare-and-set).
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_message = models.TextField(blank=True)
    failed_step = models.CharField(max_length=16, choices=Step.choices, blank=True)

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="releases")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    image_reference = models.CharField(max_length=512, blank=True)
    image_digest = models.CharField(max_length=71, blank=True)

    # A worker claims the release for one step; a killed worker's claim expires,
    # so the redelivered task can take over (see releases.leases).
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "status"])]
        permissions = [("manage_any_release", "Can cancel or retry any release")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model_name}:{self.requested_ref} → {self.environment_id and self.environment.name}"

    @property
    def model_alias(self) -> str:
        return self.requested_ref[1:] if self.requested_ref.startswith("@") else ""


class ReleaseFile(models.Model):
    """An environment file fetched from MLflow, stored verbatim with its hash."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.TextField()
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["release", "name"], name="release_file_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"


class AppendOnlyError(Exception):
    pass


class ReleaseEvent(models.Model):
    """Append-only audit record of one state change or notable fact.

    `data[STAFF_DETAIL]` holds what an operational failure's user-facing message leaves out (a
    server's address, the library's error text): shown in admin, never in the API.
    """

    STAFF_DETAIL = "staff_detail"

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=32, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=32, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status or '∅'} by {self.actor_name}"

    @property
    def actor_name(self) -> str:
        return self.actor.get_username() if self.actor_id else SYSTEM_ACTOR

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("Release events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Release events are append-only.")


class IdempotencyKey(models.Model):
    """Remembers which release a client's Idempotency-Key created."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
