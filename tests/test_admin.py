"""Django admin: auditors read releases and events; nobody edits the audit trail."""
from html.parser import HTMLParser

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


class FormFields(HTMLParser):
    """What a browser would submit from one <form>: inputs, selected options, textareas (no submit buttons)."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.in_form, self.fields = form_id, False, []
        self._select = self._options = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.in_form = a.get("id") == self.form_id
        if not self.in_form or "disabled" in a:
            return
        if tag == "input" and a.get("name") and a.get("type", "text") not in ("submit", "button", "image", "reset",
                                                                              "file"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select, self._options = a, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and self._options and "multiple" not in self._select:
                chosen = [self._options[0][0]]
            self.fields += [(self._select["name"], value) for value in chosen]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea[0], self._textarea[1].removeprefix("\n")))
            self._textarea = None


def form_data(html, form_id):
    parser = FormFields(form_id)
    parser.feed(html)
    data = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    return data


def test_release_status_cannot_be_edited_in_admin(superuser_client, owner):
    """The whole rendered change form posted back with status changed: saved, yet the status stays."""
    client, _ = superuser_client
    release = make_release(owner, status=Status.SCAN_PASSED, model_name="fraud-detector")
    url = f"/admin/releases/release/{release.pk}/change/"
    data = form_data(client.get(url).content.decode(), "release_form")
    assert "csrfmiddlewaretoken" in data and any(name.endswith("-TOTAL_FORMS") for name in data)  # form found
    data["status"] = [Status.SUCCEEDED]
    data["_save"] = ["Save"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]  # accepted, not refused as invalid
    release.refresh_from_db()
    assert release.status == Status.SCAN_PASSED and release.model_name == "fraud-detector"


def test_admin_cancel_action_goes_through_the_lifecycle(superuser_client, owner):
    client, admin_user = superuser_client
    pending = make_release(owner)
    done = make_release(owner, status=Status.SUCCEEDED)
    client.post("/admin/releases/release/", {"action": "cancel_selected", "_selected_action": [pending.pk, done.pk]})
    pending.refresh_from_db()
    done.refresh_from_db()
    assert pending.status == Status.CANCELLED and done.status == Status.SUCCEEDED
    assert ReleaseEvent.objects.get(release=pending).actor == admin_user
