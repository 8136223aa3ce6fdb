"""The model's own files, as the fetch step downloaded and scanned them (releases/model_files.py).

One row per stored file of the model version (every artifact, environment files included), with
its size and SHA-256 as downloaded: the build checks the bytes it packs against these, and the
attestation names them. `findings` is what releases.artifact_scan found in the file and in the
members of its archives, capped (MAX_FINDINGS); `findings_omitted` says how many were left out.
"""
from django.db import models

MAX_FINDINGS = 200  # per file: the verdict counts them all, the row keeps the first ones
MAX_TEXT = 300  # characters of one finding's name, reason or arguments


class Verdict(models.TextChoices):
    """releases.artifact_scan.vocabulary's verdicts, worst first (spelled out: importing the scanner costs
    every web process 0.35 s, h5py included; tests/test_model_file_scan.py checks they agree)."""

    DANGEROUS = "dangerous"
    UNREADABLE = "unreadable"
    UNKNOWN = "unknown"
    EXPECTED = "expected"
    CLEAN = "clean"


VERDICT_ORDER = tuple(Verdict.values)  # worst first
ANSWER_FINDINGS = 50  # per file in an API answer (the scan report, the dry run): the answer stays bounded


def shown(model_file: dict) -> dict:
    """A file as an API answer shows it: its first ANSWER_FINDINGS findings (worst first) and how many in all."""
    findings = model_file.get("findings") or []
    return {**model_file, "findings": findings[:ANSWER_FINDINGS],
            "findings_count": len(findings) + model_file.get("findings_omitted", 0)}


class ModelFileQuerySet(models.QuerySet):
    def worst_first(self) -> "ModelFileQuerySet":
        rank = models.Case(*(models.When(verdict=v, then=models.Value(i)) for i, v in enumerate(Verdict.values)),
                           default=models.Value(len(Verdict.values)))
        return self.alias(verdict_rank=rank).order_by("verdict_rank", "path")


class ModelFile(models.Model):
    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="model_files")
    path = models.CharField(max_length=1024, help_text="Relative to the model's root in MLflow.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=128, blank=True, help_text="As recognised from the content, not the name.")
    verdict = models.CharField(max_length=16, choices=Verdict.choices, db_index=True)
    findings = models.JSONField(default=list, blank=True,
                                help_text="Imports and calls found (members of archives included), classified.")
    findings_omitted = models.PositiveIntegerField(default=0)
    scanned_at = models.DateTimeField(auto_now_add=True)

    objects = ModelFileQuerySet.as_manager()

    class Meta:
        ordering = ["release", "path"]
        constraints = [models.UniqueConstraint(fields=["release", "path"], name="model_file_unique_path")]

    def __str__(self) -> str:
        return f"{self.path} ({self.verdict}, {self.sha256[:12]})"
