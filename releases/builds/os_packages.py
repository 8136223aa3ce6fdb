"""The operating system packages an image holds, read from its dpkg database: for the SBOM (pkg:deb purls),
and for completion's proof that the image holds exactly the base's packages that were scanned.
Parsed as the scan parses the base's (releases.scanning.dpkg), so the two lists compare."""
from releases.scanning import dpkg

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")


def read_root(root) -> dict:
    """{"distro", "packages"} of a mounted image file system (a pathlib.Path); empty when it has no dpkg."""
    status = root / dpkg.STATUS_PATH
    if not status.is_file():
        return {"distro": "", "packages": []}
    with open(status, "rb") as fh:
        data = fh.read(dpkg.MAX_STATUS_BYTES + 1)
    if len(data) > dpkg.MAX_STATUS_BYTES:
        raise dpkg.DpkgError(f"/{dpkg.STATUS_PATH} is larger than {dpkg.MAX_STATUS_BYTES} bytes")
    about = next((p.read_text(errors="replace")[:4096] for p in (root / name for name in OS_RELEASE_PATHS)
                  if p.is_file()), "")
    return {"distro": dpkg.distro(about), "packages": dpkg.parse_status(data.decode("utf-8", "replace"))}
