"""Keras model configs (config.json in a .keras zip, `model_config` of an .h5 file).

A `Lambda` layer carries a Python function as marshalled bytecode, run when
the model is built on load: dangerous. Every other object names the module and
class Keras imports to rebuild it; those are classified like pickle imports
(keras' own classes are expected for the keras flavor).
"""
import json

from .report import FileReport, Finding
from .vocabulary import DANGEROUS, UNKNOWN, classify

MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_NODES = 200_000
CODE_LAYERS = {"Lambda": "its function is marshalled Python bytecode, run when the model is loaded",
               "TFOpLambda": "calls a TensorFlow function named in the config"}


def looks_like_keras(config) -> bool:
    return isinstance(config, dict) and "class_name" in config and "config" in config


def check_config_text(report: FileReport, text, where: str = "") -> None:
    """Parse a config given as str/bytes and add its findings; a parse failure is a finding too."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if len(text) > MAX_CONFIG_BYTES:
        report.unreadable(f"{where or 'model config'} is over {MAX_CONFIG_BYTES} bytes")
        return
    try:
        config = json.loads(text)
    except ValueError as exc:
        report.unreadable(f"{where or 'model config'} is not valid JSON ({exc.msg})", exc.pos)
        return
    check_config(report, config)


def check_config(report: FileReport, config) -> None:
    seen = {}
    stack, nodes = [config], 0
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            report.unreadable(f"model config has more than {MAX_NODES} entries")
            return
        if isinstance(node, dict):
            _check_object(node, seen)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    report.findings.extend(seen.values())


def _check_object(node: dict, seen: dict) -> None:
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        return
    module = node.get("module")
    if class_name in CODE_LAYERS:
        key = ("keras_layer", class_name)
        if key in seen:
            seen[key].count += 1
        else:
            seen[key] = Finding("keras_layer", class_name, DANGEROUS, CODE_LAYERS[class_name])
        return
    if class_name == "__lambda__":  # Keras 3's serialized Python function (inside any object's config)
        seen.setdefault(("keras_layer", "__lambda__"), Finding("keras_layer", "__lambda__", DANGEROUS,
                                                               "marshalled Python function in the config"))
        return
    if isinstance(module, str) and module:
        # Keras 3 writes a plain function as {"module": m, "class_name": "function", "config": name}
        target = node.get("config") if class_name == "function" and isinstance(node.get("config"), str) else class_name
        name = f"{module}.{target}"
        level, reason = classify(name, ("keras",))
        key = ("import", name)
        if key in seen:
            seen[key].count += 1
        else:
            seen[key] = Finding("import", name, level, reason)
    elif isinstance(node.get("registered_name"), str) and "config" in node and "class_name" in node:
        registered = node["registered_name"]
        if registered != class_name and registered.split(">")[0] not in ("keras", ""):
            seen.setdefault(("import", registered), Finding("import", registered, UNKNOWN,
                                                             "a custom object registered under this name"))
