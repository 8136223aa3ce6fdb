"""The portal's pages: one login-protected view for every client route, its own login page for every
user (rate-limited by django-axes), framing only for the ?embed=1 route and only from configured origins."""
import re

import pytest
from django.test import Client

from tests.conftest import _user

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_portal_needs_a_login_and_sends_to_the_portal_login():
    response = Client().get("/releases/12")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/releases/12"


@pytest.mark.parametrize("route", ["/", "/releases", "/releases/12", "/new", "/approvals", "/waivers", "/dry-run"])
def test_every_client_route_serves_the_app_once(browser, route):
    response = browser.get(route)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<release-gateway") == 1
    script = re.search(r'<script type="module" src="(/static/assets/main-[^"]+\.js)"', html)
    assert script, html
    # The page sets the CSRF cookie the app sends back on every POST.
    assert "csrftoken" in response.cookies


def test_unknown_portal_paths_are_404(browser):
    assert browser.get("/releases/../admin").status_code == 404
    assert browser.get("/nowhere").status_code == 404


def csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [values]}."""
    parts = [part.split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def test_portal_cannot_be_framed_by_default(browser, settings):
    settings.PORTAL_EMBED_ORIGINS = ["https://idp.example.com"]
    response = browser.get("/releases")
    assert response["X-Frame-Options"] == "DENY"
    assert csp(response)["frame-ancestors"] == ["'none'"]


def test_embed_route_is_framed_only_by_configured_origins(browser, settings):
    settings.PORTAL_EMBED_ORIGINS = []
    response = browser.get("/?embed=1")
    assert response["X-Frame-Options"] == "DENY"
    assert csp(response)["frame-ancestors"] == ["'none'"]

    settings.PORTAL_EMBED_ORIGINS = ["https://idp.example.com", "https://portal.example.com:8443"]
    response = browser.get("/releases/3?embed=1")
    assert "X-Frame-Options" not in response
    assert csp(response)["frame-ancestors"] == [
        "'self'", "https://idp.example.com", "https://portal.example.com:8443"]
    assert csp(response)["script-src"] == ["'self'"]  # framing allowed, the rest of the policy unchanged
    assert '"embed": true' in response.content.decode().replace("&quot;", '"')


def test_stable_script_address_redirects_to_the_hashed_bundle():
    response = Client().get("/portal.js")
    assert response.status_code == 302
    assert re.fullmatch(r"/static/assets/main-[^/]+\.js", response["Location"])
    assert Client().get(response["Location"]).status_code == 200


def test_login_page_signs_in_any_user_and_returns_to_next(stranger):
    client = Client()
    page = client.get("/login/?next=/waivers")
    assert page.status_code == 200
    assert b'autocomplete="current-password"' in page.content
    response = client.post("/login/", {"username": "stranger", "password": "pw-stranger-123", "next": "/waivers"})
    assert response.status_code == 302 and response["Location"] == "/waivers"
    assert client.get("/waivers").status_code == 200


def test_login_refuses_an_offsite_next(stranger):
    response = Client().post("/login/", {"username": "stranger", "password": "pw-stranger-123",
                                         "next": "https://evil.example/steal"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_wrong_password_says_so_without_saying_which_part(stranger):
    response = Client().post("/login/", {"username": "stranger", "password": "nope"})
    assert response.status_code == 200
    assert b"do not match" in response.content


def test_login_is_locked_per_account_after_the_failure_limit(stranger, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        response = Client(REMOTE_ADDR=f"10.0.0.{n}").post("/login/", {"username": "stranger", "password": "wrong"})
        assert response.status_code in (200, 429)
    # From yet another address, even the right password is refused for now.
    locked = Client(REMOTE_ADDR="10.0.0.99").post("/login/", {"username": "stranger", "password": "pw-stranger-123"})
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "_auth_user_id" not in locked.wsgi_request.session


def test_login_is_locked_per_address_across_accounts(db, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _user(django_user_model, "victim")
    for name in ("a1", "a2", "a3"):
        Client(REMOTE_ADDR="10.9.9.9").post("/login/", {"username": name, "password": "guess"})
    locked = Client(REMOTE_ADDR="10.9.9.9").post("/login/", {"username": "victim", "password": "pw-victim-123"})
    assert locked.status_code == 429
    # Another address can still sign in to that account.
    ok = Client(REMOTE_ADDR="10.1.1.1").post("/login/", {"username": "victim", "password": "pw-victim-123"})
    assert ok.status_code == 302


def test_admin_login_shares_the_same_limit(db, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 2
    _user(django_user_model, "boss", is_staff=True, is_superuser=True)
    for _ in range(2):
        Client().post("/admin/login/?next=/admin/", {"username": "boss", "password": "wrong"})
    locked = Client().post("/admin/login/?next=/admin/", {"username": "boss", "password": "pw-boss-123"})
    assert locked.status_code == 429


def test_a_success_resets_the_count(stranger, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        client.post("/login/", {"username": "stranger", "password": "wrong"})
    assert client.post("/login/", {"username": "stranger", "password": "pw-stranger-123"}).status_code == 302
    client.logout()
    for _ in range(2):
        client.post("/login/", {"username": "stranger", "password": "wrong"})
    assert client.post("/login/", {"username": "stranger", "password": "pw-stranger-123"}).status_code == 302


def test_login_page_in_an_iframe_is_framed_like_the_embed_page(settings):
    settings.PORTAL_EMBED_ORIGINS = ["https://idp.example.com"]
    framed = Client().get("/login/?next=/%3Fembed%3D1")
    assert "X-Frame-Options" not in framed
    assert "https://idp.example.com" in framed["Content-Security-Policy"]
    plain = Client().get("/login/?next=/")
    assert plain["X-Frame-Options"] == "DENY"


def test_logout_is_a_post_and_ends_the_session(browser):
    assert browser.get("/logout/").status_code == 405
    response = browser.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert browser.get("/").status_code == 302


def test_session_api_calls_need_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    body = {"model_name": "m", "model_version": "1", "target_environment": "staging"}
    refused = client.post("/api/releases/", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    token = client.get("/").cookies["csrftoken"].value
    accepted = client.post("/api/releases/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_behind_the_proxy_the_forwarded_address_is_counted(db, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.BEHIND_TLS_PROXY = True
    _user(django_user_model, "victim")
    for name in ("x1", "x2"):  # an attacker behind the proxy; their own X-Forwarded-For prefix is ignored
        Client(REMOTE_ADDR="10.0.0.1").post("/login/", {"username": name, "password": "guess"},
                                            HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    spoofed = Client(REMOTE_ADDR="10.0.0.1").post("/login/", {"username": "victim", "password": "pw-victim-123"},
                                                  HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7")
    assert spoofed.status_code == 429
    # Another client behind the same proxy is not locked out by it.
    other = Client(REMOTE_ADDR="10.0.0.1").post("/login/", {"username": "victim", "password": "pw-victim-123"},
                                                HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.status_code == 302
