"""The values a symbolic pickle walk pushes and records, and their short, safe descriptions."""
from dataclasses import dataclass, field

from .opcodes import Skipped


class _Mark:
    def __repr__(self):
        return "MARK"


MARK = _Mark()


class Opaque:
    """A value whose content is not followed (a buffer, a persistent id, a dropped memo entry)."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self):
        return f"<{self.what}>"


DROPPED = Opaque("value not kept (over the memo/value budget)")


@dataclass(frozen=True)
class Ref:
    """A name a loader would import: `module`.`name` (name may be dotted)."""

    module: str
    name: str

    def __str__(self):
        return f"{self.module}.{self.name}"


@dataclass
class Call:
    """The result of calling `func` with `args` at load time (REDUCE, NEWOBJ, OBJ, INST)."""

    func: object
    args: tuple
    kind: str
    offset: int
    state: object = None

    def __repr__(self):
        return f"{describe(self.func)}(...)"


@dataclass
class Event:
    """One import or call seen in the stream, in order."""

    kind: str          # import | call | method | build | extension | persistent_id | unresolved
    target: str        # dotted name, or a description when the callee is not a plain name
    offset: int
    callee: object = None
    args: tuple = ()
    note: str = ""
    count: int = 1


@dataclass
class WalkResult:
    events: list = field(default_factory=list)
    pickles: int = 0             # complete pickles read (several can be concatenated)
    root_classes: list = field(default_factory=list)  # class of each pickle's top-level object, when a name
    joblib_arrays: int = 0
    error: str = ""
    error_offset: int = -1
    truncated_events: bool = False
    hidden_events: list = field(default_factory=list)  # what plain pickle.load reads in joblib's array bytes
    probe_inconclusive: bool = False
    code_calls: list = field(default_factory=list)  # every cloudpickle code/function rebuild, in order (pyfunc_code)
    code_calls_over: bool = False  # more than pickle_walk.MAX_CODE_CALLS of them: not all were kept


def describe(value) -> str:
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, Call):
        return f"result of {describe(value.func)}()"
    return type(value).__name__


def summarize_args(args, limit: int = 160) -> str:
    """A short, safe text of call arguments for the report (never the whole of a large value)."""
    text = ", ".join(_short(a) for a in args[:6]) + (", ..." if len(args) > 6 else "")
    return text[:limit]


def _short(value, depth: int = 0) -> str:
    if isinstance(value, (Ref, Call)):
        return describe(value)
    if isinstance(value, (str, bytes)):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    if isinstance(value, Skipped):
        return f"<{value.length} bytes>"
    if isinstance(value, (tuple, list)) and depth < 2:
        inner = ", ".join(_short(v, depth + 1) for v in value[:4])
        return f"({inner}{', ...' if len(value) > 4 else ''})"
    if isinstance(value, dict) and depth < 2:
        return "{" + ", ".join(f"{_short(k, 2)}: ..." for k in list(value)[:4]) + "}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)[:40]
    return type(value).__name__
