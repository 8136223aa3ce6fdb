"""A PEP 503 simple index on loopback serving wheels (and sdists) that the tests generate.

Wheels are real zip files with METADATA (Requires-Dist), WHEEL and RECORD, so uv reads them
as it reads PyPI's. Links carry `#sha256=` fragments, which uv turns into the lock's hashes.
"""
import base64
import contextlib
import hashlib
import html
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.local_http import serving

PLATFORM_TAG = "py3-none-any"


@dataclass
class Package:
    name: str
    version: str
    requires: list[str] = field(default_factory=list)
    wheel: bool = True  # False: only an sdist (whose setup.py would run code if anything built it)
    requires_python: str = ""
    tags: tuple[str, ...] = (PLATFORM_TAG,)  # one wheel per tag, e.g. cp311-cp311-manylinux_2_17_x86_64


def _dist(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def wheel_bytes(package: Package, tag: str = PLATFORM_TAG) -> bytes:
    dist_info = f"{_dist(package.name)}-{package.version}.dist-info"
    metadata = "Metadata-Version: 2.1\n" f"Name: {package.name}\n" f"Version: {package.version}\n"
    if package.requires_python:
        metadata += f"Requires-Python: {package.requires_python}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in package.requires)
    files = {
        f"{_dist(package.name)}/__init__.py": f"__version__ = {package.version!r}\n".encode(),
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: gateway-tests\nRoot-Is-Purelib: true\n"
                              f"Tag: {tag}\n").encode(),
    }
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def sdist_bytes(package: Package, marker: Path) -> bytes:
    """An sdist whose build code writes `marker`: if the file ever exists, something built it."""
    root = f"{_dist(package.name)}-{package.version}"
    setup = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('built')\n"
             f"from setuptools import setup\nsetup(name={package.name!r}, version={package.version!r})\n").encode()
    files = {f"{root}/setup.py": setup,
             f"{root}/PKG-INFO": f"Metadata-Version: 2.1\nName: {package.name}\nVersion: {package.version}\n".encode()}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 1577836800
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Index:
    """The served files: {normalised project: {filename: (bytes, requires_python)}}; requests are counted."""

    def __init__(self, packages: list[Package], build_marker: Path):
        self.projects: dict[str, dict[str, tuple[bytes, str]]] = {}
        self._pages: dict[str, bytes | None] = {}
        self.requests: list[str] = []
        self.build_marker = build_marker
        self.down = False  # True: every request is answered 503, as by a mirror in maintenance
        self.page_max_age = 600  # PyPI's; 0 makes uv revalidate every page (answered 304 while unchanged)
        for package in packages:
            self.publish(package)

    def publish(self, package: Package) -> None:
        """Add a release (a new upload to the mirror)."""
        files = self.projects.setdefault(_normal(package.name), {})
        self._pages.pop(_normal(package.name), None)
        if not package.wheel:
            files[f"{_dist(package.name)}-{package.version}.tar.gz"] = (sdist_bytes(package, self.build_marker),
                                                                      package.requires_python)
            return
        for tag in package.tags:
            files[f"{_dist(package.name)}-{package.version}-{tag}.whl"] = (wheel_bytes(package, tag),
                                                                         package.requires_python)

    def page(self, project: str) -> bytes | None:
        if project not in self._pages:
            self._pages[project] = self._render(project)
        return self._pages[project]

    def _render(self, project: str) -> bytes | None:
        files = self.projects.get(project)
        if files is None:
            return None
        links = "".join(
            f'<a href="/files/{project}/{name}#sha256={hashlib.sha256(data).hexdigest()}"'
            + (f' data-requires-python="{html.escape(rp)}"' if rp else "") + f">{name}</a>\n"
            for name, (data, rp) in sorted(files.items()))
        return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()

    def file(self, project: str, name: str) -> bytes | None:
        return self.projects.get(project, {}).get(name, (None, ""))[0]


def _handler(index: Index):
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK (headers, then body)

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.do_GET(head=True)

        def do_GET(self, head=False):
            index.requests.append(self.path)
            if index.down:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            body, kind = None, "text/html"
            if len(parts) == 2 and parts[0] == "simple":
                body = index.page(parts[1])
            elif len(parts) == 1 and parts[0] == "simple":
                body = "".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in sorted(index.projects)).encode()
            elif len(parts) == 3 and parts[0] == "files":
                body, kind = index.file(parts[1], parts[2]), "application/octet-stream"
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("ETag", etag)
            # As PyPI answers: pages for a while, files (named by their version) for good.
            self.send_header("Cache-Control", "max-age=31536000, immutable" if parts[0] == "files"
                             else f"max-age={index.page_max_age}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def package_index(packages: list[Package], build_marker: Path):
    """Serve `packages`; yields (simple index URL, Index)."""
    index = Index(packages, build_marker)
    with serving(_handler(index)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple", index
