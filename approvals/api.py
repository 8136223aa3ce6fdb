"""Approval endpoints: the state of a release's chain, approve/reject, and what awaits the caller."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from approvals import services
from approvals.engine import approval_state, refusal
from releases.models import Release
from releases.statuses import Status


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


def state_body(release: Release, user) -> dict:
    state = approval_state(release)
    open_stage = state.open_stage
    waiting = release.status == Status.AWAITING_APPROVAL
    why_not = refusal(release, state, user) if waiting else f"The release is {release.status}."
    return {
        "release": release.pk, "status": release.status,
        "scan_report": state.report.pk if state.report else None,
        "stages": [{
            "order": s.stage.order, "name": s.stage.name, "satisfied": s.satisfied,
            "open": open_stage is not None and s.stage.pk == open_stage.stage.pk and waiting,
            "rules": [{"group": name, "required": required, "approvals": filled, "still_needed": required - filled}
                      for _, name, required, filled in s.rules],
            "approved_by": s.approvers,
        } for s in state.stages],
        "decisions": [{"user": d.user.get_username(), "stage": d.stage.name, "approved": d.approved,
                       "comment": d.comment, "self_approval": d.self_approval, "at": d.updated_at}
                      for d in state.decisions],
        "can_decide": why_not is None, "reason": why_not,
    }


def decide(request, release: Release, approve: bool) -> Response:
    body = DecisionSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        services.decide(release.pk, request.user, approve, body.validated_data["comment"])
    except services.CommentRequired as exc:
        raise ValidationError({"comment": [str(exc)]}) from None
    except services.DecisionRefused as exc:
        raise PermissionDenied(str(exc)) from None
    except services.NotAwaitingApproval as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return Response(state_body(Release.objects.select_related("environment").get(pk=release.pk), request.user))


class PendingApprovalsViewSet(viewsets.ViewSet):
    """GET /api/approvals/pending/: releases the caller can decide on now."""

    @extend_schema(responses={200: None})
    def list(self, request):
        waiting = Release.objects.filter(status=Status.AWAITING_APPROVAL).select_related("environment", "requested_by")
        results = []
        for release in waiting.order_by("updated_at")[:500]:
            state = approval_state(release)
            if refusal(release, state, request.user) is None:
                results.append({"id": release.pk, "model_name": release.model_name,
                                "model_version": release.model_version, "environment": release.environment.name,
                                "requested_by": release.requested_by.get_username(),
                                "stage": state.open_stage.stage.name, "waiting_since": release.updated_at})
        return Response({"count": len(results), "results": results})
