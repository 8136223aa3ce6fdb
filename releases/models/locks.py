"""A release's dependency lock: resolved once, in the fetch step, and kept as evidence."""
import hashlib

from django.db import models

from releases.locking.verdict import headline
from releases.models.core import AppendOnlyError, AppendOnlyQuerySet

LOCK_APPEND_ONLY = "A dependency lock is evidence: it is written once and never changed."


class LockQuerySet(AppendOnlyQuerySet):
    """Locks are only ever added, like the audit events: no query changes or removes one (nor, on PostgreSQL,
    any SQL: migration 0026's trigger). A changed lock would ship what was not scanned; the build request,
    promotion and attestation also re-check the content against the fetch event (releases.locking.shipping)."""

    refusal = LOCK_APPEND_ONLY

    def bulk_create(self, objs, batch_size=None, **options):
        if options:  # update_conflicts would rewrite a stored lock
            raise AppendOnlyError(f"{LOCK_APPEND_ONLY} bulk_create takes no {', '.join(options)}.")
        objs = list(objs)
        for obj in objs:
            obj.sha256 = obj.digest()
        return super().bulk_create(objs, batch_size=batch_size)


class DependencyLock(models.Model):
    """What `uv pip compile` made of the release's pip requirements (releases.locking), never changed.

    Re-evaluation, rescans and builds read this row; nothing resolves a release's requirements twice."""

    class Outcome(models.TextChoices):
        RESOLVED = "resolved"  # `content` is the lock: every package a pin with its hashes
        UNRESOLVABLE = "unresolvable"  # `message` says why (uv's words, or what was refused before resolving)
        OFF = "off"  # not resolved: the environment's resolve_dependencies was off, or no index is configured

    release = models.OneToOneField("releases.Release", on_delete=models.CASCADE, related_name="dependency_lock")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    content = models.TextField(blank=True, help_text="The lock (requirements.lock.txt), byte for byte as shipped.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the content's UTF-8 bytes.")
    package_count = models.PositiveIntegerField(default=0)
    python_version = models.CharField(max_length=32, blank=True)
    platform = models.CharField(max_length=64, blank=True)
    index_url = models.CharField(max_length=1024, blank=True, help_text="Without credentials.")
    uv_version = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True, help_text="Why there is no lock: the resolver's message, or the refusal.")
    notes = models.JSONField(default=list, blank=True, help_text="e.g. conda packages that are not in the lock.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LockQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"dependency lock of release #{self.release_id}: {self.outcome}"

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            raise AppendOnlyError(LOCK_APPEND_ONLY)
        self.sha256 = self.digest()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(LOCK_APPEND_ONLY)

    def digest(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest() if self.content else ""

    @property
    def resolved(self) -> bool:
        return self.outcome == self.Outcome.RESOLVED

    def summary(self) -> dict:
        """What the report, the decision and the API say about the lock."""
        return {"outcome": self.outcome, "sha256": self.sha256, "packages": self.package_count,
                "python_version": self.python_version, "platform": self.platform, "index_url": self.index_url,
                "uv_version": self.uv_version, "message": self.message, "reason": headline(self.message),
                "notes": list(self.notes)}
