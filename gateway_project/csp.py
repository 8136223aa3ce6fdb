"""Content-Security-Policy on every response: one policy for pages, a closed one for everything else.

Pages (the portal, its login, admin, the API docs) load scripts, styles, images and fonts from this
origin only; nothing inline runs (the API docs use drf-spectacular's split view, whose init script is
a file). `frame-ancestors` is 'none' unless a view allowed framing with `allow_framing` (the portal's
?embed=1 pages, for the origins in PORTAL_EMBED_ORIGINS). JSON and other answers get
`default-src 'none'`: a browser that is tricked into rendering one runs nothing from it.
"""
from django.conf import settings

PAGE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    # Django admin writes a few style="" attributes; no script can be injected through a style.
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
}
OTHER_POLICY = {"default-src": ["'none'"], "base-uri": ["'none'"], "form-action": ["'none'"]}


def allow_framing(response, embed: bool):
    """Let the configured IDP origins frame an embed page; every other page stays unframeable."""
    if embed and settings.PORTAL_EMBED_ORIGINS:
        response.frame_ancestors = ["'self'", *settings.PORTAL_EMBED_ORIGINS]
        response.xframe_options_exempt = True
    return response


def policy_for(response) -> str:
    is_page = response.get("Content-Type", "").startswith("text/html")
    directives = dict(PAGE_POLICY if is_page else OTHER_POLICY)
    directives["frame-ancestors"] = getattr(response, "frame_ancestors", None) or ["'none'"]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["Content-Security-Policy"] = policy_for(response)
        return response
