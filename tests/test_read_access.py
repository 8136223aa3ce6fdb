"""Who may read: every role group, and nobody else. A signed-in account in no group (an SSO account
nobody gave a role yet) sees no release, scan report, waiver or approval; it may still see who it is
and manage its own tokens."""
import pytest
from django.contrib.auth.models import Group, Permission

from tests.conftest import token_client
from tests.factories import make_release

pytestmark = pytest.mark.django_db
ROLES = ["requesters", "ml-leads", "security-officers", "sre", "auditors", "platform-admins"]


def closed_paths(release_id: int) -> list[str]:
    return ["/api/releases/", f"/api/releases/{release_id}/", f"/api/releases/{release_id}/scan/",
            f"/api/releases/{release_id}/scan/findings/", "/api/waivers/", "/api/environments/",
            "/api/environments/staging/", "/api/approvals/pending/", f"/api/releases/{release_id}/approvals/"]


def test_an_account_without_a_role_reads_nothing(owner, stranger_api):
    release = make_release(owner)
    for path in closed_paths(release.pk):
        response = stranger_api.get(path)
        assert response.status_code == 403, path
        assert "no role" in response.json()["detail"], path
    assert stranger_api.post(f"/api/releases/{release.pk}/cancel/", {"reason": "x"}, format="json").status_code == 403


def test_it_still_learns_who_it_is_and_manages_its_tokens(stranger_api):
    me = stranger_api.get("/api/me/")
    assert me.status_code == 200 and me.json()["can_read"] is False and me.json()["groups"] == []
    assert stranger_api.get("/api/tokens/").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads(owner, django_user_model, role):
    release = make_release(owner)
    user = django_user_model.objects.create_user(f"user-{role}", password="pw-x-123456")
    user.groups.add(Group.objects.get(name=role))
    client = token_client(user)
    assert client.get("/api/me/").json()["can_read"] is True
    for path in closed_paths(release.pk)[:2] + ["/api/waivers/", "/api/environments/"]:
        assert client.get(path).status_code == 200, (role, path)


def test_read_access_can_be_given_to_one_account(owner, stranger, stranger_api):
    stranger.user_permissions.add(Permission.objects.get(codename="view_release", content_type__app_label="releases"))
    assert stranger_api.get("/api/releases/").status_code == 200


@pytest.mark.parametrize("cache_seconds", [10, 0])
def test_a_removed_role_stops_reading_within_the_cache_time(owner, django_user_model, settings, cache_seconds):
    """Remembered for READ_ACCESS_CACHE_SECONDS; with 0, a removed role stops reading at once."""
    from django.core.cache import caches

    settings.READ_ACCESS_CACHE_SECONDS = cache_seconds
    user = django_user_model.objects.create_user("leaver", password="pw-leaver-123")
    user.groups.add(Group.objects.get(name="sre"))
    client = token_client(user)
    assert client.get("/api/releases/").status_code == 200
    user.groups.clear()
    if cache_seconds:
        assert client.get("/api/releases/").status_code == 200  # still remembered
        caches["requests"].delete(f"can-read:{user.pk}")  # what the expiry does
    assert client.get("/api/releases/").status_code == 403


@pytest.mark.parametrize("cache_seconds", [10, 0])
def test_a_removed_requester_stops_requesting_within_the_cache_time(django_user_model, settings, cache_seconds):
    """The same rule for requesting a release (permissions.can_request): remembered, then refused."""
    from django.core.cache import caches

    settings.READ_ACCESS_CACHE_SECONDS = cache_seconds
    user = django_user_model.objects.create_user("quitter", password="pw-quitter-123")
    user.groups.add(Group.objects.get(name="requesters"))
    client = token_client(user)
    body = {"model_name": "clean-model", "model_version": "1", "target_environment": "staging"}
    assert client.post("/api/releases/", body, format="json").status_code == 201
    user.groups.clear()
    if cache_seconds:
        assert client.post("/api/releases/", body, format="json").status_code == 201  # still remembered
        caches["requests"].delete(f"can-request:{user.pk}")  # what the expiry does
        caches["requests"].delete(f"can-read:{user.pk}")
    refused = client.post("/api/releases/", body, format="json")
    assert refused.status_code == 403 and "requesters" in refused.json()["detail"]
