"""How many raw bytes follow a joblib NumpyArrayWrapper, read from the wrapper's pickled state.

joblib (>= 0.10) pickles a placeholder for each numpy array and writes the
array's bytes into the file right after it (with an alignment padding byte,
since 1.2); an object-dtype array is written as a nested pickle instead. The
size comes from the state the wrapper was BUILT with: shape and dtype (a
`numpy.dtype(name, align, copy)` call whose BUILD state holds the element
size for strings, voids and records).
"""
import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ArrayLayout:
    nbytes: int
    aligned: bool
    nested_pickle: bool


def array_layout(state) -> ArrayLayout | None:
    """The layout, or None when the state does not say it plainly (the caller reports it unreadable)."""
    if not isinstance(state, dict):
        return None
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        return None
    aligned = state.get("numpy_array_alignment_bytes") is not None
    dtype = _dtype_facts(state.get("dtype"))
    if dtype is None:
        return None
    itemsize, has_object = dtype
    if has_object:
        return ArrayLayout(0, aligned, True)
    return ArrayLayout(math.prod(shape) * itemsize, aligned, False)


def _dtype_facts(dtype):
    """(itemsize, has_object) for a simulated numpy.dtype(...) call, or None."""
    func = getattr(dtype, "func", None)
    args = getattr(dtype, "args", ())
    if func is None or getattr(func, "name", "") != "dtype" or not args or not isinstance(args[0], str):
        return None
    name = args[0]
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    fields = state[4] if len(state) > 4 and isinstance(state[4], dict) else None
    if fields is not None:
        for entry in fields.values():
            inner = _dtype_facts(entry[0]) if isinstance(entry, tuple) and entry else None
            if inner is None:
                return None
            if inner[1]:
                return 0, True
    if name.startswith("O"):
        return 0, True
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    if elsize > 0:
        return elsize, False
    match = re.fullmatch(r"[<>|=]?([a-zA-Z])(\d+)", name)
    if not match:
        return None
    size = int(match.group(2))
    return (size * 4 if match.group(1) == "U" else size), False
