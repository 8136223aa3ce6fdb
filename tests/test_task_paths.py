"""Every task named by a dotted string resolves to a callable: a misspelt path fails here, not in the worker."""
import ast
import importlib
import re
from pathlib import Path

import pytest
from django.utils.module_loading import import_string
from django_q.models import Schedule

from gateway_project.schedules import SCHEDULES
from gateway_project.schedules import apply as apply_schedules
from releases.queue import REEVALUATION_TASK, STEP_TASKS
from releases.statuses import Status

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("releases", "approvals", "gateway_project")
# A dotted path into the project written as a string: a task, a setting, a module run with -m.
DOTTED = re.compile(r"(releases|approvals|gateway_project)(\.\w+){2,}")


def dotted_paths_in(source: str) -> list[str]:
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value)]


def source_dotted_paths() -> list[tuple[str, str]]:
    """(file, path) for the source tree. Migrations are left out: an old migration may name a moved path."""
    found = []
    for directory in SOURCE_DIRS:
        for file in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" not in file.parts:
                found += [(str(file.relative_to(ROOT)), path) for path in dotted_paths_in(file.read_text())]
    return found


def importable(path: str) -> bool:
    try:
        import_string(path)
    except ImportError:
        try:
            importlib.import_module(path)
        except ImportError:
            return False
    return True


def unresolved(paths) -> list[str]:
    problems = []
    for path in paths:
        try:
            target = import_string(path)
        except ImportError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if not callable(target):
            problems.append(f"{path}: not callable")
    return problems


def test_the_scanner_finds_dotted_project_paths_only():
    source = '''
STEP_TASKS = {"A": "releases.steps.fetch_environment"}
async_task("approvals.tasks.request_approval", 1, task_name="release-1-pending")
PERMISSION = "releases.manage_waivers"
print("not.a.task", f"releases.{x}.y")
'''
    assert dotted_paths_in(source) == ["releases.steps.fetch_environment", "approvals.tasks.request_approval"]


def test_a_misspelt_or_non_callable_path_is_reported():
    assert unresolved(["releases.queue.enqueue_step"]) == []
    problems = unresolved(["releases.queue.enqueue_stpe", "releases.nosuchmodule.task", "releases.queue.STEP_TASKS"])
    assert len(problems) == 3 and problems[2] == "releases.queue.STEP_TASKS: not callable"


def test_step_table_tasks_resolve():
    assert STEP_TASKS
    assert unresolved(sorted(set(STEP_TASKS.values()))) == []


def test_every_task_the_gateway_enqueues_or_schedules_resolves():
    tasks = [*STEP_TASKS.values(), REEVALUATION_TASK, *(job.func for job in SCHEDULES)]
    assert Status.SCAN_PASSED in STEP_TASKS  # registered by the approvals app
    assert unresolved(tasks) == []


def test_dotted_paths_written_in_the_source_resolve():
    found = source_dotted_paths()
    assert set(STEP_TASKS.values()) <= {path for _, path in found}  # the scan sees the step table
    problems = [f"{file}: {path}" for file, path in found if not importable(path)]
    assert problems == [], "\n".join(problems)


def test_a_misspelt_dotted_path_is_not_importable():
    assert importable("releases.scanning.rego_runner") and importable("releases.jobs.resume_stalled")
    assert not importable("releases.jobs.resume_staled") and not importable("releases.nosuch.module")


@pytest.mark.django_db
def test_scheduled_tasks_left_by_migrations_resolve():
    rows = list(Schedule.objects.values_list("name", "func", "hook"))
    assert rows, "the migrations create the periodic schedules"
    problems = [f"schedule {name!r}: {problem}" for name, func, hook in rows
                for problem in unresolved([func] + ([hook] if hook else []))]
    assert problems == [], "\n".join(problems)


@pytest.mark.django_db
def test_the_schedule_table_is_applied_idempotently_after_migrate():
    assert sorted(Schedule.objects.values_list("name", "func")) == sorted((j.name, j.func) for j in SCHEDULES)
    Schedule.objects.filter(name="reconcile-builds").update(minutes=99, func="releases.tasks.reconcile_builds")
    Schedule.objects.create(name="renamed-long-ago", func="releases.tasks.old_job", schedule_type="I", minutes=1)
    Schedule.objects.create(name="someone-elses", func="reports.weekly", schedule_type="W")
    apply_schedules()
    apply_schedules()
    rows = {name: (func, minutes) for name, func, minutes in Schedule.objects.values_list("name", "func", "minutes")}
    assert rows["reconcile-builds"] == ("releases.jobs.reconcile_builds", 5)  # brought up to date by name
    assert "renamed-long-ago" not in rows and "someone-elses" in rows  # only the gateway's own are removed
    assert len(rows) == len(SCHEDULES) + 1
