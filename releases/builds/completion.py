"""Record a build's completion: the one path for remote callbacks and the local builder alike.

It answers with a domain outcome; the HTTP view decides what status code that is.
"""
import enum
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from releases.builds import smoke
from releases.evidence import attest
from releases.lifecycle import transition
from releases.locking import shipping
from releases.models import Build, CallbackDelivery, Release
from releases.policies import current_rules
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
    """`data`: build_id or release_id, status ("succeeded"/"failed"), image_reference, digest, log_url, message,
    and optionally dependency_lock_sha256 (the lock the build installed: another than the scanned one fails it),
    base_image (by digest) and smoke_test (releases.builds.smoke.SmokeResult: one that did not pass fails the
    build; none where the environment's policy requires one fails it too).

    `operational`: the builder could not build for a reason outside the build (the local builder
    could not download the model): the release goes to FAILED (step build, retryable), not BUILD_FAILED.
    """
    if _seen(delivery):  # the common replay, answered without taking any lock
        return Completion(Outcome.REPLAYED, "Already processed.")
    with transaction.atomic():
        builds = Build.objects.select_for_update().select_related("release")
        build = (builds.filter(pk=data["build_id"]).first() if "build_id" in data
                 else builds.filter(release_id=data["release_id"]).order_by("-attempt").first())
        if build is None:
            return Completion(Outcome.NO_SUCH_BUILD, "No such build.")
        # Asked again under the build's row lock: a parallel copy of this delivery may have
        # recorded it while we waited for the lock (it then finished the build, so without
        # this check we would answer "not running" to a documented replay).
        if _seen(delivery):
            return Completion(Outcome.REPLAYED, "Already processed.")
        release = Release.objects.select_for_update().get(pk=build.release_id)
        if build.state != Build.State.RUNNING or release.status != Status.BUILDING_IMAGE:
            return Completion(Outcome.NOT_RUNNING, f"Build #{build.pk} is not running (release is {release.status}).",
                              build)
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


def _seen(delivery: str) -> bool:
    return CallbackDelivery.objects.filter(delivery_id=delivery).exists()


def _finish(build: Build, data: dict) -> None:
    succeeded = data["status"] == "succeeded"
    refusal = shipping.installed_other_lock(build, data.get("dependency_lock_sha256")) or _smoke_refusal(build, data)
    if succeeded and refusal:  # what was scanned is not what ships, or the image did not serve: refused
        succeeded, data = False, {**data, "message": refusal}
    build.smoke_test = data.get("smoke_test") or build.smoke_test
    build.base_image = data.get("base_image", "") or build.base_image
    build.state = Build.State.SUCCEEDED if succeeded else Build.State.FAILED
    build.finished_at = timezone.now()
    build.log_url = data.get("log_url", "") or build.log_url
    build.image_reference = data.get("image_reference", "")
    build.image_digest = data.get("digest", "")
    build.error = "" if succeeded else (data.get("message") or "the build backend reported a failure")
    build.save()
