"""Record a build's completion: the one path for remote callbacks, the local builder and promotions alike.

It answers with a domain outcome; the HTTP view decides what status code that is. Before a success is
recorded, the image it names must exist in the release's repository in BUILD_REGISTRY (image_check), and
the dependency lock in the record must still be the one scanned (locking.shipping): nothing else may be
attested. A completion names its build attempt (build_id, or release_id and attempt): a late report of an
earlier attempt never lands on the running one.
"""
import enum
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

import releases.builds.image_check as image_check
import releases.builds.smoke as smoke
from releases import registry
from releases.evidence import attest
from releases.lifecycle import transition
from releases.locking import shipping
from releases.models import Build, CallbackDelivery, Release, ScanReport
from releases.policies import current_rules
from releases.scanning import os_inventory
from releases.statuses import Status, Step


class Outcome(enum.Enum):
    RECORDED = "recorded"
    REPLAYED = "replayed"  # this delivery id was processed before: acknowledged, ignored
    NO_SUCH_BUILD = "no such build"
    NOT_RUNNING = "not running"  # finished, timed out, or its release moved on (cancelled)


@dataclass(frozen=True)
class Completion:
    outcome: Outcome
    detail: str
    build: Build | None = None


def record_completion(delivery: str, data: dict, *, operational: bool = False) -> Completion:
    """`data`: build_id, or release_id and attempt (any of them given must match the build); status
    ("succeeded"/"failed"), image_reference, digest, log_url, message, and optionally dependency_lock_sha256
    (the lock the build installed: another than the scanned one fails it), base_image (by digest) and
    smoke_test (releases.builds.smoke.SmokeResult: one that did not pass fails the build; none where the
    environment's policy requires one fails it too).

    `operational`: the builder could not build for a reason outside the build (the local builder
    could not download the model): the release goes to FAILED (step build, retryable), not BUILD_FAILED.
    """
    if _seen(delivery):  # the common replay, answered without taking any lock
        return Completion(Outcome.REPLAYED, "Already processed.")
    named = named_build(data)
    if named is None:
        return Completion(Outcome.NO_SUCH_BUILD, UNNAMED)
    # The registry is asked before any row lock is taken: a slow registry must not hold the build's rows.
    data, operational = _image_checked(named, data, operational)
    with transaction.atomic():
        build = Build.objects.select_for_update().select_related("release").filter(**named).first()
        if build is None:
            return Completion(Outcome.NO_SUCH_BUILD, "No such build.")
        # Asked again under the build's row lock: a parallel copy of this delivery may have
        # recorded it while we waited for the lock (it then finished the build, so without
        # this check we would answer "not running" to a documented replay).
        if _seen(delivery):
            return Completion(Outcome.REPLAYED, "Already processed.")
        release = Release.objects.select_for_update().get(pk=build.release_id)
        if build.state != Build.State.RUNNING or release.status != Status.BUILDING_IMAGE:
            return Completion(Outcome.NOT_RUNNING, _not_running(build, release), build)
        CallbackDelivery.objects.create(delivery_id=delivery, build=build)
        _finish(build, data)
        unattestable = attest.ready_to_attest() if build.state == Build.State.SUCCEEDED else None
        if unattestable:  # nothing is SUCCEEDED without a signed attestation: an operational failure
            transition(release, Status.FAILED, message=unattestable, data={"build": build.pk, "delivery": delivery},
                       fields={"failed_step": Step.BUILD})
        elif build.state == Build.State.SUCCEEDED:
            release = transition(release, Status.SUCCEEDED,
                                 message=f"{_DONE[build.kind]}: {build.image_reference}@{build.image_digest}. "
                                         f"{smoke.describe(build.smoke_test)}",
                                 data={"build": build.pk, "delivery": delivery, "log_url": build.log_url},
                                 fields={"image_reference": build.image_reference, "image_digest": build.image_digest})
            attest.attest(release, build)  # in this transaction: if signing fails, SUCCEEDED is not written
        elif operational:
            transition(release, Status.FAILED, message=build.error[:2000],
                       data={"build": build.pk, "delivery": delivery}, fields={"failed_step": Step.BUILD})
        else:
            transition(release, Status.BUILD_FAILED, message=f"Build failed: {build.error}"[:2000],
                       data={"build": build.pk, "delivery": delivery, "log_url": build.log_url})
    return Completion(Outcome.RECORDED, "Recorded.", build)


# What the SUCCEEDED event says happened: a promotion built nothing.
_DONE = {Build.Kind.BUILD: "Image built", Build.Kind.REBUILD: "Image rebuilt",
         Build.Kind.PROMOTE: "Image promoted by digest"}


UNNAMED = "A completion names its build: build_id, or release_id and attempt (both are in the build request)."


def named_build(data: dict) -> dict | None:
    """The Build filter a completion names, or None if it names no single attempt.

    A release id alone is not enough: it would match whichever attempt runs now, so a late report of
    attempt 1 would complete attempt 2. Every id given must match the same build."""
    named = {key: data[field] for field, key in (("build_id", "pk"), ("release_id", "release_id"),
                                                 ("attempt", "attempt")) if data.get(field) is not None}
    return named if "pk" in named or {"release_id", "attempt"} <= named.keys() else None


def _not_running(build: Build, release: Release) -> str:
    newer = (Build.objects.filter(release_id=build.release_id, attempt__gt=build.attempt)
             .order_by("-attempt").values_list("attempt", flat=True).first())
    if newer:  # a late report of an earlier attempt: never applied to the one running now
        return (f"Build #{build.pk} is attempt {build.attempt} of release #{release.pk}; attempt {newer} "
                "replaced it, so this report is not applied.")
    return f"Build #{build.pk} is not running (release is {release.status})."


def _image_checked(named: dict, data: dict, operational: bool) -> tuple[dict, bool]:
    """`data` as it may be recorded: a success whose image is not in the release's repository becomes a
    failure (BUILD_FAILED), one the registry could not confirm an operational failure (FAILED, retryable)."""
    if data["status"] != "succeeded":
        return data, operational
    build = Build.objects.select_related("release").filter(**named).first()
    if build is None or build.state != Build.State.RUNNING:
        return data, operational  # answered under the lock below; nothing will be recorded
    verdict = image_check.check(build.release.model_name, data.get("image_reference", ""), data.get("digest", ""))
    if verdict.refused:
        return {**data, "status": "failed", "message": f"the reported image is refused: {verdict.refused}"}, False
    if verdict.unavailable:
        return {**data, "status": "failed", "message": verdict.unavailable}, True
    return _with_os_packages(data, operational)


def _with_os_packages(data: dict, operational: bool) -> tuple[dict, bool]:
    """A remote builder does not list its image's OS packages: they are read from the pushed image itself
    (as the base's were, releases.scanning.os_inventory), so that _base_refusal compares what ships."""
    if data.get("os_packages") or not data.get("base_image"):
        return data, operational
    image = f"{registry.parse_reference(data['image_reference']).repo_ref}@{data['digest']}"
    try:
        found = os_inventory.for_image(image)
    except os_inventory.BaseImageUnavailable:
        return {**data, "status": "failed", "message": "the image's OS packages could not be read from the "
                                                       "registry; the build can be retried"}, True
    if found.problem:
        return {**data, "status": "failed", "message": f"the image's OS packages cannot be read: {found.problem}"}, \
            False
    return {**data, "os_packages": {"distro": found.distro, "packages": found.packages}}, operational


def _smoke_refusal(build: Build, data: dict) -> str:
    """Why a build that reports success is refused for its smoke test ("" if it is not): a reported smoke test
    that did not pass always is; none at all is where the environment's policy requires one."""
    smoke = data.get("smoke_test")
    if isinstance(smoke, dict) and not smoke.get("passed"):
        return f"the image failed its smoke test: {str(smoke.get('message', ''))[:500]}"
    if smoke:
        return ""
    _rules, policy = current_rules(build.release.environment)
    if policy is not None and policy.require_smoke_test:
        return (f"the {build.release.environment.name} policy (v{policy.version}) requires a passed smoke test of the "
                "image, and the build reported none")
    return ""


def _base_refusal(build: Build, data: dict) -> str:
    """Why a success is refused for its OS packages ("" if it is not): the image must be built on the base whose
    packages the release's scan read, and (where the builder lists them) hold exactly those packages."""
    if data.get("status") != "succeeded":
        return ""
    report = ScanReport.objects.latest_for(build.release)
    scanned, built = (report.base_image if report else ""), data.get("base_image") or ""
    if built != scanned:
        return (f"the image was built on {built or 'no base image'}, but the scan read the OS packages of "
                f"{scanned or 'no base image'}: request the release again, so that what ships is what was scanned")
    listed = data.get("os_packages")
    if not scanned or not isinstance(listed, dict):
        return ""  # a remote builder does not list them; the base's digest above is what it built on
    try:
        inventory = os_inventory.for_image(scanned)  # cached when the release was scanned
    except os_inventory.BaseImageUnavailable as exc:
        return f"the image's OS packages could not be checked against its base: {exc}"
    have = os_inventory.packages_key(listed.get("packages") or [])
    unscanned = sorted(set(have) - set(os_inventory.packages_key(inventory.packages)))
    if unscanned:
        names = ", ".join(f"{name} {version}" for name, version, _arch in unscanned[:5])
        return (f"the image holds {len(unscanned)} OS package(s) its base does not, which were never scanned: "
                f"{names}{' …' if len(unscanned) > 5 else ''}")
    return ""


def _seen(delivery: str) -> bool:
    return CallbackDelivery.objects.filter(delivery_id=delivery).exists()


def _finish(build: Build, data: dict) -> None:
    succeeded = data["status"] == "succeeded"
    refusal = (shipping.installed_other_lock(build, data.get("dependency_lock_sha256"))
               or _base_refusal(build, data) or _smoke_refusal(build, data)
               or shipping.required_lock_refusal(build.release))  # the policy may have changed since it started
    if succeeded and refusal:  # what was scanned is not what ships, or the image did not serve: refused
        succeeded, data = False, {**data, "message": refusal}
    changed_lock = shipping.lock_problem(build.release_id) if succeeded else ""
    if changed_lock:  # the record's lock is not the scanned one: nothing is attested over it
        succeeded, data = False, {**data, "message": f"not attested: {changed_lock}"}
    build.smoke_test = data.get("smoke_test") or build.smoke_test
    build.base_image = data.get("base_image", "") or build.base_image
    build.os_packages = data.get("os_packages") or build.os_packages
    build.state = Build.State.SUCCEEDED if succeeded else Build.State.FAILED
    build.finished_at = timezone.now()
    build.log_url = data.get("log_url", "") or build.log_url
    build.image_reference = data.get("image_reference", "")
    build.image_digest = data.get("digest", "")
    build.error = "" if succeeded else (data.get("message") or "the build backend reported a failure")
    build.save()
