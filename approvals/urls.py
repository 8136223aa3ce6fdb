"""Approval routes, mounted under /api/ by gateway_project/urls.py."""
from django.urls import path

from approvals.views import ApprovalStateView, DecisionView, PendingApprovalsView, RejectionView

urlpatterns = [
    path("releases/<int:pk>/approvals/", ApprovalStateView.as_view(), name="release-approvals"),
    path("releases/<int:pk>/approve/", DecisionView.as_view(approve=True), name="release-approve"),
    path("releases/<int:pk>/reject/", RejectionView.as_view(), name="release-reject"),
    path("approvals/pending/", PendingApprovalsView.as_view(), name="approvals-pending"),
]
