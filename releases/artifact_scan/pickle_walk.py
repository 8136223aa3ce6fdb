"""Follow a pickle's stack symbolically and record every import and call it would make on load.

Nothing is imported or called: GLOBAL/STACK_GLOBAL/INST push a `Ref` (a name),
REDUCE/NEWOBJ/OBJ/INST push a `Call` of that name, and each one is recorded
with its byte offset. STACK_GLOBAL's names are taken from the stack, so names
built with BINGET/LONG_BINGET/MEMOIZE resolve as they would on load; a name
that cannot be resolved (not a plain string) is recorded as unresolved, which
is worse than dangerous: nobody can say what it imports.

What is kept is bounded (containers keep `KEEP_ITEMS` items, the memo and the
stack have caps, a global budget of kept values), so a huge or hostile pickle
costs time proportional to its size and flat memory.

joblib writes numpy arrays' raw bytes in the middle of the stream, right after
a NumpyArrayWrapper's BUILD; they are skipped here the way joblib reads them
(and an object-dtype array is itself a nested pickle, walked in turn).
"""

import io
import pickletools

from .joblib_arrays import array_layout
from .opcodes import OpcodeReader, PickleFormatError
from .pickle_containers import ContainerOps
from .pickle_values import DROPPED, MARK, Call, Event, Opaque, Ref, WalkResult, describe, summarize_args

PROBE = 1024 * 1024       # bytes after joblib's first array read as plain pickle.load would
MAX_MEMO = 200_000        # memo entries kept; later ones are replaced by DROPPED
MAX_STACK = 100_000       # a deeper stack is refused (real pickles stay in the thousands)
MAX_KEPT_BYTES = 64 * 1024 * 1024  # rough bytes of values kept in containers and the memo, per file
SMALL = 256               # strings/bytes up to this size are always pushed as they are (names stay resolvable)
MAX_DISTINCT = 10_000     # distinct import names/calls recorded per file
MAX_CODE_CALLS = 5_000    # cloudpickle code/function rebuilds kept per file for pyfunc_code (not deduplicated)
# cloudpickle's helpers that carry code by value: their calls are all kept (events keep one of each look-alike)
CODE_HELPERS = frozenset({"_make_function", "_function_setstate", "_builtin_type"})
JOBLIB_WRAPPERS = {("joblib.numpy_pickle", "NumpyArrayWrapper"), ("sklearn.externals.joblib.numpy_pickle",
                                                                 "NumpyArrayWrapper")}


class Machine(ContainerOps):
    """One pass over one stream. `walk()` reads pickles until the data ends."""

    def __init__(self, stream, keep_bytes: int = 64 * 1024, joblib: bool = True):
        self.reader = OpcodeReader(stream, keep=keep_bytes)
        self.result = WalkResult()
        self.kept = 0
        self._seen = {}
        self.joblib = joblib     # skip arrays after NumpyArrayWrapper (joblib.load's reading)
        self.probed = False
        # every opcode but STOP has a handler: a missing one fails here, at construction, not mid-file
        self._handlers = {op.name: getattr(self, "op_" + op.name) for op in pickletools.opcodes if op.name != "STOP"}

    # --- bookkeeping ---------------------------------------------------------
    def _record(self, event: Event) -> None:
        """Keep the first occurrence of each distinct (kind, target, arguments); count the rest."""
        key = (event.kind, event.target, summarize_args(event.args))
        if key in self._seen:
            self._seen[key].count += 1
            return
        if len(self._seen) >= MAX_DISTINCT:
            self.result.truncated_events = True
            return
        self._seen[key] = event
        self.result.events.append(event)

    def _keep(self, value):
        """`value`, or DROPPED once the file's budget of kept bytes is spent (memory stays bounded)."""
        self.kept += 64 + (len(value) if isinstance(value, (str, bytes)) else 0)
        return value if self.kept <= MAX_KEPT_BYTES else DROPPED

    # --- the stream ----------------------------------------------------------
    def walk(self) -> WalkResult:
        try:
            while True:
                first = self.reader.next_op()
                if first is None:
                    break
                self._one_pickle(first)
                self.result.pickles += 1
        except PickleFormatError as exc:
            self.result.error, self.result.error_offset = str(exc), exc.offset
        return self.result

    def _one_pickle(self, first) -> None:
        self.stack, self.marks, self.memo, self.memo_len = [], [], {}, 0
        self._run(first)

    def _run(self, first) -> None:
        handlers, next_op, stack = self._handlers, self.reader.next_op, self.stack
        op = first
        while True:
            name, arg, offset = op
            if name == "STOP":
                self._stop(offset)
                return
            handlers[name](arg, offset)
            if len(stack) > MAX_STACK:
                raise PickleFormatError(f"stack deeper than {MAX_STACK}", offset)
            op = next_op()
            if op is None:
                raise PickleFormatError("data ends before the pickle's STOP opcode", self.reader.offset)

    def probe(self, stack, marks, memo, memo_len) -> WalkResult:
        """Go on from a copy of another walk's state, as plain pickle.load would, until STOP or an error."""
        self.stack, self.marks, self.memo, self.memo_len = list(stack), list(marks), dict(memo), memo_len
        try:
            first = self.reader.next_op()
            if first is not None:
                self._run(first)
        except PickleFormatError as exc:
            self.result.error, self.result.error_offset = str(exc), exc.offset
        return self.result

    def _stop(self, offset: int) -> None:
        root = self._pop(offset)
        if isinstance(root, Call) and root.kind in ("new", "inst", "obj") and isinstance(root.func, Ref):
            self.result.root_classes.append(root.func)

    # --- stack helpers -------------------------------------------------------
    def _pop(self, offset: int):
        if not self.stack or self.stack[-1] is MARK:
            raise PickleFormatError("stack underflow", offset)
        return self.stack.pop()

    def _pop_mark(self, offset: int) -> list:
        if not self.marks:
            raise PickleFormatError("no MARK to pop to", offset)
        at = self.marks.pop()
        items = self.stack[at + 1:]
        del self.stack[at:]
        return items

    def _push(self, value) -> None:
        if value is MARK:
            self.marks.append(len(self.stack))
        self.stack.append(value)

    # --- plain values ---------------------------------------------------------
    def _value(self, arg, offset):
        # the hot path (most opcodes of a large pickle): small values go straight on the stack
        if isinstance(arg, (str, bytes)) and len(arg) > SMALL:
            arg = self._keep(arg)
        self.stack.append(arg)

    op_INT = op_BININT = op_BININT1 = op_BININT2 = op_LONG = op_LONG1 = op_LONG4 = _value
    op_STRING = op_BINSTRING = op_SHORT_BINSTRING = op_BINBYTES = op_SHORT_BINBYTES = _value
    op_BINBYTES8 = op_BYTEARRAY8 = op_UNICODE = op_SHORT_BINUNICODE = op_BINUNICODE = _value
    op_BINUNICODE8 = op_FLOAT = op_BINFLOAT = _value

    def op_NONE(self, arg, offset):
        self._push(None)

    def op_NEWTRUE(self, arg, offset):
        self._push(True)

    def op_NEWFALSE(self, arg, offset):
        self._push(False)

    def op_NEXT_BUFFER(self, arg, offset):
        self._push(Opaque("out-of-band buffer"))

    def op_READONLY_BUFFER(self, arg, offset):
        self._pop(offset)
        self._push(Opaque("read-only buffer"))

    def op_PROTO(self, arg, offset):
        if not 0 <= arg <= 5:
            raise PickleFormatError(f"unsupported pickle protocol {arg}", offset)

    def op_FRAME(self, arg, offset):
        pass  # frames only group opcodes; the opcodes inside are read one by one all the same

    # --- memo -------------------------------------------------------------------
    # Past MAX_MEMO entries nothing more is stored (not even a placeholder: the dict itself would grow
    # without bound); `memo_len` goes on counting, as MEMOIZE numbers entries by the real memo's size.
    def _get(self, key, offset):
        value = self.memo.get(key, _MISSING)
        if value is _MISSING:
            if self.memo_len <= MAX_MEMO:
                raise PickleFormatError(f"memo key {key} was never stored", offset)
            value = DROPPED
        self._push(value)

    op_GET = op_BINGET = op_LONG_BINGET = _get

    def _put(self, key, offset):
        value = self._peek(offset)
        if key not in self.memo:
            self.memo_len += 1
        if self.memo_len <= MAX_MEMO:
            self.memo[key] = value

    op_PUT = op_BINPUT = op_LONG_BINPUT = _put

    def op_MEMOIZE(self, arg, offset):
        stack = self.stack
        if not stack or stack[-1] is MARK:
            raise PickleFormatError("stack underflow", offset)
        self.memo_len += 1
        if self.memo_len <= MAX_MEMO:
            self.memo[self.memo_len - 1] = stack[-1]

    # --- imports and calls --------------------------------------------------------
    def _import(self, module, name, offset, how):
        if not isinstance(module, str) or not isinstance(name, str):
            target = f"{describe(module)} . {describe(name)}"
            self._record(Event("unresolved", target, offset, note=f"{how} with names that are not strings"))
            self._push(Opaque("unresolved import"))
            return
        ref = Ref(module, name)
        self._record(Event("import", str(ref), offset, callee=ref))
        self._push(ref)

    def op_GLOBAL(self, arg, offset):
        module, name = arg
        self._import(module, name, offset, "GLOBAL")

    def op_STACK_GLOBAL(self, arg, offset):
        name, module = self._pop(offset), self._pop(offset)
        self._import(module, name, offset, "STACK_GLOBAL")

    def _ext(self, code, offset):
        self._record(Event("extension", f"copyreg extension code {code}", offset,
                           note="the name is looked up in the loading process's copyreg registry, not in the file"))
        self._push(Opaque(f"extension {code}"))

    op_EXT1 = op_EXT2 = op_EXT4 = _ext

    def op_PERSID(self, arg, offset):
        self._persistent(arg, offset)

    def op_BINPERSID(self, arg, offset):
        self._persistent(self._pop(offset), offset)

    def _persistent(self, pid, offset):
        self._record(Event("persistent_id", "persistent_load", offset, args=(pid,),
                           note="resolved by the loader's persistent_load (torch: tensor storages)"))
        self._push(Opaque("persistent object"))

    def _call(self, func, args, offset, kind, kwargs=None):
        call = Call(func, args if isinstance(args, tuple) else (args,), kind, offset)
        self._record(Event("call", describe(func), offset, callee=func, args=call.args,
                           note=kind if kwargs is None else f"{kind} with keyword arguments"))
        self._push(call)
        if _carries_code(func):
            if len(self.result.code_calls) < MAX_CODE_CALLS:
                self.result.code_calls.append(call)
            else:
                self.result.code_calls_over = True
        return call

    def op_REDUCE(self, arg, offset):
        args, func = self._pop(offset), self._pop(offset)
        self._call(func, args, offset, "reduce")

    def op_NEWOBJ(self, arg, offset):
        args, cls = self._pop(offset), self._pop(offset)
        self._call(cls, args, offset, "new")

    def op_NEWOBJ_EX(self, arg, offset):
        kwargs, args, cls = self._pop(offset), self._pop(offset), self._pop(offset)
        self._call(cls, args, offset, "new", kwargs=kwargs)

    def op_OBJ(self, arg, offset):
        items = self._pop_mark(offset)
        if not items:
            raise PickleFormatError("OBJ without a class", offset)
        self._call(items[0], tuple(items[1:]), offset, "obj")

    def op_INST(self, arg, offset):
        module, name = arg
        ref = Ref(module, name)
        self._record(Event("import", str(ref), offset, callee=ref))  # pickle.load imports before it pops the MARK
        args = tuple(self._pop_mark(offset))
        self._call(ref, args, offset, "inst")

    def op_BUILD(self, arg, offset):
        state = self._pop(offset)
        target = self._peek(offset)
        origin = target.func if isinstance(target, Call) else target
        self._record(Event("build", describe(origin), offset, callee=target, args=(state,),
                           note="sets state: calls the class's __setstate__ if it has one"))
        if isinstance(target, Call):
            target.state = state
            if self.joblib and isinstance(target.func, Ref) and (
                    target.func.module, target.func.name) in JOBLIB_WRAPPERS:
                if not self.probed:
                    self._probe_as_plain_pickle()
                self._skip_joblib_array(state, offset)

    # --- joblib's arrays ---------------------------------------------------------------
    def _probe_as_plain_pickle(self) -> None:
        """pickle.load (MLflow's sklearn flavor uses it) does not skip joblib's arrays: from the first
        one on, it reads the array bytes as opcodes. Read them that way too, up to PROBE bytes, so
        opcodes hidden where joblib sees data are found. Genuine array data fails within a few bytes."""
        self.probed = True
        start = self.reader.offset
        prefix = self.reader.peek(PROBE)
        probe = Machine(io.BytesIO(prefix), self.reader.keep, joblib=False)
        result = probe.probe(self.stack, self.marks, self.memo, self.memo_len)
        for event in result.events:
            event.offset += start
        self.result.hidden_events = result.events
        ran_off_the_end = result.error.startswith("data ends") and result.error_offset >= len(prefix)
        self.result.probe_inconclusive = ran_off_the_end and len(prefix) == PROBE

    def _skip_joblib_array(self, state, offset):
        """joblib writes the array right after the wrapper's BUILD; read past it as joblib would."""
        layout = array_layout(state)
        if layout is None:
            raise PickleFormatError("joblib array whose dtype or shape cannot be read from its wrapper", offset)
        self.result.joblib_arrays += 1
        if layout.nested_pickle:
            # object arrays: a whole pickle, read by joblib with a plain Unpickler (no array skipping)
            saved = (self.stack, self.marks, self.memo, self.memo_len)
            first = self.reader.next_op()
            if first is None:
                raise PickleFormatError("data ends where joblib's object array should be", self.reader.offset)
            self.joblib = False
            self._one_pickle(first)
            self.joblib = True
            self.stack, self.marks, self.memo, self.memo_len = saved
            return
        if layout.aligned:
            pad = self.reader.read(1)[0]
            self.reader.skip(pad)
        self.reader.skip(layout.nbytes)


_MISSING = object()


def _carries_code(func) -> bool:
    """A call of cloudpickle's _make_function/_function_setstate, or of the CodeType that _builtin_type returns."""
    if isinstance(func, Call):  # _builtin_type('CodeType')(...): a code object
        func = func.func if func.args[:1] == ("CodeType",) else None
    return isinstance(func, Ref) and func.name in CODE_HELPERS and func.module.startswith("cloudpickle")
