"""The operating system packages an image holds, read from its dpkg database, for the SBOM (pkg:deb purls).

dpkg's status file is a list of paragraphs; a package is installed when its `Status:` says
"install ok installed". Read bounded: MAX_STATUS_BYTES of the file, MAX_PACKAGES packages.
"""
from typing import TypedDict

STATUS_PATH = "var/lib/dpkg/status"
OS_RELEASE_PATH = "etc/os-release"
MAX_STATUS_BYTES = 16 * 1024 * 1024
MAX_PACKAGES = 5000


class OsPackage(TypedDict):
    name: str
    version: str
    arch: str


def parse_status(text: str) -> list[OsPackage]:
    """The installed packages of a dpkg status file, sorted by name."""
    found: list[OsPackage] = []
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue  # a continuation line (descriptions, conffiles)
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields.get("status", "").split()[-1:] == ["installed"] and fields.get("package") and fields.get("version"):
            found.append({"name": fields["package"], "version": fields["version"],
                          "arch": fields.get("architecture", "")})
        if len(found) >= MAX_PACKAGES:
            break
    return sorted(found, key=lambda p: (p["name"], p["arch"]))


def distro(os_release: str) -> str:
    """"debian-12" from /etc/os-release (the purl's distro qualifier); "" if it does not say."""
    fields = dict(line.split("=", 1) for line in os_release.splitlines() if "=" in line)
    name, version = fields.get("ID", "").strip('"'), fields.get("VERSION_ID", "").strip('"')
    return f"{name}-{version}" if name and version else name


def read_root(root) -> dict:
    """{"distro", "packages"} of a mounted image file system (a pathlib.Path); empty when it has no dpkg."""
    status, release = root / STATUS_PATH, root / OS_RELEASE_PATH
    if not status.is_file():
        return {"distro": "", "packages": []}
    with open(status, "rb") as fh:
        text = fh.read(MAX_STATUS_BYTES).decode("utf-8", "replace")
    about = release.read_text(errors="replace")[:4096] if release.is_file() else ""
    return {"distro": distro(about), "packages": parse_status(text)}
