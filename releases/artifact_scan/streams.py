"""Byte streams for the scanner: counted, hashed, capped, peekable; and the expansion budget.

Every byte a scan reads goes through a `Source`, which hashes it, counts it and
stops with `LimitExceeded` past the cap, so a size limit holds whatever the
format does. Decompressed bytes are also charged to one `Budget` per top-level
file: a zip bomb stops at the budget, not at the end of the disk.
"""
import hashlib
import shutil
import tempfile
import zlib

CHUNK = 1024 * 1024
TAIL = 65_536 + 22  # a zip's end-of-central-directory record and its longest comment
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
USER_BLOCK_PEEK = 1024 * 1024  # HDF5 user blocks up to this size are read at the start (formats.py)


class LimitExceeded(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


class Budget:
    """Bytes that may still be produced by decompression, shared by every layer of one file."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise LimitExceeded(f"expanded content over the {self.limit}-byte limit (a zip bomb?)", self.used)


class Source:
    """A read-only stream that counts, hashes and caps what is read from `raw`."""

    def __init__(self, raw, limit: int, budget: Budget | None = None, what: str = "file"):
        self.raw = raw
        self.limit = limit
        self.budget = budget
        self.what = what
        self.sha = hashlib.sha256()
        self.count = 0
        self._peeked = b""
        self.tail = b""  # the last TAIL bytes read: where a zip's end record would be
        self.far_superblocks: list[int] = []  # HDF5 superblocks past USER_BLOCK_PEEK (h5py would open the file)

    def _pull(self, n: int) -> bytes:
        data = self.raw.read(min(n, self.limit - self.count + 1))  # never more than one byte past the cap
        if data:
            self.count += len(data)
            if self.count > self.limit:
                raise LimitExceeded(f"{self.what} is over the {self.limit}-byte limit", self.limit)
            if self.budget is not None:
                self.budget.charge(len(data))
            self.sha.update(data)
            self._find_superblocks(data)
            self.tail = (self.tail + data)[-TAIL:] if len(data) < TAIL else data[-TAIL:]
        return data

    def _find_superblocks(self, data: bytes) -> None:
        """The HDF5 signature at a power-of-two offset past USER_BLOCK_PEEK (a few checks per chunk)."""
        carry = self.tail[-(len(HDF5_MAGIC) - 1):]  # a signature can straddle two reads
        window, window_start = carry + data, self.count - len(data) - len(carry)
        at = USER_BLOCK_PEEK * 2
        while at < self.count:
            if at >= window_start and window[at - window_start:at - window_start + len(HDF5_MAGIC)] == HDF5_MAGIC:
                self.far_superblocks.append(at)
            at *= 2

    def peek(self, n: int) -> bytes:
        while len(self._peeked) < n:
            more = self._pull(n - len(self._peeked))
            if not more:
                break
            self._peeked += more
        return self._peeked[:n]

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while True:
                chunk = self.read(CHUNK)
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        if self._peeked:
            head, self._peeked = self._peeked[:n], self._peeked[n:]
            if len(head) < n:
                head += self._pull(n - len(head))
            return head
        return self._pull(n)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read to the end, so size and hash cover the whole file."""
        self._peeked = b""
        while self._pull(CHUNK):
            pass

    @property
    def offset(self) -> int:
        return self.count - len(self._peeked)

    @property
    def sha256(self) -> str:
        return self.sha.hexdigest()


class ZlibReader:
    """A zlib stream (joblib's compress=True default) decompressed as it is read."""

    def __init__(self, raw):
        self.raw = raw
        self.inflate = zlib.decompressobj()
        self.pending = b""
        self.at = 0  # read position in `pending` (slicing the rest off on every read would copy it)
        self.done = False

    def read(self, n: int = CHUNK) -> bytes:
        n = CHUNK if n is None or n < 0 else n
        while self.at >= len(self.pending) and not self.done:
            self.pending, self.at = self._inflate_more(), 0
        head = self.pending[self.at:self.at + n]
        self.at += len(head)
        return head

    def _inflate_more(self) -> bytes:
        data = self.inflate.unconsumed_tail or self.raw.read(CHUNK)
        if not data:
            self.done = True
            if not self.inflate.eof:
                raise EOFError("zlib stream ends before its end marker")
            return self.inflate.flush()
        out = self.inflate.decompress(data, CHUNK)
        if self.inflate.eof:
            self.done = True
        return out


def spool(source, budget_hint: str = "") -> tempfile.NamedTemporaryFile:
    """Copy a stream to a temporary file (zip and HDF5 need to seek); the caller closes it."""
    tmp = tempfile.NamedTemporaryFile(prefix="artifact-scan-", suffix=budget_hint)
    shutil.copyfileobj(source, tmp, CHUNK)
    tmp.flush()
    tmp.seek(0)
    return tmp
