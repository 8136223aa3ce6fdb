"""The project's own records: API tokens (gateway_project/tokens.py issues and checks them)."""
from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """An API token, stored as its SHA-256 only: the secret is shown once, when it is made.

    `prefix` (the first characters of the token) finds the row and tells the owner which token
    is which; it is not enough to use it. A token ends at `expires_at`, or when revoked. Revoked
    and expired rows are kept: they say who had access, and until when.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the owner uses it for, e.g. 'ci-nightly'.")
    prefix = models.CharField(max_length=16, unique=True, help_text="The token's first characters, for lookup.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the whole token, hex.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}, {self.user})"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= timezone.now() else "active"
