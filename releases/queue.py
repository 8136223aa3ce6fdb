"""Which background task runs a release's step in each status.

Statuses without an entry are waiting for a person or an outside system (or
for a step that a later capability adds).
"""
import logging

from django_q.tasks import async_task

from releases.statuses import Status

log = logging.getLogger(__name__)

STEP_TASKS: dict[str, str] = {
    Status.PENDING: "releases.tasks.fetch_environment",
    Status.SCANNING_DEPENDENCIES: "releases.tasks.scan_dependencies",
    Status.SCAN_PASSED: "approvals.tasks.request_approval",
    Status.APPROVED: "releases.tasks.start_build",
    Status.BUILDING_IMAGE: "releases.tasks.trigger_build",
    Status.SUCCEEDED: "releases.tasks.set_mlflow_alias",  # a no-op unless the environment names an alias
}


def enqueue_step(release_id: int, status: str) -> str | None:
    """Enqueue the task for `status`; call only after the change has committed."""
    task = STEP_TASKS.get(status)
    if task is None:
        return None
    log.info("enqueue %s for release %s", task, release_id)
    return async_task(task, release_id, task_name=f"release-{release_id}-{status.lower()}", group="releases")
