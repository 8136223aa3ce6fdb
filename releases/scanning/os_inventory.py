"""The operating system packages of the base image a release will be built on, read from the registry.

The serving image adds no OS package to its base (its layers are a venv and the model's files:
releases.builds.serving), so the base's dpkg database is the image's. It is read here, before the build,
so that OS packages are scanned with the model's Python packages, under the same policy and waivers, and
a release is approved knowing them. The build then proves the image holds exactly these (completion).

Read as a container runtime would assemble the file system: the layers in order, whiteouts applied
(`.wh.NAME` removes NAME, `.wh..wh..opq` empties a directory of what lower layers put there). Only the
files that say what is installed are kept. What cannot be read surely is a problem that blocks the
release, never an empty list: another package database (apk, rpm), a system the gateway has no advisories
for, a compression it cannot read, a database over its bounds.

The same reading gives a pushed image's packages when a remote builder does not list them
(releases.builds.completion): the image must hold exactly its base's.

An inventory is cached by the image's manifest digest (content addressed: it never changes) in
OS_INVENTORY_CACHE_DIR, so a base is read once, not per scan.
"""
import json
import posixpath
import tarfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from releases import registry
from releases.scanning import dpkg
from releases.scanning.envparse import Dependency

READER_VERSION = 1  # part of the cache key: change it when what is read changes
SOURCE_FILE = "base:/" + dpkg.STATUS_PATH  # where OS findings point (the path inside the base image)
MAX_LAYERS = 128
MAX_LAYER_BYTES = 4 * 1024 ** 3  # uncompressed, per layer
MAX_TOTAL_BYTES = 16 * 1024 ** 3
MAX_MEMBERS = 2_000_000
MAX_SECONDS = 600
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
# Package databases the gateway cannot match: their presence makes the base unscannable, not clean.
FOREIGN_DATABASES = {"lib/apk/db/installed": "apk (Alpine)", "var/lib/rpm": "rpm", "usr/lib/sysimage/rpm": "rpm"}
_TAR = {"application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar"}
_GZIP = {"application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"}


class BaseImageUnavailable(Exception):
    """The registry could not be asked (an outage): an operational failure, retried; never "no packages"."""


@dataclass
class Inventory:
    image: str  # name@sha256:…
    ecosystem: str = ""  # "Debian:12"
    distro: str = ""  # "debian-12"
    packages: list[dpkg.OsPackage] = field(default_factory=list)
    problem: str = ""  # why the base's OS packages cannot be scanned (blocks)


def configured_base_image() -> str:
    """The base the next image will be built on (BUILD_BASE_IMAGE, checked at start to be a digest
    reference); "" for none or a files-only image (`scratch`), which hold no OS package."""
    base = settings.BUILD_BASE_IMAGE
    return "" if base in ("", "scratch") else base


def for_image(image: str) -> Inventory:
    """The inventory of `image` (a reference by digest), from the cache or the registry."""
    ref = registry.parse_reference(image)
    if not ref.digest:
        return Inventory(image, problem=f"the image {image} is not named by digest")
    cached = _cache_path(ref.digest)
    if cached.is_file():
        try:
            return Inventory(**{**json.loads(cached.read_text()), "image": image})
        except (ValueError, TypeError):
            pass  # a damaged cache entry is read again
    inventory = _read(image, ref)
    if not inventory.problem or inventory.packages:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(inventory)))
        partial.replace(cached)
    return inventory


def dependencies(inventory: Inventory) -> list[Dependency]:
    """One dependency per source package (its advisories' name), at its source version; `raw_name` lists the
    binary packages built from it that the base holds."""
    by_source: dict[tuple[str, str], list[dpkg.OsPackage]] = {}
    for package in inventory.packages:
        by_source.setdefault((package["source"], package["source_version"]), []).append(package)
    return [Dependency(name=source, specifier=f"={version}", version=version, source_file=SOURCE_FILE,
                       line=binaries[0]["line"], ecosystem=inventory.ecosystem, raw_name=", ".join(
                           sorted(p["name"] for p in binaries)), role="os")
            for (source, version), binaries in sorted(by_source.items())]


def packages_key(packages) -> list[tuple[str, str, str]]:
    """What two package lists are compared on: binary name, version, architecture."""
    return sorted({(p["name"], p["version"], p.get("arch", "")) for p in packages})


def _cache_path(digest: str) -> Path:
    return Path(settings.OS_INVENTORY_CACHE_DIR) / f"v{READER_VERSION}-{digest.split(':', 1)[1]}.json"


def _read(image: str, ref) -> Inventory:
    try:
        manifest = _manifest(ref)
        files = _files(ref, manifest)
    except _Unscannable as exc:
        return Inventory(image, problem=str(exc))
    except registry.RegistryUnavailable as exc:
        raise BaseImageUnavailable(f"The image {image} could not be read from its registry: {exc}") from None
    except registry.RegistryError as exc:
        return Inventory(image, problem=f"the image {image} could not be read: {exc}")
    return _inventory(image, files)


class _Unscannable(Exception):
    pass


def _manifest(ref) -> dict:
    body, media_type, _ = registry.get_manifest(ref.repo_ref, ref.digest)
    document = json.loads(body)
    if media_type in registry.INDEX_TYPES or "manifests" in document:
        wanted = [m for m in document.get("manifests", []) if (m.get("platform") or {}).get("os") == "linux"
                  and (m.get("platform") or {}).get("architecture") == "amd64"]
        if len(wanted) != 1:
            raise _Unscannable(f"the image's index names {len(wanted)} linux/amd64 images, not one")
        body, _, _ = registry.get_manifest(ref.repo_ref, wanted[0]["digest"])
        document = json.loads(body)
    if not isinstance(document.get("layers"), list) or len(document["layers"]) > MAX_LAYERS:
        raise _Unscannable("the image's manifest has no layer list, or more than "
                           f"{MAX_LAYERS} layers")
    return document


class _Chunks:
    """A file object over a blob's chunks, decompressed here so that the bytes a layer expands to are bounded
    (tarfile's own decompression could not be)."""

    def __init__(self, chunks, gzip: bool, limit: int, deadline: float):
        self.chunks, self.limit, self.deadline = chunks, limit, deadline
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self.buffer, self.produced = b"", 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                if self.inflate is not None:
                    self.buffer += self.inflate.flush()
                break
            if time.monotonic() > self.deadline:
                raise _Unscannable(f"reading the image took more than {MAX_SECONDS} s")
            data = self.inflate.decompress(chunk) if self.inflate is not None else chunk
            self.produced += len(data)
            if self.produced > self.limit:
                raise _Unscannable(f"a layer of the image expands to more than {self.limit} bytes")
            self.buffer += data
        out = self.buffer if size < 0 else self.buffer[:size]
        self.buffer = b"" if size < 0 else self.buffer[size:]
        return out

    def drain(self) -> None:
        """Read what the tar reader left (padding), so that the blob's digest is checked."""
        while self.read(1024 * 1024):
            pass


def _interesting(path: str) -> bool:
    return (path == dpkg.STATUS_PATH or path.startswith(dpkg.STATUS_DIR + "/") or path in OS_RELEASE
            or any(path == db or path.startswith(db + "/") for db in FOREIGN_DATABASES))


def _files(ref, manifest: dict) -> dict[str, bytes | str]:
    """path -> content (bytes) or symlink target (str), for the paths that say what is installed."""
    files: dict[str, bytes | str] = {}
    deadline, total, members = time.monotonic() + MAX_SECONDS, 0, 0
    for layer in manifest["layers"]:
        kind, size = layer.get("mediaType", ""), int(layer.get("size", 0))
        if kind not in _TAR | _GZIP:
            raise _Unscannable(f"a layer of the image is {kind or 'of no declared type'}, which the gateway "
                               "cannot read (tar or tar+gzip)")
        stream = _Chunks(registry.read_blob(ref.repo_ref, layer["digest"], size), kind in _GZIP,
                         min(MAX_LAYER_BYTES, MAX_TOTAL_BYTES - total), deadline)
        try:
            # a stream, read once: "r|" never seeks (the stubs do not list the mode)
            with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
                for member in archive:
                    members += 1
                    if members > MAX_MEMBERS:
                        raise _Unscannable(f"the image holds more than {MAX_MEMBERS} files")
                    _apply(member, archive, files)
            stream.drain()
        except (tarfile.TarError, zlib.error, EOFError) as exc:
            raise _Unscannable(f"a layer of the image is not a readable tar archive: {exc}") from None
        total += stream.produced
    return files


def _apply(member: tarfile.TarInfo, archive, files: dict) -> None:
    path = posixpath.normpath(member.name.lstrip("/")).removeprefix("./")
    directory, name = posixpath.split(path)
    if name == ".wh..wh..opq":  # an opaque directory: lower layers' entries under it are gone
        for known in [p for p in files if p.startswith(directory + "/")]:
            del files[known]
        return
    if name.startswith(".wh."):
        gone = posixpath.join(directory, name[4:])
        for known in [p for p in files if p == gone or p.startswith(gone + "/")]:
            del files[known]
        return
    if not _interesting(path):
        for known in [p for p in files if p.startswith(path + "/")] if member.isfile() else []:
            del files[known]  # a file replacing a directory that held one we keep
        return
    if member.issym():
        files[path] = member.linkname
    elif member.isfile():
        if member.size > dpkg.MAX_STATUS_BYTES:
            raise _Unscannable(f"/{path} in the image is larger than {dpkg.MAX_STATUS_BYTES} bytes")
        handle = archive.extractfile(member)
        files[path] = handle.read() if handle else b""
    elif member.isdir():
        files.setdefault(path + "/", b"")  # marks a package database directory (rpm) as present
    else:
        files[path] = ""  # a hard link or device where a database should be: unreadable, see _inventory


def _text(files: dict, path: str, hops: int = 0) -> str | None:
    value = files.get(path)
    if isinstance(value, str) and hops < 4 and value:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), value)).lstrip("/")
        return _text(files, target, hops + 1)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _inventory(image: str, files: dict) -> Inventory:
    for database, what in FOREIGN_DATABASES.items():
        if any(p == database or p.startswith(database + "/") for p in files):
            return Inventory(image, problem=f"the image holds an {what} package database (/{database}); the "
                                            "gateway matches Debian packages only, so its OS packages cannot be "
                                            "scanned")
    release = next((t for t in (_text(files, p) for p in OS_RELEASE) if t is not None), "")
    status = _text(files, dpkg.STATUS_PATH)
    parts = sorted(p for p in files if p.startswith(dpkg.STATUS_DIR + "/"))
    if status is None and not parts:
        return Inventory(image, problem="the image has no dpkg database (/var/lib/dpkg/status): what it "
                                        "installs cannot be known, so it cannot be scanned")
    ecosystem = dpkg.ecosystem(release)
    if not ecosystem:
        return Inventory(image, distro=dpkg.distro(release), problem=(
            f"the image's /etc/os-release says {dpkg.distro(release) or 'nothing'}: the gateway has "
            "advisories for numbered Debian releases only, so its OS packages cannot be scanned"))
    try:
        packages = dpkg.parse_status(status or "")
        for part in parts:
            packages += dpkg.parse_status(_text(files, part) or "")
    except dpkg.DpkgError as exc:
        return Inventory(image, ecosystem, dpkg.distro(release), problem=f"/{dpkg.STATUS_PATH}: {exc}")
    return Inventory(image, ecosystem, dpkg.distro(release), sorted(packages, key=lambda p: (p["name"], p["arch"])))
