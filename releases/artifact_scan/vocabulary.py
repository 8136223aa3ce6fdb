"""What an import found in a model file means: dangerous, expected for the model's flavor, or unknown.

Dangerous wins over expected: a name is checked against DANGEROUS_* first, by
every component of its dotted path (so `numpy.testing`, `x.os.system` and a
`__globals__` hop are caught however they are spelled). Expected names are
listed per flavor; for scikit-learn only *classes* (CamelCase) outside test
helpers, because sklearn also ships functions that run scripts.
"""
import re

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

# Expected everywhere: containers, numbers and numpy arrays, and pickle's own helpers.
BASE_EXPECTED = frozenset({
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.complex", "builtins.slice",
    "builtins.range", "builtins.object", "builtins.int", "builtins.float", "builtins.str",
    "builtins.list", "builtins.dict", "builtins.tuple", "builtins.bytes", "builtins.bool",
    "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "_codecs.encode",
    "codecs.encode", "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
    "datetime.timezone", "decimal.Decimal", "fractions.Fraction", "uuid.UUID", "enum.Enum",
    "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer", "numpy.ma.core._mareconstruct",
    "numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor", "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle_compat.NDArrayWrapper",
})
FLAVOR_EXPECTED = {
    "sklearn": frozenset({"scipy.sparse._csr.csr_matrix", "scipy.sparse._csc.csc_matrix",
                          "scipy.sparse._coo.coo_matrix", "scipy.sparse.csr.csr_matrix"}),
    "python_function": frozenset({
        "cloudpickle.cloudpickle._make_function", "cloudpickle.cloudpickle._make_skeleton_class",
        "cloudpickle.cloudpickle._make_skeleton_enum", "cloudpickle.cloudpickle._class_setstate",
        "cloudpickle.cloudpickle._function_setstate", "cloudpickle.cloudpickle._builtin_type",
        "cloudpickle.cloudpickle._make_empty_cell", "cloudpickle.cloudpickle._make_cell",
        "cloudpickle.cloudpickle._make_typevar", "cloudpickle.cloudpickle._create_parametrized_type_hint",
        "cloudpickle.cloudpickle._make_dict_keys", "cloudpickle.cloudpickle._make_dict_values",
        "cloudpickle.cloudpickle._make_dict_items", "builtins.type", "abc.ABCMeta",
        # imports a module the model's code uses: the call is classified by the module it names
        "cloudpickle.cloudpickle.subimport",
        "mlflow.pyfunc.model.PythonModel", "mlflow.models.signature._TypeHints",
        # rebuilt by cloudpickle through _builtin_type: the model's own functions, as bytecode
        "types.CodeType", "types.CellType",
    }),
    "pytorch": frozenset({
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._tensor._rebuild_from_type_v2", "torch.Size", "torch.device", "torch.float32",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
        "torch.ByteStorage", "torch.BoolStorage", "torch.storage.UntypedStorage", "torch.nn.parameter.Parameter",
        "persistent_load",
    }),
}
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
    return UNKNOWN, "not on any list: the policy decides"


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
