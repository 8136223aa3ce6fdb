"""Content-Security-Policy on every answer, and API docs that load nothing from elsewhere."""
import re

import pytest
from django.test import Client

from tests.test_portal import csp

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(django_user_model):
    user = django_user_model.objects.create_user("auditor-x", password="pw-auditor-x-123", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/releases/4", "/login/", "/admin/", "/admin/login/", "/api/docs/"])
def test_every_page_has_a_policy_that_runs_only_our_own_scripts(staff_client, path):
    response = staff_client.get(path, follow=True)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    policy = csp(response)
    assert policy["script-src"] == ["'self'"] and policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    page = response.content.decode()
    # nothing inline for script-src 'self' to block: every <script> has a src
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", page) == []


@pytest.mark.parametrize("path", ["/api/releases/", "/healthz", "/api/nowhere/"])
def test_other_answers_get_a_policy_that_allows_nothing(api, path):
    response = api.get(path)
    assert csp(response)["default-src"] == ["'none'"]
    assert csp(response)["frame-ancestors"] == ["'none'"]


def test_error_pages_carry_the_policy_too():
    response = Client().get("/api/environments/%00/")
    assert response.status_code == 400 and csp(response)["default-src"] == ["'none'"]


def test_api_docs_load_swagger_ui_from_our_static_files(staff_client):
    page = staff_client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(src.startswith("/") and not src.startswith("//") for src in sources), sources
    assert not re.search(r"cdn|jsdelivr|unpkg", page)
    for src in sources:  # each one is served (the sidecar's files and the init script)
        assert staff_client.get(src).status_code == 200, src


def test_api_docs_need_a_signed_in_user():
    assert Client().get("/api/docs/").status_code in (302, 401, 403)
