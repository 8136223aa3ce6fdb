"""What an import found in a model file means: dangerous, expected for the model's flavor, or unknown.

Dangerous wins over expected: a name is checked against DANGEROUS_* first, by
every component of its dotted path (so `numpy.testing`, `x.os.system` and a
`__globals__` hop are caught however they are spelled). Expected names are an
allowlist per flavor (allowlist.py: data, each entry with the real model it
comes from), plus the *classes* (CamelCase) of the flavor's own library outside
test helpers, because sklearn also ships functions that run scripts.
Everything else is unknown: not known to be safe, and blocked by default.
"""
import re

from .allowlist import allowed

DANGEROUS = "dangerous"
EXPECTED = "expected"
UNKNOWN = "unknown"
UNREADABLE = "unreadable"
CLEAN = "clean"

# Whole modules an attacker would reach for: processes, the interpreter, the file system,
# the network, code loading and compiling, and other deserialisers.
DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "runpy", "importlib", "imp",
    "pkgutil", "zipimport", "site", "socket", "_socket", "ssl", "http", "urllib", "urllib2",
    "urllib3", "httplib", "requests", "ftplib", "smtplib", "telnetlib", "poplib", "imaplib",
    "xmlrpc", "socketserver", "asyncio", "shutil", "pty", "webbrowser", "ctypes", "_ctypes", "cffi",
    "code", "codeop", "commands", "popen2", "multiprocessing", "concurrent", "threading", "_thread",
    "signal", "pdb", "bdb", "trace", "timeit", "cProfile", "profile", "pydoc", "doctest",
    "tempfile", "glob", "fileinput", "io", "_io", "pathlib", "shelve", "dbm", "zipfile", "tarfile",
    "pickle", "_pickle", "cPickle", "marshal", "dill", "jsonpickle", "pip", "setuptools",
    "distutils", "ensurepip", "venv", "platform", "logging.config", "numpy.testing", "numpy.f2py",
    "numpy.distutils", "torch.hub", "torch.jit", "torch.package", "sklearn.utils._testing",
    "IPython", "builtins.__import__",
})
# Single names in otherwise ordinary modules.
DANGEROUS_NAMES = frozenset({
    "builtins.eval", "builtins.exec", "builtins.execfile", "builtins.compile", "builtins.open",
    "builtins.file", "builtins.input", "builtins.raw_input", "builtins.getattr", "builtins.setattr",
    "builtins.delattr", "builtins.__import__", "builtins.breakpoint", "builtins.globals",
    "builtins.locals", "builtins.vars", "builtins.reload", "builtins.apply", "builtins.exit",
    "builtins.quit", "builtins.help", "builtins.memoryview",
    "operator.attrgetter", "operator.methodcaller", "operator.call", "operator.getitem",
    "functools.partial", "functools.partialmethod", "functools.reduce",
    "types.CodeType", "types.FunctionType", "types.LambdaType", "types.MethodType",
    "types.ModuleType", "types.BuiltinFunctionType", "types.new_class", "types.CellType",
    "cloudpickle.loads", "cloudpickle.load", "cloudpickle.cloudpickle.dynamic_subimport",
    "joblib.load", "numpy.load", "numpy.fromfile",
    "numpy.lib.npyio.load", "torch.load", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
    "mlflow.pyfunc.load_model", "mlflow.sklearn.load_model", "keras.models.load_model",
    "keras.saving.load_model", "keras.layers.Lambda",
})
# A dunder hop reaches interpreter internals (globals, builtins, subclasses) from any object.
DANGEROUS_DUNDERS = frozenset({
    "__globals__", "__builtins__", "__import__", "__subclasses__", "__class__", "__base__",
    "__bases__", "__mro__", "__dict__", "__code__", "__closure__", "__reduce__", "__reduce_ex__",
    "__getattribute__", "__init_subclass__", "__loader__", "__spec__", "__self__", "__func__",
})
# Methods that run during unpickling when a class rebuilt from the file's bytecode defines them.
# (__init__ is not one: NEWOBJ does not call it; calling such a class with REDUCE is refused on its own.
# __eq__ only runs on a hash collision, which a default id-based __hash__ does not give an attacker.)
LOAD_TIME_HOOKS = frozenset({
    "__new__", "__setstate__", "__reduce__", "__reduce_ex__", "__getattr__", "__getattribute__",
    "__setattr__", "__del__", "__set_name__", "__init_subclass__", "__class_getitem__",
    "__instancecheck__", "__subclasscheck__", "__hash__", "__setitem__", "append", "extend",
    "__prepare__", "__mro_entries__",
})
ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg", "cloudpickle.cloudpickle_fast": "cloudpickle.cloudpickle",
           "_operator": "operator", "_functools": "functools"}

# The allowlist (allowlist.py, kept as data with the real model each entry comes from): expected everywhere,
# and per flavor. Anything else that is not a class of the flavor's own library is unknown.
BASE_EXPECTED = allowed("common")
FLAVOR_EXPECTED = {flavor: allowed(flavor) for flavor in ("sklearn", "python_function", "pytorch", "keras",
                                                          "xgboost", "lightgbm")}
FLAVOR_CLASS_PREFIXES = {"sklearn": ("sklearn.", "numpy.random."), "pytorch": ("torch.nn.modules.",),
                         "keras": ("keras.", "tf_keras.", "tensorflow.keras.")}
KNOWN_FLAVORS = tuple(sorted(set(FLAVOR_EXPECTED) | set(FLAVOR_CLASS_PREFIXES)))
_CLASS_NAME = re.compile(r"_?[A-Z][A-Za-z0-9_]*")
IDENTIFIER_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def normalize(dotted: str) -> str:
    for old, new in ALIASES.items():
        if dotted == old or dotted.startswith(old + "."):
            return new + dotted[len(old):]
    return dotted


def classify(dotted: str, flavors) -> tuple[str, str]:
    """(classification, reason) of one imported name, e.g. 'os.system' or 'sklearn.tree._tree.Tree'."""
    dotted = normalize(dotted)
    danger = dangerous_reason(dotted)
    if danger:
        return DANGEROUS, danger
    for flavor in flavors:
        if dotted in FLAVOR_EXPECTED.get(flavor, ()):
            return EXPECTED, f"expected for {flavor}"
        if _is_flavor_class(dotted, flavor):
            return EXPECTED, f"a {flavor} class"
    if dotted in BASE_EXPECTED:
        return EXPECTED, "standard container, number or array"
    return UNKNOWN, unknown_reason(dotted)


def unknown_reason(dotted: str) -> str:
    return f"this file runs `{dotted}` when loaded; we do not know it to be safe"


def dangerous_reason(dotted: str) -> str:
    if not IDENTIFIER_PATH.fullmatch(dotted):
        return "not a plain dotted name"
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        if ".".join(parts[:i]) in DANGEROUS_MODULES:
            return f"module {'.'.join(parts[:i])} can run commands, load code or touch files/network"
    for part in parts:
        if part in DANGEROUS_DUNDERS:
            return f"reaches interpreter internals through {part}"
        if part in ("os", "subprocess", "sys", "builtins", "posix", "nt", "eval", "exec", "system"):
            if dotted not in BASE_EXPECTED and not dotted.startswith("builtins."):
                return f"path goes through {part}"
    for i in range(2, len(parts) + 1):
        if ".".join(parts[:i]) in DANGEROUS_NAMES:
            return f"{'.'.join(parts[:i])} runs or loads code"
    return ""


def _is_flavor_class(dotted: str, flavor: str) -> bool:
    prefixes = FLAVOR_CLASS_PREFIXES.get(flavor, ())
    if not dotted.startswith(prefixes):
        return False
    module, _, name = dotted.rpartition(".")
    if any(p.startswith("test") or p in ("_testing", "externals") for p in module.split(".")):
        return False
    return bool(_CLASS_NAME.fullmatch(name))
