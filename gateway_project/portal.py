"""The portal's pages: the React app (frontend/) in one login-protected view, its iframe variant, and a
stable URL for the script an IDP page embeds.

Framing is refused everywhere (X-Frame-Options DENY) except the `?embed=1` variant of the portal and of
its login page, which only the origins in PORTAL_EMBED_ORIGINS may frame (CSP frame-ancestors, written
with the rest of the policy by gateway_project/csp.py).
"""
import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django_vite.templatetags.django_vite import vite_asset_url

from gateway_project.csp import allow_framing

ENTRY = "src/main.jsx"


def wants_embed(request) -> bool:
    return request.GET.get("embed") == "1"


@login_required
@ensure_csrf_cookie
def portal(request, route: str = ""):
    """Every portal route (/, /releases/12, /approvals, ...): the app routes on the client."""
    embed = wants_embed(request)
    options = {
        "basePath": "/",
        "embed": embed,
        "pollSeconds": settings.PORTAL_POLL_SECONDS,
        "adminUrl": "/admin/" if request.user.is_staff else "",
    }
    response = render(request, "portal.html", {
        "options": json.dumps(options), "embed": embed, "script": vite_asset_url(ENTRY),
    })
    return allow_framing(response, embed)


@cache_control(max_age=60, public=True)
def embed_script(request):
    """GET /portal.js: a stable address for an IDP page's <script type="module">; it redirects to the
    current hashed bundle, which defines <release-gateway> and exports mount()."""
    return HttpResponseRedirect(vite_asset_url(ENTRY))
