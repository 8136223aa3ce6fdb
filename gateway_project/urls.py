from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from gateway_project import health, portal
from gateway_project.audit.api import DeploymentsView
from gateway_project.login import LoginView
from gateway_project.token_api import ApiTokenViewSet
from releases.api.builds import BuildCallbackView

tokens_router = SimpleRouter()
tokens_router.register("tokens", ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("", portal.portal, name="home"),
    # Client-side routes of the portal: the same page, the app picks the screen.
    re_path(r"^(?P<route>(?:releases|new|approvals|waivers|dry-run)(?:/[0-9A-Za-z_-]*)?)/?$", portal.portal,
            name="portal"),
    path("portal.js", portal.embed_script, name="portal-script"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("admin/", admin.site.urls),
    path("api/builds/callback/", BuildCallbackView.as_view(), name="build-callback"),
    path("api/", include(tokens_router.urls)),
    path("api/deployments/", DeploymentsView.as_view(), name="deployments"),
    path("api/", include("releases.api.urls")),
    path("api/", include("approvals.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view: its init script is a separate file, so the page runs under script-src 'self'.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

# Every unhandled failure: 503 + Retry-After while the database is unreachable, else a bare 500.
handler500 = "gateway_project.errors.server_error"
handler404 = "gateway_project.errors.not_found"
handler400 = "gateway_project.errors.bad_request"
