"""Read an environment YAML file the way its installers do, or refuse it.

conda.yaml is read by conda (ruamel.yaml, YAML 1.2) and by MLflow (PyYAML's
safe loader, YAML 1.1); python_env.yaml by MLflow. Where those readers agree,
the value here is exactly what `yaml.safe_load` gives. Where they can disagree,
the file is refused with the line and the reason, never guessed:

- duplicate keys: PyYAML keeps the last one, ruamel.yaml refuses the file;
- merge keys (`<<`): a YAML 1.1 feature; a YAML 1.2 reader sees a plain key;
- explicit tags (`!!str`, `!foo`, `!!python/...`);
- plain scalars that YAML 1.1 and 1.2 type differently (`yes`, `on`, `010`,
  `1e3`, `0o17`, dates) where a string is needed, and non-string keys;
- more than one document, complex keys, duplicate or recursive anchors, and
  nesting deeper than MAX_DEPTH.

It walks PyYAML's event stream (the C parser when available) with PyYAML's own
resolver, building the tree iteratively: no recursion, no object construction.
Anchors and aliases are standard in both YAML versions and are kept (an alias
is the same node object); consumers bound what they expand.
"""
import re
from dataclasses import dataclass, field

import yaml

MAX_DEPTH = 20  # environment files need 4 levels; PyYAML recurses, libyaml stops at 1000
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
# YAML 1.2 core schema: plain scalars that are not strings there.
_CORE_NON_STRING = re.compile(
    r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlRefused(Exception):
    """The file cannot be read unambiguously; `line` is 1-based (0: the whole file)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(eq=False)
class Scalar:
    line: int
    value: str
    tag: str  # as PyYAML resolves it
    plain: bool  # unquoted: YAML 1.1 and 1.2 may type it differently

    def text(self, what: str) -> str:
        """The value as a string, refused unless every YAML reader sees the same string."""
        if self.tag != _STR:
            kind = self.tag.rsplit(":", 1)[-1]
            raise YamlRefused(self.line, f"{what} is a YAML {kind} ({self.value!r}), not a string; quote it")
        if self.plain and _CORE_NON_STRING.match(self.value):
            raise YamlRefused(self.line, f"{what} {self.value!r} is a string to YAML 1.1 but not to YAML 1.2 "
                                         "readers such as conda's; quote it")
        return self.value


@dataclass(eq=False)
class Sequence:
    line: int
    items: list = field(default_factory=list)
    anchor: str | None = None


@dataclass(eq=False)
class Mapping:
    line: int
    items: dict = field(default_factory=dict)  # key text -> node
    key_lines: dict = field(default_factory=dict)
    anchor: str | None = None


def _line(event) -> int:
    return event.start_mark.line + 1 if event.start_mark else 0


def _scalar(event) -> Scalar:
    tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
    return Scalar(_line(event), event.value, tag, bool(event.implicit[0]))  # implicit[0]: a plain scalar


class _Builder:
    def __init__(self):
        self.stack: list = []  # open Sequence / Mapping nodes, with a pending key for mappings
        self.pending_key: list = []
        self.anchors: dict = {}
        self.open_anchors: set = set()
        self.root = None
        self.documents = 0

    def add(self, node, event_line: int) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, Sequence):
            parent.items.append(node)
            return
        key = self.pending_key[-1]
        if key is None:
            self.pending_key[-1] = self._key(node, event_line)
            return
        key_text, key_line = key
        parent.items[key_text] = node
        parent.key_lines[key_text] = key_line
        self.pending_key[-1] = None

    def _key(self, node, line: int) -> tuple[str, int]:
        if not isinstance(node, Scalar):
            raise YamlRefused(line, "a mapping key must be a plain string")
        if node.tag == _MERGE:
            raise YamlRefused(node.line, "merge key '<<' refused: YAML 1.1 merges it, YAML 1.2 readers do not")
        text = node.text("mapping key")
        if text in self.stack[-1].items:
            raise YamlRefused(node.line, f"duplicate key {text!r} (first on line {self.stack[-1].key_lines[text]}): "
                                         "PyYAML keeps the last, conda refuses the file")
        return text, node.line

    def anchor(self, event, node) -> None:
        if event.anchor is None:
            return
        if event.anchor in self.anchors:
            raise YamlRefused(_line(event), f"anchor &{event.anchor} is defined twice")
        self.anchors[event.anchor] = node

    def feed(self, event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise YamlRefused(_line(event), "more than one YAML document in the file")
        elif isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if event.tag is not None:
                raise YamlRefused(_line(event), f"explicit YAML tag {event.tag!r} refused")
            if isinstance(event, yaml.ScalarEvent):
                scalar = _scalar(event)
                self.anchor(event, scalar)
                self.add(scalar, _line(event))
                return
            kind = Sequence if isinstance(event, yaml.SequenceStartEvent) else Mapping
            node = kind(_line(event), anchor=event.anchor)
            if len(self.stack) >= MAX_DEPTH:
                raise YamlRefused(_line(event), f"nesting deeper than {MAX_DEPTH} levels")
            self.anchor(event, node)
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            self.add(node, _line(event))
            self.stack.append(node)
            self.pending_key.append(None)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            node = self.stack.pop()
            self.pending_key.pop()
            self.open_anchors.discard(node.anchor)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise YamlRefused(_line(event), f"alias *{event.anchor} has no anchor before it")
            if event.anchor in self.open_anchors:
                raise YamlRefused(_line(event), f"alias *{event.anchor} refers to a node that contains it")
            self.add(self.anchors[event.anchor], _line(event))


def read(text: str):
    """The document's root node (Scalar, Sequence, Mapping) or None for an empty file.

    Raises YamlRefused for anything a YAML reader rejects or that readers read differently."""
    builder = _Builder()
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            builder.feed(event)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlRefused(mark.line + 1 if mark else 0, f"invalid YAML: {problem}") from None
    return builder.root
