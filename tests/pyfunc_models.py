"""pyfunc models whose code cloudpickle carries by value, written by the tests (issue 26, item 3): nothing here
is ever loaded from a file, and no method here is ever called.

Each builder returns a real `mlflow.pyfunc.PythonModel` subclass defined inside a function (so cloudpickle
cannot import it by name and writes its code into the file, as it does for a notebook's class), or a plain
function. `pickled(obj)` is what mlflow.pyfunc.save_model writes to python_model.pkl.
"""
import importlib
import os
import subprocess
import uuid
import warnings

import cloudpickle
import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mlflow.pyfunc

from tests.gadgets import ARG, GADGETS

PythonModel = mlflow.pyfunc.PythonModel


def pickled(obj) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cloudpickle.dumps(obj)


def ordinary():
    class Ordinary(PythonModel):
        def predict(self, context, model_input, params=None):
            frame = pd.DataFrame(model_input)
            return pd.DataFrame({"y": np.where(np.exp(frame.to_numpy(dtype=float)).sum(axis=1) > 1, 1, 0)})

    return Ordinary()


def os_system():
    class RunsCommand(PythonModel):
        def predict(self, context, model_input, params=None):
            os.system(ARG)
            return model_input

    return RunsCommand()


def subprocess_run():
    class Runs(PythonModel):
        def predict(self, context, model_input, params=None):
            return subprocess.run(["sh", "-c", ARG], check=False)

    return Runs()


def evaluates():
    class Evaluates(PythonModel):
        def predict(self, context, model_input, params=None):
            return eval(model_input["expr"][0])  # noqa: S307 - the point: code the scanner must refuse

    return Evaluates()


def dunder_import():
    class Imports(PythonModel):
        def predict(self, context, model_input, params=None):
            return __import__("os").popen(ARG).read()

    return Imports()


def dynamic_builtin():
    class Looks(PythonModel):
        def predict(self, context, model_input, params=None):
            return getattr(__builtins__, "ex" + "ec")(ARG)

    return Looks()


def import_module():
    class Dynamic(PythonModel):
        def predict(self, context, model_input, params=None):
            return importlib.import_module(model_input["m"][0]).system(ARG)

    return Dynamic()


def gadget_in_closure():
    """A nested function, a lambda and a closure: only the innermost one calls the gadget."""
    runner = uuid._get_command_stdout  # type: ignore[attr-defined]

    class Closes(PythonModel):
        def predict(self, context, model_input, params=None):
            def later(cmd):
                return (lambda: runner(cmd))()

            return later(ARG)

    return Closes()


def nested_class():
    class Outer(PythonModel):
        def predict(self, context, model_input, params=None):
            class Helper:
                def run(self):
                    return uuid._get_command_stdout(ARG)  # type: ignore[attr-defined]

            return Helper().run()

    return Outer()


def module_alias():
    """A module bound to a local and to an argument: numpy.load is still reached."""
    class Aliases(PythonModel):
        def predict(self, context, model_input, params=None):
            m = np
            return m.load(ARG, allow_pickle=True)

    return Aliases()


def module_as_value():
    class Passes(PythonModel):
        def predict(self, context, model_input, params=None):
            return _helper(np, "lo" + "ad")

    def _helper(module, name):
        return module

    return Passes()


def plain_function():
    return lambda cmd: os.popen(cmd).read()


# importable gadgets of tests/gadgets.py, each called from a method written for it (exec makes the class by value)
CODE_GADGETS = tuple((m, n) for m, n, _ in GADGETS
                     if "." not in n and m.split(".")[0] in ("subprocess", "uuid", "pydoc", "pty", "cProfile",
                                                             "profile", "timeit", "pdb", "doctest", "logging",
                                                             "pandas", "numpy", "joblib", "runpy", "shutil"))


def calling(module: str, name: str):
    """A PythonModel whose predict calls module.name(ARG)."""
    scope = {"__name__": "notebook_cell", "PythonModel": PythonModel, "ARG": ARG,
             "gadget_module": importlib.import_module(module)}
    source = ("class Calls(PythonModel):\n"
              "    def predict(self, context, model_input, params=None):\n"
              f"        return gadget_module.{name}(ARG)\n")
    exec(compile(source, "<notebook>", "exec"), scope)  # noqa: S102 - defines a class; nothing of it runs
    return scope["Calls"]()


BLOCKED = {"os-system": os_system, "subprocess-run": subprocess_run, "eval": evaluates, "dunder-import": dunder_import,
           "dynamic-builtin": dynamic_builtin, "import-module": import_module, "closure-gadget": gadget_in_closure,
           "nested-class": nested_class, "module-alias": module_alias, "module-as-value": module_as_value,
           "plain-function": plain_function}
