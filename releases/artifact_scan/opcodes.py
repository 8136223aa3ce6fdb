"""Read pickle opcodes one at a time from a stream, without executing anything.

The opcode table is the standard library's (`pickletools.code2op`); only the
argument reading is ours, because `pickletools.genops` reads every argument
whole: a 500 MB BINBYTES (a tensor, an array) would be held in memory. Here a
length-prefixed argument longer than `keep` bytes is streamed past and stands
in the result as a `Skipped` marker, so memory stays flat whatever the file.
"""
import pickletools
import struct
from dataclasses import dataclass

OPS = pickletools.code2op
MAX_LINE = 64 * 1024  # protocol 0 arguments are newline-terminated: a longer line is refused
SKIP_CHUNK = 1024 * 1024


class PickleFormatError(Exception):
    """The stream is not a well-formed pickle at `offset` (also raised at end of data)."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Skipped:
    """A large argument that was read past, not kept: its kind and length."""

    kind: str
    length: int


class OpcodeReader:
    """Yields (opcode name, argument, offset) from `stream`; `stream.read(n)` is all it needs."""

    def __init__(self, stream, keep: int = 64 * 1024):
        self.stream = stream
        self.keep = keep
        self.offset = 0

    def _read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise PickleFormatError(f"data ends inside an opcode argument ({len(data)} of {n} bytes)",
                                    self.offset + len(data))
        self.offset += n
        return data

    def _skip(self, n: int) -> None:
        left = n
        while left:
            chunk = self.stream.read(min(left, SKIP_CHUNK))
            if not chunk:
                raise PickleFormatError(f"data ends inside a {n}-byte argument", self.offset)
            left -= len(chunk)
            self.offset += len(chunk)

    def _line(self) -> bytes:
        out = bytearray()
        while True:
            ch = self.stream.read(1)
            if not ch:
                raise PickleFormatError("data ends inside a newline-terminated argument", self.offset)
            self.offset += 1
            if ch == b"\n":
                return bytes(out)
            out += ch
            if len(out) > MAX_LINE:
                raise PickleFormatError(f"newline-terminated argument longer than {MAX_LINE} bytes", self.offset)

    def read_byte(self) -> bytes:
        """One byte, or b"" at a clean end of data (between pickles)."""
        ch = self.stream.read(1)
        self.offset += len(ch)
        return ch

    def next(self, code: bytes):
        """The opcode whose first byte is `code` (already read): (name, arg, offset)."""
        start = self.offset - 1
        op = OPS.get(code.decode("latin-1"))
        if op is None:
            raise PickleFormatError(f"byte 0x{code[0]:02x} is not a pickle opcode", start)
        return op.name, self._argument(op, start), start

    def _argument(self, op, start: int):
        kind = op.arg.name if op.arg is not None else ""
        if not kind:
            return None
        if kind in _FIXED:
            size, fmt = _FIXED[kind]
            return struct.unpack(fmt, self._read(size))[0]
        if kind in _COUNTED:
            size, fmt, decode = _COUNTED[kind]
            length = struct.unpack(fmt, self._read(size))[0]
            if length < 0:
                raise PickleFormatError(f"{op.name} has a negative length", start)
            if length > self.keep:
                self._skip(length)
                return Skipped(decode, length)
            return _decode(decode, self._read(length), op.name, start)
        if kind in ("stringnl_noescape_pair",):
            return self._line().decode("utf-8", "replace"), self._line().decode("utf-8", "replace")
        line = self._line()
        try:
            return _NEWLINE[kind](line)
        except (ValueError, SyntaxError, KeyError) as exc:
            raise PickleFormatError(f"{op.name} argument is malformed ({type(exc).__name__})", start) from None


def _decode(kind: str, raw: bytes, name: str, start: int):
    if kind == "bytes":
        return raw
    if kind == "long":
        return int.from_bytes(raw, "little", signed=True)
    try:
        return raw.decode("utf-8" if kind == "unicode" else "latin-1", "surrogatepass")
    except UnicodeDecodeError:
        raise PickleFormatError(f"{name} is not valid UTF-8", start) from None


def _string_nl(line: bytes) -> str:
    text = line.decode("latin-1")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    raise ValueError("unquoted string")


def _decimal(line: bytes):
    text = line.decode("ascii").rstrip("L")
    if text in ("00", "01"):
        return text == "01"
    return int(text)


_FIXED = {
    "uint1": (1, "<B"), "uint2": (2, "<H"), "uint4": (4, "<I"), "uint8": (8, "<Q"),
    "int4": (4, "<i"), "float8": (8, ">d"),
}
_COUNTED = {
    "string1": (1, "<B", "latin1"), "string4": (4, "<i", "latin1"),
    "bytes1": (1, "<B", "bytes"), "bytes4": (4, "<I", "bytes"), "bytes8": (8, "<Q", "bytes"),
    "bytearray8": (8, "<Q", "bytes"),
    "unicodestring1": (1, "<B", "unicode"), "unicodestring4": (4, "<I", "unicode"),
    "unicodestring8": (8, "<Q", "unicode"),
    "long1": (1, "<B", "long"), "long4": (4, "<i", "long"),
}
_NEWLINE = {
    "stringnl": _string_nl,
    "stringnl_noescape": lambda line: line.decode("utf-8", "replace"),
    "unicodestringnl": lambda line: line.decode("raw-unicode-escape"),
    "decimalnl_short": _decimal,
    "decimalnl_long": _decimal,
    "floatnl": lambda line: float(line.decode("ascii")),
}
