"""Django admin: auditors read releases and events; nobody edits the audit trail."""
import pytest

from releases.lifecycle import transition
from releases.models import ReleaseEvent
from releases.statuses import Status
from tests.factories import make_release


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root-admin", "a@example.com", "pw-admin-123")
    client.force_login(user)
    return client, user


def test_release_pages_render_with_inline_events(superuser_client, owner):
    client, _ = superuser_client
    release = make_release(owner, model_name="fraud-detector")
    transition(release, Status.CANCELLED, actor=owner, message="no longer needed")
    assert client.get("/admin/releases/release/").status_code == 200
    page = client.get(f"/admin/releases/release/{release.pk}/change/")
    assert page.status_code == 200 and b"no longer needed" in page.content


def test_events_are_read_only_in_admin(superuser_client, owner):
    client, _ = superuser_client
    release = make_release(owner)
    transition(release, Status.CANCELLED, actor=owner, message="original")
    event = ReleaseEvent.objects.get(release=release)
    assert client.get("/admin/releases/releaseevent/").status_code == 200
    assert client.get("/admin/releases/releaseevent/add/").status_code == 403
    response = client.post(f"/admin/releases/releaseevent/{event.pk}/change/", {"message": "forged"})
    assert response.status_code == 403
    assert client.post(f"/admin/releases/releaseevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ReleaseEvent.objects.get(pk=event.pk).message == "original"


def test_release_status_cannot_be_edited_in_admin(superuser_client, owner):
    client, _ = superuser_client
    release = make_release(owner)
    client.post(f"/admin/releases/release/{release.pk}/change/", {"status": Status.SUCCEEDED})
    release.refresh_from_db()
    assert release.status == Status.PENDING


def test_admin_cancel_action_goes_through_the_lifecycle(superuser_client, owner):
    client, admin_user = superuser_client
    pending = make_release(owner)
    done = make_release(owner, status=Status.SUCCEEDED)
    client.post("/admin/releases/release/", {"action": "cancel_selected", "_selected_action": [pending.pk, done.pk]})
    pending.refresh_from_db()
    done.refresh_from_db()
    assert pending.status == Status.CANCELLED and done.status == Status.SUCCEEDED
    assert ReleaseEvent.objects.get(release=pending).actor == admin_user


def test_home_page_requires_login_and_lists_releases(client, owner):
    assert client.get("/").status_code == 302
    make_release(owner, model_name="fraud-detector")
    client.force_login(owner)
    page = client.get("/")
    assert page.status_code == 200 and b"fraud-detector" in page.content
