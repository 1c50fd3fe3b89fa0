"""Graph building and validation: every bad graph is a GraphError naming the culprit."""

from __future__ import annotations

import networkx as nx
import pytest

import taskbeam as tb


def noop() -> None:
    return None


def test_decorator_and_add_register_tasks_in_order() -> None:
    g = tb.Graph("g")

    @g.task
    def load() -> int:
        return 1

    @g.task(deps=["load"], retries=2, backoff=0.1, timeout=3, priority=5, tags=["llm"])
    async def summarise(load: int) -> int:
        return load

    g.add("extra", lambda load, k: k, deps=["load"], kwargs={"k": 1})
    assert [t.id for t in g] == ["load", "summarise", "extra"]
    s = g["summarise"]
    assert (s.deps, s.retries, s.timeout, s.priority, s.tags, s.is_async) == (
        ("load",),
        2,
        3.0,
        5,
        ("llm",),
        True,
    )
    assert g.edges() == [("load", "summarise"), ("load", "extra")]
    assert g.validate() is g


def test_duplicate_id() -> None:
    g = tb.Graph("g")
    g.add("a", noop)
    with pytest.raises(tb.GraphError, match="duplicate task id 'a'"):
        g.add("a", noop)


def test_unknown_dependency() -> None:
    g = tb.Graph("g")
    g.add("a", lambda missing: None, deps=["missing"])
    with pytest.raises(tb.GraphError, match="'a' depends on unknown task 'missing'"):
        g.validate()


def test_cycle_message_shows_the_path() -> None:
    g = tb.Graph("g")
    g.add("start", noop)
    g.add("a", lambda c, start: None, deps=["c", "start"])
    g.add("b", lambda a: None, deps=["a"])
    g.add("c", lambda b: None, deps=["b"])
    g.add("after", lambda c: None, deps=["c"])
    with pytest.raises(tb.GraphError, match=r"cycle in graph 'g': (\w) -> (\w) -> (\w) -> \1"):
        g.validate()


def test_self_cycle() -> None:
    g = tb.Graph("g")
    g.add("a", lambda a: None, deps=["a"])
    with pytest.raises(tb.GraphError, match="a -> a"):
        g.validate()


def test_non_callable() -> None:
    with pytest.raises(tb.GraphError, match="'a': 42 is not callable"):
        tb.Graph().add("a", 42)  # type: ignore[arg-type]


def test_dependency_id_that_is_no_keyword_suggests_a_mapping() -> None:
    g = tb.Graph("g")
    g.add("load-data", noop)
    with pytest.raises(tb.GraphError, match=r"deps=\{'load_data': 'load-data'\}"):
        g.add("use", lambda load_data: None, deps=["load-data"])
    fixed = tb.Graph("g")
    fixed.add("load-data", lambda: 3)
    fixed.add("use", lambda load_data: load_data * 2, deps={"load_data": "load-data"})
    assert tb.start(fixed).wait().result("use") == 6


def test_function_that_cannot_take_its_arguments() -> None:
    g = tb.Graph("g")
    g.add("a", noop)
    with pytest.raises(tb.GraphError, match="task 'b' cannot be called with \\['a'\\]"):
        g.add("b", lambda: None, deps=["a"])


def test_missing_argument_is_caught_when_added() -> None:
    g = tb.Graph("g")
    with pytest.raises(tb.GraphError, match="missing a required argument: 'y'"):
        g.add("a", lambda x, y: None, kwargs={"x": 1})


def test_kwargs_may_not_shadow_a_dependency() -> None:
    g = tb.Graph("g")
    g.add("a", noop)
    with pytest.raises(tb.GraphError, match=r"\['a'\] given both"):
        g.add("b", lambda a: None, deps=["a"], kwargs={"a": 1})


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("retries", -1, "retries must be an int >= 0"),
        ("timeout", 0, "timeout must be a number > 0"),
        ("backoff", float("nan"), "backoff must be a number >= 0"),
        ("priority", 1.5, "priority must be an int"),
    ],
)
def test_bad_policies(option: str, value: object, message: str) -> None:
    with pytest.raises(tb.GraphError, match=message):
        tb.Graph().add("a", noop, **{option: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "a/b", 3])
def test_bad_ids(bad: object) -> None:
    with pytest.raises(tb.GraphError):
        tb.Graph().add(bad, noop)  # type: ignore[arg-type]


def test_deps_as_a_plain_string_is_refused() -> None:
    with pytest.raises(tb.GraphError, match="not the string 'ab'"):
        tb.Graph().add("x", noop, deps="ab")


def test_networkx_round_trip() -> None:
    g = tb.Graph("nx")
    g.add("a", lambda: 2, retries=1, tags=["t"])
    g.add("b", lambda x: x + 1, deps={"x": "a"}, timeout=5)
    nxg = g.to_networkx()
    assert set(nxg.edges) == {("a", "b")}
    assert nxg.nodes["b"]["timeout"] == 5.0
    assert nxg.edges["a", "b"]["arg"] == "x"
    back = tb.Graph.from_networkx(nxg)
    assert back.name == "nx"
    assert back["b"].deps == ("a",) and back["b"].args == ("x",)
    assert back["a"].retries == 1 and back["a"].tags == ("t",)
    assert tb.start(back).wait().result("b") == 3


def test_from_networkx_plain_digraph() -> None:
    G = nx.DiGraph()
    G.add_node("a", fn=lambda: 1)
    G.add_node("b", fn=lambda a: a + 1, kwargs={})
    G.add_edge("a", "b")
    assert tb.start(tb.Graph.from_networkx(G, name="plain")).wait().result("b") == 2


def test_from_networkx_needs_fn() -> None:
    G = nx.DiGraph()
    G.add_node("a")
    with pytest.raises(tb.GraphError, match="node 'a' has no 'fn'"):
        tb.Graph.from_networkx(G)


def test_expand_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="taskbeam.Graph"):
        tb.expand({})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        tb.expand(tb.Graph(), aggregate=3)  # type: ignore[arg-type]


def test_forward_references_are_allowed_and_checked_at_validate() -> None:
    g = tb.Graph("fwd")
    g.add("b", lambda a: a + 1, deps=["a"])
    with pytest.raises(tb.GraphError, match="'b' depends on unknown task 'a'"):
        tb.start(g)
    g.add("a", lambda: 1)
    assert tb.start(g).wait(5).results == {"a": 1, "b": 2}


def test_a_cycle_closed_by_a_later_task_is_found_at_start() -> None:
    g = tb.Graph("late-cycle")
    g.add("x", lambda y: y, deps=["y"])
    g.add("y", lambda x: x, deps=["x"])
    with pytest.raises(tb.GraphError, match="cycle in graph 'late-cycle'"):
        tb.start(g)
