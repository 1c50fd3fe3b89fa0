"""The batcher and patch composition: pure, time as an argument."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskbeam.broadcast import Batcher, Priority, apply, compose, diff
from taskbeam.broadcast._batcher import NotComposable


def test_nothing_waiting_is_never_due() -> None:
    b = Batcher(max_delay=0.05)
    assert not b.due(100.0)
    assert b.deadline() is None


def test_normal_changes_wait_for_the_delay() -> None:
    b = Batcher(max_delay=0.05)
    b.add("a", Priority.NORMAL, 10.0)
    b.add("b", Priority.NORMAL, 10.03)
    assert not b.due(10.04)
    assert b.deadline() == 10.05
    assert b.due(10.05)
    keys, critical = b.take()
    assert keys == {"a": Priority.NORMAL, "b": Priority.NORMAL} and not critical
    assert not b.due(11.0)


def test_critical_is_due_at_once() -> None:
    b = Batcher(max_delay=60)
    b.add("a", Priority.NORMAL, 1.0)
    b.add("x", Priority.CRITICAL, 1.0)
    assert b.due(1.0)
    assert b.take()[1]


def test_many_changes_of_one_node_collapse_and_keep_the_highest_priority() -> None:
    b = Batcher()
    for p in (Priority.LOW, Priority.CRITICAL, Priority.NORMAL):
        b.add("a", p, 0.0)
    assert b.take()[0] == {"a": Priority.CRITICAL}


def test_a_full_batch_is_due_at_once() -> None:
    b = Batcher(max_delay=60, max_batch=3)
    for key in "abc":
        b.add(key, Priority.NORMAL, 0.0)
    assert b.due(0.0)


json_values = st.recursive(
    st.integers() | st.text(max_size=3) | st.booleans(),
    lambda inner: st.dictionaries(st.sampled_from("abcd"), inner, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from("abcd"), json_values, max_size=4)


@given(documents, documents, documents)
def test_compose_equals_applying_one_patch_then_the_other(
    a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]
) -> None:
    p1, p2 = diff(a, b), diff(b, c)
    try:
        both = compose(p1, p2)
    except NotComposable:
        return  # the broadcaster sends a snapshot instead
    assert apply(a, both) == apply(apply(a, p1), p2) == c


def test_a_removed_object_set_again_is_not_composable() -> None:
    with pytest.raises(NotComposable):
        compose({"c": None}, {"c": {}})


def test_the_node_summary_diff_matches_the_general_diff() -> None:
    from taskbeam.broadcast._broadcaster import _node_diff

    cases = [
        ({"status": "running", "attempt": 1}, {"status": "done", "attempt": 1, "preview": "1"}),
        ({"status": "failed", "error": {"type": "A", "message": "x"}}, {"status": "running"}),
        (
            {"status": "retrying", "error": {"type": "A", "message": "x"}},
            {"status": "retrying", "error": {"type": "A", "message": "y"}},
        ),
        ({"status": "done", "tags": ["a"]}, {"status": "done", "tags": ["a", "b"]}),
        ({"status": "done"}, {"status": "done"}),
    ]
    for old, new in cases:
        assert _node_diff(old, new) == diff(old, new)
        assert apply(old, _node_diff(old, new)) == new
