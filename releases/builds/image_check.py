"""Is the image a build reports the image that exists? Checked before any build is recorded as SUCCEEDED.

A completion names an image (reference and digest). Whoever holds the callback secret could name a digest
that was never pushed, or an image on some other registry, and either would have been attested. So every
success (remote callback, local builder, promotion) passes through `check`, called by
releases.builds.completion.record_completion, the one path to SUCCEEDED: the image must be in
BUILD_REGISTRY, in the release's own repository (releases.builds.repository.repository_for, where the local
builder pushes and promotions tag), and the registry must serve that manifest by digest (the client checks
the bytes against the digest). The reasons name what was wrong, never the registry's address or answer:
those go to the worker's log.
"""
import logging
from dataclasses import dataclass

from django.conf import settings

from releases import registry
from releases.builds.repository import repository_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    refused: str = ""  # the image is not what the build claims: the build failed (BUILD_FAILED)
    unavailable: str = ""  # it could not be checked now (registry down, not configured): FAILED, step build

    @property
    def ok(self) -> bool:
        return not (self.refused or self.unavailable)


OK = Verdict()


def check(model_name: str, image_reference: str, digest: str) -> Verdict:
    """Whether `image_reference` @ `digest` exists in BUILD_REGISTRY under the repository of `model_name`."""
    if not settings.BUILD_REGISTRY:
        return Verdict(unavailable="BUILD_REGISTRY must be set to check that a reported image exists before a "
                                   "release can succeed (whatever the build backend).")
    try:
        expected = registry.parse_reference(repository_for(model_name))
    except ValueError:
        return Verdict(unavailable="BUILD_REGISTRY is not a usable registry reference (host[:port]/namespace).")
    wrong_place = _wrong_place(expected, image_reference, digest)
    if wrong_place:
        return Verdict(refused=wrong_place)
    return _manifest_exists(expected, digest)


def _wrong_place(expected: registry.Reference, image_reference: str, digest: str) -> str:
    """Why the reported reference is not this release's repository in BUILD_REGISTRY ("" if it is)."""
    try:
        reported = registry.parse_reference(image_reference)
    except ValueError:
        return "the reported image reference is not a registry reference with a host"
    if reported.host.lower() != expected.host.lower():
        return ("the reported image is on another registry than the gateway's (BUILD_REGISTRY); "
                "a build must push to it")
    if reported.repository != expected.repository:
        return (f"the reported image is in repository {reported.repository}, not in this model's repository "
                f"{expected.repository}")
    if reported.digest and reported.digest != digest:
        return f"the reported image reference names digest {reported.digest}, not the reported digest {digest}"
    return ""


def _manifest_exists(expected: registry.Reference, digest: str) -> Verdict:
    try:
        registry.get_manifest(expected, digest)  # by digest: the client checks the bytes' sha256 against it
    except registry.NotFound:
        return Verdict(refused=f"the registry has no image {expected.repository}@{digest}: it was never pushed "
                               "there (or has been deleted)")
    except registry.RegistryError as exc:  # down, refusing, or answering other bytes: not known either way
        log.warning("checking %s@%s: %s (%s)", expected.repo_ref, digest, exc, exc.detail)
        return Verdict(unavailable=f"Could not check the reported image {expected.repository}@{digest} in the "
                                   "registry; the build can be retried once the registry answers.")
    return OK
