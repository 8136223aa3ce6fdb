"""A small client of the OCI distribution API (the registry's HTTP API), over `requests`.

What it guarantees, whoever calls it (promotion by digest, attestations and SBOMs next to an image):
- Every answer read is bounded: a manifest or a referrers index over MAX_MANIFEST_BYTES is refused
  before it is all read; every call has BUILD_REGISTRY_TIMEOUT_SECONDS as its connect and read timeout.
- What comes back by digest is checked against the digest (sha256 of the bytes), and a manifest PUT
  is checked against the digest the registry answers: a registry (or a proxy) cannot hand back other
  bytes than the ones asked for.
- Credentials (BUILD_REGISTRY_USERNAME/PASSWORD) go only to BUILD_REGISTRY's host, and to the token
  service that host names (Bearer flow), never to another registry an image reference may name.
- TLS is verified unless BUILD_REGISTRY_TLS_VERIFY is off; then, as buildah does for an insecure
  registry, https is tried without verification and plain http is used if the host does not speak TLS.

A `repo_ref` is "host[:port]/repository" (a `Reference`, or a string parse_reference accepts; its tag
or digest, if any, is not used). Failures raise RegistryError: `NotFound` for a manifest or blob the
registry does not have, `RegistryUnavailable` for an outage (retryable), `RegistryError` otherwise.
"""
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_BLOB_PUSH_BYTES = 64 * 1024 * 1024  # push_blob holds the blob in memory: attestations, SBOMs
MAX_REFERRER_PAGES = 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"(?P<host>[A-Za-z0-9.-]+(?::\d{{1,5}})?)/(?P<repository>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?")
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
TAG = re.compile(r"[\w][\w.-]{0,127}")


class RegistryError(Exception):
    """`detail`: the address and the server's words, for logs and staff; the message is for users."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, detail: str = ""):
        super().__init__(message)
        self.status, self.detail = status, detail


class NotFound(RegistryError):
    """The registry does not have this manifest or blob (HTTP 404)."""


class RegistryUnavailable(RegistryError):
    """Could not reach the registry, or it answered 5xx/429: try again later."""

    retryable = True


@dataclass(frozen=True)
class Reference:
    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def repo_ref(self) -> str:
        return f"{self.host}/{self.repository}"

    def __str__(self) -> str:
        return self.repo_ref + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_reference(text: str) -> Reference:
    """"host:port/repo:tag", "host/repo@sha256:…" or "host/repo:tag@sha256:…". The host is required:
    a reference without one would silently mean Docker Hub, which the gateway never means."""
    match = _REFERENCE.fullmatch((text or "").strip())
    if match is None or ("." not in match["host"] and ":" not in match["host"] and match["host"] != "localhost"):
        raise ValueError(f"not an image reference with a registry host: {str(text)[:300]!r}")
    return Reference(match["host"], match["repository"], match["tag"] or "", match["digest"] or "")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- Manifests ----------------------------------------------------------------------------------

def get_manifest(repo_ref, reference: str) -> tuple[bytes, str, str]:
    """(body, media type, digest) of the manifest `reference` (a tag or a digest) names."""
    ref = _repo(repo_ref)
    _check_reference(reference)
    response = _request("GET", ref, f"manifests/{reference}", headers={"Accept": ", ".join(MANIFEST_TYPES)})
    body = _read_bounded(response, MAX_MANIFEST_BYTES, "manifest")
    digest = digest_of(body)
    if DIGEST.fullmatch(reference) and digest != reference:
        raise RegistryError("The registry answered a manifest whose digest is not the one asked for.",
                            detail=f"{ref.repo_ref}: asked {reference}, got {digest}")
    answered = response.headers.get("Docker-Content-Digest", "")
    if answered and answered != digest:
        raise RegistryError("The registry's Docker-Content-Digest does not match the manifest it sent.",
                            detail=f"{ref.repo_ref}@{reference}: header {answered}, body {digest}")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip() or _declared_type(body)
    return body, media_type, digest


def put_manifest(repo_ref, reference: str, body: bytes, media_type: str) -> str:
    """Store `body` under `reference` (a tag, or its own digest); returns its digest."""
    ref = _repo(repo_ref)
    _check_reference(reference)
    if len(body) > MAX_MANIFEST_BYTES:
        raise RegistryError(f"A manifest is at most {MAX_MANIFEST_BYTES} bytes.")
    digest = digest_of(body)
    if DIGEST.fullmatch(reference) and reference != digest:
        raise RegistryError("A manifest stored by digest must be stored under its own digest.")
    response = _request("PUT", ref, f"manifests/{reference}", data=body, headers={"Content-Type": media_type},
                        expect=(201,))
    response.close()
    answered = response.headers.get("Docker-Content-Digest", "")
    if answered and answered != digest:
        raise RegistryError("The registry stored the manifest under another digest than its bytes have.",
                            detail=f"{ref.repo_ref}:{reference}: sent {digest}, registry says {answered}")
    return digest


def delete_manifest(repo_ref, digest: str) -> None:
    """Delete a manifest by digest (the registry must allow deletes)."""
    ref = _repo(repo_ref)
    _check_digest(digest)
    _request("DELETE", ref, f"manifests/{digest}", expect=(202, 200)).close()


# --- Blobs --------------------------------------------------------------------------------------

def blob_exists(repo_ref, digest: str) -> bool:
    ref = _repo(repo_ref)
    _check_digest(digest)
    try:
        _request("HEAD", ref, f"blobs/{digest}").close()
    except NotFound:
        return False
    return True


def mount_blob(target_repo, digest: str, from_repo) -> bool:
    """Cross-repository mount within one registry. True if mounted; False if the registry would not
    (it then opens an upload instead, which is cancelled here): the caller copies the blob."""
    target, source = _repo(target_repo), _repo(from_repo)
    _check_digest(digest)
    if target.host != source.host:
        return False
    response = _request("POST", target, "blobs/uploads/", params={"mount": digest, "from": source.repository},
                        expect=(201, 202))
    response.close()
    if response.status_code == 201:
        return True
    location = response.headers.get("Location")
    if location:
        try:
            _request("DELETE", target, "", url=_absolute(target, location), expect=(204, 200, 404)).close()
        except RegistryError:
            pass  # an abandoned upload is the registry's to expire
    return False


def push_blob(repo_ref, data: bytes) -> str:
    """Monolithic upload (POST, then PUT with the digest); returns the digest. Skipped if present."""
    ref = _repo(repo_ref)
    if len(data) > MAX_BLOB_PUSH_BYTES:
        raise RegistryError(f"push_blob takes at most {MAX_BLOB_PUSH_BYTES} bytes.")
    digest = digest_of(data)
    if blob_exists(ref, digest):
        return digest
    _upload(ref, digest, data, len(data))
    return digest


def copy_blob(source_repo, digest: str, target_repo, size: int) -> None:
    """Stream a blob from one repository to another (another host too), checked against its digest by
    the receiving registry. `size` comes from the manifest's descriptor and bounds what is read."""
    source, target = _repo(source_repo), _repo(target_repo)
    _check_digest(digest)
    response = _request("GET", source, f"blobs/{digest}")
    hasher, sent = hashlib.sha256(), [0]

    def chunks():
        for chunk in response.iter_content(1024 * 1024):
            sent[0] += len(chunk)
            if sent[0] > size:
                raise RegistryError("A blob is larger than its manifest says.", detail=f"{source.repo_ref}@{digest}")
            hasher.update(chunk)
            yield chunk

    try:
        _upload(target, digest, chunks(), size)
    finally:
        response.close()
    if "sha256:" + hasher.hexdigest() != digest:  # the target registry checks too; this is our own proof
        raise RegistryError("A copied blob did not match its digest.", detail=f"{source.repo_ref}@{digest}")


def read_blob(repo_ref, digest: str, size: int, chunk_size: int = 1024 * 1024):
    """The blob's bytes, chunk by chunk, never more than `size` (its manifest descriptor's). The digest is
    checked when the last chunk has been read: a caller must read to the end before trusting anything."""
    ref = _repo(repo_ref)
    _check_digest(digest)
    response = _request("GET", ref, f"blobs/{digest}")
    hasher, read = hashlib.sha256(), 0
    try:
        for chunk in response.iter_content(chunk_size):
            read += len(chunk)
            if read > size:
                raise RegistryError("A blob is larger than its manifest says.", detail=f"{ref.repo_ref}@{digest}")
            hasher.update(chunk)
            yield chunk
    except requests.RequestException as exc:
        raise RegistryUnavailable("The registry stopped answering.", detail=f"{type(exc).__name__}: {exc}"[:500]) \
            from None
    finally:
        response.close()
    if "sha256:" + hasher.hexdigest() != digest:
        raise RegistryError("A blob did not match its digest.", detail=f"{ref.repo_ref}@{digest}")


def _upload(ref: Reference, digest: str, body, size: int) -> None:
    started = _request("POST", ref, "blobs/uploads/", expect=(202,))
    started.close()
    location = started.headers.get("Location")
    if not location:
        raise RegistryError("The registry opened an upload without a Location.", detail=ref.repo_ref)
    url = _absolute(ref, location)
    # bytes go with a Content-Length; a generator (copy_blob) chunked, which the registry accepts
    _request("PUT", ref, "", url=url + ("&" if "?" in url else "?") + f"digest={digest}", data=body,
             headers={"Content-Type": "application/octet-stream"}, expect=(201,)).close()


# --- Images ------------------------------------------------------------------------------------

def copy_image(source_repo, digest: str, target_repo, tag: str) -> str:
    """Make `target_repo:tag` name the manifest `digest` of `source_repo`, byte for byte: its blobs
    (config and layers, and those of an index's manifests) are mounted or copied, never rebuilt, and
    the manifest is PUT unchanged, so the digest stays the same. Returns the digest (== `digest`)."""
    source, target = _repo(source_repo), _repo(target_repo)
    _check_digest(digest)
    _check_tag(tag)
    body, media_type, _ = get_manifest(source, digest)
    manifest = _json(body)
    if media_type in INDEX_TYPES or "manifests" in manifest:
        for child in _descriptors(manifest.get("manifests"))[:64]:
            child_body, child_type, child_digest = get_manifest(source, child["digest"])
            _copy_blobs(source, target, _json(child_body))
            put_manifest(target, child_digest, child_body, child_type)
    else:
        _copy_blobs(source, target, manifest)
    stored = put_manifest(target, tag, body, media_type)
    if stored != digest:  # cannot happen when the bytes are the same; guarded because it is the promise
        raise RegistryError("The copied manifest has another digest.", detail=f"{digest} -> {stored}")
    return stored


def _copy_blobs(source: Reference, target: Reference, manifest: dict) -> None:
    blobs = _descriptors([manifest.get("config")] + list(manifest.get("layers") or []))
    for blob in blobs[:1024]:
        if source.repo_ref == target.repo_ref or blob_exists(target, blob["digest"]):
            continue
        if not mount_blob(target, blob["digest"], source):
            copy_blob(source, blob["digest"], target, int(blob.get("size") or 0))


def _descriptors(items) -> list[dict]:
    return [item for item in (items or []) if isinstance(item, dict) and DIGEST.fullmatch(str(item.get("digest")))]


# --- Referrers -----------------------------------------------------------------------------------

def supports_referrers(repo_ref, digest: str) -> bool:
    """Whether the registry answers the OCI 1.1 referrers API (200 with an image index). A registry
    without it answers 404 (Debian's docker-registry 2.8 does: its router has no such route)."""
    ref = _repo(repo_ref)
    _check_digest(digest)
    try:
        response = _request("GET", ref, f"referrers/{digest}", headers={"Accept": OCI_INDEX})
    except NotFound:
        return False
    body = _read_bounded(response, MAX_MANIFEST_BYTES, "referrers index")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    try:
        index = json.loads(body)
    except ValueError:
        return False
    return content_type == OCI_INDEX and isinstance(index, dict) and isinstance(index.get("manifests"), list)


def list_referrers(repo_ref, digest: str, artifact_type: str = "") -> list[dict]:
    """Descriptors of the manifests whose `subject` is `digest`: from the referrers API when the registry
    has it (following its pages, at most MAX_REFERRER_PAGES), else from the fallback tag
    `sha256-<hex>` (an index kept by whoever pushed the referrers). Filtered by `artifact_type`."""
    ref = _repo(repo_ref)
    _check_digest(digest)
    if supports_referrers(ref, digest):
        found, url = [], None
        for _ in range(MAX_REFERRER_PAGES):
            params = {"artifactType": artifact_type} if artifact_type and url is None else None
            response = _request("GET", ref, f"referrers/{digest}", url=url, params=params,
                                headers={"Accept": OCI_INDEX})
            found += _descriptors(_json(_read_bounded(response, MAX_MANIFEST_BYTES, "referrers index"))
                                  .get("manifests"))
            url = _next_page(ref, response)
            if url is None:
                break
    else:
        try:
            body, _, _ = get_manifest(ref, fallback_tag(digest))
        except NotFound:
            return []
        found = _descriptors(_json(body).get("manifests"))
    return [d for d in found if not artifact_type or d.get("artifactType") == artifact_type]


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for `digest`: "sha256-<hex>"."""
    _check_digest(digest)
    return digest.replace(":", "-")


def _next_page(ref: Reference, response: requests.Response) -> str | None:
    link = response.links.get("next", {}).get("url")
    return _absolute(ref, link) if link else None


# --- HTTP ----------------------------------------------------------------------------------------

_schemes: dict[str, str] = {}
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def _repo(repo_ref) -> Reference:
    return repo_ref if isinstance(repo_ref, Reference) else parse_reference(str(repo_ref))


def _check_digest(digest: str) -> None:
    if not DIGEST.fullmatch(str(digest)):
        raise ValueError(f"not a sha256 digest: {str(digest)[:100]!r}")


def _check_tag(tag: str) -> None:
    if not TAG.fullmatch(str(tag)):
        raise ValueError(f"not a tag: {str(tag)[:140]!r}")


def _check_reference(reference: str) -> None:
    if not (DIGEST.fullmatch(str(reference)) or TAG.fullmatch(str(reference))):
        raise ValueError(f"neither a tag nor a sha256 digest: {str(reference)[:140]!r}")


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        raise RegistryError("The registry answered something that is not JSON.") from None
    if not isinstance(value, dict):
        raise RegistryError("The registry answered JSON that is not an object.")
    return value


def _declared_type(body: bytes) -> str:
    try:
        return str(json.loads(body).get("mediaType") or OCI_MANIFEST)
    except (ValueError, AttributeError):
        return OCI_MANIFEST


def _read_bounded(response: requests.Response, limit: int, what: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise RegistryError(f"The registry's {what} is over {limit} bytes.")
    data = bytearray()
    try:
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise RegistryError(f"The registry's {what} is over {limit} bytes.")
    except requests.RequestException as exc:
        raise RegistryUnavailable("The registry stopped answering.", detail=f"{type(exc).__name__}: {exc}"[:500]) \
            from None
    finally:
        response.close()
    return bytes(data)


def _snippet(response: requests.Response) -> str:
    """The start of an error answer, for the log (never all of it)."""
    try:
        return next(response.iter_content(500), b"").decode("utf-8", "replace")
    except requests.RequestException:
        return ""
    finally:
        response.close()


def _own_host() -> str:
    """BUILD_REGISTRY's host: the only registry the gateway's credentials are for."""
    return settings.BUILD_REGISTRY.split("/", 1)[0] if settings.BUILD_REGISTRY else ""


def _base(host: str) -> str:
    with _lock:
        scheme = _schemes.get(host)
    return f"{scheme or 'https'}://{host}"


def _absolute(ref: Reference, location: str) -> str:
    url = urljoin(_base(ref.host) + "/", location)
    if _origin(url) != _origin(_base(ref.host)):  # an upload Location elsewhere would receive our blob and token
        raise RegistryError("The registry sent an upload location on another host.", detail=url[:300])
    return url


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"https": 443, "http": 80}.get(parts.scheme)


def _request(method: str, ref: Reference, path: str, *, url: str | None = None, expect=(200,),
             headers: dict | None = None, **kwargs) -> requests.Response:
    """One call, with the auth challenge answered once; maps failures to RegistryError."""
    target = url or f"{_base(ref.host)}/v2/{ref.repository}/{path}"
    headers = dict(headers or {})
    response = _send(method, ref.host, target, headers, kwargs)
    if response.status_code == 401 and _authorize(ref.host, response, headers):
        response.close()
        if hasattr(kwargs.get("data"), "__next__"):  # a streamed body cannot be sent twice
            raise RegistryError("The registry asked for credentials in the middle of an upload.")
        response = _send(method, ref.host, target, headers, kwargs)
    if response.status_code in expect:
        return response
    text = "" if method == "HEAD" else _snippet(response)
    detail = f"{method} {target[:300]}: HTTP {response.status_code} {text}".strip()
    if response.status_code == 404:
        raise NotFound(f"The registry has no {path.split('/')[0] or 'such object'} there (HTTP 404).",
                       status=404, detail=detail)
    if response.status_code >= 500 or response.status_code == 429:
        raise RegistryUnavailable(f"The registry is unavailable (HTTP {response.status_code}).",
                                  status=response.status_code, detail=detail)
    raise RegistryError(f"The registry refused the request (HTTP {response.status_code}).",
                        status=response.status_code, detail=detail)


def _send(method: str, host: str, url: str, headers: dict, kwargs: dict) -> requests.Response:
    timeout = settings.BUILD_REGISTRY_TIMEOUT_SECONDS
    verify = bool(settings.BUILD_REGISTRY_TLS_VERIFY)
    try:
        # always streamed: nothing is read unless the caller reads it, bounded (_read_bounded)
        return requests.request(method, url, headers=headers, timeout=timeout, verify=verify, stream=True,
                                allow_redirects=method in ("GET", "HEAD"), **kwargs)
    except requests.exceptions.SSLError as exc:
        if verify or not url.startswith("https://"):
            raise RegistryUnavailable("Could not reach the registry over TLS.", detail=f"{url[:300]}: {exc}"[:500]) \
                from None
    except requests.RequestException as exc:
        raise RegistryUnavailable(f"Could not reach the registry ({type(exc).__name__}).",
                                  detail=f"{url[:300]}: {exc}"[:500]) from None
    # TLS verification off and the host speaks no TLS: plain http, as for an insecure registry
    with _lock:
        _schemes[host] = "http"
    return _send(method, host, "http://" + url[len("https://"):], headers, kwargs)


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def _authorize(host: str, response: requests.Response, headers: dict) -> bool:
    """Answer a 401's challenge into `headers`; False if there is nothing we may send."""
    username, password = settings.BUILD_REGISTRY_USERNAME, settings.BUILD_REGISTRY_PASSWORD
    own = host == _own_host()
    challenge = response.headers.get("WWW-Authenticate", "")
    scheme = challenge.split(" ", 1)[0].lower()
    if scheme == "basic":
        if not (own and (username or password)):
            return False
        headers["Authorization"] = requests.auth._basic_auth_str(username, password)
        return True
    if scheme != "bearer":
        return False
    params = dict(_CHALLENGE.findall(challenge))
    token = _token(host, params, (username, password) if own and (username or password) else None)
    if not token:
        return False
    headers["Authorization"] = f"Bearer {token}"
    return True


def _token(host: str, params: dict, credentials) -> str:
    realm = params.get("realm", "")
    if not realm.startswith(("https://", "http://")):
        return ""
    if settings.BUILD_REGISTRY_TLS_VERIFY and not realm.startswith("https://"):
        return ""  # a token service over plain http would see the password
    key = (host, params.get("scope", ""))
    with _lock:
        token, expires = _tokens.get(key, ("", 0.0))
    if token and expires > time.monotonic():
        return token
    query = {k: v for k, v in params.items() if k in ("service", "scope")}
    try:
        answer = requests.get(realm, params=query, auth=credentials, timeout=settings.BUILD_REGISTRY_TIMEOUT_SECONDS,
                              verify=bool(settings.BUILD_REGISTRY_TLS_VERIFY), stream=True, allow_redirects=False)
    except requests.RequestException as exc:
        raise RegistryUnavailable("Could not reach the registry's token service.",
                                  detail=f"{realm[:300]}: {exc}"[:500]) from None
    if answer.status_code != 200:
        answer.close()
        raise RegistryError(f"The registry's token service refused (HTTP {answer.status_code}).",
                            status=answer.status_code, detail=realm[:300])
    body = _json(_read_bounded(answer, 64 * 1024, "token"))
    token = str(body.get("token") or body.get("access_token") or "")
    lifetime = min(int(body.get("expires_in") or 60), 300)
    with _lock:
        _tokens[key] = (token, time.monotonic() + max(lifetime - 10, 0))
    return token
