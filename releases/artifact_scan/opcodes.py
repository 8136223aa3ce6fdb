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
BUFFER = 64 * 1024


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
        self.offset = 0          # of the next byte to hand out
        self._buf = b""
        self._pos = 0

    def _fill(self) -> bool:
        """Refill the buffer (one read per 64 KiB, not one per opcode); False at end of data."""
        self._buf, self._pos = self.stream.read(BUFFER), 0
        return bool(self._buf)

    def _take(self, n: int) -> bytes:
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        while len(out) < n and self._fill():
            more = self._buf[:n - len(out)]
            self._pos = len(more)
            out += more
        self.offset += len(out)
        return out

    def peek(self, n: int) -> bytes:
        """Up to n next bytes, not consumed."""
        while len(self._buf) - self._pos < n:
            more = self.stream.read(max(BUFFER, n - (len(self._buf) - self._pos)))
            if not more:
                break
            self._buf, self._pos = self._buf[self._pos:] + more, 0
        return self._buf[self._pos:self._pos + n]

    def read(self, n: int) -> bytes:
        data = self._take(n)
        if len(data) != n:
            raise PickleFormatError(f"data ends inside an opcode argument ({len(data)} of {n} bytes)",
                                    self.offset)
        return data

    def skip(self, n: int) -> None:
        left = n - len(self._take(min(n, len(self._buf) - self._pos)))
        while left:
            chunk = self.stream.read(min(left, SKIP_CHUNK))
            if not chunk:
                raise PickleFormatError(f"data ends inside a {n}-byte argument", self.offset)
            left -= len(chunk)
            self.offset += len(chunk)

    def _line(self) -> bytes:
        out = bytearray()
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                out += self._buf[self._pos:end]
                self.offset += end + 1 - self._pos
                self._pos = end + 1
            else:
                out += self._buf[self._pos:]
                self.offset += len(self._buf) - self._pos
                self._pos = len(self._buf)
            if len(out) > MAX_LINE:
                raise PickleFormatError(f"newline-terminated argument longer than {MAX_LINE} bytes", self.offset)
            if end >= 0:
                return bytes(out)
            if not self._fill():
                raise PickleFormatError("data ends inside a newline-terminated argument", self.offset)

    def read_byte(self) -> bytes:
        """One byte, or b"" at a clean end of data (between pickles)."""
        return self._take(1)

    def next(self, code: bytes):
        """The opcode whose first byte is `code` (already read): (name, arg, offset)."""
        start = self.offset - 1
        entry = _TABLE[code[0]]
        if entry is None:
            raise PickleFormatError(f"byte 0x{code[0]:02x} is not a pickle opcode", start)
        name, kind = entry
        return name, (self._argument(name, kind, start) if kind else None), start

    def next_op(self):
        """The next opcode as (name, arg, offset), or None at a clean end of data. The hot path:
        the first byte is taken straight from the buffer."""
        pos = self._pos
        if pos < len(self._buf):
            code = self._buf[pos]
            self._pos = pos + 1
            self.offset += 1
        else:
            byte = self._take(1)
            if not byte:
                return None
            code = byte[0]
        entry = _TABLE[code]
        start = self.offset - 1
        if entry is None:
            raise PickleFormatError(f"byte 0x{code:02x} is not a pickle opcode", start)
        name, kind = entry
        return name, (self._argument(name, kind, start) if kind else None), start

    def _argument(self, name: str, kind: str, start: int):
        fixed = _FIXED.get(kind)
        if fixed is not None:
            return fixed[1].unpack(self.read(fixed[0]))[0]
        counted = _COUNTED.get(kind)
        if counted is not None:
            size, fmt, decode = counted
            length = struct.unpack(fmt, self.read(size))[0]
            if length < 0:
                raise PickleFormatError(f"{name} has a negative length", start)
            if length > self.keep:
                self.skip(length)
                return Skipped(decode, length)
            return _decode(decode, self.read(length), name, start)
        if kind == "stringnl_noescape_pair":
            return self._line().decode("utf-8", "replace"), self._line().decode("utf-8", "replace")
        line = self._line()
        try:
            return _NEWLINE[kind](line)
        except (ValueError, SyntaxError, KeyError) as exc:
            raise PickleFormatError(f"{name} argument is malformed ({type(exc).__name__})", start) from None


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
    "uint1": (1, struct.Struct("<B")), "uint2": (2, struct.Struct("<H")), "uint4": (4, struct.Struct("<I")),
    "uint8": (8, struct.Struct("<Q")), "int4": (4, struct.Struct("<i")), "float8": (8, struct.Struct(">d")),
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

# first byte -> (opcode name, argument kind); None for bytes that are no opcode
_TABLE = [None] * 256
for _code, _op in OPS.items():
    _TABLE[ord(_code)] = (_op.name, _op.arg.name if _op.arg is not None else "")
