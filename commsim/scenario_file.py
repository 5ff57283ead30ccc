"""Reading a scenario file safely: bytes → UTF-8 text → one YAML document of plain data.

``yaml.safe_load`` semantics (no tag constructs an object), plus what a file from anywhere needs:
a size limit, text that is UTF-8 (not binary), duplicate keys refused, nesting bounded (no recursion
error), alias expansion bounded in values and in characters (no alias bomb, of short or of long
strings), integers of bounded length (no 4300-digit error), no lone surrogates (they cannot be written
back out), and a bad explicit tag (``!!int x``) refused. Every problem is one
:class:`~commsim.errors.ScenarioError` line naming the file and, where there is one, the key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ScenarioError, shown

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the bundled scenarios are a few kB
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_VALUES = 1_000_000  # values in the document once every alias is expanded
MAX_CHARS = 4_000_000  # characters of its scalars once every alias is expanded (a file holds at most ~1 M)
MAX_INT_CHARS = 100  # an integer literal longer than this is refused before Python converts it

_MERGE = "tag:yaml.org,2002:merge"


class _Refused(yaml.YAMLError):
    """A document the reader will not construct: ``key`` (dotted path, may be empty) and why."""

    def __init__(self, key: str, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.key, self.problem, self.mark = key, problem, mark


def _dotted(path: tuple[Any, ...] | list[Any]) -> str:
    """``topology.links.0.between``; a deep path keeps its first three and last two keys."""
    parts = [shown(part, 30, quote=False) for part in path]
    if parts and parts[-1] == "<key>":  # a problem in a key itself: name the mapping it is in
        parts.pop()
    return ".".join(parts if len(parts) <= 6 else [*parts[:3], "…", *parts[-2:]])


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that bounds nesting and alias expansion and refuses duplicate keys, oversized
    integers, lone surrogates and malformed explicit scalars, naming the key of each."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[Any] = []
        self._paths: dict[int, tuple[Any, ...]] = {}  # id(node) -> where it first appeared
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, characters) it stands for
        self._open: set[str] = set()  # anchors of the collections being composed
        self._values = self._chars = 0

    # -- composing: depth, aliases, paths -------------------------------------------------------

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        step = index.value if isinstance(index, ScalarNode) else index
        if isinstance(parent, MappingNode) and index is None:
            step = "<key>"
        if parent is not None:
            self._path.append(step)
        try:
            return self._compose(parent, index)
        finally:
            if parent is not None:
                self._path.pop()

    def _compose(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        here = _dotted(tuple(self._path))
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise _Refused(here, f"alias *{shown(event.anchor, 40)} refers to a collection that contains it",
                               event.start_mark)
            node = super().compose_node(parent, index)
            self._count(*self._size(node), here, event.start_mark)
            return node
        if len(self._path) >= MAX_DEPTH:
            raise _Refused(here, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        anchor = event.anchor if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)) else None
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)
        self._paths.setdefault(id(node), tuple(self._path))
        self._count(1, len(node.value) if isinstance(node, ScalarNode) else 0, here, event.start_mark)
        return node

    def _size(self, node: Node) -> tuple[int, int]:
        """Values and characters ``node`` stands for with its aliases expanded (memoised: a DAG of shared
        nodes; each capped just above its limit)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, ScalarNode):
            values, chars = 1, len(node.value)
        else:
            children = [child for pair in node.value for child in pair] if isinstance(node, MappingNode) else node.value
            sizes = [self._size(child) for child in children]
            values, chars = 1 + sum(size[0] for size in sizes), sum(size[1] for size in sizes)
        self._sizes[id(node)] = size = (min(values, MAX_VALUES + 1), min(chars, MAX_CHARS + 1))
        return size

    def _count(self, values: int, chars: int, here: str, mark: Any) -> None:
        self._values += values
        self._chars += chars
        if self._values > MAX_VALUES:
            raise _Refused(here, f"the document expands to more than {MAX_VALUES:,} values "
                                 "(aliases repeating aliases?)", mark)
        if self._chars > MAX_CHARS:
            raise _Refused(here, f"the document expands to more than {MAX_CHARS:,} characters "
                                 "(aliases repeating long strings?)", mark)

    # -- constructing: duplicates, integers, surrogates, explicit tags --------------------------

    def _where(self, node: Node) -> str:
        return _dotted(self._paths.get(id(node), ()))

    def _key_where(self, key_node: Node, key: Any) -> str:
        """The dotted path of the value a mapping key names (the key node's own path ends in <key>)."""
        return _dotted([*self._paths.get(id(key_node), ("<key>",))[:-1], key])

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue  # keys merged in with << may be overridden: that is what merging is for
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue  # unhashable: SafeLoader says so
                if first is not key_node:
                    raise _Refused(self._key_where(key_node, key), f"duplicate key (line {key_node.start_mark.line + 1}; "
                                          f"first at line {first.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_scalar(self, node: Node) -> Any:
        value = super().construct_scalar(node)
        if isinstance(value, str) and any("\ud800" <= char <= "\udfff" for char in value):
            char = next(char for char in value if "\ud800" <= char <= "\udfff")
            raise _Refused(self._where(node), f"contains a lone surrogate \\u{ord(char):04x} (not Unicode text)",
                           node.start_mark)
        return value

    def _scalar(self, node: Node, build: Any, what: str) -> Any:
        try:
            return build(node)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            raise _Refused(self._where(node), f"{shown(node.value, 40)} is not {what}", node.start_mark) from None

    def construct_yaml_int(self, node: Node) -> int:
        if len(str(node.value)) > MAX_INT_CHARS:
            raise _Refused(self._where(node), f"an integer of {len(str(node.value))} characters is too large",
                           node.start_mark)
        return self._scalar(node, super().construct_yaml_int, "an integer")

    def construct_yaml_float(self, node: Node) -> float:
        return self._scalar(node, super().construct_yaml_float, "a number")

    def construct_yaml_bool(self, node: Node) -> bool:
        return self._scalar(node, super().construct_yaml_bool, "true or false")

    def construct_yaml_timestamp(self, node: Node) -> Any:
        return self._scalar(node, super().construct_yaml_timestamp, "a date")


for _tag, _method in (("int", _Loader.construct_yaml_int), ("float", _Loader.construct_yaml_float),
                      ("bool", _Loader.construct_yaml_bool), ("timestamp", _Loader.construct_yaml_timestamp)):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _method)


def parse_yaml(text: str, source: str) -> Any:
    """The one YAML document in ``text`` as plain data (mappings, lists, scalars), or one
    ``ScenarioError`` line: ``source: key: problem``."""
    loader = None
    try:
        loader = _Loader(text)  # the reader checks every character here
        return loader.get_single_data()
    except _Refused as error:
        where = f"{error.key}: " if error.key else ""
        line = f" (line {error.mark.line + 1})" if error.mark is not None and not error.key else ""
        raise ScenarioError(f"{source}: {where}{error.problem}{line}") from None
    except yaml.reader.ReaderError as error:
        raise ScenarioError(f"{source}: character {error.character!r} at position {error.position} is not "
                            "allowed in YAML text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{source}: invalid YAML{where}: {shown(problem, 100, quote=False)}") from None
    except (RecursionError, MemoryError):  # a last resort: the limits above should come first
        raise ScenarioError(f"{source}: the YAML is too deeply nested or too large to read") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: Path, source: str) -> str:
    """A scenario file's text: a regular file of at most ``MAX_FILE_BYTES`` of UTF-8 (a BOM allowed)."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(f"{source}: cannot read scenario: it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"{source}: cannot read scenario: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{source}: is {info.st_size:,} bytes; a scenario file is at most {MAX_FILE_BYTES:,}")
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise ScenarioError(f"{source}: cannot read scenario: {getattr(error, 'strerror', None) or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"{source}: is larger than {MAX_FILE_BYTES:,} bytes; a scenario file is at most that")
    if b"\x00" in data:
        raise ScenarioError(f"{source}: is a binary file (it holds NUL bytes), not YAML text")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise ScenarioError(f"{source}: is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
                            f"{error.start})") from None


def read(path: Path, source: str) -> Any:
    """The YAML document of a scenario file (see :func:`read_text` and :func:`parse_yaml`)."""
    return parse_yaml(read_text(path, source), source)
