"""Gadgets and format confusions, written by the tests themselves (issue 26): nothing here is ever loaded.

A gadget is a function of the standard library or an ML library that runs a command, opens or writes a
file, loads another pickle, runs code given as a string (profilers, debuggers, timeit), or is reached
through another module's namespace (an alias). Most are not on the scanner's dangerous list: they must
block because they are not on the allowlist (unknown blocks by default). Each is reached four ways:
GLOBAL + REDUCE, STACK_GLOBAL + REDUCE, INST and OBJ.
"""
import io
import json
import struct
import tarfile
import zipfile

ARG = "echo pwned > /tmp/never-run"

# (module, name, what it does when called with ARG)
GADGETS = (
    ("subprocess", "getoutput", "runs a shell command"),
    ("uuid", "_get_command_stdout", "a private helper that runs a command"),
    ("pydoc", "pipepager", "pipes text into a shell command"),
    ("pty", "spawn", "runs a command on a pseudo-terminal"),
    ("cProfile", "run", "a profiler: executes its argument as Python"),
    ("profile", "run", "a profiler: executes its argument as Python"),
    ("timeit", "timeit", "executes its argument as Python"),
    ("pdb", "run", "a debugger: executes its argument as Python"),
    ("doctest", "debug_src", "executes a docstring's examples"),
    ("logging", "FileHandler", "a logging handler: creates or truncates the file it names"),
    ("logging.handlers", "RotatingFileHandler", "a logging handler: opens the file it names"),
    ("logging.handlers", "SocketHandler", "a logging handler: connects out"),
    ("pandas", "read_pickle", "loads another pickle"),
    ("pandas.io.pickle", "read_pickle", "loads another pickle"),
    ("numpy", "load", "loads a pickle (allow_pickle)"),
    ("joblib", "load", "loads another pickle"),
    ("torch.utils.collect_env", "run", "a 'collect environment' tool that runs a command"),
    ("mlflow.utils.process", "_exec_cmd", "an ML library's private helper that runs a command"),
    ("sklearn.datasets", "fetch_openml", "downloads and reads a URL"),
    ("keras.utils", "get_file", "downloads a URL to a file"),
    ("torch.serialization", "pickle.loads", "pickle, reached through torch's namespace (an alias)"),
    ("numpy.ctypeslib", "os.system", "os.system, reached through numpy's namespace (an alias)"),
    ("pandas.io.common", "os.popen", "os.popen, reached through pandas' namespace (an alias)"),
    ("_posixsubprocess", "fork_exec", "forks and executes a program"),
    ("runpy", "run_path", "runs a Python file"),
    ("shutil", "rmtree", "deletes a directory tree"),
)
OPCODES = ("GLOBAL", "STACK_GLOBAL", "INST", "OBJ")


def _unicode(text: str) -> bytes:
    return b"V" + text.encode("raw_unicode_escape") + b"\n"


def _short(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def gadget_pickle(module: str, name: str, opcode: str, arg: str = ARG) -> bytes:
    """A pickle whose loading calls module.name(arg), reached through `opcode`."""
    if opcode == "GLOBAL":  # protocol 0: no PROTO, so the file must be read as a pickle by its content
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n(" + _unicode(arg) + b"tR."
    if opcode == "STACK_GLOBAL":
        return b"\x80\x04" + _short(module) + _short(name) + b"\x93" + _short(arg) + b"\x85R."
    if opcode == "INST":
        return b"(" + _unicode(arg) + b"i" + module.encode() + b"\n" + name.encode() + b"\n."
    if opcode == "OBJ":
        return b"\x80\x02(c" + module.encode() + b"\n" + name.encode() + b"\n" + _unicode(arg) + b"o."
    raise ValueError(opcode)


def every_gadget_file() -> dict[str, bytes]:
    """'gadgets/<module.name>-<OPCODE>.pkl' -> bytes, for every gadget and opcode."""
    return {f"gadgets/{module}.{name}-{opcode}.pkl": gadget_pickle(module, name, opcode)
            for module, name, _what in GADGETS for opcode in OPCODES}


# --- format confusion --------------------------------------------------------------------------------
def tar_pickle_polyglot() -> bytes:
    """A tar whose first member's name is a protocol-0 pickle: tarfile lists the member, pickle.load runs
    os.system."""
    payload = b"cos\nsystem\n(" + _unicode("id") + b"tR."
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(payload.decode("latin-1"))
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    return buffer.getvalue()


def keras_zip(config: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    return buffer.getvalue()


LAMBDA_CONFIG = {"class_name": "Sequential", "config": {"layers": [
    {"module": "keras.layers", "class_name": "Lambda", "config": {"function": {"class_name": "__lambda__"}}}]}}
PLAIN_CONFIG = {"class_name": "Sequential", "module": "keras", "config": {"layers": []}}


def zip_behind_pickle() -> bytes:
    """A harmless pickle, then a Keras zip: pickle.load reads the first, keras (zipfile) the second."""
    return b"\x80\x04N." + keras_zip(PLAIN_CONFIG)


def hdf5_with_user_block(tmp_path, user_block: int, prefix: bytes = b"", config=None) -> bytes:
    """An HDF5 file (a Keras .h5 with `config` as its model_config) behind a `user_block`-byte user block
    that starts with `prefix`."""
    import h5py

    path = tmp_path / f"ub{user_block}.h5"
    with h5py.File(path, "w", userblock_size=user_block) as h5:
        h5.attrs["model_config"] = json.dumps(config or PLAIN_CONFIG)
    data = bytearray(path.read_bytes())
    data[:len(prefix)] = prefix
    return bytes(data)


def npy_with_header(descr: str, payload: bytes) -> bytes:
    """A .npy whose header is written by hand (the dtype spelled as given), followed by `payload`."""
    header = ("{'descr': " + descr + ", 'fortran_order': False, 'shape': (1,), }").encode("latin-1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


OBJECT_SPELLINGS = ("'O'", "'|O'", "'object'", "[('a', '<i4'), ('b', '|O')]", "[('x', [('y', 'O')])]",
                    "('O', (2,))", "'<O'")


def npz_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def format_confusions(tmp_path) -> dict[str, bytes]:
    """Files whose name or first bytes say one thing while a loader reads them as another."""
    system = b"\x80\x02cos\nsystem\n" + _unicode("id") + b"\x85R."
    out = {
        "confusion/bundle.tar": tar_pickle_polyglot(),
        "confusion/model.keras": zip_behind_pickle(),
        "confusion/weights.h5": hdf5_with_user_block(tmp_path, 512, b"\x80\x04N."),
        "confusion/lambda-4096.h5": hdf5_with_user_block(tmp_path, 4096, b"just a note\n", LAMBDA_CONFIG),
        "confusion/unknown.bin": b"\x00\x01\x02\x03" * 64,
        "confusion/requirements.txt": b"cos\nsystem\n(" + _unicode("id") + b"tR.",
        "confusion/config.json": b'{"class_name": "Sequential", "config": {}}' + keras_zip(LAMBDA_CONFIG),
        "confusion/weights.npy": npy_with_header("'<f8'", b"\x00" * 8) + keras_zip(LAMBDA_CONFIG),
        "confusion/arrays.npz": npz_of({f"a{i}.npy": npy_with_header(spelling, system)
                                        for i, spelling in enumerate(OBJECT_SPELLINGS)}),
    }
    for i, spelling in enumerate(OBJECT_SPELLINGS):
        out[f"confusion/object-{i}.npy"] = npy_with_header(spelling, system)
    return out
