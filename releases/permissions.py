"""Who may act on which release (one place for the rule)."""
from django.conf import settings
from django.core.cache import caches
from rest_framework.permissions import BasePermission

MANAGE_ANY = "releases.manage_any_release"


def can_manage(user, release) -> bool:
    """Cancel or retry: the requester, or someone trusted to manage every release."""
    return bool(user and user.is_authenticated and (user.pk == release.requested_by_id or user.has_perm(MANAGE_ANY)))


REQUEST = "releases.add_release"
# Reading releases, scan reports, waivers and approvals. Every role group holds it
# (gateway_project/migrations/0004); a signed-in account in no group does not: a scan report
# is a list of a model's known weaknesses, and a waiver says which ones were accepted, so an
# account that merely exists (SSO) sees none of it until a platform admin gives it a role.
READ = "releases.view_release"


def _remembered(user, perm: str, name: str) -> bool:
    """user.has_perm(perm), remembered for READ_ACCESS_CACHE_SECONDS: it is asked on every API request
    (reading) or every release request, and costs two queries (the user's and the groups' permissions)."""
    if not (user and user.is_authenticated):
        return False
    if not settings.READ_ACCESS_CACHE_SECONDS:
        return user.has_perm(perm)
    key = f"{name}:{user.pk}"
    allowed = caches["requests"].get(key)
    if allowed is None:
        allowed = user.has_perm(perm)
        caches["requests"].set(key, allowed, settings.READ_ACCESS_CACHE_SECONDS)
    return allowed


def can_read(user) -> bool:
    return _remembered(user, READ, "can-read")


def can_request(user) -> bool:
    """Requesting a release: a role taken away stops requesting within READ_ACCESS_CACHE_SECONDS too."""
    return _remembered(user, REQUEST, "can-request")


class CanReadGateway(BasePermission):
    """The default for every API endpoint (settings REST_FRAMEWORK); /api/me/ and /api/tokens/ opt out."""

    message = "Your account has no role in the gateway; ask a platform admin to add you to a group."

    def has_permission(self, request, view) -> bool:
        return can_read(request.user)


class CanRequestRelease(BasePermission):
    """Requesting a release: members of the `requesters` group (or anyone granted add_release)."""

    message = "Only requesters may request releases (group 'requesters')."

    def has_permission(self, request, view) -> bool:
        return can_request(request.user)


class CanManageRelease(BasePermission):
    message = "Only the requester or a platform admin may cancel or retry this release."

    def has_object_permission(self, request, view, obj) -> bool:
        return can_manage(request.user, obj)
