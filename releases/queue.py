"""What runs in the background, and the one place that enqueues it.

STEP_TASKS says which task moves a release on from each status. Statuses without an
entry wait for a person or an outside system. Other apps add the steps they own with
`register_step` (the approvals app adds SCAN_PASSED's), so releases never imports them.
"""
import logging

from django.db import transaction
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


def enqueue_reevaluation(trigger: str, release_ids: list[int] | None = None) -> None:
    """Scan waiting releases again once the caller's transaction commits (advisories or waivers changed)."""
    transaction.on_commit(lambda: async_task(REEVALUATION_TASK, trigger, release_ids,
                                             task_name="reevaluate-waiting", group="releases"))
