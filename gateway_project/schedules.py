"""What runs when: every periodic job of the gateway, in one table.

Applied after every `migrate` (GatewayProjectConfig connects `apply` to post_migrate): a row
is created or brought up to date by name, and a gateway schedule no longer listed here is
removed. Intervals are in minutes.
"""
from dataclasses import dataclass

from django.apps import apps as global_apps

GATEWAY_APPS = ("releases.", "approvals.")


@dataclass(frozen=True)
class Job:
    name: str
    func: str
    minutes: int
    why: str


SCHEDULES = [
    Job("resume-stalled-releases", "releases.jobs.resume_stalled", 1,
        "re-enqueue steps whose worker died or whose enqueue was lost"),
    Job("expire-approvals", "approvals.tasks.expire_approvals", 10,
        "reject releases that waited for approval longer than their environment's TTL"),
    Job("reevaluate-after-waiver-changes", "releases.jobs.reevaluate_after_waiver_changes", 15,
        "scan again waiting releases whose decision used a waiver that expired or was revoked"),
    Job("reconcile-builds", "releases.jobs.reconcile_builds", 5,
        "fail builds that never reported back; close builds of cancelled releases"),
    Job("sync-advisories", "releases.jobs.scheduled_advisory_sync", 60,
        "sync ADVISORY_SYNC_SOURCE when the last sync is older than ADVISORY_SYNC_INTERVAL_HOURS"),
]


def apply(sender=None, apps=None, using="default", **kwargs) -> None:
    try:  # migrate passes its model state; flush (TransactionTestCase) passes none
        schedule = (apps or global_apps).get_model("django_q", "Schedule")
    except LookupError:  # a partial migrate that has not created django_q's tables yet
        return
    rows = schedule.objects.using(using)
    for job in SCHEDULES:
        rows.update_or_create(name=job.name, defaults={
            "func": job.func, "schedule_type": "I", "minutes": job.minutes, "repeats": -1})
    listed = [job.name for job in SCHEDULES]
    for prefix in GATEWAY_APPS:
        rows.filter(func__startswith=prefix).exclude(name__in=listed).delete()
