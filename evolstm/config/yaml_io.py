"""The YAML of experiment files and --set values: 1e-3 is a number (as in YAML 1.2), data is plain (mappings, lists,
strings, numbers, booleans, null), and what could make a small text expensive or ambiguous is refused: anchors and
aliases (billion laughs), nesting deeper than MAX_DEPTH (recursion) and duplicate keys (the second would win)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node

#: deepest nesting of mappings and lists: the experiment is level 1, a section 2, task.kwargs 3
MAX_DEPTH = 32
#: experiment files are read up to this size (the ready ones are under 2 KiB)
MAX_FILE_BYTES = 1 << 20

FLOAT_TAG = "tag:yaml.org,2002:float"
MERGE_TAG = "tag:yaml.org,2002:merge"
#: scientific notation that YAML 1.1 reads as text (1e-3, 1E5, -2e+4, .5e1, 1.e2); YAML 1.2 and JSON read numbers
SCIENTIFIC = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")
NUMBER_START = list("-+.0123456789")


class YAMLRefused(yaml.YAMLError):
    """A YAML feature that experiments do not allow; the message is one line."""


class ExperimentLoader(yaml.SafeLoader):
    """SafeLoader for experiments: floats in scientific notation, plain data only, no anchors or aliases, no
    duplicate keys, nesting at most MAX_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Refuse anchors/aliases and deep nesting while composing, before anything is built or recursed into."""
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise YAMLRefused(f"line {line}: YAML anchors and aliases (&name, *name) are not supported in experiments")
        nested = int(isinstance(event, CollectionStartEvent))
        if self._depth + nested > MAX_DEPTH:
            raise YAMLRefused(f"line {line}: nested deeper than {MAX_DEPTH} levels (the limit for experiments)")
        self._depth += nested
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= nested

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping, refusing a key that it has already (the first one's line is named)."""
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:  # merging needs an alias, or merges what could be written in place
                raise YAMLRefused(f"line {line}: YAML merge keys (<<) are not supported in experiments")
            key = self.construct_object(key_node, deep=deep)
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: SafeConstructor reports it
                continue
            if first is not None:
                raise YAMLRefused(f"line {line}: duplicate key {key!r} (first on line {first})")
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


class ExperimentDumper(yaml.SafeDumper):
    """SafeDumper whose output ExperimentLoader reads back as the same data: strings such as "1e3" are quoted, and
    data shared between two places is written twice (never as an anchor and alias)."""

    def ignore_aliases(self, data: Any) -> bool:
        """Never write an anchor: ExperimentLoader refuses them."""
        return True


ExperimentLoader.add_implicit_resolver(FLOAT_TAG, SCIENTIFIC, NUMBER_START)
ExperimentDumper.add_implicit_resolver(FLOAT_TAG, SCIENTIFIC, NUMBER_START)
ExperimentLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)  # dates: text
for _tag in ("binary", "set", "omap", "pairs"):  # not plain data: "could not determine a constructor"
    ExperimentLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", SafeConstructor.construct_undefined)


def parse(text: str) -> Any:
    """The data in YAML text. Raises yaml.YAMLError (YAMLRefused for what experiments refuse) and, for malformed
    tagged scalars (`!!float abc`, `!!int ''`, `!!bool x`), the ValueError, IndexError or KeyError of PyYAML's
    constructors."""
    return yaml.load(text, Loader=ExperimentLoader)


def dump(data: Any) -> str:
    """YAML text of plain data that `parse` (and any YAML 1.1 reader) reads back as the same data."""
    return yaml.dump(data, Dumper=ExperimentDumper, sort_keys=False)
