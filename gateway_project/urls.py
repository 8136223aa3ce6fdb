from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gateway_project import health
from gateway_project.views import home
from releases.api.builds import BuildCallbackView

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/builds/callback/", BuildCallbackView.as_view(), name="build-callback"),
    path("api/", include("releases.api.urls")),
    path("api/", include("approvals.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
