from rest_framework.routers import DefaultRouter

from releases.api.policy import PolicyEvaluateView, WaiverViewSet
from releases.api.views import EnvironmentViewSet, ReleaseViewSet

router = DefaultRouter(trailing_slash=True)
router.register("releases", ReleaseViewSet, basename="release")
router.register("environments", EnvironmentViewSet, basename="environment")
router.register("waivers", WaiverViewSet, basename="waiver")
router.register("policy/evaluate", PolicyEvaluateView, basename="policy-evaluate")

urlpatterns = router.urls
