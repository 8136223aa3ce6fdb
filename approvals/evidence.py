"""The approvals a release attestation names (registered with releases.evidence.statement in apps.py)."""
from datetime import UTC

from approvals.models import ApprovalDecision


def approvals_for(release, report, report_sha256: str) -> list[dict]:
    """Every approval that counted: those bound to the attested report (votes on an earlier report were
    voided by its re-evaluation). Each names who, at which stage, when, and the evidence they saw."""
    decisions = (ApprovalDecision.objects.filter(release=release, scan_report=report, approved=True)
                 .select_related("user", "stage").order_by("stage__order", "updated_at", "id"))
    return [{"user": d.user.get_username(), "stage": d.stage.name, "stage_order": d.stage.order,
             "approved_at": d.updated_at.astimezone(UTC).isoformat(), "comment": d.comment[:2000],
             "self_approval": d.self_approval,
             "saw": {"scan_report": d.scan_report_id, "digest": {"sha256": report_sha256}}}
            for d in decisions]
