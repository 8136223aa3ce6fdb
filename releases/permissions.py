"""Who may act on which release (one place for the rule)."""
from rest_framework.permissions import BasePermission

MANAGE_ANY = "releases.manage_any_release"


def can_manage(user, release) -> bool:
    """Cancel or retry: the requester, or someone trusted to manage every release."""
    return bool(user and user.is_authenticated and (user.pk == release.requested_by_id or user.has_perm(MANAGE_ANY)))


REQUEST = "releases.add_release"


class CanRequestRelease(BasePermission):
    """Requesting a release: members of the `requesters` group (or anyone granted add_release)."""

    message = "Only requesters may request releases (group 'requesters')."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(REQUEST))


class CanManageRelease(BasePermission):
    message = "Only the requester or a platform admin may cancel or retry this release."

    def has_object_permission(self, request, view, obj) -> bool:
        return can_manage(request.user, obj)
