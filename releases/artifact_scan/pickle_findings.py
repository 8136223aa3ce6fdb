"""Turn what the pickle walk saw into classified findings for one file.

Calls are classified by their callee. A callee that is itself the result of a
load-time call is resolved where the helper is known (cloudpickle's
`_builtin_type('CodeType')` is `types.CodeType`, `getattr(x, 'eval')` is
`x.eval`); any other such callee is dangerous: calling a value built during
loading is how a function rebuilt from the file's bytecode gets run.
"""
from .pickle_values import Call, Opaque, Ref, WalkResult, summarize_args
from .pyfunc_code import add_code_findings
from .report import FileReport, Finding
from .vocabulary import (
    DANGEROUS,
    EXPECTED,
    FLAVOR_EXPECTED,
    IDENTIFIER_PATH,
    LOAD_TIME_HOOKS,
    UNKNOWN,
    classify,
    normalize,
)

BUILTIN_TYPE = "cloudpickle.cloudpickle._builtin_type"
PYFUNC_FILE = "python_model.pkl"  # mlflow.pyfunc's default `python_model` artifact
# in the plain-pickle reading of joblib's array bytes, names that are not identifiers fail to import:
# only real names can be a hidden payload
HIDDEN_KINDS = ("import", "call", "method", "extension", "persistent_id")
SUBIMPORT = "cloudpickle.cloudpickle.subimport"
SKELETON_HELPERS = ("cloudpickle.cloudpickle._class_setstate", "cloudpickle.cloudpickle._make_skeleton_class",
                    "cloudpickle.cloudpickle._make_skeleton_enum")


def add_pickle_findings(report: FileReport, walk: WalkResult, flavors, *, in_torch_zip: bool = False) -> None:
    # The pyfunc loader unpickles python_model.pkl and uses the object as the model: its class is the
    # model's own (imported on load). Only that file: every MLflow model has a python_function flavor.
    own_file = "python_function" in flavors and report.path.rsplit("!", 1)[-1].rsplit("/", 1)[-1] == PYFUNC_FILE
    model_classes = {str(ref) for ref in walk.root_classes[:1]} if own_file else set()
    for event in walk.events:
        finding = _classify_event(event, flavors, model_classes, in_torch_zip)
        if finding is not None:
            report.add(finding)
    for event in walk.hidden_events:
        # a callee the walk could not name came from a STACK_GLOBAL that pickle.load refuses: nothing runs
        if event.kind in HIDDEN_KINDS and IDENTIFIER_PATH.fullmatch(event.target or "") and not isinstance(
                event.callee, Opaque):
            found = _classify_event(event, flavors, set(), in_torch_zip)
            if found is not None and found.classification != EXPECTED:
                # an object array's own pickle is read there too: expected names stay expected
                found.classification = DANGEROUS
                found.reason = f"hidden where joblib reads array data: pickle.load would run it ({found.reason})"
                report.add(found)
    if walk.code_calls:
        add_code_findings(report, walk, flavors)
    if walk.probe_inconclusive:
        report.unreadable("the bytes after a joblib array wrapper read as pickle opcodes for over a MiB")
    if walk.truncated_events:
        report.unreadable("more distinct imports and calls than the scanner records")
    if walk.joblib_arrays:
        report.notes.append(f"{walk.joblib_arrays} joblib array(s) read past")
    if walk.pickles > 1:
        report.notes.append(f"{walk.pickles} pickles in one file (all were read)")
    if walk.error:
        report.unreadable(walk.error, walk.error_offset)


def _classify_event(event, flavors, model_classes, in_torch_zip) -> Finding | None:
    args = summarize_args(event.args)
    base = dict(offset=event.offset, count=event.count, args=args)
    if event.kind == "unresolved":
        return Finding("unresolved", event.target, DANGEROUS, f"import whose name cannot be resolved ({event.note})",
                       **base)
    if event.kind == "extension":
        return Finding("extension", event.target, DANGEROUS, event.note, **base)
    if event.kind == "persistent_id":
        level = EXPECTED if (in_torch_zip or "pytorch" in flavors) else UNKNOWN
        return Finding("persistent_id", event.target, level, event.note, **base)
    if event.kind == "import":
        level, reason = classify(event.target, flavors)
        if level == UNKNOWN and normalize(event.target) in model_classes:
            level, reason = EXPECTED, "the pyfunc model's own class (its module is imported on load)"
        return Finding("import", normalize(event.target), level, reason, **base)
    if event.kind == "build":
        if isinstance(event.callee, Ref):
            return Finding("build", str(event.callee), DANGEROUS,
                           "BUILD sets attributes on an imported object itself", **base)
        return None  # state of an object: its class was already classified where it was created
    if event.kind == "method":
        return _classify_method(event, flavors, model_classes, base)
    return _classify_call(event, flavors, model_classes, base)


def _classify_method(event, flavors, model_classes, base) -> Finding:
    """APPENDS/SETITEMS on an object that is not a plain list/dict run its class's method."""
    cls = event.callee
    if isinstance(cls, Ref):
        level, reason = classify(str(cls), flavors)
        if level == UNKNOWN and normalize(str(cls)) in model_classes:
            level, reason = EXPECTED, "the pyfunc model's own class"
        return Finding("method", event.target, level, f"a method of {cls}: {reason}", **base)
    if isinstance(cls, Call) and isinstance(cls.func, Ref) and normalize(str(cls.func)) in SKELETON_HELPERS:
        level = EXPECTED if "python_function" in flavors else UNKNOWN
        return Finding("method", event.target, level, "a method of a class rebuilt from the file "
                       "(its load-time methods are checked where its dict is set)", **base)
    return Finding("method", event.target, DANGEROUS, "a method of a value built at load time", **base)


def _classify_call(event, flavors, model_classes, base) -> Finding:
    callee = event.callee
    if isinstance(callee, Ref):
        name = normalize(str(callee))
        level, reason = classify(name, flavors)
        if level == UNKNOWN and name in model_classes:
            level, reason = EXPECTED, "the pyfunc model's own class"
        if name == SUBIMPORT:
            return _classify_subimport(event, flavors, base)
        hook = _load_time_hook(name, event.args)
        if hook:
            level, reason = DANGEROUS, f"a class rebuilt from the file's bytecode defines {hook}, which runs on load"
        return Finding("call", name, level, reason, **base)
    if isinstance(callee, Call):
        return _classify_call_of_result(event, callee, flavors, base)
    if isinstance(callee, Opaque):
        return Finding("call", event.target, DANGEROUS, f"calls an object the scanner cannot name ({callee.what})",
                       **base)
    return Finding("call", event.target, UNKNOWN, "calls a plain value (loading would fail)", **base)


def _classify_call_of_result(event, callee: Call, flavors, base) -> Finding:
    helper = normalize(str(callee.func)) if isinstance(callee.func, Ref) else ""
    resolved = _resolve(callee)
    if resolved:
        level, reason = classify(resolved, flavors)
        if (helper == BUILTIN_TYPE and "python_function" in flavors
                and resolved in FLAVOR_EXPECTED["python_function"]):
            level, reason = EXPECTED, ("cloudpickle rebuilding the model's own code (code by design: "
                                       "what it calls is listed under kind 'code')")
        if resolved == "types.CodeType":
            base = {**base, "args": _code_summary(event.args)}
        return Finding("call", resolved, level, f"{reason} (called through {callee!r})", **base)
    if helper in SKELETON_HELPERS[1:] and event.note.startswith("new"):
        # NEWOBJ: cls.__new__ only; a __new__ of the rebuilt class is caught where its dict is set
        level = EXPECTED if "python_function" in flavors else UNKNOWN
        return Finding("call", event.target, level, "an instance of a class rebuilt from the file's bytecode",
                       **base)
    return Finding("call", event.target, DANGEROUS, "calls a value built at load time", **base)


def _resolve(call: Call) -> str:
    """The name a known helper's result stands for, or ''."""
    if not isinstance(call.func, Ref) or not call.args:
        return ""
    helper = normalize(str(call.func))
    first = call.args[0]
    if helper == "cloudpickle.cloudpickle._builtin_type" and isinstance(first, str):
        return f"types.{first}"
    if helper == "builtins.getattr" and len(call.args) >= 2 and isinstance(call.args[1], str):
        owner = str(first) if isinstance(first, Ref) else _resolve(first) if isinstance(first, Call) else ""
        return f"{owner}.{call.args[1]}" if owner else f"builtins.getattr.{call.args[1]}"
    if helper in ("cloudpickle.cloudpickle.subimport", "cloudpickle.cloudpickle.dynamic_subimport") \
            and isinstance(first, str):
        return first
    return ""


def _load_time_hook(name: str, args) -> str:
    """A method that unpickling would run, defined in a class dict rebuilt from the file
    (or a metaclass that is itself rebuilt from the file)."""
    if name not in SKELETON_HELPERS:
        return ""
    if name != SKELETON_HELPERS[0] and args and not isinstance(args[0], Ref):
        return "a metaclass (type constructor) that is not a plain imported name"
    for value in _walk_values(args, depth=3):
        if isinstance(value, Opaque):
            return f"a class dict the scanner did not keep ({value.what})"
        if isinstance(value, dict):
            hooks = sorted(k for k, v in value.items() if isinstance(k, str) and k in LOAD_TIME_HOOKS
                           and v is not None)
            if hooks:
                return ", ".join(hooks)
    return ""


def _walk_values(value, depth):
    yield value
    if depth and isinstance(value, (tuple, list)):
        for item in value:
            yield from _walk_values(item, depth - 1)


def _code_summary(args) -> str:
    """What a code object being rebuilt is: its names and file (the string arguments), and its size."""
    strings = [a for a in args if isinstance(a, str)]
    code = next((a for a in args if isinstance(a, bytes)), b"")
    return f"bytecode of {', '.join(repr(x[:80]) for x in strings[:4])} ({len(code)} bytes)"[:300]


def _classify_subimport(event, flavors, base) -> Finding:
    """cloudpickle's subimport('numpy'): a module the model's own functions use, imported on load."""
    module = event.args[0] if event.args else None
    if not isinstance(module, str):
        return Finding("call", SUBIMPORT, DANGEROUS, "imports a module whose name is not in the file", **base)
    level, reason = classify(module, flavors)
    if level == UNKNOWN:
        level = EXPECTED if "python_function" in flavors else UNKNOWN
        reason = "a module the model's own code uses (imported on load)"
    return Finding("import", normalize(module), level, f"{reason} (through cloudpickle's subimport)", **base)
