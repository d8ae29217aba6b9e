"""Where each column sits in a payload: the catalog compiled into one tree per envelope.

A `Node` is an object of the payload (the top, a property group, `metadata`);
its `slots` are the keys that feed a column, its `children` the keys that
hold further known objects. A key that is neither goes to the node's extras
column, so nothing the catalog does not know is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from schemas.catalog import EVENT_COLUMNS, GROUPS, Column, Group, fills, source_paths
from schemas.envelope import Envelope, Path

ENVELOPE_EXTRA = "envelope_extra"


@dataclass(frozen=True)
class Slot:
    """One key feeding a column; a lower priority number wins when several are present."""

    column: Column
    priority: int
    path: Path
    # False: the value is only compared with the column's (see `catalog.fills`).
    fills: bool = True


@dataclass
class Node:
    path: Path
    # The property group this object is, or None for the envelope's own objects.
    group: Group | None
    # Where unknown keys go, and under which path prefix inside that JSON column.
    extra_column: str
    extra_prefix: Path
    slots: dict[str, Slot] = field(default_factory=dict)
    children: dict[str, Node] = field(default_factory=dict)


@cache
def layout(envelope: Envelope) -> Node:
    """The tree of one envelope (built once; treat it as read-only)."""
    root = Node(path=(), group=None, extra_column=ENVELOPE_EXTRA, extra_prefix=())
    for group in GROUPS:
        for key in group.keys.get(envelope, ()):
            root.children[key] = Node(
                path=(key,), group=group, extra_column=group.extra_column, extra_prefix=()
            )
    for entry in EVENT_COLUMNS:
        for priority, path in enumerate(source_paths(entry, envelope)):
            node = _node_at(root, path[:-1])
            key = path[-1]
            if key in node.slots or key in node.children:
                raise ValueError(f"two catalog entries read {'.'.join(path)} ({entry.name})")
            node.slots[key] = Slot(entry, priority, path, fills(entry, envelope, path))
    return root


def _node_at(root: Node, path: Path) -> Node:
    node = root
    for depth, key in enumerate(path, start=1):
        child = node.children.get(key)
        if child is None:
            if key in node.slots:
                raise ValueError(f"{'.'.join(path[:depth])} is both a field and an object")
            # An envelope object such as `metadata`: unknown keys stay at their path.
            child = Node(
                path=path[:depth],
                group=node.group,
                extra_column=node.extra_column,
                extra_prefix=(*node.extra_prefix, key),
            )
            node.children[key] = child
        node = child
    return node


def walk(node: Node) -> list[Node]:
    """The node and every node below it, parents first."""
    nodes = [node]
    for child in node.children.values():
        nodes.extend(walk(child))
    return nodes
