"""Embedding in an IDP page: <release-gateway> and mount() in a hostile host page, and the ?embed=1 iframe.

The portal renders in a shadow root. A host stylesheet with class *and* element selectors must not change
it (compared property by property with the same portal in a clean host), the host's own controls must get
those styles, and nothing of the portal's CSS may reach the host.
"""
import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.mlflow, pytest.mark.browser,
              pytest.mark.usefixtures("restored_environments")]

HOSTILE = """
.input, .formContainer, .submitButton, input, div, button, h1, h2, label, form, *, *::before {
  color: rgb(255, 0, 0) !important; background: rgb(0, 255, 0) !important; font-size: 31px !important;
  font-family: fantasy !important; border: 7px dashed rgb(0, 0, 255) !important; padding: 13px !important;
  margin: 17px !important; text-transform: uppercase !important; letter-spacing: 5px !important;
  line-height: 3 !important; box-shadow: 0 0 9px rgb(255, 0, 255) !important; }
"""
HOST_CONTROLS = """
<div class="formContainer" id="host-box"><h2 id="host-h2">Host heading</h2>
  <label for="host-input">Host field</label><input class="input" id="host-input">
  <button class="submitButton" id="host-button">Host button</button></div>
"""
PROPS = ["color", "background-color", "font-size", "font-family", "border-top-width", "border-top-style",
         "padding-top", "margin-top", "text-transform", "letter-spacing", "line-height", "box-shadow", "display"]
# Elements inside the portal's shadow root, one of each kind the hostile sheet names.
PORTAL_PARTS = {"heading": "h1", "input": "input[role=combobox]", "radio": "input[type=radio]",
                "button": "button[type=submit]", "form": "form", "label": "label", "div": "div",
                "link": "nav a"}


def host_page(*, hostile: bool, portal: str = "element", extra: str = "") -> str:
    style = f"<style>{HOSTILE}</style>" if hostile else ""
    if portal == "element":
        mount = ("<release-gateway id='portal' options='" + json.dumps({"routing": "memory", "initial": "/new"})
                 + "'></release-gateway><script type='module' src='/portal.js'></script>")
    elif portal == "mount":
        mount = ("<section id='slot'></section><script type='module'>import { mount } from '/portal.js';"
                 "window.handle = mount(document.getElementById('slot'), {initial: '/new'});</script>")
    else:
        mount = ""
    return (f"<!doctype html><html lang='en'><head><title>IDP</title>{style}</head>"
            f"<body>{HOST_CONTROLS}{extra}{mount}</body></html>")


def open_host(page, gateway, html: str, path: str = "/idp-host.html"):
    """Serve `html` at a path of the gateway's own origin (same-origin, so the portal's session works)."""
    page.route(gateway.url + path, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(gateway.url + path)


def styles_of(page, host_selector: str, parts: dict) -> dict:
    return page.evaluate("""([host, parts, props]) => {
        const root = document.querySelector(host).shadowRoot;
        const out = {};
        for (const [name, sel] of Object.entries(parts)) {
            const el = root.querySelector(sel);
            if (!el) { out[name] = null; continue; }
            const cs = getComputedStyle(el);
            out[name] = Object.fromEntries(props.map(p => [p, cs.getPropertyValue(p)]));
        }
        return out;
    }""", [host_selector, parts, PROPS])


def light_styles(page, ids: list[str]) -> dict:
    return page.evaluate("""([ids, props]) => Object.fromEntries(ids.map(id => {
        const cs = getComputedStyle(document.getElementById(id));
        return [id, Object.fromEntries(props.map(p => [p, cs.getPropertyValue(p)]))];
    }))""", [ids, PROPS])


def signed_in(chromium, gateway, requester):
    return gateway.login(chromium, "requester")


def wait_portal(page, host_selector="#portal"):
    page.locator(host_selector).get_by_role("combobox", name="Model name").wait_for()


def test_hostile_host_styles_do_not_change_the_portal(chromium, gateway, requester):
    page = signed_in(chromium, gateway, requester)
    open_host(page, gateway, host_page(hostile=False), "/clean-host.html")
    wait_portal(page)
    clean = styles_of(page, "#portal", PORTAL_PARTS)
    assert all(clean.values()), clean

    open_host(page, gateway, host_page(hostile=True), "/hostile-host.html")
    wait_portal(page)
    hostile = styles_of(page, "#portal", PORTAL_PARTS)
    screenshot(page, "embed-hostile-host")
    for part, props in clean.items():
        assert hostile[part] == props, f"the host's stylesheet changed the portal's {part}"
    # ...while the host's own controls do get every hostile rule.
    host = light_styles(page, ["host-input", "host-button", "host-h2", "host-box"])
    for element in host.values():
        assert element["color"] == "rgb(255, 0, 0)" and element["font-size"] == "31px"
        assert element["border-top-style"] == "dashed" and element["text-transform"] == "uppercase"


def test_the_portal_css_does_not_reach_the_host(chromium, gateway, requester):
    page = signed_in(chromium, gateway, requester)
    open_host(page, gateway, host_page(hostile=False), "/with-portal.html")
    wait_portal(page)
    # Host elements wearing the portal's own (hashed) class names, beside plain host elements.
    classes = page.evaluate("""() => {
        const root = document.querySelector('#portal').shadowRoot;
        return [...new Set([...root.querySelectorAll('[class]')].flatMap(e => [...e.classList]))];
    }""")
    assert len(classes) > 10
    decoys = "".join(f"<div id='decoy-{i}' class='{name}'>decoy</div>" for i, name in enumerate(classes))
    ids = ["host-input", "host-button", "host-h2", "host-box"] + [f"decoy-{i}" for i in range(len(classes))]

    open_host(page, gateway, host_page(hostile=False, portal="none", extra=decoys), "/no-portal.html")
    without = light_styles(page, ids)
    open_host(page, gateway, host_page(hostile=False, extra=decoys), "/portal-and-decoys.html")
    wait_portal(page)
    with_portal = light_styles(page, ids)
    assert with_portal == without
    # The portal added no stylesheet to the document: its CSS lives in its shadow root only.
    assert page.evaluate("document.styleSheets.length") == 0
    assert page.evaluate("document.querySelector('#portal').shadowRoot.adoptedStyleSheets.length") == 1


def test_mount_entry_renders_into_any_element(chromium, gateway, requester):
    page = signed_in(chromium, gateway, requester)
    open_host(page, gateway, host_page(hostile=True, portal="mount"), "/mount-host.html")
    wait_portal(page, "#slot")
    assert page.evaluate("typeof window.handle.unmount") == "function"
    page.evaluate("window.handle.unmount()")
    assert page.evaluate("document.querySelector('#slot').shadowRoot.querySelector('form')") is None


class _IdpPage(BaseHTTPRequestHandler):
    """An IDP page on its own loopback port: an iframe of the gateway address given in ?src=."""

    def do_GET(self):
        src = html.escape(parse_qs(urlsplit(self.path).query).get("src", [""])[0])
        body = (f"<!doctype html><html><body><iframe id='f' title='gateway' src='{src}' width='900' height='700'>"
                "</iframe></body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def idp_pages():
    """Two IDP hosts on loopback (another origin than the gateway's): one configured, one not."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _IdpPage) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{server.server_address[1]}" for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway_env(idp_pages):
    return {"PORTAL_EMBED_ORIGINS": idp_pages[0]}


def _framed(page, gateway, origin: str, path: str = "/?embed=1"):
    page.goto(f"{origin}/idp.html?src={quote(gateway.url + path, safe='')}")
    page.wait_for_load_state("load")
    return page.frame_locator("#f")


def test_embed_iframe_is_allowed_only_from_configured_origins(chromium, gateway, idp_pages):
    allowed_origin, other_origin = idp_pages
    context = chromium.new_context()
    page = context.new_page()
    allowed = _framed(page, gateway, allowed_origin)
    # Not signed in inside the frame: the login page shows in it, framed because next= is the embed page.
    allowed.get_by_label("Username").wait_for(timeout=10_000)
    screenshot(page, "embed-iframe-allowed-origin")

    other = context.new_page()
    refused = _framed(other, gateway, other_origin)
    other.wait_for_timeout(1000)
    assert refused.get_by_label("Username").count() == 0
    # And the gateway's ordinary pages refuse every frame, configured origin or not.
    plain = context.new_page()
    refused_plain = _framed(plain, gateway, allowed_origin, "/login/?next=/")
    plain.wait_for_timeout(1000)
    assert refused_plain.get_by_label("Username").count() == 0
    context.close()
