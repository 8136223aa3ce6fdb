"""Multi-stage approvals: stages and rules per environment, and the decisions people make."""
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator
from django.db import models


class ApprovalStage(models.Model):
    """One stage of an environment's approval chain; it opens once the previous one is satisfied."""

    environment = models.ForeignKey("releases.Environment", on_delete=models.CASCADE, related_name="approval_stages")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["environment__order", "order"]
        constraints = [models.UniqueConstraint(fields=["environment", "order"], name="approval_stage_order_unique")]

    def __str__(self) -> str:
        return f"{self.environment.name} #{self.order} {self.name}"


class ApprovalRule(models.Model):
    """`required_count` approvals from members of `group`; a stage needs all its rules."""

    stage = models.ForeignKey(ApprovalStage, on_delete=models.CASCADE, related_name="rules")
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+")
    required_count = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])

    def __str__(self) -> str:
        return f"{self.required_count} × {self.group.name}"


class ApprovalDecision(models.Model):
    """A person's vote on a release, bound to the scan report they saw (re-evaluation voids it)."""

    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="approval_decisions")
    scan_report = models.ForeignKey("releases.ScanReport", on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey(ApprovalStage, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved = models.BooleanField()
    comment = models.TextField(blank=True)
    self_approval = models.BooleanField(default=False, help_text="The requester or the run's author approved.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        # One person counts once per release (and per evidence they saw).
        constraints = [models.UniqueConstraint(fields=["release", "scan_report", "user"],
                                               name="approval_one_vote_per_person")]

    def __str__(self) -> str:
        return f"{self.user} {'approved' if self.approved else 'rejected'} release #{self.release_id}"
