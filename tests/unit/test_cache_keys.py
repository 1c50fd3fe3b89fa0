"""Cache keys: the three ways the engine makes them give one key, the recipe's."""

from __future__ import annotations

from typing import Any

import xxhash

import taskbeam as tb
from taskbeam.engine._cache import (
    _VERSION,
    FAILED,
    UNSET,
    batch_keys,
    fn_digest,
    fn_name,
    graph_functions,
    key_after,
    node_key,
)
from taskbeam.engine._digest import digest_bytes
from taskbeam.engine._state import RunState


def one(**kw: Any) -> int:
    return 1


def graph() -> tb.Graph:
    g = tb.Graph("keys")
    g.add("a", one)
    g.add("b", one, deps={"x": "a"})
    g.add("c", one, deps={"x": "a", "y": "b"}, kwargs={"k": [1, 2]})
    g.add("d", one, deps={"x": "c"}, cache_key=lambda x: f"x={x}")
    g.add("e", one, deps={"x": "d"}, cache_key=lambda x: 1 / 0)
    g.add("f", one, deps={"x": "e"})
    return g


def nodes_with(results: dict[str, Any]) -> list[Any]:
    state = RunState(graph())
    nodes = list(state.nodes.values())
    for node in nodes:
        node.result = results.get(node.id)
    return nodes


def recipe(fn: Any, kwargs: Any = None, deps: tuple[tuple[str, Any], ...] = ()) -> str:
    """The key as docs/cache.md and node_key's text spell it out, fed piece by piece."""

    def d(value: Any) -> bytes:
        made = digest_bytes(value)
        assert made is not None
        return made

    h = xxhash.xxh3_128(_VERSION)
    h.update(fn_digest(fn))
    if kwargs:
        h.update(b"k" + d(kwargs))
    for arg, value in deps:
        h.update(b"a" + arg.encode() + b"\x00" + d(value))
    return h.hexdigest()


def test_keys_follow_the_recipe_whichever_way_they_are_made() -> None:
    results = {"a": None, "b": [1, "two"], "c": {"k": 3.5}, "d": "d", "e": 5}
    nodes = nodes_with(results)
    a, b, c, d, _, f = nodes
    expected = {
        "a": recipe(one),
        "b": recipe(one, deps=(("x", None),)),
        "c": recipe(one, {"k": [1, 2]}, (("x", None), ("y", [1, "two"]))),
        "f": recipe(one, deps=(("x", 5),)),
    }
    made: dict[Any, Any] = {}
    after = {n.id: key_after(n, made) for n in nodes if n.task.cache_key is None}
    assert after == expected
    assert all(n.digest is UNSET for n in nodes)  # key_after writes nothing to the nodes
    batch = dict(zip([n.id for n in nodes], batch_keys(nodes), strict=True))
    assert batch["e"] is FAILED  # its cache_key raised: its launch fails it
    assert batch["d"] == node_key(d)
    assert {k: v for k, v in batch.items() if k in expected} == expected
    for n in nodes:  # digests made now, on the nodes: the fast way
        if n.id not in ("d", "e"):
            assert node_key(n) == expected[n.id]
    assert dict(zip("abcf", batch_keys([a, b, c, f]), strict=True)) == expected


def test_a_value_without_a_digest_makes_its_dependants_uncacheable() -> None:
    nodes = nodes_with({"a": object()})
    b = nodes[1]
    assert key_after(b, {}) is None
    assert batch_keys([b]) == [None]
    assert node_key(b) is None


def test_functions_of_a_graph_and_their_names() -> None:
    g = graph()
    made = graph_functions(g)
    assert made is not None
    assert made.functions == {one}
    assert made.keyed and not made.plain and made.kwargs
    assert graph_functions(g) is made  # kept for the graph's version
    g.add("z", lambda: 0, cache=False)
    assert graph_functions(g) is not made
    assert fn_name(one) == fn_digest(one).hex()
    plain = tb.Graph("plain")
    plain.add("a", one)
    plain.add("b", one, deps={"x": "a"})
    made = graph_functions(plain)
    assert made is not None and made.plain and not made.keyed and not made.kwargs
