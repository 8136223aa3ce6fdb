"""The container opcodes of the symbolic pickle walk (lists, tuples, dicts, sets, stack shuffles).

A mixin of `pickle_walk.Machine`: the same state (stack, marks, budget), kept apart so each module
stays small. Containers keep KEEP_ITEMS items; hook names are always kept (pickle_findings checks
class dicts for them).
"""
from .opcodes import PickleFormatError
from .pickle_values import MARK, Call, Event, Opaque, describe
from .vocabulary import LOAD_TIME_HOOKS

KEEP_ITEMS = 256          # items kept per simulated list/tuple/dict (the rest are counted, not kept)


class ContainerOps:
    # --- containers -----------------------------------------------------------
    def _bounded(self, items) -> list:
        return [self._keep(v) for v in items[:KEEP_ITEMS]]

    def op_EMPTY_LIST(self, arg, offset):
        self._push([])

    def op_EMPTY_TUPLE(self, arg, offset):
        self._push(())

    def op_EMPTY_DICT(self, arg, offset):
        self._push({})

    def op_EMPTY_SET(self, arg, offset):
        self._push(set_placeholder())

    def op_MARK(self, arg, offset):
        self._push(MARK)

    def op_LIST(self, arg, offset):
        self._push(self._bounded(self._pop_mark(offset)))

    def op_TUPLE(self, arg, offset):
        self._push(tuple(self._bounded(self._pop_mark(offset))))

    def op_TUPLE1(self, arg, offset):
        self._push((self._pop(offset),))

    def op_TUPLE2(self, arg, offset):
        b, a = self._pop(offset), self._pop(offset)
        self._push((a, b))

    def op_TUPLE3(self, arg, offset):
        stack = self.stack
        items = stack[-3:]
        if len(items) < 3 or MARK in items:
            raise PickleFormatError("stack underflow", offset)
        del stack[-3:]
        stack.append(tuple(items))

    def op_DICT(self, arg, offset):
        items = self._pop_mark(offset)
        self._push(self._pairs_into({}, items))

    def _pairs_into(self, target, items):
        if isinstance(target, dict):
            for key, value in zip(items[0::2], items[1::2], strict=False):
                # hook names are always kept: a class dict is checked for them (pickle_findings)
                if (len(target) < KEEP_ITEMS or key in LOAD_TIME_HOOKS) and _hashable(key):
                    target[key] = self._keep(value)
        return target

    def op_APPEND(self, arg, offset):
        value = self._pop(offset)
        self._extend(self._peek(offset), [value], offset)

    def op_APPENDS(self, arg, offset):
        items = self._pop_mark(offset)
        self._extend(self._peek(offset), items, offset)

    def _extend(self, target, items, offset):
        if isinstance(target, list):
            room = KEEP_ITEMS - len(target)
            target.extend(self._keep(v) for v in items[:max(room, 0)])
        elif isinstance(target, Call):
            # APPENDS on an object that is not a list calls its append/extend: code of its class
            self._record(Event("method", f"{describe(target.func)}.extend", offset, callee=target.func))

    def _peek(self, offset):
        if not self.stack or self.stack[-1] is MARK:
            raise PickleFormatError("stack underflow", offset)
        return self.stack[-1]

    def op_SETITEM(self, arg, offset):
        value, key = self._pop(offset), self._pop(offset)
        self._set_items(self._peek(offset), [key, value], offset)

    def op_SETITEMS(self, arg, offset):
        items = self._pop_mark(offset)
        self._set_items(self._peek(offset), items, offset)

    def _set_items(self, target, items, offset):
        if isinstance(target, Call):
            self._record(Event("method", f"{describe(target.func)}.__setitem__", offset, callee=target.func))
        self._pairs_into(target, items)

    def op_ADDITEMS(self, arg, offset):
        self._pop_mark(offset)
        self._peek(offset)

    def op_FROZENSET(self, arg, offset):
        self._pop_mark(offset)
        self._push(set_placeholder())

    def op_POP(self, arg, offset):
        if self.stack and self.stack[-1] is MARK:
            self._pop_mark(offset)
        else:
            self._pop(offset)

    def op_POP_MARK(self, arg, offset):
        self._pop_mark(offset)

    def op_DUP(self, arg, offset):
        self._push(self._peek(offset))


def set_placeholder():
    return Opaque("set")


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
