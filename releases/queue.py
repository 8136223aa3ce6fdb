"""What runs in the background, and the one place that enqueues it.

STEP_TASKS says which task moves a release on from each status. Statuses without an
entry wait for a person or an outside system. Other apps add the steps they own with
`register_step` (the approvals app adds SCAN_PASSED's), so releases never imports them.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from releases.statuses import Status

log = logging.getLogger(__name__)

# What a task returns when its release has moved on or another worker holds it: a task
# may be delivered twice, and the second delivery must change nothing.
SKIPPED = "skipped"

STEP_TASKS: dict[str, str] = {
    Status.PENDING: "releases.steps.fetch_environment",
    Status.SCANNING_DEPENDENCIES: "releases.steps.scan_dependencies",
    # Status.SCAN_PASSED: registered by the approvals app (approvals/apps.py).
    Status.APPROVED: "releases.steps.start_build",
    Status.BUILDING_IMAGE: "releases.steps.trigger_build",
    Status.SUCCEEDED: "releases.steps.set_mlflow_alias",  # a no-op unless the environment names an alias
}

REEVALUATION_TASK = "releases.jobs.reevaluate_waiting"
EVIDENCE_PUSH_TASK = "releases.evidence.push.push_evidence"


def register_step(status: str, task: str) -> None:
    """Called from an AppConfig.ready(); one task per status, so a second registration is a bug."""
    if STEP_TASKS.get(status, task) != task:
        raise ValueError(f"{status} already runs {STEP_TASKS[status]}; refusing {task}.")
    STEP_TASKS[status] = task


def enqueue_step(release_id: int, status: str) -> str | None:
    """Enqueue the task for `status`; call only after the change has committed."""
    task = STEP_TASKS.get(status)
    if task is None:
        return None
    log.info("enqueue %s for release %s", task, release_id)
    return async_task(task, release_id, task_name=f"release-{release_id}-{status.lower()}", group="releases")


def queued_release_ids() -> set[int] | None:
    """Releases that django-q2 holds a step task for, or None when the broker cannot be read.

    ORM broker: a task is a row until acknowledged. One due (lock in the past) waits for a
    worker; one taken (lock = taken + retry) within RELEASE_LEASE_SECONDS is about to claim
    its release. One taken longer ago is running (its release then has a live lease) or was
    taken by a cluster that died: it is not counted, so its release is resumed now, not when
    django-q2 redelivers it after TASK_RETRY_SECONDS.
    Redis broker: the list holds the waiting tasks; a popped one is gone from it (and lost if
    its cluster dies), so only the waiting ones count.
    """
    if settings.Q_CLUSTER.get("orm"):
        payloads = _orm_payloads()
    elif settings.Q_CLUSTER.get("redis"):
        from django_q.brokers import get_broker

        broker = get_broker()
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    else:
        return None
    steps = set(STEP_TASKS.values())
    held = set()
    for payload in payloads:
        try:
            task = SignedPackage.loads(payload)
        except Exception:  # not ours to read (another signing key): it cannot be a step of ours
            continue
        if task.get("func") in steps and task.get("args"):
            held.add(task["args"][0])
    return held


def _orm_payloads() -> list[str]:
    from django_q.models import OrmQ

    now = timezone.now()
    taken_recently = now + timedelta(seconds=settings.TASK_RETRY_SECONDS - settings.RELEASE_LEASE_SECONDS)
    rows = OrmQ.objects.using(settings.Q_CLUSTER["orm"]).filter(key=settings.Q_CLUSTER["name"])
    return list(rows.filter(Q(lock__lte=now) | Q(lock__gt=taken_recently)).values_list("payload", flat=True))


def enqueue_reevaluation(trigger: str, release_ids: list[int] | None = None) -> None:
    """Scan waiting releases again once the caller's transaction commits (advisories or waivers changed)."""
    transaction.on_commit(lambda: async_task(REEVALUATION_TASK, trigger, release_ids,
                                             task_name="reevaluate-waiting", group="releases"))


def enqueue_evidence_push(evidence_id: int) -> None:
    """Push a release's attestation and SBOM to the registry once the caller's transaction commits."""
    transaction.on_commit(lambda: async_task(EVIDENCE_PUSH_TASK, evidence_id, task_name=f"evidence-{evidence_id}-push",
                                             group="releases"))
