"""A small in-memory OCI registry on loopback that speaks the OCI 1.1 referrers API, which Debian's
docker-registry 2.8 does not: blobs (monolithic upload), manifests by tag or digest, and
GET /v2/<name>/referrers/<digest> answering an image index of the manifests whose subject is that digest."""
import contextlib
import hashlib
import json
import re
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.local_http import serving

INDEX = "application/vnd.oci.image.index.v1+json"
_PATH = re.compile(r"/v2/(?P<name>.+?)/(?P<kind>blobs/uploads|blobs|manifests|referrers)/?(?P<ref>[^/]*)$")


@contextlib.contextmanager
def referrers_registry():
    blobs: dict[str, bytes] = {}
    manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
    requests_seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code, body=b"", headers=None):
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self):
            requests_seen.append(f"{self.command} {self.path}")
            url = urlsplit(self.path)
            if url.path == "/v2/":
                return self._answer(200, b"{}")
            match = _PATH.match(url.path)
            if match is None:
                return self._answer(404)
            name, kind, ref = match["name"], match["kind"], match["ref"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if self.command in ("PUT", "POST") \
                else b""
            if kind == "blobs/uploads":
                if self.command == "POST":
                    return self._answer(202, headers={"Location": f"/v2/{name}/blobs/uploads/{uuid.uuid4().hex}"})
                digest = parse_qs(url.query)["digest"][0]
                if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                    return self._answer(400)
                blobs[digest] = body
                return self._answer(201, headers={"Docker-Content-Digest": digest})
            if kind == "blobs":
                if ref not in blobs:
                    return self._answer(404)
                return self._answer(200, blobs[ref], {"Docker-Content-Digest": ref})
            if kind == "manifests":
                if self.command == "PUT":
                    digest = "sha256:" + hashlib.sha256(body).hexdigest()
                    media = self.headers.get("Content-Type", "")
                    manifests[(name, digest)] = manifests[(name, ref)] = (body, media)
                    return self._answer(201, headers={"Docker-Content-Digest": digest})
                if (name, ref) not in manifests:
                    return self._answer(404)
                stored, media = manifests[(name, ref)]
                return self._answer(200, stored, {"Content-Type": media, "Docker-Content-Digest":
                                                  "sha256:" + hashlib.sha256(stored).hexdigest()})
            return self._referrers(name, ref, parse_qs(url.query).get("artifactType", [""])[0])

        def _referrers(self, name, digest, artifact_type):
            found = []
            for (repo, key), (body, media) in list(manifests.items()):
                if repo != name or not key.startswith("sha256:") or key != "sha256:" + hashlib.sha256(body).hexdigest():
                    continue
                manifest = json.loads(body)
                if (manifest.get("subject") or {}).get("digest") == digest and (
                        not artifact_type or manifest.get("artifactType") == artifact_type):
                    found.append({"mediaType": media, "digest": key, "size": len(body),
                                  "artifactType": manifest.get("artifactType")})
            index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": found}).encode()
            return self._answer(200, index, {"Content-Type": INDEX})

        do_GET = do_HEAD = do_PUT = do_POST = _route  # noqa: N815 (http.server's naming)

        def log_message(self, *args):
            pass

    with serving(Handler) as server:
        yield f"127.0.0.1:{server.server_address[1]}", requests_seen
