"""Record a build's completion: the one path for remote callbacks and the local builder alike."""
from django.db import transaction
from django.utils import timezone

from releases.lifecycle import transition
from releases.models import Build, CallbackDelivery, Release
from releases.statuses import Status


def record_completion(delivery: str, data: dict) -> tuple[int, dict]:
    with transaction.atomic():
        if CallbackDelivery.objects.filter(delivery_id=delivery).exists():
            return 200, {"detail": "Already processed.", "replayed": True}
        builds = Build.objects.select_for_update().select_related("release")
        build = (builds.filter(pk=data["build_id"]).first() if "build_id" in data
                 else builds.filter(release_id=data["release_id"]).order_by("-attempt").first())
        if build is None:
            return 404, {"detail": "No such build."}
        release = Release.objects.select_for_update().get(pk=build.release_id)
        if build.state != Build.State.RUNNING or release.status != Status.BUILDING_IMAGE:
            return 409, {"detail": f"Build #{build.pk} is not running (release is {release.status})."}
        CallbackDelivery.objects.create(delivery_id=delivery, build=build)
        succeeded = data["status"] == "succeeded"
        build.state = Build.State.SUCCEEDED if succeeded else Build.State.FAILED
        build.finished_at = timezone.now()
        build.log_url = data.get("log_url", "") or build.log_url
        build.image_reference = data.get("image_reference", "")
        build.image_digest = data.get("digest", "")
        build.error = "" if succeeded else (data.get("message") or "the build backend reported a failure")
        build.save()
        if succeeded:
            reference = f"{build.image_reference}@{build.image_digest}"
            transition(release, Status.SUCCEEDED, message=f"Image built: {reference}",
                       data={"build": build.pk, "delivery": delivery, "log_url": build.log_url},
                       fields={"image_reference": build.image_reference, "image_digest": build.image_digest})
        else:
            transition(release, Status.BUILD_FAILED, message=f"Build failed: {build.error}"[:2000],
                       data={"build": build.pk, "delivery": delivery, "log_url": build.log_url})
    return 200, {"detail": "Recorded.", "build": build.pk, "state": build.state}

