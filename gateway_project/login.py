"""The portal's login page, for every user (not only staff), and what a locked-out login sees.

django-axes counts the failures (AUTHENTICATION_BACKENDS, settings AXES_*): after LOGIN_FAILURE_LIMIT
wrong passwords the account, and separately the client address, is locked for LOGIN_LOCKOUT_MINUTES,
on this page and on the admin login alike.
"""
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render

from gateway_project.csp import allow_framing


def _next_is_embed(request) -> bool:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    return parse_qs(urlsplit(nxt).query).get("embed") == ["1"]


def client_address(request) -> str:
    """The address django-axes counts failures against. Behind our TLS proxy (BEHIND_TLS_PROXY) that is
    the last X-Forwarded-For entry, the one the proxy appended: anything before it the client wrote."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.BEHIND_TLS_PROXY and forwarded.strip():
        return forwarded.split(",")[-1].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        # An iframe that lost its session is sent here with next=/?embed=1: it must be able to sign in
        # inside the frame, so this page may be framed exactly when the portal's embed page may.
        return allow_framing(super().dispatch(request, *args, **kwargs), _next_is_embed(request))


def locked_out(request, response=None, credentials=None, *args, **kwargs):
    """AXES_LOCKOUT_CALLABLE: 429 with the login page and a clear message (JSON for API clients)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    if not request.path.startswith(("/login", "/admin/login")):
        from django.http import JsonResponse

        return JsonResponse({"detail": f"Too many failed sign-ins; try again in {minutes} minutes."}, status=429)
    page = render(request, "registration/login.html", {
        "locked_out": True, "cooloff_minutes": minutes, "next": request.POST.get("next", ""),
        "form": None}, status=429)
    page["Retry-After"] = str(minutes * 60)
    return allow_framing(page, _next_is_embed(request))
