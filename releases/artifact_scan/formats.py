"""Recognise a file by its content (never its name) and scan it the way its loader reads it.

Pickles (any protocol, several in a row, joblib arrays), zlib/gzip/bz2/xz/lzma
layers (joblib decompresses them on load), zip (PyTorch's archive/data.pkl,
Keras' config.json, or any member), tar, HDF5 (Keras' model_config), .npy
with object arrays, and JSON Keras configs. Containers recurse with a depth
limit; all decompressed bytes of one top-level file share one Budget.
"""
import bz2
import gzip
import io
import json
import lzma
import struct
import tarfile
import zipfile
from dataclasses import dataclass

from . import keras_config
from .pickle_findings import add_pickle_findings
from .pickle_walk import Machine
from .report import FileReport
from .streams import Budget, LimitExceeded, Source, ZlibReader, spool

try:
    import h5py
except ImportError:  # optional: without it an .h5 file is reported unreadable, never clean
    h5py = None

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
PROTO = b"\x80"
HDF5_OFFSETS = (0, 512, 1024, 2048)
HEAD = 2056
ZIP_END = b"PK\x05\x06"
COMPRESSIONS = (  # (magic, name, opener); joblib's own list, plus the old formats it refuses
    (b"\x1f\x8b", "gzip", lambda s: gzip.GzipFile(fileobj=s, mode="rb")),
    (b"BZh", "bz2", lambda s: bz2.BZ2File(s, "rb")),
    (b"\xfd7zXZ\x00", "xz", lambda s: lzma.LZMAFile(s, "rb", format=lzma.FORMAT_XZ)),
    (b"\x5d\x00\x00", "lzma", lambda s: lzma.LZMAFile(s, "rb", format=lzma.FORMAT_ALONE)),
)
UNSUPPORTED = ((b"\x04\x22\x4d\x18", "lz4"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"ZF", "joblib < 0.9.3 zfile"))
# Any failure inside a format's reader is a finding ("could not read"), never a crash and never
# "nothing found": the broad catch is deliberate, and errs towards blocking.
READ_ERRORS = (Exception,)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 2 * 1024 ** 3       # one stored file
    max_total_bytes: int = 8 * 1024 ** 3      # all files of one model
    max_expanded_bytes: int = 8 * 1024 ** 3   # everything decompressed out of one stored file
    max_depth: int = 4                        # archives and compression layers inside one another
    max_members: int = 10_000                 # entries per archive
    keep_bytes: int = 64 * 1024               # pickle arguments longer than this are read past


@dataclass
class Context:
    flavors: tuple
    limits: Limits
    budget: Budget
    reports: list
    depth: int = 0
    in_torch_zip: bool = False


def scan_content(report: FileReport, source: Source, ctx: Context) -> None:
    """Scan one stream into `report` (and, for archives, new member reports appended to ctx.reports)."""
    head = source.peek(HEAD)
    for magic, name, opener in COMPRESSIONS:
        if head.startswith(magic):
            return _decompressed(report, source, ctx, name, opener)
    if _is_zlib(head):
        return _decompressed(report, source, ctx, "zlib", ZlibReader)
    for magic, name in UNSUPPORTED:
        if head.startswith(magic):
            report.format = name
            return report.unreadable(f"{name} compression is not supported by the scanner", 0)
    if head.startswith(ZIP_MAGIC):
        return _nested(report, source, ctx, "zip", _zip)
    if (len(head) > 262 and head[257:262] == b"ustar") or _v7_tar_header(head):
        return _nested(report, source, ctx, "tar", _tar)
    if any(head[at:at + 8] == HDF5_MAGIC for at in HDF5_OFFSETS):  # h5py also finds it after a user block
        if not head.startswith(HDF5_MAGIC):
            _user_block(report, head, ctx)
        return _hdf5(report, source)
    if head.startswith(NPY_MAGIC):
        return _npy(report, source, ctx)
    if head.lstrip()[:1] == b"{":
        return _json(report, source)
    return _maybe_pickle(report, source, ctx, head)


def _is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0 and head[1] in (
        0x01, 0x5E, 0x9C, 0xDA)


def _add_format(report: FileReport, name: str) -> None:
    report.format = f"{report.format}/{name}" if report.format else name


def _decompressed(report, source, ctx, name, opener):
    _add_format(report, name)
    if ctx.depth >= ctx.limits.max_depth:
        return report.unreadable(f"{name} layer nested deeper than {ctx.limits.max_depth}")
    try:
        inner = Source(opener(source), ctx.limits.max_expanded_bytes, ctx.budget, what=f"expanded {name} content")
        scan_content(report, inner, Context(**{**ctx.__dict__, "depth": ctx.depth + 1}))
        inner.drain()  # a corrupt tail is found here, and the whole layer is charged to the budget
    except LimitExceeded as exc:
        report.unreadable(str(exc), exc.offset)
    except READ_ERRORS as exc:
        report.unreadable(f"{name} stream cannot be read ({type(exc).__name__}: {str(exc)[:200]})", source.offset)


def _nested(report, source, ctx, name, walker):
    _add_format(report, name)
    if ctx.depth >= ctx.limits.max_depth:
        return report.unreadable(f"{name} archive nested deeper than {ctx.limits.max_depth}")
    try:
        walker(report, source, Context(**{**ctx.__dict__, "depth": ctx.depth + 1}))
    except LimitExceeded as exc:
        report.unreadable(str(exc), exc.offset)
    except READ_ERRORS as exc:
        report.unreadable(f"{name} archive cannot be read ({type(exc).__name__}: {str(exc)[:200]})")


def _member(ctx, outer: FileReport, name: str, stream, declared: int = -1) -> None:
    member = FileReport(path=f"{outer.path}!{name}")
    ctx.reports.append(member)
    source = Source(stream, ctx.limits.max_expanded_bytes, ctx.budget, what=member.path)
    try:
        if declared > ctx.limits.max_expanded_bytes - ctx.budget.used:
            raise LimitExceeded(f"declares {declared} bytes, over what is left of the expansion limit", 0)
        scan_content(member, source, ctx)
        source.drain()
    except LimitExceeded as exc:
        member.unreadable(str(exc), exc.offset)
    except READ_ERRORS as exc:
        member.unreadable(f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})", source.offset)
    member.size, member.sha256 = source.count, source.sha256


def _zip(report, source, ctx):
    with spool(source) as tmp, zipfile.ZipFile(tmp) as archive:
        infos = archive.infolist()
        if len(infos) > ctx.limits.max_members:
            report.unreadable(f"zip has {len(infos)} entries, over the {ctx.limits.max_members} limit")
            infos = infos[:ctx.limits.max_members]
        names = [info.filename for info in infos]
        torch = any(n.endswith("/data.pkl") or n == "data.pkl" for n in names) and any(
            n.endswith("/version") or n.endswith("/.format_version") or "/data/" in n for n in names)
        keras = "config.json" in names and ("metadata.json" in names or any(n.endswith(".weights.h5") for n in names))
        report.format = "pytorch-zip" if torch else "keras" if keras else report.format
        inner = Context(**{**ctx.__dict__, "in_torch_zip": torch or ctx.in_torch_zip})
        if keras:
            inner = Context(**{**inner.__dict__, "flavors": tuple(sorted({*inner.flavors, "keras"}))})
        for info in infos:
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                _unreadable_member(ctx, report, info.filename, "encrypted zip member")
                continue
            with archive.open(info) as stream:
                _member(inner, report, info.filename, stream, info.file_size)


def _unreadable_member(ctx, outer, name, reason):
    member = FileReport(path=f"{outer.path}!{name}")
    member.unreadable(reason)
    ctx.reports.append(member)


def _tar(report, source, ctx):
    count = 0
    with tarfile.open(fileobj=source, mode="r|") as archive:
        for info in archive:
            count += 1
            if count > ctx.limits.max_members:
                return report.unreadable(f"tar has over {ctx.limits.max_members} entries")
            if info.isreg():
                _member(ctx, report, info.name, archive.extractfile(info), info.size)
            elif not info.isdir():
                report.notes.append(f"tar entry {info.name} is not a regular file (not read)")


def _user_block(report, head, ctx):
    """The bytes before an HDF5 superblock are free for anything: a pickle there is what pickle.load
    would read from this file (a polyglot), so it is walked too."""
    at = next(at for at in HDF5_OFFSETS if head[at:at + 8] == HDF5_MAGIC)
    walk = Machine(io.BytesIO(head[:at]), keep_bytes=ctx.limits.keep_bytes).walk()
    if head.startswith(PROTO) or walk.pickles or any(e.kind == "call" for e in walk.events):
        report.notes.append(f"a pickle in the {at}-byte HDF5 user block")
        walk.error = ""  # the user block ends where HDF5 starts: no STOP there is not a fault of the file
        add_pickle_findings(report, walk, ctx.flavors)


def _hdf5(report, source):
    report.format = "hdf5"
    if h5py is None:
        return report.unreadable("HDF5 file, and h5py is not installed: its model config cannot be read")
    with spool(source) as tmp:
        try:
            with h5py.File(tmp, "r") as h5:
                found = False
                for key in ("model_config", "training_config"):
                    if key in h5.attrs:
                        found = True
                        keras_config.check_config_text(report, h5.attrs[key], where=key)
                if found:
                    report.format = "keras-h5"
        except (OSError, ValueError, TypeError) as exc:
            report.unreadable(f"HDF5 file cannot be opened ({type(exc).__name__}: {str(exc)[:200]})")


def _npy(report, source, ctx):
    """numpy's .npy: a header, then raw data, or a pickle when the dtype holds objects."""
    report.format = "npy"
    head = source.read(10)
    major = head[6]
    length = struct.unpack("<H", head[8:10])[0] if major == 1 else struct.unpack("<I", head[8:10] + source.read(2))[0]
    if length > 1024 * 1024:
        return report.unreadable("npy header too long", 8)
    header = source.read(length).decode("latin-1")
    if "'O'" in header or "|O" in header or "object" in header:
        report.format = "npy/pickle"
        _pickle(report, source, ctx)


def _json(report, source):
    """JSON: checked as a Keras config when it is one. A Keras archive's config.json that is too large
    or broken is unreadable; any other JSON file is only data to the loaders."""
    report.format = "json"
    text = source.read(keras_config.MAX_CONFIG_BYTES + 1)
    is_keras_config = report.path.endswith("!config.json")
    if len(text) > keras_config.MAX_CONFIG_BYTES:
        if is_keras_config:
            report.unreadable(f"config.json is over {keras_config.MAX_CONFIG_BYTES} bytes")
        else:
            report.notes.append(f"JSON over {keras_config.MAX_CONFIG_BYTES} bytes: not checked as a Keras config")
        return
    try:
        config = json.loads(text)
    except ValueError as exc:
        if is_keras_config:
            report.unreadable(f"config.json is not valid JSON ({type(exc).__name__})")
        report.format = "text"
        return
    if keras_config.looks_like_keras(config):
        report.format = "keras-config"
        keras_config.check_config(report, config)


def _pickle(report, source, ctx):
    walk = Machine(source, keep_bytes=ctx.limits.keep_bytes).walk()
    add_pickle_findings(report, walk, ctx.flavors, in_torch_zip=ctx.in_torch_zip)
    return walk


def _maybe_pickle(report, source, ctx, head):
    """Anything else is read as a pickle: protocol 0 and 1 have no magic number. A file is called
    a pickle when it starts with PROTO, completes a pickle, or makes a call before it breaks off
    (a loader would have run that call before failing); otherwise it is plain data."""
    walk = Machine(source, keep_bytes=ctx.limits.keep_bytes).walk()
    called = any(e.kind in ("call", "extension", "persistent_id") for e in walk.events)
    if head.startswith(PROTO) or walk.pickles or called:
        _add_format(report, "pickle" if not walk.joblib_arrays else "joblib")
        add_pickle_findings(report, walk, ctx.flavors, in_torch_zip=ctx.in_torch_zip)
    else:
        _add_format(report, "text" if _is_text(head) else "data")
        source.drain()
        if ZIP_END in source.tail:
            # zipfile (Keras) opens a zip behind any prefix: a zip hidden after other bytes is refused
            report.unreadable("a zip end-of-directory record in a file that does not start as a zip")


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _v7_tar_header(head: bytes) -> bool:
    """A pre-POSIX tar header (no 'ustar' magic) is recognised by its checksum, as tarfile does."""
    if len(head) < 512 or head[148:156].strip(b" \x00") == b"":
        return False
    try:
        stored = int(head[148:156].strip(b" \x00").decode("ascii"), 8)
    except ValueError:
        return False
    block = head[:148] + b" " * 8 + head[156:512]
    return stored == sum(block) and head[0] != 0
