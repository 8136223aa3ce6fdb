"""Hostile (and harmless) model files, made in the test run: nothing here is ever loaded.

Pickles are produced by pickle itself where it can make them, and assembled
opcode by opcode where an attacker would hand-write them (tricks pickle never
emits). Archives are built with zipfile/tarfile in the layouts the loaders use.
"""
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile

COMMAND = "echo pwned > /tmp/never-run"


class RunsCommand:
    """pickle.dumps(RunsCommand()) -> a pickle that calls os.system on load."""

    def __reduce__(self):
        return os.system, (COMMAND,)


class Harmless:
    def __init__(self):
        self.weights = [1.0, 2.0, 3.0]


def os_system_pickle(protocol: int = pickle.DEFAULT_PROTOCOL) -> bytes:
    return pickle.dumps({"model": RunsCommand()}, protocol=protocol)


def harmless_pickle(protocol: int = pickle.DEFAULT_PROTOCOL) -> bytes:
    return pickle.dumps({"coef": [0.5, 1.5], "name": "ok", "shape": (2,)}, protocol=protocol)


# --- hand-written opcodes ----------------------------------------------------------
def s(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def proto4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


def getattr_builtins_eval() -> bytes:
    """builtins.getattr(builtins.__import__('builtins'), 'ev'+'al')('...'): names memoized and fetched
    back with BINGET, so no single opcode spells out what is imported."""
    return proto4(
        s("builtins") + b"\x94"                          # memo 0 = 'builtins'
        + s("getattr") + b"\x94" + b"\x93"               # STACK_GLOBAL builtins.getattr
        + b"h\x00" + s("__import__") + b"\x93"           # BINGET 0 -> builtins.__import__
        + b"h\x00" + b"\x85R"                            # __import__('builtins')
        + s("eval") + b"\x86R"                           # getattr(<builtins>, 'eval')
        + s("print(1)") + b"\x85R")                      # (...)('print(1)')


def stack_global_from_memo(module: str = "os", name: str = "system") -> bytes:
    """STACK_GLOBAL whose strings come only from the memo (LONG_BINGET), after a MEMOIZE."""
    return proto4(s(module) + b"\x94" + s(name) + b"\x94" + b"0" + b"0"   # memoize both, pop both
                  + b"j\x00\x00\x00\x00" + b"j\x01\x00\x00\x00" + b"\x93"  # LONG_BINGET 0, 1
                  + s(COMMAND) + b"\x85R")


def attrgetter_trick() -> bytes:
    """operator.attrgetter('system')(posix-module-by-import)(cmd)."""
    return proto4(s("operator") + s("attrgetter") + b"\x93" + s("system") + b"\x85R"
                  + s("importlib") + s("import_module") + b"\x93" + s("posix") + b"\x85R"
                  + b"\x85R" + s(COMMAND) + b"\x85R")


def partial_trick() -> bytes:
    """functools.partial(eval, code)() — the dangerous callee hidden as an argument."""
    return proto4(s("functools") + s("partial") + b"\x93" + s("builtins") + s("eval") + b"\x93"
                  + s("1+1") + b"\x86R" + b")R")


def reconstructor_trick() -> bytes:
    """copyreg._reconstructor(subprocess.Popen, object, cmd): Popen's __new__/__init__ via a helper."""
    return proto4(s("copyreg") + s("_reconstructor") + b"\x93" + s("subprocess") + s("Popen") + b"\x93"
                  + s("builtins") + s("object") + b"\x93" + s(COMMAND) + b"\x87R")


def reduce_ex_trick() -> bytes:
    """A dotted STACK_GLOBAL name through a dunder: builtins.object.__reduce_ex__."""
    return proto4(s("builtins") + s("object.__reduce_ex__") + b"\x93" + b"K\x02\x85R")


def ext_code() -> bytes:
    """EXT1: the callable comes from the loader's copyreg extension registry, not the file."""
    return proto4(b"\x82\x07" + s(COMMAND) + b"\x85R")


def unresolved_stack_global() -> bytes:
    """The module name is computed at load time (a call result), so no scanner can name it."""
    return proto4(s("builtins") + s("str") + b"\x93" + s("o") + b"\x85R" + s("system") + b"\x93"
                  + s(COMMAND) + b"\x85R")


def inst_protocol0() -> bytes:
    return b"(S'" + COMMAND.encode() + b"'\nios\nsystem\n."


def obj_protocol1() -> bytes:
    return b"(cos\nsystem\nX" + struct.pack("<I", len(COMMAND)) + COMMAND.encode() + b"o."


def newobj_protocol2() -> bytes:
    return b"\x80\x02csubprocess\nPopen\n" + s(COMMAND) + b"\x85\x81."


def build_on_global() -> bytes:
    """BUILD on an imported object itself: sets attributes on a module's global."""
    return proto4(s("os") + s("environ") + b"\x93" + b"}" + s("LD_PRELOAD") + s("/tmp/x.so") + b"sb")


def protocol0_call_then_cut() -> bytes:
    """A protocol 0 pickle that calls os.system and then breaks off (no STOP): pickle.load has run
    the call before it notices."""
    return b"cos\nsystem\n(S'" + COMMAND.encode() + b"'\ntR"


def cloudpickle_calls_rebuilt_function() -> bytes:
    """A function rebuilt from bytecode by cloudpickle, then called during loading."""
    import cloudpickle

    def payload():
        return sum(range(3))

    class CallsOnLoad:
        def __reduce__(self):
            return payload, ()

    return cloudpickle.dumps(CallsOnLoad())


def cloudpickle_class_with_setstate() -> bytes:
    """A class rebuilt from bytecode whose __setstate__ runs when an instance is unpickled."""
    import cloudpickle

    class Model:
        def __init__(self):
            self.weights = [1, 2]

        def __setstate__(self, state):
            self.__dict__.update(state)

    return cloudpickle.dumps(Model())


# --- files in the loaders' layouts ----------------------------------------------------
def joblib_file(obj, compress=0) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=compress)
    return buffer.getvalue()


def torch_zip(data_pkl: bytes, top: str = "archive") -> bytes:
    """The layout torch.save writes: <top>/data.pkl, <top>/data/<key>, <top>/version, <top>/byteorder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{top}/data.pkl", data_pkl)
        zf.writestr(f"{top}/byteorder", "little")
        zf.writestr(f"{top}/data/0", struct.pack("<4f", 1, 2, 3, 4))
        zf.writestr(f"{top}/version", "3\n")
        zf.writestr(f"{top}/.data/serialization_id", "1234")
    return buffer.getvalue()


def torch_state_dict_pkl() -> bytes:
    """What torch.save({'w': tensor}) puts in data.pkl: _rebuild_tensor_v2 over a persistent storage id."""
    storage = (b"(" + s("storage") + s("torch") + s("FloatStorage") + b"\x93" + s("0") + s("cpu") + b"K\x04t"
               + b"Q")                                                       # BINPERSID
    tensor = (s("torch._utils") + s("_rebuild_tensor_v2") + b"\x93" + b"(" + storage + b"K\x00K\x04\x85K\x01\x85"
              + b"\x89" + s("collections") + s("OrderedDict") + b"\x93)R" + b"tR")
    return proto4(s("collections") + s("OrderedDict") + b"\x93)R" + s("w") + tensor + b"s")


def hdf5_weights() -> bytes:
    """A real (tiny) HDF5 file, as Keras writes model.weights.h5 beside config.json."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=[[0.5, 1.5]])
    return buffer.getvalue()


def keras_zip(layers: list, weights: bytes | None = None) -> bytes:
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": layers},
              "registered_name": None}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", hdf5_weights() if weights is None else weights)
    return buffer.getvalue()


def keras_dense() -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}, "registered_name": None}


def keras_lambda() -> dict:
    """Keras 3 writes a Lambda's function as base64 marshalled bytecode under a __lambda__ object."""
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA..."}}}}


def keras_h5(path, layers: list) -> None:
    import h5py

    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": layers}})
        h5.create_dataset("model_weights/w", data=[1.0, 2.0])


def zip_of(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tar_of(members: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bomb(expanded: int) -> bytes:
    """One deflated member of `expanded` zero bytes (about 1/1000 of that stored), written in chunks."""
    buffer = io.BytesIO()
    chunk = b"\x00" * (1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("weights.bin", "w", force_zip64=True) as member:
            for _ in range(expanded // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


def npy_object_array(payload_pickle: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + payload_pickle


def payload_hidden_in_joblib_array() -> bytes:
    """joblib.load skips N bytes after a NumpyArrayWrapper as array data; pickle.load (MLflow's sklearn
    flavor) reads those same bytes as opcodes: here, a call of os.system."""
    hidden = b"0" + s("posix") + s("system") + b"\x93" + s(COMMAND) + b"\x85R."   # POP the wrapper, call, STOP
    dtype = s("numpy") + s("dtype") + b"\x93" + s("u1") + b"\x89\x88\x87R"
    state = (b"}(" + s("subclass") + s("numpy") + s("ndarray") + b"\x93" + s("shape") + b"J"
             + struct.pack("<i", len(hidden)) + b"\x85" + s("order") + s("C") + s("dtype") + dtype
             + s("allow_mmap") + b"\x89" + s("numpy_array_alignment_bytes") + b"N" + b"u")
    wrapper = s("joblib.numpy_pickle") + s("NumpyArrayWrapper") + b"\x93)\x81" + state + b"b"
    return b"\x80\x04" + wrapper + hidden + b"."
