"""Scan a release's stored files and decide under today's policy; store the report and move the release.

One sequence for the scan step and for re-evaluation after advisories or waivers change,
so a release is judged the same way whichever path judged it.
"""
from dataclasses import dataclass

from django.db import transaction

from releases.lifecycle import transition
from releases.locking.service import lock_for_release
from releases.models import Build, EnvironmentPolicy, ModelFile, Release, ReleaseFile, ScanReport
from releases.policies import decide_for_release
from releases.scanning import model_policy
from releases.scanning.os_inventory import configured_base_image
from releases.scanning.policy import PolicyDecision
from releases.scanning.reports import store_report
from releases.scanning.runner import run_scan
from releases.scanning.scanner import ScanResult

BLOCKING_IN_EVENT = 50  # the event names the first blocking findings; the report has them all


@dataclass
class Evaluation:
    result: ScanResult
    decision: PolicyDecision
    policy: EnvironmentPolicy | None


def evaluate(release: Release) -> Evaluation:
    """Raises EmptyAdvisoryDatabase, TrivyError, BaseImageUnavailable (scanner) or RegoFailure (policy):
    operational failures."""
    files = dict(ReleaseFile.objects.filter(release_id=release.pk).values_list("name", "content"))
    # the lock made at fetch time: never resolved again
    result = run_scan(files, lock_for_release(release), base_image=base_image_for(release))
    decision, policy = decide_for_release(result, release, model_files=stored_model_files(release))
    return Evaluation(result, decision, policy)


def base_image_for(release: Release) -> str:
    """The base whose OS packages a release is judged with: the one its image was built on, once it has one
    (a re-evaluation judges what ships); before that, the configured base it will be built on ("" for a
    files-only image: no OS packages)."""
    built = (Build.objects.filter(release_id=release.pk, state=Build.State.SUCCEEDED).exclude(base_image="")
             .order_by("-pk").values_list("base_image", flat=True).first())
    return built or configured_base_image()


def stored_model_files(release: Release) -> list[dict]:
    """The release's scanned model files as the decision reads them; findings loaded only where they can
    count (a clean or expected file has no dangerous, unreadable or unknown finding)."""
    rows = list(ModelFile.objects.filter(release_id=release.pk).values("path", "sha256", "verdict", "findings_omitted"))
    findings = dict(ModelFile.objects.filter(release_id=release.pk, verdict__in=list(model_policy.KNOBS))
                    .values_list("path", "findings"))
    return [{**row, "findings": findings.get(row["path"], [])} for row in rows]


def record(release: Release, evaluation: Evaluation, to_status: str, *, data: dict | None = None,
           lease_owner: str | None = None) -> ScanReport:
    """Store the report and move the release in one transaction: on TransitionConflict, neither happens."""
    decision = evaluation.decision
    with transaction.atomic():
        report = store_report(release.pk, evaluation.result, decision, evaluation.policy)
        transition(release, to_status, message=decision.summary[:2000], lease_owner=lease_owner, data={
            "scan_report": report.pk, "policy_version": decision.policy_version,
            "counts": report.counts, "possible_counts": report.possible_counts,
            "blocking": [b["reason"] if "model_file" in b else f"{b['package']} {b.get('advisory_id', b['reason'])}"
                         for b in decision.blocking][:BLOCKING_IN_EVENT],
            "waivers_used": decision.waivers_used, **(data or {})})
    return report
