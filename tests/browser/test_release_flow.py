"""The whole release flow in a real browser: request, watch it live, approve or reject, see the digest."""
import re
import time

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from playwright.sync_api import expect

from devtools.sample_reports import large_report
from releases.lifecycle import record_creation
from releases.models import Environment, EnvironmentPolicy, Release
from releases.statuses import WORKING, Status
from tests.browser.conftest import csp_violations, screenshot, serious_axe_violations
from tests.factories import make_release
from tests.mlflow_models import CLEAN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.mlflow, pytest.mark.browser,
              pytest.mark.usefixtures("restored_environments", "advisories")]
LIVE = 120_000  # ms: fetch, scan and a buildah build on a loaded machine


@pytest.fixture(autouse=True)
def canary_without_a_package_index(restored_environments):
    """The gateway's processes here have no package index (PACKAGE_INDEX_URL), and canary's policy requires a
    dependency lock: lifted for these UI flows (a new policy version). tests/test_lock_required.py proves the
    requirement."""
    policy = EnvironmentPolicy.current_for(Environment.objects.get(name="canary").pk)
    policy.resolve_dependencies, policy.comment = "off", "tests: no package index"
    policy.save()


def staged(owner, version="2"):
    """clean-model `version` has SUCCEEDED in staging, so canary may take it."""
    return make_release(owner, status=Status.SUCCEEDED, model_name=CLEAN, ref=version, env="staging",
                        model_version=version)


def built_in_staging(owner, version="2") -> Release:
    """clean-model `version` requested in staging and taken by the gateway's own worker through fetch, scan and
    a real buildah build to SUCCEEDED: canary then promotes that image's digest (build once)."""
    with transaction.atomic():
        release = make_release(owner, model_name=CLEAN, ref=version, env="staging")
        record_creation(release, owner)  # enqueues the fetch once this commits
    deadline = time.monotonic() + LIVE / 1000
    while time.monotonic() < deadline:
        release.refresh_from_db()
        if release.status not in WORKING:
            break
        time.sleep(0.5)
    assert release.status == Status.SUCCEEDED, (release.status, release.status_message)
    return release


def request_release(page, model_prefix: str, model: str, version: str, environment: str) -> int:
    page.get_by_role("link", name="Request a release").first.click()
    name = page.get_by_role("combobox", name="Model name")
    name.fill(model_prefix)
    expect(page.get_by_role("option", name=model)).to_be_visible()
    name.press("ArrowDown")
    name.press("Enter")
    expect(name).to_have_value(model)
    page.get_by_role("textbox", name="Version").fill(version)
    page.get_by_role("radio", name=environment, exact=True).check()
    page.get_by_role("button", name="Request release").click()
    page.wait_for_url(re.compile(r"/releases/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def badge(page, label: str):
    return page.locator("[data-status]").filter(has_text=label).first


def test_request_watch_approve_and_both_see_the_digest(chromium, gateway, requester, ml_lead):
    staging = built_in_staging(requester)
    page = gateway.login(chromium, "requester")
    release_id = request_release(page, "clean", CLEAN, "2", "canary")
    page.evaluate("window.__notReloaded = true")
    expect(badge(page, "Awaiting approval")).to_be_visible(timeout=LIVE)
    assert page.evaluate("window.__notReloaded") is True, "the page reloaded instead of updating live"
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # the requester may not decide
    screenshot(page, "release-awaiting-approval")

    lead = gateway.login(chromium, "ml-lead")
    lead.get_by_role("link", name="My approvals").click()
    row = lead.get_by_role("link", name=f"#{release_id} {CLEAN}")
    expect(row).to_be_visible()
    screenshot(lead, "my-approvals")
    row.click()
    lead.get_by_label("Comment").fill("Metrics look right.")
    lead.get_by_role("button", name="Approve").click()

    digest = re.compile(r"sha256:[0-9a-f]{64}")
    for who in (page, lead):
        expect(badge(who, "Succeeded")).to_be_visible(timeout=LIVE)
        expect(who.get_by_test_id("image-digest")).to_have_text(digest)
    assert page.evaluate("window.__notReloaded") is True
    release = Release.objects.get(pk=release_id)
    assert release.status == Status.SUCCEEDED
    assert page.get_by_test_id("image-digest").inner_text() == release.image_digest == staging.image_digest
    expect(page.get_by_text("ml-lead approved at ML lead")).to_be_visible()
    expect(page.get_by_text("Metrics look right.").first).to_be_visible()
    screenshot(page, "release-succeeded")
    assert csp_violations(page) == [] and csp_violations(lead) == []  # the portal runs under its policy


def test_rejection_needs_a_comment_and_the_requester_sees_it(chromium, gateway, requester, ml_lead):
    staged(requester)
    page = gateway.login(chromium, "requester")
    release_id = request_release(page, "clean", CLEAN, "2", "canary")
    expect(badge(page, "Awaiting approval")).to_be_visible(timeout=LIVE)

    lead = gateway.login(chromium, "ml-lead", path=f"/releases/{release_id}")
    lead.get_by_role("button", name="Reject").click()
    comment = lead.get_by_label("Comment")
    expect(comment).to_have_attribute("aria-invalid", "true")
    expect(lead.get_by_text("A rejection needs a comment")).to_be_visible()
    assert Release.objects.get(pk=release_id).status == Status.AWAITING_APPROVAL
    comment.fill("Latency regressed by 30% in the offline benchmark.")
    lead.get_by_role("button", name="Reject").click()
    expect(badge(lead, "Rejected")).to_be_visible()

    expect(badge(page, "Rejected")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Latency regressed by 30% in the offline benchmark.").first).to_be_visible()
    expect(page.get_by_role("button", name="Cancel release")).to_have_count(0)  # nothing left to cancel
    assert Release.objects.get(pk=release_id).status == Status.REJECTED
    screenshot(page, "release-rejected")


def test_self_approval_has_no_button_and_the_api_refuses_it(chromium, gateway, requester):
    requester.groups.add(Group.objects.get(name="ml-leads"))  # may request and approve, but not both
    staged(requester)
    page = gateway.login(chromium, "requester")
    release_id = request_release(page, "clean", CLEAN, "2", "canary")
    expect(badge(page, "Awaiting approval")).to_be_visible(timeout=LIVE)
    expect(page.get_by_text("You cannot decide: You requested this release")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)

    # The same session forging the request the button would have sent:
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(f"{gateway.url}/api/releases/{release_id}/approve/", data={"comment": "mine"},
                                 headers={"X-CSRFToken": csrf, "Referer": gateway.url + "/"})
    assert response.status == 403
    assert "self-approval" in response.json()["detail"]
    assert Release.objects.get(pk=release_id).status == Status.AWAITING_APPROVAL


def test_a_large_scan_report_pages_sorts_and_filters(chromium, gateway, requester):
    release = make_release(requester, status=Status.SCAN_FAILED, model_name=CLEAN, ref="2", model_version="2")
    large_report(release, 1000)
    page = gateway.login(chromium, "requester")
    started = time.monotonic()
    page.goto(f"{gateway.url}/releases/{release.pk}")
    expect(page.get_by_text("1000 findings match.")).to_be_visible()
    print(f"\n1,000-finding release page usable after {time.monotonic() - started:.2f} s")
    table = page.get_by_role("table", name="Findings")
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(page.get_by_text("Page 1 of 20")).to_be_visible()
    # Severity in words on every row, most severe first.
    expect(table.locator("tbody tr").first.locator("[data-severity]")).to_have_text("CRITICAL")
    page.get_by_role("navigation", name="Finding pages").get_by_role("button", name="Next").click()
    expect(page.get_by_text("Page 2 of 20")).to_be_visible()

    page.get_by_label("Severity", exact=True).select_option("HIGH")
    expect(page.get_by_text("200 findings match.")).to_be_visible()
    expect(table.locator("[data-severity]:not([data-severity='HIGH'])")).to_have_count(0)
    page.get_by_label("Match", exact=True).select_option("false")
    expect(page.get_by_text("67 findings match.")).to_be_visible()
    expect(table.get_by_text("Definite", exact=True)).to_have_count(0)

    package_header = table.get_by_role("columnheader", name=re.compile("Package"))
    package_header.get_by_role("button").click()
    expect(package_header).to_have_attribute("aria-sort", "ascending")
    first = table.locator("tbody tr").first.locator("td").nth(1).inner_text()
    package_header.get_by_role("button").click()
    expect(package_header).to_have_attribute("aria-sort", "descending")
    expect(table.locator("tbody tr").first.locator("td").nth(1)).not_to_have_text(first)
    screenshot(page, "release-large-report")
    assert serious_axe_violations(page) == []


def test_admin_and_the_api_docs_work_under_their_policy_with_nothing_from_elsewhere(chromium, gateway,
                                                                                    django_user_model):
    django_user_model.objects.create_user("docs-reader", password="pw-docs-reader-123", is_staff=True,
                                          is_superuser=True)
    page = gateway.login(chromium, "docs-reader")
    elsewhere = []
    page.on("request", lambda r: not r.url.startswith(gateway.url) and not r.url.startswith("data:")
            and elsewhere.append(r.url))
    page.goto(gateway.url + "/api/docs/")
    expect(page.get_by_text("Model Release Gateway API").first).to_be_visible()  # Swagger UI rendered
    expect(page.get_by_text("/api/releases/").first).to_be_visible()
    assert csp_violations(page) == []
    page.goto(gateway.url + "/admin/releases/release/")
    expect(page.get_by_role("heading", name=re.compile("release", re.I)).first).to_be_visible()
    assert csp_violations(page) == []
    assert elsewhere == []
