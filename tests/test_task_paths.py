"""Every task named by a dotted string resolves to a callable: a misspelt path fails here, not in the worker."""
import ast
from pathlib import Path

import pytest
from django.utils.module_loading import import_string
from django_q.models import Schedule

from releases.queue import STEP_TASKS

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("releases", "approvals", "gateway_project")
ENQUEUE_CALLS = {"async_task", "schedule"}  # django_q.tasks functions whose first argument is the task path
TASK_TABLES = {"STEP_TASKS", "SCHEDULES"}
TASK_KEYS = {"func", "hook"}  # Schedule(func=..., hook=...), and dicts of such fields


def _name(node):
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _strings(node):
    return [node.value] if isinstance(node, ast.Constant) and isinstance(node.value, str) else []


def task_paths_in(source: str) -> list[str]:
    """Task paths written as literals: enqueue calls, func=/hook= arguments and keys, STEP_TASKS/SCHEDULES values."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            if _name(node.func) in ENQUEUE_CALLS and node.args:
                found += _strings(node.args[0])
            for keyword in node.keywords:
                if keyword.arg in TASK_KEYS:
                    found += _strings(keyword.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if key is not None and _strings(key) and key.value in TASK_KEYS:
                    found += _strings(value)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_name(t) in TASK_TABLES for t in targets) and isinstance(node.value, ast.Dict):
                for value in node.value.values:
                    found += _strings(value)
    return found


def source_task_paths() -> list[tuple[str, str]]:
    """(file, path) for the source tree. Migrations are left out: the Schedule rows they leave are checked below,
    and an old migration may name a path that a later one has moved."""
    found = []
    for directory in SOURCE_DIRS:
        for file in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" in file.parts:
                continue
            found += [(str(file.relative_to(ROOT)), path) for path in task_paths_in(file.read_text())]
    return found


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


def test_the_scanner_finds_each_way_of_naming_a_task():
    source = '''
from django_q.tasks import async_task, schedule
from django_q import tasks
STEP_TASKS = {"A": "pkg.mod.step_a", "B": "pkg.mod.step_b"}
SCHEDULES: dict = {"hourly": "pkg.mod.hourly"}
OTHER = {"x": "not.a.task"}
async_task("pkg.mod.one", 1, task_name="not.a.task")
tasks.async_task("pkg.mod.two")
async_task(some_variable)
schedule("pkg.mod.three", schedule_type="H", hook="pkg.mod.hook")
Schedule.objects.update_or_create(name="n", defaults={"func": "pkg.mod.four", "name": "not.a.task"})
print("not.a.task")
'''
    assert sorted(task_paths_in(source)) == sorted([
        "pkg.mod.step_a", "pkg.mod.step_b", "pkg.mod.hourly", "pkg.mod.one", "pkg.mod.two", "pkg.mod.three",
        "pkg.mod.hook", "pkg.mod.four"])


def test_a_misspelt_or_non_callable_path_is_reported():
    assert unresolved(["releases.queue.enqueue_step"]) == []
    problems = unresolved(["releases.queue.enqueue_stpe", "releases.nosuchmodule.task", "releases.queue.STEP_TASKS"])
    assert len(problems) == 3 and problems[2] == "releases.queue.STEP_TASKS: not callable"


def test_step_table_tasks_resolve():
    assert STEP_TASKS
    assert unresolved(sorted(set(STEP_TASKS.values()))) == []


def test_task_paths_written_in_the_source_resolve():
    found = source_task_paths()
    assert set(STEP_TASKS.values()) <= {path for _, path in found}  # the scan sees the step table
    problems = [f"{file}: {problem}" for file, path in found for problem in unresolved([path])]
    assert problems == [], "\n".join(problems)


@pytest.mark.django_db
def test_scheduled_tasks_left_by_migrations_resolve():
    rows = list(Schedule.objects.values_list("name", "func", "hook"))
    assert rows, "the migrations create the periodic schedules"
    problems = [f"schedule {name!r}: {problem}" for name, func, hook in rows
                for problem in unresolved([func] + ([hook] if hook else []))]
    assert problems == [], "\n".join(problems)
