"""Restoring a run from the store, for :class:`~taskbeam.engine._state.RunState`
(a mixin): which added nodes need not run again, and the stored sub-graphs of
the restored expanded nodes, grafted back as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from taskbeam.engine._capture import OUTPUT_LIMIT
from taskbeam.engine._node import Node, topological
from taskbeam.engine._status import Status
from taskbeam.graph import Task
from taskbeam.graph._graph import links_of

DONE = Status.DONE


class Restoring:
    """The nodes a resumed run takes from the store instead of running them."""

    nodes: dict[str, Node]
    counts: dict[Status, int]
    seq: int
    record: bool
    events: list[tuple[int, str | None, str | None, str, int, float]]
    output_limit: int
    restore: Mapping[str, tuple[str | None, Any]]
    restore_tree: Mapping[str, list[list[Any]]]
    restored: list[Node]

    if TYPE_CHECKING:

        def _move(self, node: Node, new: Status, now: float, restored: bool = False) -> None: ...

    def _restore(self, added: list[Node], now: float | None) -> None:
        """Mark DONE, with their stored result, the added nodes that need not run again.

        A node is restored when the store has it done with the same
        fingerprint, every node it depends on is restored too and, if it had
        expanded, all of its descendants were stored done; a changed node and
        everything downstream of it run again. The children of a restored
        node are restored with it, from the stored structure.
        """
        restore = self.restore
        reused: set[Node] = set()
        for node in topological(added):
            saved = restore.get(node.id)
            if (
                saved is not None
                and saved[0] == node.fingerprint
                and all(up in reused for up in node.upstream)
                and self._restorable(node.id)
            ):
                reused.add(node)
                self._move(node, DONE, now or 0.0, restored=True)
                node.result = saved[1]
                for dependant in node.dependants:
                    dependant.waiting -= 1
                self.restored.append(node)
                self._graft(node, now)

    def _restorable(self, node_id: str) -> bool:
        """Whether every stored descendant of ``node_id`` was stored done (no recursion)."""
        stack = [node_id]
        while stack:
            for child_id, *_ in self.restore_tree.get(stack.pop(), ()):
                if child_id not in self.restore:
                    return False
                stack.append(child_id)
        return True

    def _graft(self, root: Node, now: float | None) -> None:
        """Add the stored descendants of a restored node, all DONE, as they were.

        Depth first, each child's event before its own children's, with a
        stack of its own: a stored tree of any depth is grafted.
        """
        stack = [iter(self._graft_children(root))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                continue
            if now is not None:
                self.seq += 1
                if self.record:
                    self.events.append((self.seq, child.id, None, DONE, 0, now))
            stack.append(iter(self._graft_children(child)))

    def _graft_children(self, parent: Node) -> list[Node]:
        """Make and register the stored children of ``parent`` (no events); return them."""
        spec = self.restore_tree.get(parent.id)
        if not spec:
            return []
        cut = len(parent.id) + 1
        tasks = []
        for child_id, deps, tags, *label in spec:
            local = tuple(d[cut:] for d in deps)
            tasks.append(
                Task(
                    id=child_id[cut:],
                    fn=_restored,
                    deps=local,
                    args=local,
                    tags=tuple(tags),
                    label=label[0] if label else None,
                )
            )
        links = links_of(tasks)
        children: list[Node] = []
        for (child_id, *_), task, up, down in zip(
            spec, tasks, links.upstream, links.dependants, strict=True
        ):
            child = Node(child_id, task, children, up, down)
            child.parent = parent
            child.depth = parent.depth + 1
            if self.output_limit != OUTPUT_LIMIT:
                child.output_limit = self.output_limit
            child.status = DONE
            child.fingerprint, child.result = self.restore[child_id]
            child.waiting = 0
            children.append(child)
        parent.children = children
        self.nodes.update((c.id, c) for c in children)
        self.counts[DONE] = self.counts.get(DONE, 0) + len(children)
        self.restored.extend(children)
        return children


def _restored(**_: Any) -> None:
    raise RuntimeError("this node was restored from the store and is never run")
