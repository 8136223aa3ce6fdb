"""What a release attestation says: the in-toto Statement, read from the record alone.

Its subject is the image (repository and manifest digest). Its predicate (PREDICATE_TYPE) names
every piece of evidence the release was decided on, each by a digest where one exists, so that an
auditor holding the database (or a dump) can re-derive and compare them:
model (name, version, MLflow run, every fetched environment file's SHA-256, and every model file as
scanned and built: path, size, SHA-256 and scan verdict, with the list's digest), scan report (digest of its
canonical form, releases.evidence.canonical), advisory snapshot, policy version and digest,
waivers used, approvals (who, stage, when, and the report they saw), build, SBOM digest,
and the heads of the audit chains of this release and of the releases it was promoted through.

Approvals belong to the approvals app, which depends on releases, never the reverse: it registers
the function that lists them (approvals/apps.py), as it registers its pipeline step.
"""
from collections.abc import Callable
from datetime import UTC, datetime

from releases import audit_chain, model_manifest
from releases.evidence.canonical import POLICY_FORM, SCAN_REPORT_FORM, policy_digest, scan_report_digest
from releases.evidence.dsse import PREDICATE_TYPE, STATEMENT_TYPE
from releases.locking import shipping
from releases.models import Build, ModelFile, Release, ReleaseFile, ScanReport, Waiver
from releases.registry import parse_reference
from releases.statuses import Status

MAX_PREDECESSORS = 10  # environments in a promotion chain (three by default)
TEXT_MAX = 2000  # a waiver's reason or an approver's comment, as signed: the envelope stays bounded
ApprovalSource = Callable[[Release, ScanReport, str], list[dict]]
_approval_sources: list[ApprovalSource] = []


def register_approvals(source: ApprovalSource) -> None:
    """Called once from an AppConfig.ready(); `source(release, report, report_sha256)` lists the approvals
    that count (those bound to `report`), each naming the report it saw by that digest."""
    if source not in _approval_sources:
        _approval_sources.append(source)


def subject_name(image_reference: str) -> str:
    """The repository an image reference names, without tag or digest ("host:port/models/x"). A reference
    without a registry host (a CI system may report one) is named as reported, less its tag and digest."""
    try:
        return parse_reference(image_reference).repo_ref
    except ValueError:
        name = image_reference.split("@", 1)[0]
        head, _, last = name.rpartition("/")
        return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _model(release: Release) -> dict:
    files = ReleaseFile.objects.filter(release=release).order_by("name").values("name", "size", "sha256")
    return {"name": release.model_name, "version": release.model_version, "requested": release.requested_ref,
            "mlflow_run_id": release.mlflow_run_id, "mlflow_source": release.mlflow_source,
            "mlflow_run_author": release.mlflow_run_author,
            "files": [{"name": f["name"], "size": f["size"], "digest": {"sha256": f["sha256"]}} for f in files],
            **_model_files(release)}


def _model_files(release: Release) -> dict:
    """Every model file the scan read and the build checked, and the digest a CI system computes over them."""
    scanned = model_manifest.manifest(release)
    verdicts = dict(ModelFile.objects.filter(release=release).values_list("path", "verdict"))
    return {"model_files": [{"path": f["path"], "size": f["size"], "digest": {"sha256": f["sha256"]},
                             "verdict": verdicts[f["path"]]} for f in scanned],
            "model_files_digest": {"sha256": model_manifest.manifest_digest(scanned)}}


def _scan(report: ScanReport, digest: str) -> dict:
    return {"report": report.pk, "form": SCAN_REPORT_FORM, "digest": {"sha256": digest},
            "scanner": report.scanner, "scanner_version": report.scanner_version, "passed": report.passed,
            "summary": report.summary, "counts": report.counts, "possible_counts": report.possible_counts,
            "scanned_at": _stamp(report.started_at)}


def _advisories(report: ScanReport) -> dict:
    sync = report.advisory_sync
    return {"sync": report.advisory_sync_id, "snapshot_at": _stamp(report.advisory_snapshot_at),
            "source": sync.source if sync else None, "synced_at": _stamp(sync.finished_at) if sync else None}


def _policy(release: Release, report: ScanReport) -> dict:
    policy = report.policy
    return {"environment": release.environment.name, "version": policy.version if policy else None,
            "form": POLICY_FORM, "digest": {"sha256": policy_digest(policy, release.environment.name)}}


def _waivers(report: ScanReport) -> list[dict]:
    used = [int(i) for i in (report.decision or {}).get("waivers_used", [])]
    rows = Waiver.objects.filter(pk__in=used).select_related("created_by", "approved_by", "environment")
    return [{"id": w.pk, "advisory_id": w.advisory_id, "package": w.package, "model_name": w.model_name,
             "environment": w.environment.name if w.environment_id else "", "reason": w.reason[:TEXT_MAX],
             "created_by": w.created_by.get_username(), "approved_by": w.approved_by.get_username()
             if w.approved_by_id else None, "approved_at": _stamp(w.approved_at), "expires_at": _stamp(w.expires_at)}
            for w in rows.order_by("pk")]


def _build(build: Build) -> dict:
    return {"id": build.pk, "backend": build.backend, "attempt": build.attempt, "external_id": build.external_id,
            "log_url": build.log_url, "image_reference": build.image_reference,
            "started_at": _stamp(build.started_at), "finished_at": _stamp(build.finished_at),
            "base_image": _base_image(build.base_image), "smoke_test": _smoke_test(build.smoke_test)}


def _base_image(reference: str) -> dict | None:
    """The base the image was built on, by digest (None: scratch, or a backend that did not say)."""
    name, _, digest = reference.partition("@")
    return {"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}} if digest else None


# What the attestation says of the smoke test: its outcome and evidence, not the server's log.
_SMOKE_ATTESTED = ("passed", "endpoint", "status", "latency_ms", "ready_seconds", "input_sha256", "answer_sha256")


def _smoke_test(result: dict | None) -> dict | None:
    return {key: result[key] for key in _SMOKE_ATTESTED if key in result} if isinstance(result, dict) else None


def _predecessors(release: Release) -> list[int]:
    """The SUCCEEDED releases of this model version in the environments this one was promoted through."""
    found, environment = [], release.environment.requires_success_in
    while environment is not None and len(found) < MAX_PREDECESSORS:
        before = (Release.objects.filter(model_name=release.model_name, model_version=release.model_version,
                                         environment=environment, status=Status.SUCCEEDED)
                  .order_by("-updated_at", "-id").values_list("pk", flat=True).first())
        if before is not None:
            found.append(before)
        environment = environment.requires_success_in
    return found


def _chain_heads(release: Release) -> dict:
    heads = audit_chain.chain_heads([release.pk, *_predecessors(release)])
    return {str(release_id): {"sequence": head["sequence"], "hash": head["hash"]}
            for release_id, head in sorted(heads.items())}


def build_statement(release: Release, build: Build, report: ScanReport | None, sbom_digest: str, key_id: str) -> dict:
    """The Statement for `release`, SUCCEEDED by `build` (read inside the SUCCEEDED transaction).

    A release without a scan report cannot reach a build through the pipeline; one written some
    other way is attested as it is: scan, advisories and policy null, so no policy that asks for a
    passed scan admits it."""
    report_sha256 = scan_report_digest(report.pk) if report is not None else ""
    approvals = ([entry for source in _approval_sources for entry in source(release, report, report_sha256)]
                 if report is not None else [])
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name(build.image_reference),
                     "digest": {"sha256": build.image_digest.removeprefix("sha256:")}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "release": {"id": release.pk, "environment": release.environment.name,
                        "requested_by": release.requested_by.get_username(),
                        "requested_at": _stamp(release.created_at), "succeeded_at": _stamp(release.updated_at)},
            "model": _model(release),
            "scan": _scan(report, report_sha256) if report is not None else None,
            "advisories": _advisories(report) if report is not None else None,
            "policy": _policy(release, report) if report is not None else None,
            "waivers": _waivers(report) if report is not None else [],
            "approvals": approvals,
            "build": _build(build),
            "dependency_lock": shipping.statement_entry(release),
            "sbom": {"mediaType": "application/vnd.cyclonedx+json", "specVersion": "1.6",
                     "digest": {"sha256": sbom_digest.removeprefix("sha256:")}},
            "audit": {"chain_heads": _chain_heads(release)},
            "signer": {"keyid": key_id, "signed_at": datetime.now(UTC).isoformat()},
        },
    }
