"""releases.registry against Debian's docker-registry (real), and against small lying servers for what a
real registry never does (wrong bytes for a digest, an upload location elsewhere, auth challenges)."""
import base64
import http.server
import json
import uuid
from contextlib import contextmanager

import pytest

from releases import registry
from releases.registry import NotFound, RegistryError, RegistryUnavailable, parse_reference
from tests.local_http import serving

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@pytest.fixture
def reg(settings, registry):
    settings.BUILD_REGISTRY = f"{registry.address}/models"
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    settings.BUILD_REGISTRY_USERNAME = settings.BUILD_REGISTRY_PASSWORD = ""
    return registry


def repo(reg, name=None) -> str:
    return f"{reg.address}/models/{name or 'client-' + uuid.uuid4().hex[:10]}"


def push_image(repo_ref: str, tag: str, payload: bytes = b"model bytes") -> tuple[str, bytes, list[str]]:
    """A tiny OCI image pushed with the client alone: (digest, manifest body, blob digests)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "config": {"Labels": {"tag": tag}}}).encode()
    config_digest = registry.push_blob(repo_ref, config)
    layer_digest = registry.push_blob(repo_ref, payload)
    body = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                       "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
                       "layers": [{"mediaType": LAYER_TYPE, "digest": layer_digest, "size": len(payload)}]}).encode()
    return registry.put_manifest(repo_ref, tag, body, registry.OCI_MANIFEST), body, [config_digest, layer_digest]


# --- References -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5001/models/iris:v2-r1-a1", ("127.0.0.1:5001", "models/iris", "v2-r1-a1", "")),
    ("registry.example.com/a/b@sha256:" + "a" * 64, ("registry.example.com", "a/b", "", "sha256:" + "a" * 64)),
    ("localhost/x:t@sha256:" + "0" * 64, ("localhost", "x", "t", "sha256:" + "0" * 64)),
    ("reg.io:443/ns/model", ("reg.io:443", "ns/model", "", "")),
])
def test_parse_reference(text, expected):
    ref = parse_reference(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == expected
    assert str(ref) == text and ref.repo_ref == f"{expected[0]}/{expected[1]}"


@pytest.mark.parametrize("text", [
    "models/iris:1",  # no host: would mean Docker Hub
    "host.io/Upper/case", "host.io/repo:tag with space", "host.io/repo@sha256:short",
    "host.io/repo@md5:" + "a" * 32, "", "host.io/../etc:x", "host.io/repo:" + "t" * 129,
])
def test_parse_reference_refuses(text):
    with pytest.raises(ValueError):
        parse_reference(text)


# --- Against the real registry ------------------------------------------------------------------

def test_manifest_round_trip_by_tag_and_digest(reg):
    where = repo(reg)
    digest, body, blobs = push_image(where, "one")
    assert digest == registry.digest_of(body)
    assert registry.get_manifest(where, "one") == (body, registry.OCI_MANIFEST, digest)
    assert registry.get_manifest(parse_reference(where), digest) == (body, registry.OCI_MANIFEST, digest)
    assert all(registry.blob_exists(where, blob) for blob in blobs)
    assert not registry.blob_exists(where, "sha256:" + "1" * 64)
    with pytest.raises(NotFound):
        registry.get_manifest(where, "no-such-tag")
    with pytest.raises(ValueError):
        registry.get_manifest(where, "../../v2/_catalog")


def test_push_blob_twice_is_one_blob(reg):
    where = repo(reg)
    assert registry.push_blob(where, b"same") == registry.push_blob(where, b"same") == registry.digest_of(b"same")


def test_mount_blob_across_repositories(reg):
    source, target = repo(reg), repo(reg)
    _digest, _body, blobs = push_image(source, "m")
    assert not registry.blob_exists(target, blobs[1])
    assert registry.mount_blob(target, blobs[1], source) is True
    assert registry.blob_exists(target, blobs[1])
    # a blob the source does not have cannot be mounted: the registry opens an upload, which is cancelled
    assert registry.mount_blob(target, "sha256:" + "2" * 64, source) is False


def test_copy_image_keeps_the_digest_and_tags_it(reg):
    source, target = repo(reg), repo(reg)
    digest, body, blobs = push_image(source, "src", payload=b"weights" * 1000)
    assert registry.copy_image(source, digest, target, "canary-v2-r9") == digest
    assert registry.get_manifest(target, "canary-v2-r9") == (body, registry.OCI_MANIFEST, digest)
    assert all(registry.blob_exists(target, blob) for blob in blobs)


def test_copy_image_of_an_index_copies_its_manifests(reg):
    source, target = repo(reg), repo(reg)
    first, first_body, _ = push_image(source, "amd64", payload=b"one")
    second, second_body, _ = push_image(source, "arm64", payload=b"two")
    index = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_INDEX, "manifests": [
        {"mediaType": registry.OCI_MANIFEST, "digest": first, "size": len(first_body)},
        {"mediaType": registry.OCI_MANIFEST, "digest": second, "size": len(second_body)}]}).encode()
    digest = registry.put_manifest(source, "multi", index, registry.OCI_INDEX)
    assert registry.copy_image(source, digest, target, "promoted") == digest
    assert registry.get_manifest(target, "promoted") == (index, registry.OCI_INDEX, digest)
    assert registry.get_manifest(target, second)[0] == second_body


def test_copy_blob_streams_between_repositories(reg):
    source, target = repo(reg), repo(reg)
    data = b"x" * (3 * 1024 * 1024 + 7)
    digest = registry.push_blob(source, data)
    registry.copy_blob(source, digest, target, len(data))
    assert registry.blob_exists(target, digest)
    with pytest.raises(RegistryError, match="larger than its manifest says"):
        registry.copy_blob(source, digest, repo(reg), len(data) - 1)


def test_deleted_manifest_is_not_found(reg):
    where = repo(reg)
    digest, _body, _blobs = push_image(where, "gone")
    registry.delete_manifest(where, digest)
    with pytest.raises(NotFound) as caught:
        registry.get_manifest(where, digest)
    assert caught.value.status == 404 and not caught.value.retryable
    with pytest.raises(NotFound):
        registry.copy_image(where, digest, repo(reg), "t")


def test_debian_registry_has_no_referrers_api_and_the_tag_fallback_is_read(reg):
    where = repo(reg)
    digest, body, _blobs = push_image(where, "subject")
    assert registry.supports_referrers(where, digest) is False  # docker-registry 2.8: 404 page not found
    assert registry.list_referrers(where, digest) == []
    empty = registry.push_blob(where, b"{}")
    attestation = json.dumps({
        "schemaVersion": 2, "mediaType": registry.OCI_MANIFEST, "artifactType": "application/vnd.in-toto+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [], "subject": {"mediaType": registry.OCI_MANIFEST, "digest": digest, "size": len(body)},
    }).encode()
    att_digest = registry.put_manifest(where, registry.digest_of(attestation), attestation, registry.OCI_MANIFEST)
    index = json.dumps({"schemaVersion": 2, "mediaType": registry.OCI_INDEX, "manifests": [
        {"mediaType": registry.OCI_MANIFEST, "digest": att_digest, "size": len(attestation),
         "artifactType": "application/vnd.in-toto+json"}]}).encode()
    registry.put_manifest(where, registry.fallback_tag(digest), index, registry.OCI_INDEX)
    assert registry.fallback_tag(digest) == "sha256-" + digest[7:]
    found = registry.list_referrers(where, digest)
    assert [d["digest"] for d in found] == [att_digest]
    assert registry.list_referrers(where, digest, "application/vnd.in-toto+json") == found
    assert registry.list_referrers(where, digest, "application/spdx+json") == []


def test_manifest_over_the_cap_is_refused_before_it_is_kept(reg, monkeypatch):
    where = repo(reg)
    push_image(where, "big")
    monkeypatch.setattr(registry, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(RegistryError, match="over 100 bytes"):
        registry.get_manifest(where, "big")
    with pytest.raises(RegistryError, match="at most 100 bytes"):
        registry.put_manifest(where, "big2", b"{" + b" " * 200 + b"}", registry.OCI_MANIFEST)


def test_nothing_listening_is_unavailable_and_retryable(reg, settings):
    from devtools.processes import free_port

    settings.BUILD_REGISTRY_TIMEOUT_SECONDS = 2
    with pytest.raises(RegistryUnavailable) as caught:
        registry.get_manifest(f"127.0.0.1:{free_port()}/models/x", "t")
    assert caught.value.retryable and "Could not reach the registry" in str(caught.value)


# --- Against servers that lie ---------------------------------------------------------------------

@contextmanager
def fake_registry(handler):
    """A plain-http server whose GET/HEAD/POST/PUT answers are `handler(method, path, headers) ->
    (status, headers, body)`; the requests it saw are returned in `.seen`."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen.append((self.command, self.path, dict(self.headers)))
            status, headers, body = handler(self.command, self.path, self.headers)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args):
            pass

    with serving(Handler) as server:
        server.seen = seen
        server.address = f"127.0.0.1:{server.server_address[1]}"
        yield server


def test_other_bytes_than_the_digest_asked_for_are_refused(settings):
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    asked = "sha256:" + "3" * 64
    with fake_registry(lambda m, p, h: (200, {"Content-Type": registry.OCI_MANIFEST}, b'{"forged": true}')) as fake:
        with pytest.raises(RegistryError, match="not the one asked for"):
            registry.get_manifest(f"{fake.address}/models/x", asked)


def test_a_content_digest_header_that_lies_is_refused(settings):
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    lying = {"Content-Type": registry.OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "4" * 64}
    with fake_registry(lambda m, p, h: (200 if m == "GET" else 201, lying, b"{}")) as fake:
        with pytest.raises(RegistryError, match="does not match"):
            registry.get_manifest(f"{fake.address}/models/x", "tag")
        with pytest.raises(RegistryError, match="another digest"):
            registry.put_manifest(f"{fake.address}/models/x", "tag", b"{}", registry.OCI_MANIFEST)


def test_an_upload_location_on_another_host_gets_nothing(settings):
    settings.BUILD_REGISTRY_TLS_VERIFY = False

    def answer(method, path, headers):
        if method == "HEAD":
            return 404, {}, b""
        return 202, {"Location": "http://attacker.example:9/upload/1"}, b""

    with fake_registry(answer) as fake:
        with pytest.raises(RegistryError, match="another host"):
            registry.push_blob(f"{fake.address}/models/x", b"secret attestation")
        assert [m for m, _p, _h in fake.seen] == ["HEAD", "POST"]


def test_an_absolute_upload_location_on_the_same_origin_is_used(settings):
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    holder = {}

    def answer(method, path, headers):
        if method == "HEAD":
            return 404, {}, b""
        if method == "POST":
            return 202, {"Location": f"http://{holder['address']}/v2/models/x/blobs/uploads/u1?_state=s"}, b""
        return 201, {}, b""

    with fake_registry(answer) as fake:
        holder["address"] = fake.address
        assert registry.push_blob(f"{fake.address}/models/x", b"data") == registry.digest_of(b"data")
        method, path, _headers = fake.seen[-1]
        assert method == "PUT" and path == "/v2/models/x/blobs/uploads/u1?_state=s&digest=" + \
            registry.digest_of(b"data")


def test_credentials_go_to_our_registry_only(settings):
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    settings.BUILD_REGISTRY_USERNAME, settings.BUILD_REGISTRY_PASSWORD = "gateway", "s3cret"
    expected = "Basic " + base64.b64encode(b"gateway:s3cret").decode()

    def answer(method, path, headers):
        if headers.get("Authorization") != expected:
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
        return 200, {"Content-Type": registry.OCI_MANIFEST}, b"{}"

    with fake_registry(answer) as ours, fake_registry(answer) as other:
        settings.BUILD_REGISTRY = f"{ours.address}/models"
        assert registry.get_manifest(f"{ours.address}/models/x", "t")[0] == b"{}"
        assert ours.seen[-1][2].get("Authorization") == expected
        with pytest.raises(RegistryError) as caught:
            registry.get_manifest(f"{other.address}/models/x", "t")
        assert caught.value.status == 401
        assert all("Authorization" not in headers for _m, _p, headers in other.seen)


def test_bearer_token_flow(settings):
    settings.BUILD_REGISTRY_TLS_VERIFY = False
    settings.BUILD_REGISTRY_USERNAME, settings.BUILD_REGISTRY_PASSWORD = "gateway", "s3cret"
    basic = "Basic " + base64.b64encode(b"gateway:s3cret").decode()
    token = "tok-" + uuid.uuid4().hex

    with fake_registry(lambda m, p, h: (200, {"Content-Type": "application/json"},
                                        json.dumps({"token": token}).encode()) if h.get("Authorization") == basic
                       else (401, {}, b"")) as auth:
        challenge = f'Bearer realm="http://{auth.address}/token",service="reg",scope="repository:models/x:pull"'

        def answer(method, path, headers):
            if headers.get("Authorization") != f"Bearer {token}":
                return 401, {"WWW-Authenticate": challenge}, b""
            return 200, {"Content-Type": registry.OCI_MANIFEST}, b"{}"

        with fake_registry(answer) as ours:
            settings.BUILD_REGISTRY = f"{ours.address}/models"
            assert registry.get_manifest(f"{ours.address}/models/x", "t")[0] == b"{}"
            assert registry.get_manifest(f"{ours.address}/models/x", "u")[0] == b"{}"
        token_calls = [p for _m, p, _h in auth.seen]
        assert len(token_calls) == 1 and "scope=repository%3Amodels%2Fx%3Apull" in token_calls[0]
        assert "service=reg" in token_calls[0]
