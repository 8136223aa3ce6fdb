from django.urls import path
from rest_framework.routers import DefaultRouter

from releases.api.catalog import ModelDetailView, ModelSearchView
from releases.api.me import MeView
from releases.api.policy import PolicyEvaluateView, WaiverViewSet
from releases.api.views import EnvironmentViewSet, ReleaseViewSet

router = DefaultRouter(trailing_slash=True)
router.register("releases", ReleaseViewSet, basename="release")
router.register("environments", EnvironmentViewSet, basename="environment")
router.register("waivers", WaiverViewSet, basename="waiver")
router.register("policy/evaluate", PolicyEvaluateView, basename="policy-evaluate")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("models/", ModelSearchView.as_view(), name="model-search"),
    path("models/<str:name>/", ModelDetailView.as_view(), name="model-detail"),
    *router.urls,
]
