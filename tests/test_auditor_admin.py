"""An auditor reads everything in admin and changes nothing: every registered admin, every view, every
action (django-q2's and axes' included), against a database that has a row for each of them."""
import uuid
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success

from gateway_project import tokens
from releases.evidence import attest
from releases.lifecycle import transition
from releases.models import Advisory, AdvisorySync, Build, DependencyLock, ModelFile, Waiver
from releases.statuses import Status
from tests import audit_records as records
from tests.factories import make_release


@pytest.fixture
def auditor(db, django_user_model):
    user = django_user_model.objects.create_user("auditor-ann", password="pw-auditor-123", is_staff=True)
    user.groups.add(Group.objects.get(name="auditors"))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def every_record(db, owner, django_user_model):
    """At least one row behind every registered admin, each one something an action would change."""
    officer = records.approver(django_user_model, "officer-one", "security-officers")
    lead = records.approver(django_user_model)
    release = make_release(owner, model_name="fraud-detector", env="canary")  # PENDING: cancel would move it
    shipped = records.succeeded_release(owner, lead, model_name="churn", env="canary")
    attest.attest(shipped, shipped.builds.get())  # its signed evidence, as record_completion writes it
    report = records.scan_report(release)
    records.approve(release, report, lead, approved=False, comment="no")
    sync = AdvisorySync.objects.create(source="/osv", outcome=AdvisorySync.Outcome.SUCCEEDED)
    Advisory.objects.create(id="GHSA-aaaa-bbbb-cccc", modified=timezone.now(), synced_by=sync)
    Waiver.objects.create(advisory_id="GHSA-aaaa-bbbb-cccc", reason="pending a second officer",
                          expires_at=timezone.now() + timedelta(days=3), created_by=officer)
    Build.objects.create(release=release, backend="local", state=Build.State.RUNNING)
    DependencyLock.objects.create(release=release, outcome=DependencyLock.Outcome.RESOLVED, package_count=1,
                                  content="leaflib==2.5 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    ModelFile.objects.create(release=release, path="model.pkl", size=3, sha256="ab" * 32, format="pickle",
                             verdict="dangerous", findings=[{"member": "", "kind": "call", "name": "posix.system",
                                                             "classification": "dangerous", "reason": "a command"}])
    tokens.issue(owner, "owner's token")
    now = timezone.now()
    for success, model in ((True, Success), (False, Failure)):
        model.objects.create(id=uuid.uuid4().hex, name=f"task-{success}", func="math.floor", args=(1.5,), kwargs={},
                             started=now, stopped=now, success=success, result="done" if success else "boom")
    Schedule.objects.create(name="auditor-test-schedule", func="math.floor", schedule_type=Schedule.HOURLY)
    OrmQ.objects.create(key="gateway", payload="not-a-task", lock=None)
    old = now - timedelta(days=30)
    attempt = AccessAttempt.objects.create(username="someone", ip_address="127.0.0.9", user_agent="ua", http_accept="*",
                                           path_info="/login/", get_data="", post_data="", failures_since_start=1)
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=old)  # expired: cleanup would delete it
    AccessLog.objects.create(username="someone", ip_address="127.0.0.9", user_agent="ua", http_accept="*",
                             path_info="/login/")
    AccessFailureLog.objects.create(username="someone", ip_address="127.0.0.9", user_agent="ua", http_accept="*",
                                    path_info="/login/", locked_out=False)


def snapshot() -> dict:
    """Every row of every table (sessions aside: signing in writes one)."""
    state = {}
    for model in apps.get_models():
        if model is Session:
            continue
        manager = model._base_manager
        state[model._meta.label] = sorted(repr(row) for row in manager.order_by().values_list())
    return state


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def actions_of(model_admin) -> list[str]:
    return [name for _func, name, _description in model_admin._get_base_actions()]


def test_every_admin_action_names_the_permission_it_needs():
    """An action without `allowed_permissions` is offered to everyone who can open the list."""
    unguarded = [f"{model._meta.label}: {name}" for model, model_admin in registered()
                 for func, name, _description in model_admin._get_base_actions()
                 if not getattr(func, "allowed_permissions", None)]
    assert unguarded == []


def test_every_registered_admin_has_a_row_to_attack(every_record):
    """The enumeration below is only as good as its data: a new admin needs a row in every_record."""
    request = RequestFactory().get("/admin/")
    request.user = type("Superuser", (), {"is_active": True, "is_superuser": True, "has_perm": lambda *a: True})()
    empty = [model._meta.label for model, model_admin in registered()
             if not model_admin.get_queryset(request).exists()]
    assert empty == []


@pytest.fixture
def auditor_client(client, auditor):
    """Signed in before the records exist: axes deletes expired attempts at each sign-in."""
    client.force_login(auditor)
    return client


def test_an_auditor_changes_nothing_in_any_admin_view_or_action(auditor_client, auditor, every_record):
    client = auditor_client
    before = snapshot()
    offered = {}
    factory = RequestFactory()
    for model, model_admin in registered():
        label = model._meta.label
        may_view = auditor.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
        changelist = admin_url(model, "changelist")
        assert client.get(changelist).status_code == (200 if may_view else 403), label
        assert client.get(admin_url(model, "add")).status_code == 403, label
        assert client.post(admin_url(model, "add"), {}).status_code == 403, label
        request = factory.get(changelist)
        request.user = auditor
        pks = [str(pk) for pk in model_admin.get_queryset(request).values_list("pk", flat=True)[:5]]
        assert pks, label
        for pk in pks:
            page = client.get(admin_url(model, "change", pk))
            assert page.status_code == (200 if may_view else 403), (label, pk)
            if may_view:
                assert b'name="_save"' not in page.content, label  # no Save button: a read-only form
            assert client.post(admin_url(model, "change", pk), {"_save": "Save"}).status_code == 403, label
            assert client.get(admin_url(model, "delete", pk)).status_code == 403, label
            assert client.post(admin_url(model, "delete", pk), {"post": "yes"}).status_code == 403, label
        offered[label] = sorted(model_admin.get_actions(request))
        for action in actions_of(model_admin):
            response = client.post(changelist, {"action": action, "_selected_action": pks, "index": 0,
                                                "post": "yes", "select_across": "1"})
            assert response.status_code in (200, 302, 403), (label, action)
    assert snapshot() == before
    # Reading is all that is offered: the compliance exports, nothing that writes.
    assert {label: names for label, names in offered.items() if names} == {
        "releases.Release": ["export_csv", "export_json"]}


def test_the_snapshot_sees_what_an_action_changes(admin_client, every_record):
    """The control: the same POSTs by a superuser do change the database (re-run task, cancelled release)."""
    before = snapshot()
    failure = Failure.objects.get()
    admin_client.post(admin_url(Failure, "changelist"), {"action": "resubmit_selected",
                                                         "_selected_action": [failure.pk], "index": 0})
    assert not Failure.objects.filter(pk=failure.pk).exists()  # the failure record went, the task was queued
    pending = make_release(Group.objects.get(name="auditors").user_set.model.objects.get(username="owner"))
    admin_client.post(admin_url(pending.__class__, "changelist"), {"action": "cancel_selected",
                                                                  "_selected_action": [pending.pk], "index": 0})
    pending.refresh_from_db()
    assert pending.status == Status.CANCELLED
    assert snapshot() != before


def test_an_auditor_cannot_resubmit_a_task_even_by_posting_the_action(auditor_client, every_record):
    client = auditor_client
    failure = Failure.objects.get()
    queued = OrmQ.objects.count()
    response = client.post(admin_url(Failure, "changelist"), {"action": "resubmit_selected",
                                                              "_selected_action": [failure.pk], "index": 0})
    assert response.status_code == 200 and b"resubmit_selected" not in response.content  # not even offered
    assert Failure.objects.filter(pk=failure.pk).exists() and OrmQ.objects.count() == queued


@pytest.mark.parametrize("query", ["?release=abc", "?report=-1", "?severity=NOPE", "?model=%00",
                                   "?requester=" + "x" * 300, "?release=" + "9" * 30])
def test_a_bad_filter_value_is_not_an_error(auditor_client, query):
    for url in ("/admin/releases/releaseevent/", "/admin/releases/finding/", "/admin/releases/release/",
                "/admin/releases/build/", "/admin/approvals/approvaldecision/"):
        response = auditor_client.get(url + query)
        assert response.status_code in (200, 302, 400), (url, query, response.status_code)


def test_the_release_filter_narrows_the_event_list(auditor_client, owner):
    mine = make_release(owner, model_name="filtered-model")
    other = make_release(owner, model_name="other-model")
    transition(mine, Status.CANCELLED, message="mine-cancelled")
    transition(other, Status.CANCELLED, message="other-cancelled")
    html = auditor_client.get(f"/admin/releases/releaseevent/?release={mine.pk}").content.decode()
    assert "mine-cancelled" in html and "other-cancelled" not in html
    html = auditor_client.get("/admin/releases/releaseevent/?release=abc").content.decode()
    assert "mine-cancelled" not in html and "other-cancelled" not in html
    html = auditor_client.get("/admin/releases/releaseevent/?model=other-model").content.decode()
    assert "other-cancelled" in html and "mine-cancelled" not in html
