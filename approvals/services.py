"""Approve or reject a release: one decision at a time per release (row lock), exactly one transition."""
from django.db import transaction

from approvals.engine import approval_state, is_self, refusal
from approvals.models import ApprovalDecision
from releases.lifecycle import record_event, transition
from releases.models import Release
from releases.statuses import Status


class DecisionRefused(Exception):
    """The caller may not decide (HTTP 403)."""


class NotAwaitingApproval(Exception):
    """The release is not waiting for approval (HTTP 409)."""


class CommentRequired(Exception):
    """A rejection needs a comment (HTTP 400)."""


def decide(release_id: int, user, approve: bool, comment: str = "") -> Release:
    comment = (comment or "").strip()
    if not approve and not comment:
        raise CommentRequired("A rejection needs a comment saying why.")
    with transaction.atomic():
        # The lock makes concurrent decisions on one release take turns: no double count,
        # and the move to APPROVED happens once.
        release = Release.objects.select_for_update().select_related("environment").get(pk=release_id)
        if release.status != Status.AWAITING_APPROVAL:
            raise NotAwaitingApproval(f"Release {release.pk} is {release.status}, not awaiting approval.")
        state = approval_state(release)
        reason = refusal(release, state, user)
        if reason:
            raise DecisionRefused(reason)
        stage = state.open_stage.stage
        self_approval = is_self(release, user)
        previous = next((d for d in state.decisions if d.user_id == user.pk), None)
        ApprovalDecision.objects.update_or_create(
            release=release, scan_report=state.report, user=user,
            defaults={"stage": stage, "approved": approve, "comment": comment, "self_approval": self_approval})
        verb = "approved" if approve else "rejected"
        changed = f" (changed from {'approve' if previous.approved else 'reject'})" if previous else ""
        record_event(release, f"{user.get_username()} {verb} at stage '{stage.name}'{changed}"
                     + (f": {comment}" if comment else ""), actor=user,
                     data={"stage": stage.name, "approved": approve, "scan_report": state.report.pk,
                           "self_approval": self_approval})
        if not approve:
            return transition(release, Status.REJECTED, actor=user,
                              message=f"Rejected by {user.get_username()} at stage '{stage.name}': {comment}",
                              data={"stage": stage.name})
        if approval_state(release).complete:
            return transition(release, Status.APPROVED, actor=user,
                              message="All approval stages are satisfied: "
                              + ", ".join(s.stage.name for s in state.stages) + ".",
                              data={"scan_report": state.report.pk})
        return Release.objects.select_related("environment", "requested_by").get(pk=release.pk)
