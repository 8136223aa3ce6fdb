"""Dependencies run one way: gateway_project → approvals → releases, with no import circles.

Read from the source with `ast`: module-level and function-level imports, so a lazy import cannot
hide an arrow. For the direction between apps, dotted strings (task paths, settings) count too;
for circles they do not: a task path is late binding by design (lifecycle enqueues, by name, the
step that calls lifecycle)."""
import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway_project", "approvals", "releases")  # each may depend only on those after it
DOTTED = re.compile(r"(releases|approvals|gateway_project)(\.\w+)+")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for file in (ROOT / package).rglob("*.py"):
            if "migrations" not in file.parts:
                name = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                modules[name] = file
    return modules


def _module_of(target: str, modules) -> str | None:
    parts = target.split(".")
    return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules), None)


def dependencies(modules: dict[str, Path], strings: bool = False) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, file in modules.items():
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and DOTTED.fullmatch(node.value):
                targets = [node.value]
            else:
                continue
            edges[name] |= {m for m in (_module_of(t, modules) for t in targets) if m and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    rank = {package: i for i, package in enumerate(PACKAGES)}
    return sorted((a, b) for a, targets in edges.items() for b in targets
                  if rank[b.split(".")[0]] < rank[a.split(".")[0]])


def test_no_module_circles():
    assert cycles(dependencies(project_modules())) == []


def test_no_arrow_runs_back_up_between_apps():
    assert upward(dependencies(project_modules(), strings=True)) == []


def test_the_checks_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert upward({"releases.queue": {"approvals.tasks"}, "approvals.tasks": {"releases.queue"}}) == [
        ("releases.queue", "approvals.tasks")]
    edges = dependencies(project_modules(), strings=True)
    assert "releases.models" in edges["approvals.engine"]  # imports are seen
    assert "approvals.tasks" in edges["approvals.apps"]  # and task paths written as strings
    assert "releases.steps" in edges["releases.queue"]
