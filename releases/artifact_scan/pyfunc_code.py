"""What code that cloudpickle carries by value reaches: each function's globals, attributes and imports.

A pyfunc model's `python_model.pkl` is code by design: its class's methods (and any function or lambda
cloudpickle could not import by name) are rebuilt from their code objects on load. The pickle walk keeps
every such rebuild (`WalkResult.code_calls`); here each code object, and the ones nested in its constants,
is decoded in Python with 3.11's opcode table (`opcode`), never built as a `types.CodeType`: CPython 3.11
can crash on a code object with malformed bytecode (the fuzz test found one), and nothing here may run.
A load of a global, a builtin, a closure value or an import starts a dotted
reference, each attribute after it extends it (`subprocess.run`, `numpy.random.default_rng`), and the
function's `__globals__` and closure say what the first name is (`subimport('os')` is module `os`).

Nothing is guessed in the code's favour: a code object that cannot be rebuilt or read, for this Python
(3.11's 18 CodeType arguments), or that is over a bound (nesting, bytecode size, references) makes the
file unreadable, and a module the code hands around as a value (not only reads attributes of) is a
reference to the whole module. The references are classified like pickle imports (pickle_findings).
"""
import opcode
from dataclasses import dataclass, field

from .pickle_containers import KEEP_ITEMS
from .pickle_values import Call, Opaque, Ref, WalkResult
from .report import FileReport, Finding
from .vocabulary import DANGEROUS, DANGEROUS_DUNDERS, EXPECTED, UNKNOWN, classify, normalize

MAX_DEPTH = 8                 # code objects nested in code objects (a function in a method in a class ...)
MAX_CODE_BYTES = 256 * 1024   # bytecode per code object
MAX_TOTAL_CODE_BYTES = 4 * 1024 * 1024  # bytecode per file: reading it stays well under a second
MAX_REFERENCES = 2_000        # distinct (function, reference) pairs per file
CODE_ARGS = 18                # types.CodeType's arguments on Python 3.11 (what cloudpickle 3 writes there)
CP = "cloudpickle.cloudpickle."
MODULE_HELPERS = (CP + "subimport", CP + "dynamic_subimport")
OWN_CODE = (CP + "_make_function", CP + "_make_skeleton_class", CP + "_make_skeleton_enum")
STARTS = ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FAST", "IMPORT_NAME")
EXTENDS = ("LOAD_ATTR", "LOAD_METHOD")
MODULE_DATA = ("__name__", "__module__", "__qualname__", "__doc__", "__file__")  # strings: a class body reads them
KEEPS_MODULE = ("STORE_FAST", "STORE_DEREF", "IMPORT_FROM", "POP_TOP")  # a module bound or imported from


class CodeUnreadable(Exception):
    pass


@dataclass
class Function:
    """One function or method rebuilt from the file: its name and what its code (nested code included) reaches."""

    qualname: str
    references: set = field(default_factory=set)   # dotted names: 'subprocess.run', 'builtins.len'
    modules_as_values: set = field(default_factory=set)  # modules handed around whole
    imports: set = field(default_factory=set)      # modules the code imports itself
    attributes: set = field(default_factory=set)   # attribute names read on values the scanner cannot name


@dataclass
class CodeReach:
    functions: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # reasons


def code_reach(walk: WalkResult) -> CodeReach:
    """Every function cloudpickle rebuilds in this pickle, and what its code references."""
    reach = CodeReach()
    if walk.code_calls_over:
        reach.unreadable.append("more functions and code objects rebuilt than the scanner keeps")
    size = sum(len(c.args[6]) for c in walk.code_calls if _is_code(c) and len(c.args) == CODE_ARGS
               and isinstance(c.args[6], bytes))
    if size > MAX_TOTAL_CODE_BYTES:
        reach.unreadable.append(f"{size} bytes of bytecode, over {MAX_TOTAL_CODE_BYTES} (not read)")
        return reach
    states: dict = {}
    for c in walk.code_calls:
        if _helper(c) == CP + "_function_setstate" and len(c.args) == 2:
            if id(c.args[0]) in states:  # set up twice: which globals the code runs with is not one answer
                reach.unreadable.append("a function whose globals are set more than once")
            states[id(c.args[0])] = c.args[1]
    done: set = set()
    total = 0
    for call in walk.code_calls:
        if _helper(call) != CP + "_make_function":
            continue
        try:
            function = _function(call, states.get(id(call)), done)
        except CodeUnreadable as exc:
            reach.unreadable.append(str(exc))
            continue
        reach.functions.append(function)
        total += len(function.references) + len(function.modules_as_values)
    for call in walk.code_calls:  # code objects no rebuilt function holds: read them with no globals
        if _is_code(call) and id(call) not in done:
            try:
                function = Function(_name_of(call))
                _read_code(call, _Env({}, {}), function, 0, done)
                reach.functions.append(function)
                total += len(function.references) + len(function.modules_as_values)
            except CodeUnreadable as exc:
                reach.unreadable.append(str(exc))
    if total > MAX_REFERENCES:
        reach.unreadable.append(f"the rebuilt code references more than {MAX_REFERENCES} names")
    return reach


def _helper(call: Call) -> str:
    return normalize(str(call.func)) if isinstance(call.func, Ref) else ""


def _is_code(value) -> bool:
    return (isinstance(value, Call) and isinstance(value.func, Call)
            and _helper(value.func) == CP + "_builtin_type" and value.func.args[:1] == ("CodeType",))


def _name_of(code: Call) -> str:
    name = code.args[12] if len(code.args) == CODE_ARGS else None
    return name if isinstance(name, str) else "<code object>"


@dataclass
class _Env:
    globals: dict    # name -> what the global is: ('module', 'os') | ('name', 'posix.system') | ('own', ...) | ...
    cells: dict      # free variable -> the same, from the closure


def _function(call: Call, state, done: set) -> Function:
    args = call.args
    code = args[0] if args else None
    if not _is_code(code):
        raise CodeUnreadable("a function rebuilt from something that is not a code object")
    base = args[1] if len(args) > 1 else {}
    well_formed = isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)
    if state is not None and not well_formed:
        raise CodeUnreadable(f"the state (globals, closure) of {_name_of(code)} was not kept or is not cloudpickle's")
    slots = state[1] if well_formed else {}
    names = {}
    for table in (base, slots.get("__globals__", {})):
        if not isinstance(table, dict) or len(table) >= KEEP_ITEMS:
            raise CodeUnreadable(f"the globals of {_name_of(code)} were not all kept (or are not a dict)")
        names.update({k: _what(v) for k, v in table.items() if isinstance(k, str)})
    cells = {}
    closure = slots.get("__closure__")
    freevars = code.args[16] if len(code.args) == CODE_ARGS else ()
    if isinstance(closure, tuple) and isinstance(freevars, tuple):
        for var, cell in zip(freevars, closure, strict=False):
            if isinstance(cell, Call) and cell.args:
                cells[var] = _what(cell.args[0])
    function = Function(_name_of(code))
    _read_code(code, _Env(names, cells), function, 0, done)
    return function


def _what(value) -> tuple:
    """What a global or closure value stands for, by how the pickle builds it."""
    if isinstance(value, Ref):
        return ("name", normalize(str(value)))
    if isinstance(value, Call) and _helper(value) in MODULE_HELPERS and value.args[:1] and isinstance(
            value.args[0], str):
        return ("module", value.args[0])
    if isinstance(value, Call) and _helper(value) in OWN_CODE:
        return ("own", "")
    if isinstance(value, (Call, Opaque)):
        return ("value", "")  # built at load time: the pickle's own findings classify its call
    return ("data", "")


def _read_code(code: Call, env: _Env, function: Function, depth: int, done: set) -> None:
    if depth > MAX_DEPTH:
        raise CodeUnreadable(f"code objects nested more than {MAX_DEPTH} deep in {function.qualname}")
    done.add(id(code))
    instructions, nested = _decode(code)
    cells = _follow(instructions, env, function)
    inner = _Env(env.globals, {**env.cells, **cells})
    for child in nested:
        _read_code(child, inner, function, depth + 1, done)


@dataclass(frozen=True)
class Instruction:
    opname: str
    argval: object


def _decode(code: Call) -> tuple[list, list]:
    """The code object's instructions, decoded in Python with 3.11's opcode table (never built as a
    types.CodeType: CPython 3.11 can crash on a code object with malformed bytecode), and its nested code."""
    a = code.args
    if len(a) != CODE_ARGS:
        raise CodeUnreadable(f"a code object with {len(a)} arguments, not Python 3.11's {CODE_ARGS}")
    co_code, consts, names, varnames, freevars, cellvars = a[6], a[7], a[8], a[9], a[16], a[17]
    what = _name_of(code)
    if not isinstance(co_code, bytes) or len(co_code) > MAX_CODE_BYTES or len(co_code) % 2:
        raise CodeUnreadable(f"bytecode of {what} not kept, over {MAX_CODE_BYTES} bytes or of odd length")
    for table in (consts, names, varnames, freevars, cellvars):
        if not isinstance(table, tuple) or len(table) >= KEEP_ITEMS:
            raise CodeUnreadable(f"the names or constants of {what} were not all kept")
    localsplus = varnames + tuple(c for c in cellvars if c not in varnames) + freevars
    if not all(isinstance(n, str) for n in names + localsplus):
        raise CodeUnreadable(f"names of {what} that are not strings")
    out, ext, i = [], 0, 0
    while i < len(co_code):
        op, arg = co_code[i], co_code[i + 1] | ext
        name = opcode.opname[op]
        caches = 2 * opcode._inline_cache_entries[op]  # type: ignore[attr-defined]
        if name.startswith("<") or name == "CACHE" or any(co_code[i + 2:i + 2 + caches]):
            # the interpreter skips cache slots: bytes hidden there (reached by a jump) are refused
            raise CodeUnreadable(f"bytecode of {what} that Python 3.11 does not compile (at byte {i})")
        ext = arg << 8 if op == opcode.EXTENDED_ARG else 0
        i += 2 + caches
        if op != opcode.EXTENDED_ARG:
            out.append(Instruction(name, _argval(op, arg, names, localsplus, what)))
    return out, [c for c in consts if _is_code(c)]


def _argval(op: int, arg: int, names: tuple, localsplus: tuple, what: str):
    if op in opcode.hasname:
        index = arg >> 1 if op == opcode.opmap["LOAD_GLOBAL"] else arg
        table = names
    elif op in opcode.haslocal or op in opcode.hasfree:
        index, table = arg, localsplus
    else:
        return arg
    if index >= len(table):
        raise CodeUnreadable(f"bytecode of {what} names entry {index} of {len(table)}")
    return table[index]


def _follow(instructions, env: _Env, function: Function) -> dict:
    """Record the dotted names the instructions reach; return the variables bound to a module or name
    (nested code reads the cell variables among them)."""
    locals_ = {}  # local variable -> the reference stored in it (flow-insensitive: any store counts)
    for i, ins in enumerate(instructions):
        if ins.opname in ("STORE_FAST", "STORE_DEREF"):
            start = _chain_before(instructions, i, env)
            if start:
                locals_[ins.argval] = start
    current = None
    imported = ""
    for i, ins in enumerate(instructions):
        following = instructions[i + 1].opname if i + 1 < len(instructions) else ""
        name = ins.argval if isinstance(ins.argval, str) else ""
        if ins.opname in EXTENDS and current:
            current = ("name", f"{current[1]}.{name}")
        elif ins.opname in EXTENDS:
            function.attributes.add(name)
            if name in DANGEROUS_DUNDERS:  # interpreter internals, from any value (().__class__...)
                function.references.add(f"<value>.{name}")
        elif ins.opname in STARTS:
            current = _start(ins, env, locals_)
            if ins.opname == "IMPORT_NAME":
                imported = name
                function.imports.add(name)
        elif ins.opname == "IMPORT_FROM" and imported:
            function.references.add(f"{imported}.{name}")
        else:
            current = None
        if current and following not in EXTENDS:
            _end(current, following, function)
            current = None
    return locals_


def _chain_before(instructions, i, env) -> tuple | None:
    """The reference a store at `i` saves, when the instructions before it are one load chain."""
    j = i - 1
    attrs = []
    while j >= 0 and instructions[j].opname in EXTENDS:
        attrs.append(instructions[j].argval)
        j -= 1
    if j < 0 or instructions[j].opname not in STARTS and instructions[j].opname != "IMPORT_FROM":
        return None
    if instructions[j].opname == "IMPORT_FROM":
        start = _start(instructions[j - 1], env, {}) if j else None
        start = ("name", f"{start[1]}.{instructions[j].argval}") if start else None
    else:
        start = _start(instructions[j], env, {})
    if not start or start[0] not in ("module", "name"):
        return None
    dotted = ".".join([start[1], *reversed(attrs)])
    return (start[0] if not attrs else "name", dotted)


def _start(ins, env: _Env, locals_) -> tuple | None:
    """What a load refers to: ('module'|'name', dotted), or None for a local value the scanner cannot name."""
    name = ins.argval if isinstance(ins.argval, str) else ""
    if ins.opname == "IMPORT_NAME":
        return ("module", name)
    if ins.opname == "LOAD_FAST":
        return locals_.get(name)
    if ins.opname in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
        found = env.cells.get(name) or locals_.get(name)
        return found if found and found[0] in ("module", "name") else None
    if name in MODULE_DATA:
        return None
    if name in DANGEROUS_DUNDERS:  # `__builtins__` is pickled as the builtins' dict: its name says what it is
        return ("name", f"builtins.{name}")
    kind, dotted = env.globals.get(name, ("builtin", ""))
    if kind == "builtin":  # not in the function's globals: Python looks the name up in builtins
        return ("name", f"builtins.{name}")
    return (kind, dotted) if kind in ("module", "name") else None


def _end(current: tuple, following: str, function: Function) -> None:
    kind, dotted = current
    if kind == "module":
        if following not in KEEPS_MODULE:
            function.modules_as_values.add(dotted)
        return
    function.references.add(dotted)


# --- findings -----------------------------------------------------------------------------------------
MAX_FUNCTIONS = 200   # functions listed per file; more makes the file unreadable (never silently cut)
SHOWN = 40            # references named in one function's summary line (each one is a finding of its own)


def add_code_findings(report: FileReport, walk: WalkResult, flavors) -> None:
    """One finding per rebuilt function (what it reaches), and one per reference, classified like an import."""
    reach = code_reach(walk)
    for reason in reach.unreadable:
        report.unreadable(f"code carried by value: {reason}")
    if len(reach.functions) > MAX_FUNCTIONS:
        report.unreadable(f"code carried by value: {len(reach.functions)} functions, over {MAX_FUNCTIONS}")
    if reach.functions:
        report.notes.append("code by design: this file carries the model's own code (cloudpickle rebuilds "
                            f"{len(reach.functions)} function(s) from their bytecode); what each one calls is "
                            "listed, classified like an import")
    for function in reach.functions[:MAX_FUNCTIONS]:
        found = [_reference(function, dotted, flavors) for dotted in sorted(function.references)]
        found += [_import(function, module, flavors) for module in sorted(function.imports)]
        found += [_module_value(function, module, flavors) for module in sorted(function.modules_as_values)]
        names = [f.name for f in found]
        shown = ", ".join(names[:SHOWN]) + (f", ... ({len(names) - SHOWN} more, each listed)" if len(names) > SHOWN
                                             else "")
        attrs = ", ".join(sorted(function.attributes)[:SHOWN])
        report.add(Finding("code", function.qualname, EXPECTED,
                           "code rebuilt from the file (a pyfunc model is code by design): its reach is listed",
                           args=f"calls/reads: {shown or 'nothing named'}; attributes of values: {attrs or '-'}"))
        for finding in found:
            report.add(finding)


def _reference(function: Function, dotted: str, flavors) -> Finding:
    level, reason = classify(dotted, flavors)
    if level == UNKNOWN:
        reason = f"the model's code runs `{dotted}`; we do not know it to be safe"
    return Finding("code_call", dotted, level, f"{function.qualname} calls or reads `{dotted}`: {reason}")


def _import(function: Function, module: str, flavors) -> Finding:
    """`import x` in the code: like cloudpickle's subimport, a module the model's own code uses."""
    level, reason = classify(module, flavors)
    if level == UNKNOWN and "python_function" in flavors:
        level, reason = EXPECTED, "a module the model's own code imports (its calls are listed apart)"
    return Finding("code_import", normalize(module), level, f"{function.qualname} imports {module}: {reason}")


def _module_value(function: Function, module: str, flavors) -> Finding:
    level, reason = classify(module, flavors)
    if level != DANGEROUS:
        level, reason = UNKNOWN, f"the code hands module {module} around as a value: any of its names can be reached"
    return Finding("code_call", normalize(module), level, f"{function.qualname} uses module {module} whole: {reason}")
