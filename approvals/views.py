"""Approval endpoints: the state of a release's chain, approve/reject, and what awaits the caller.

Routes: approvals/urls.py (under /api/, beside the releases API they extend).
"""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import services
from approvals.engine import approval_state, approval_states, group_ids, refusal
from releases.api.pagination import PAGE_PARAMETERS
from releases.models import Release
from releases.statuses import Status


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RejectionSchema(serializers.Serializer):
    """What the schema says of a rejection's body. Only documents services.decide's rule (a
    rejection needs a comment that is not just blanks); the rule itself is enforced there."""

    comment = serializers.RegexField(r"\S", max_length=2000, help_text="Why: required for a rejection.")


def _release(pk: int) -> Release:
    return get_object_or_404(Release.objects.select_related("environment", "requested_by"), pk=pk)


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


class ApprovalStateView(APIView):
    """GET /api/releases/{id}/approvals/: stages and rules, who decided what, what is still needed,
    and whether the caller may decide."""

    @extend_schema(responses={200: None, 404: None})
    def get(self, request, pk: int):
        return Response(state_body(_release(pk), request.user))


class DecisionView(APIView):
    """POST /api/releases/{id}/approve/ or .../reject/ (a rejection needs a comment)."""

    approve = True

    @extend_schema(request=DecisionSerializer, responses={200: None, 400: None, 403: None, 404: None, 409: None})
    def post(self, request, pk: int):
        return self.decide(request, pk)

    def decide(self, request, pk: int):
        release = _release(pk)
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.decide(release.pk, request.user, self.approve, body.validated_data["comment"])
        except services.CommentRequired as exc:
            raise ValidationError({"comment": [str(exc)]}) from None
        except services.DecisionRefused as exc:
            raise PermissionDenied(str(exc)) from None
        except services.NotAwaitingApproval as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(state_body(_release(pk), request.user))


class RejectionView(DecisionView):
    """POST /api/releases/{id}/reject/: a decision whose comment is required (documented as such)."""

    approve = False

    @extend_schema(request=RejectionSchema, responses={200: None, 400: None, 403: None, 404: None, 409: None})
    def post(self, request, pk: int):
        return self.decide(request, pk)


class PendingApprovalsView(GenericAPIView):
    """GET /api/approvals/pending/: releases the caller can decide on now, longest waiting first.

    Paginated; the query count does not grow with the number of waiting releases."""

    @extend_schema(responses={200: None}, parameters=[
        *PAGE_PARAMETERS])
    def get(self, request):
        mine = group_ids(request.user)
        waiting = list(Release.objects.filter(status=Status.AWAITING_APPROVAL,
                                              environment__approval_stages__rules__group__in=mine)
                       .distinct().select_related("environment", "requested_by").order_by("updated_at", "id"))
        states = approval_states(waiting)
        decidable = [r for r in waiting if refusal(r, states[r.pk], request.user, mine) is None]
        page = self.paginate_queryset(decidable)
        return self.get_paginated_response([{
            "id": r.pk, "model_name": r.model_name, "model_version": r.model_version,
            "environment": r.environment.name, "requested_by": r.requested_by.get_username(),
            "stage": states[r.pk].open_stage.stage.name, "waiting_since": r.updated_at} for r in page])
