"""Rerun: a new run that executes what was asked or what changed, and reuses the rest.

``run.rerun(nodes)`` (and :func:`taskbeam.rerun` for a stored run) starts a
new run of a graph with the results of an earlier run at hand, by node id
(:class:`Prior`). A node of the new run takes its earlier result, and is not
executed, when

- it is not one of ``nodes``, nor a child of one of them (``nodes=None``:
  no node is forced, so only what changed runs);
- its task is unchanged: the same fingerprint (function, kwargs, dependency
  ids; see :mod:`taskbeam.engine._fingerprint`);
- each of its inputs has the same digest as the input it had then
  (:mod:`taskbeam.engine._digest`): a forced or changed node that makes the
  value it made before leaves its dependants reused (early cutoff);
- and its task may be cached (``cache=False`` tasks always run).

An expanded parent of an earlier run in this process expands again into the
same sub-graph without its task being called; its children are then taken
one by one. From a stored run, whose plans are not stored (only its
children's results), a parent whose task and inputs are unchanged is taken
with its aggregate as a whole, unless one of its children is forced: then its
task runs again and its children are matched by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskbeam.engine._cache import UNSET, input_digest
from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._fingerprint import fingerprint
from taskbeam.engine._node import Node
from taskbeam.engine._status import Status
from taskbeam.graph import Expansion

if TYPE_CHECKING:
    from taskbeam.engine._state import RunState

__all__ = ["Prior", "PriorNode", "node_ids"]


@dataclass(slots=True)
class PriorNode:
    """A done node of the earlier run: its task's fingerprint, result and (in memory) plan."""

    fingerprint: str | None
    value: Any
    expansion: Expansion | None = None
    digest: Any = UNSET

    def value_digest(self) -> bytes | None:
        if self.digest is UNSET:
            self.digest = digest_bytes(self.value)
        made: bytes | None = self.digest
        return made


class Prior:
    """The results of an earlier run, by node id, and the nodes that must run again."""

    def __init__(
        self,
        run_id: str,
        nodes: Mapping[str, PriorNode],
        forced: Iterable[str] | None = None,
        *,
        stored: bool = False,
    ) -> None:
        self.run_id = run_id
        self.nodes = dict(nodes)
        self.stored = stored
        self.forced = frozenset(forced or ())
        unknown = sorted(n for n in self.forced if n not in self.nodes and not self._seen(n))
        if unknown:
            raise KeyError(
                f"no node {', '.join(map(repr, unknown[:5]))} in run {run_id!r}: "
                "rerun(nodes=...) takes ids of its nodes (children as 'parent/child')"
            )
        # Parents with a forced node below them: they cannot be taken whole.
        self.above_forced = frozenset(
            f.rsplit("/", k)[0] for f in self.forced for k in range(1, f.count("/") + 1)
        )

    def _seen(self, node_id: str) -> bool:
        prefix = node_id + "/"
        return any(n.startswith(prefix) for n in self.nodes)

    @classmethod
    def from_state(cls, run_id: str, state: RunState, forced: Iterable[str] | None = None) -> Prior:
        """From an ended run of this process (its state machine, read once it ended)."""
        nodes: dict[str, PriorNode] = {}
        for node in list(state.nodes.values()):
            if node.status is not Status.DONE:
                continue
            kept = PriorNode(
                node.fingerprint or fingerprint(node.task),
                node.result,
                node.expansion,
            )
            if node.digest is not UNSET:
                kept.digest = node.digest
            nodes[node.id] = kept
        return cls(run_id, nodes, forced)

    @classmethod
    def from_stored(
        cls,
        run_id: str,
        done: Mapping[str, tuple[str, str | None, Any]],
        forced: Iterable[str] | None = None,
    ) -> Prior:
        """From ``store.load_for_resume(run_id)["done"]``: ``{id: (status, fp, result)}``."""
        nodes = {nid: PriorNode(fp, value) for nid, (_, fp, value) in done.items()}
        return cls(run_id, nodes, forced, stored=True)

    # -- matching ------------------------------------------------------------------
    def is_forced(self, node: Node) -> bool:
        forced = self.forced
        if not forced:
            return False
        at: Node | None = node
        while at is not None:
            if at.id in forced:
                return True
            at = at.parent
        return False

    def match(self, node: Node) -> PriorNode | None:
        """The earlier node ``node`` (not forced) may take the place of, or None: it must run."""
        kept = self.nodes.get(node.id)
        if kept is None or not node.task.cache:
            return None
        now = node.fingerprint or fingerprint(node.task)
        if kept.fingerprint is None or kept.fingerprint != now:
            return None
        nodes = self.nodes
        for up in node.upstream:
            before = nodes.get(up.id)
            if before is None:
                return None
            then = before.value_digest()
            if then is None or then != input_digest(up):
                return None
        if self.stored and node.id in self.above_forced:
            return None  # a stored parent taken whole would skip the forced child
        return kept


def node_ids(nodes: str | Iterable[str] | None) -> list[str] | None:
    """``rerun(nodes=...)`` as a list of ids (one id may be given alone), checked."""
    if nodes is None:
        return None
    ids = [nodes] if isinstance(nodes, str) else list(nodes)
    for node_id in ids:
        if not isinstance(node_id, str):
            raise TypeError(f"rerun(nodes=...) takes node ids (str), not {node_id!r}")
    return ids
