"""Per-environment release policy (versioned) and waivers."""
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from releases.scanning import rego, severity
from releases.scanning.envparse import normalise_name
from releases.scanning.model_policy import WAIVER_ID, WAIVER_PREFIX

# Who is a security officer: whoever holds this permission (the security-officers group does).
MANAGE_WAIVERS = "releases.manage_waivers"
METRIC_OPERATORS = (">=", ">", "<=", "<", "==")


class Action(models.TextChoices):
    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"


class LockRequirement(models.TextChoices):
    """resolve_dependencies: whether releases need a dependency lock (releases.locking)."""

    OFF = "off"  # nothing is resolved; the declared requirements are scanned as they are
    WARN = "warn"  # resolved; a model that cannot be resolved passes with a warning, scanned as declared
    REQUIRE = "require"  # a model that cannot be resolved is blocked with the resolver's message


class EnvironmentPolicy(models.Model):
    """One version of an environment's policy. Rows are never edited: a change is a new version."""

    environment = models.ForeignKey("releases.Environment", on_delete=models.PROTECT, related_name="policies")
    version = models.PositiveIntegerField()
    block_at = models.CharField(max_length=8, choices=severity.BLOCK_AT_CHOICES, default=severity.Level.CRITICAL.value,
                                help_text="Definite findings at or above this severity block the release.")
    ignore_unfixed = models.BooleanField(default=False, help_text="Findings with no fixed version never block.")
    unknown_counts_as = models.CharField(
        max_length=8, choices=severity.KNOWN_CHOICES, default=severity.Level.CRITICAL.value,
        help_text="The severity a finding of UNKNOWN severity is treated as.")
    possible_findings = models.CharField(max_length=8, choices=Action.choices, default=Action.WARN,
                                         help_text="Findings on unpinned requirements (possible matches).")
    unpinned_requirements = models.CharField(max_length=8, choices=Action.choices, default=Action.WARN,
                                             help_text="Runtime requirements that admit more than one version.")
    unpinned_build_dependencies = models.CharField(
        max_length=8, choices=Action.choices, default=Action.WARN,
        help_text="python_env.yaml build_dependencies that admit more than one version (MLflow writes an unpinned "
                  "`wheel` there). They are scanned either way.")
    direct_references = models.CharField(max_length=8, choices=[(Action.ALLOW, "allow"), (Action.BLOCK, "block")],
                                         default=Action.BLOCK, help_text="URL, VCS and local-path requirements, "
                                         "and package source options (--index-url, --extra-index-url, "
                                         "--find-links, --trusted-host).")
    resolve_dependencies = models.CharField(
        max_length=8, choices=LockRequirement.choices, default=LockRequirement.WARN,
        help_text="Resolve the pip requirements into a hashed lock (fetch step), scan every locked package and "
                  "build from the lock. require: a model that cannot be resolved is blocked; warn: it passes with a "
                  "warning and its declared requirements are scanned; off: nothing is resolved.")
    # Model files (releases.artifact_scan): what a file's imports and calls do to the release. Code that runs on
    # load and files that cannot be read are never allowed silently: at least a warning.
    model_file_dangerous = models.CharField(
        max_length=8, choices=[(Action.WARN, "warn"), (Action.BLOCK, "block")], default=Action.BLOCK,
        help_text="Model files whose loading would run dangerous code (os.system, eval, subprocess…).")
    model_file_unreadable = models.CharField(
        max_length=8, choices=[(Action.WARN, "warn"), (Action.BLOCK, "block")], default=Action.BLOCK,
        help_text="Model files the scanner could not read completely (truncated, over a limit, malformed).")
    model_file_unknown = models.CharField(
        max_length=8, choices=Action.choices, default=Action.BLOCK,
        help_text="Imports in model files that are not on the allowlist for the model's flavor: code that runs on "
                  "load and is not known to be safe. Blocked unless relaxed here (staging, for example).")
    require_smoke_test = models.BooleanField(
        default=False, help_text="A build must report a passed smoke test of its pushed digest (the image started, "
        "/ping and a prediction answered) before the release can succeed. The local backend always runs one; a "
        "remote backend reports it in its callback.")
    metric_gates = models.JSONField(default=list, blank=True,
                                    help_text='e.g. [{"metric": "accuracy", "op": ">=", "value": 0.9}]')
    required_tags = models.JSONField(default=list, blank=True, help_text='e.g. ["git_sha"]')
    rego_policy = models.TextField(
        blank=True, help_text="Optional policy as code (Rego v1, package `gateway`): `allow` decides, `deny` gives "
        "the reasons. Its input: release, findings, gates, waivers and the built-in decision.")
    comment = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment__order", "-version"]
        constraints = [models.UniqueConstraint(fields=["environment", "version"], name="policy_version_unique")]
        verbose_name_plural = "environment policies"

    def __str__(self) -> str:
        return f"{self.environment.name} policy v{self.version}"

    def save(self, *args, **kwargs):
        """Never an update: every save adds the environment's next version (admin, scripts and data
        migrations alike), so the version a past decision names still says what it decided under."""
        with transaction.atomic():
            latest = (EnvironmentPolicy.objects.select_for_update().filter(environment_id=self.environment_id)
                      .order_by("-version").values_list("version", flat=True).first())
            self.pk, self._state.adding, self.version = None, True, (latest or 0) + 1
            kwargs.pop("force_update", None)
            super().save(*args, **{**kwargs, "force_insert": True})

    def clean(self):
        errors = {}
        if not isinstance(self.metric_gates, list):
            errors["metric_gates"] = "Must be a list."
        else:
            for gate in self.metric_gates:
                if (not isinstance(gate, dict) or not isinstance(gate.get("metric"), str) or not gate["metric"]
                        or gate.get("op") not in METRIC_OPERATORS
                        or not isinstance(gate.get("value"), (int, float)) or isinstance(gate.get("value"), bool)):
                    errors["metric_gates"] = (f"Each gate is {{\"metric\": name, \"op\": one of "
                                              f"{', '.join(METRIC_OPERATORS)}, \"value\": number}}; got {gate!r}.")
                    break
        if not isinstance(self.required_tags, list) or not all(isinstance(t, str) and t for t in self.required_tags):
            errors["required_tags"] = "Must be a list of tag names."
        if self.rego_policy.strip() and "rego_policy" not in errors:
            problem = rego.validate(self.rego_policy)
            if problem:
                errors["rego_policy"] = problem
        if errors:
            raise ValidationError(errors)

    @classmethod
    def current_for(cls, environment_id: int) -> "EnvironmentPolicy | None":
        return cls.objects.filter(environment_id=environment_id).order_by("-version").first()


class WaiverQuerySet(models.QuerySet):
    def active(self, at=None):
        at = at or timezone.now()
        return self.filter(approved_at__isnull=False, revoked_at__isnull=True, expires_at__gt=at)


class WaiverChangeRefused(ValidationError):
    pass


class Waiver(models.Model):
    """An exception for one advisory, approved by a security officer, until it expires.

    What a waiver covers and for how long never changes once it exists: a second officer
    approves exactly what the first wrote (four eyes). A change is a new waiver."""

    IMMUTABLE = ("advisory_id", "package", "model_name", "environment_id", "reason", "expires_at")
    ChangeRefused = WaiverChangeRefused

    advisory_id = models.CharField(
        max_length=256, db_index=True, help_text="Advisory id or any alias (CVE-…); or, for one unknown import in a "
        "model file, model-file:<the file's SHA-256>:<module.callable> (nothing wider can be waived).")
    package = models.CharField(max_length=256, blank=True, help_text="Only this package (PEP 503 name).")
    model_name = models.CharField(max_length=256, blank=True, help_text="Only releases of this model.")
    environment = models.ForeignKey("releases.Environment", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="waivers", help_text="Only this environment.")
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = WaiverQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_waivers", "Can create, approve and revoke waivers (security officers)")]

    def __str__(self) -> str:
        return f"waiver #{self.pk} {self.advisory_id}"

    def save(self, *args, **kwargs):
        # Normalised here, so admin, API and scripts store the name the scanner matches on.
        self.advisory_id = (self.advisory_id or "").strip()
        self.package = normalise_name(self.package.strip()) if self.package and self.package.strip() else ""
        self.model_name = (self.model_name or "").strip()
        if not self._state.adding and self.pk is not None:
            stored = Waiver.objects.filter(pk=self.pk).values(*self.IMMUTABLE).first()
            changed = [f for f in self.IMMUTABLE if stored is not None and stored[f] != getattr(self, f)]
            if changed:
                raise WaiverChangeRefused(
                    f"Waiver #{self.pk}: {', '.join(f.removesuffix('_id') for f in changed)} cannot change once the "
                    "waiver exists; create a new waiver, which needs its own second approval.")
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        problem = model_file_waiver_problem((self.advisory_id or "").strip(), self.package)
        if problem:
            raise ValidationError({"advisory_id": problem})

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if not self.approved_at:
            return "pending"
        return "expired" if self.expires_at <= timezone.now() else "active"


def model_file_waiver_problem(advisory_id: str, package: str = "") -> str:
    """Why a model-file waiver id is refused ("" when it is fine, or is an ordinary advisory id)."""
    if not advisory_id.startswith(WAIVER_PREFIX):
        return ""
    if not WAIVER_ID.fullmatch(advisory_id):
        return ("A model-file waiver is model-file:<the file's SHA-256, 64 lowercase hex>:<module.callable>, "
                "exactly as the report names them.")
    if package:
        return "A model-file waiver names no package."
    return ""
