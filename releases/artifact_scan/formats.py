"""Recognise a file by its content (never its name) and scan it the way its loader reads it.

Pickles (any protocol, several in a row, joblib arrays), zlib/gzip/bz2/xz/lzma
layers (joblib decompresses them on load), zip (PyTorch's archive/data.pkl,
Keras' config.json, or any member), tar, HDF5 (Keras' model_config, found
behind a user block too), .npy (header read by numpy itself: an object dtype
however spelled is a pickle), JSON Keras configs, UBJSON and safetensors
headers, and UTF-8 text. Containers recurse with a depth limit; all
decompressed bytes of one top-level file share one Budget.

Fail closed: a file that two loaders would read as two different things (a
polyglot: tar or HDF5 whose first bytes are a pickle, a pickle with a zip
behind it) blocks, and so does a file that is none of these formats.
Protocol 0 and 1 pickles have no magic number: bytes without PROTO are a
pickle only when they parse to a STOP, or import a real dotted name before
they break off (pickle.load would have imported it, and run what it called,
before failing). So a requirements.txt that starts `Pillow==` is text.
"""
import bz2
import codecs
import gzip
import io
import json
import lzma
import re
import tarfile
import zipfile
from dataclasses import dataclass

from . import keras_config, npy_header
from .pickle_findings import add_pickle_findings
from .pickle_values import WalkResult
from .pickle_walk import Machine
from .report import FileReport
from .streams import HDF5_MAGIC, USER_BLOCK_PEEK, Budget, LimitExceeded, Source, ZlibReader, spool
from .vocabulary import IDENTIFIER_PATH

try:
    import h5py
except ImportError:  # optional: without it an .h5 file is reported unreadable, never clean
    h5py = None

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"
PROTO = b"\x80"
# The HDF5 library looks for its superblock at 0, 512, 1024, 2048, ... (a user block of any power of two):
# offsets up to USER_BLOCK_PEEK are read here; a superblock further on is found while streaming (streams.py)
HDF5_OFFSETS = (0, *(512 << k for k in range((USER_BLOCK_PEEK // 512).bit_length())))
HEAD = USER_BLOCK_PEEK + len(HDF5_MAGIC)
TEXT_SAMPLE = 64 * 1024
# the first byte after '{' of an xgboost UBJSON model (a key's length marker, or an optimized container)
UBJSON_SECOND = b"iUIlL$#}"
# torch.load reads `<top>/data/<key>` as a storage's raw bytes; torch.export's .pt2 its weights and constants
TORCH_RAW = re.compile(r"(.*/)?data/\d+")
PT2_RAW = re.compile(r"(.*/)?data/(weights|constants)/[^/]+")
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
    raw_members: re.Pattern | None = None  # members of this archive that its loader reads as raw tensor bytes


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
        _polyglot_pickle(report, head[:TEXT_SAMPLE], ctx, "tar")  # a tar header's name field can be a pickle
        _nested(report, source, ctx, "tar", _tar)
        return _no_zip_behind(report, source)
    if any(head[at:at + 8] == HDF5_MAGIC for at in HDF5_OFFSETS):  # h5py also finds it after a user block
        if not head.startswith(HDF5_MAGIC):
            _user_block(report, head, ctx)
        _hdf5(report, source)
        return _no_zip_behind(report, source)
    if head.startswith(NPY_MAGIC):
        _npy(report, source, ctx)
        return _no_zip_behind(report, source)
    if head.lstrip()[:1] == b"{":
        _json(report, source, head)
        return _no_zip_behind(report, source)
    return _maybe_pickle(report, source, ctx, head)


def _no_zip_behind(report: FileReport, source: Source) -> None:
    """zipfile (Keras' loader) opens a zip behind any prefix: a file that is something else and a zip blocks."""
    source.drain()
    if ZIP_END in source.tail:
        report.unreadable(f"a polyglot: {report.format or 'a file'} to its loader, and a zip (its end record is "
                          "near the end) to zipfile, which reads a zip behind any prefix")


def far_superblocks(report: FileReport, source: Source) -> None:
    """An HDF5 superblock past the user blocks read at the start: h5py would open this file as HDF5."""
    for at in source.far_superblocks[:1]:
        report.unreadable(f"an HDF5 superblock after a {at}-byte user block (h5py opens it; the scanner reads "
                          f"user blocks of up to {USER_BLOCK_PEEK} bytes)", at)


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
    raw = ctx.raw_members is not None and ctx.raw_members.fullmatch(name) and not name.endswith(".json")
    try:
        if declared > ctx.limits.max_expanded_bytes - ctx.budget.used:
            raise LimitExceeded(f"declares {declared} bytes, over what is left of the expansion limit", 0)
        if raw:
            member.format = "tensor-data"  # the archive's loader reads these bytes as numbers, never as code
        else:
            scan_content(member, source, Context(**{**ctx.__dict__, "raw_members": None}))
        source.drain()
        far_superblocks(member, source)
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
        pt2 = any(n.endswith("/archive_format") or n == "archive_format" for n in names)
        report.format = "pytorch-zip" if torch else "pytorch-pt2" if pt2 else "keras" if keras else report.format
        raw = TORCH_RAW if torch else PT2_RAW if pt2 else None
        inner = Context(**{**ctx.__dict__, "in_torch_zip": torch or ctx.in_torch_zip, "raw_members": raw})
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
    would read from this file (a polyglot)."""
    at = next(at for at in HDF5_OFFSETS if head[at:at + 8] == HDF5_MAGIC)
    report.notes.append(f"HDF5 behind a {at}-byte user block")
    _polyglot_pickle(report, head[:at], ctx, "HDF5")


def _polyglot_pickle(report, prefix: bytes, ctx, other: str) -> None:
    """`prefix` (the start of a file that is `other`) read as pickle.load reads it: a polyglot blocks."""
    walk = Machine(io.BytesIO(prefix), keep_bytes=ctx.limits.keep_bytes).walk()
    if prefix.startswith(PROTO) or _is_pickle(walk):
        report.unreadable(f"a polyglot: {other} to one loader, a pickle to pickle.load (both read the same bytes)", 0)
        walk.error = ""  # the pickle ends where the other format goes on: that is not a fault of its own
        add_pickle_findings(report, walk, ctx.flavors)


def _is_pickle(walk: WalkResult) -> bool:
    """Without PROTO: a pickle completed, or a real name imported (pickle.load imports it before it can fail).
    A persistent id alone is not: plain pickle.load refuses it, so text that starts with `P` is text."""
    return bool(walk.pickles) or any(
        (e.kind in ("import", "call") and IDENTIFIER_PATH.fullmatch(e.target or "")) or e.kind == "extension"
        for e in walk.events)


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
    """numpy's .npy: a header (read by numpy's own parser), then raw data, or a pickle when the dtype
    holds objects anywhere (`O`, `|O`, `object`, a structured dtype with an object field, ...)."""
    report.format = "npy"
    try:
        has_object = npy_header.has_object(source)
    except (ValueError, TypeError, SyntaxError, OverflowError, MemoryError) as exc:
        return report.unreadable(f"npy header cannot be read as numpy reads it ({type(exc).__name__}: "
                                 f"{str(exc)[:200]})", 0)
    if has_object:
        report.format = "npy/pickle"
        _pickle(report, source, ctx)


def _json(report, source, head):
    """JSON: checked as a Keras config when it is one. A Keras archive's config.json that is too large
    or broken is unreadable; any other JSON file is only data to the loaders. Binary after a '{' is
    xgboost's UBJSON when its second byte says so, and otherwise unidentified."""
    report.format = "json"
    if not _is_text(head[:TEXT_SAMPLE]):
        report.format = "ubjson"
        if head.lstrip()[1:2] == b"" or head.lstrip()[1:2] not in UBJSON_SECOND:
            report.unreadable("starts with '{' but is neither JSON text nor UBJSON: not a format the scanner knows")
        return
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
    """Anything else is read as a pickle (protocol 0 and 1 have no magic number: see _is_pickle);
    what is not one must be UTF-8 text, a safetensors file or a tensor's raw bytes inside a PyTorch
    archive. Anything else is unidentified, and blocks."""
    walk = Machine(source, keep_bytes=ctx.limits.keep_bytes).walk()
    source.drain()
    if head.startswith(PROTO) or _is_pickle(walk):
        _add_format(report, "pickle" if not walk.joblib_arrays else "joblib")
        add_pickle_findings(report, walk, ctx.flavors, in_torch_zip=ctx.in_torch_zip)
        if ZIP_END in source.tail:
            report.unreadable("a polyglot: a pickle to pickle.load, and a zip (a zip's end record is near its end) to "
                              "zipfile, which reads a zip behind any prefix")
        return
    kind = _plain_kind(head)
    _add_format(report, kind or "data")
    if not kind:
        report.unreadable("not a format the scanner knows (not a pickle, archive, HDF5, npy, JSON or UTF-8 text): "
                          "an unidentified file blocks", 0)
    if ZIP_END in source.tail:
        # zipfile (Keras) opens a zip behind any prefix: a zip hidden after other bytes is refused
        report.unreadable("a zip end-of-directory record in a file that does not start as a zip")


def _plain_kind(head: bytes) -> str:
    """What a file that is no pickle is, when it is something the loaders only read as data."""
    if not head:
        return "empty"
    if _is_text(head[:TEXT_SAMPLE]):
        return "text"
    if _is_safetensors(head):
        return "safetensors"
    return ""


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:  # not final: the sample may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _is_safetensors(head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    return len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100 * 1024 * 1024


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
