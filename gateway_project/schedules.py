"""What runs when: every periodic job of the gateway, in one table.

Applied after every `migrate` (GatewayProjectConfig connects `apply` to post_migrate): a row
is created or brought up to date by name, and a gateway schedule no longer listed here is
removed. Intervals are in minutes.
"""
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps as global_apps
from django.utils import timezone

GATEWAY_APPS = ("releases.", "approvals.")


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    minutes: int
    why: str
    # When the first run is due, from the row's creation: two 1-minute rows of one job 30 s
    # apart run it every ~30 s (django-q2's scheduler looks every ~30 s; intervals are whole minutes).
    offset_seconds: int = 0


# A killed worker's lease expires within RELEASE_LEASE_SECONDS; the sweep then notices it
# within ~30 s, so its step is running again within a minute of the kill.
RESUME_STALLED = "re-enqueue steps whose worker died (lease or build heartbeat expired) or whose enqueue was lost"


SCHEDULES = [
    Job("resume-stalled-releases", "releases.jobs.resume_stalled", 1, RESUME_STALLED),
    Job("resume-stalled-releases-half-minute", "releases.jobs.resume_stalled", 1, RESUME_STALLED, offset_seconds=30),
    Job("expire-approvals", "approvals.tasks.expire_approvals", 10,
        "reject releases that waited for approval longer than their environment's TTL"),
    Job("reevaluate-after-waiver-changes", "releases.jobs.reevaluate_after_waiver_changes", 15,
        "scan again waiting releases whose decision used a waiver that expired or was revoked"),
    Job("reconcile-builds", "releases.jobs.reconcile_builds", 5,
        "fail builds that never reported back; close builds of cancelled releases"),
    Job("push-release-evidence", "releases.evidence.push.push_pending", 1,
        "push attestations and SBOMs whose push failed (registry down) or whose task was lost"),
    Job("sync-advisories", "releases.jobs.scheduled_advisory_sync", 60,
        "sync ADVISORY_SYNC_SOURCE when the last sync is older than ADVISORY_SYNC_INTERVAL_HOURS"),
]


def apply(sender=None, apps=None, using="default", **kwargs) -> None:
    try:  # migrate passes its model state; flush (TransactionTestCase) passes none
        schedule = (apps or global_apps).get_model("django_q", "Schedule")
    except LookupError:  # a partial migrate that has not created django_q's tables yet
        return
    rows = schedule.objects.using(using)
    now = timezone.now()
    for job in SCHEDULES:
        rows.update_or_create(name=job.name, defaults={
            "func": job.func, "schedule_type": "I", "minutes": job.minutes, "repeats": -1},
            create_defaults={"func": job.func, "schedule_type": "I", "minutes": job.minutes, "repeats": -1,
                             "next_run": now + timedelta(seconds=job.offset_seconds)})
    listed = [job.name for job in SCHEDULES]
    for prefix in GATEWAY_APPS:
        rows.filter(func__startswith=prefix).exclude(name__in=listed).delete()
