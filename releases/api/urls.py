from rest_framework.routers import DefaultRouter

from releases.api.views import EnvironmentViewSet, ReleaseViewSet

router = DefaultRouter(trailing_slash=True)
router.register("releases", ReleaseViewSet, basename="release")
router.register("environments", EnvironmentViewSet, basename="environment")

urlpatterns = router.urls
