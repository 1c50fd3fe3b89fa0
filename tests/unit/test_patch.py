"""JSON Merge Patch: the RFC's examples, round trips, and snapshot-shaped changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskbeam.broadcast import apply, diff

# RFC 7386 Appendix A (unchanged in RFC 7396): original, patch, result.
RFC_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # The example of section 3.
    (
        {
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        },
        {
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": None},
            "tags": ["example"],
        },
        {
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        },
    ),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_EXAMPLES)
def test_apply_rfc_examples(target: Any, patch: Any, result: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    assert apply(target, patch) == result
    assert target == target_before
    assert patch == patch_before


@pytest.mark.parametrize(("target", "patch", "result"), RFC_EXAMPLES)
def test_diff_of_rfc_examples_round_trips(target: Any, patch: Any, result: Any) -> None:
    del patch
    assert apply(target, diff(target, result)) == result


def test_apply_copies_only_the_changed_path() -> None:
    target: dict[str, Any] = {
        "run": {"status": "running", "counts": {"done": 1}},
        "nodes": {"a": {"status": "running", "tags": ["x"]}, "b": {"status": "done"}},
        "edges": [["a", "b"]],
    }
    result = apply(target, {"nodes": {"a": {"status": "done"}}})
    assert result is not target
    assert result["nodes"] is not target["nodes"]
    assert result["nodes"]["a"] is not target["nodes"]["a"]
    assert result["run"] is target["run"]
    assert result["edges"] is target["edges"]
    assert result["nodes"]["b"] is target["nodes"]["b"]
    assert result["nodes"]["a"]["tags"] is target["nodes"]["a"]["tags"]
    assert target["nodes"]["a"]["status"] == "running"


def test_apply_builds_new_dicts_rather_than_sharing_the_patch() -> None:
    patch = {"nodes": {"c": {"status": "pending", "tags": ["llm"]}}}
    result = apply({"nodes": {}}, patch)
    assert result == patch
    assert result["nodes"]["c"] is not patch["nodes"]["c"]
    result["nodes"]["c"]["status"] = "ready"
    assert patch["nodes"]["c"]["status"] == "pending"


def test_apply_empty_patch_is_an_equal_copy() -> None:
    target = {"a": {"b": 1}}
    result = apply(target, {})
    assert result == target
    assert result is not target
    assert apply("text", {}) == {}  # an object patch turns a non-object into an object


# --- diff ---------------------------------------------------------------------------------


def test_diff_basic_cases() -> None:
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": 3}
    assert diff({"a": 1, "b": 2}, {"a": 1}) == {"b": None}
    assert diff({"a": 1}, {"a": 1, "c": {"d": [1, None]}}) == {"c": {"d": [1, None]}}
    assert diff({"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 3}}) == {"a": {"y": 3}}
    assert diff({"a": {"x": 1}}, {"a": [1]}) == {"a": [1]}
    assert diff({"a": [1]}, {"a": {"x": 1}}) == {"a": {"x": 1}}
    assert diff({"a": {"x": 1}}, {"a": {}}) == {"a": {"x": None}}
    assert diff({"a": "x"}, {"a": {}}) == {"a": {}}
    assert diff({"l": [1, 2, 3]}, {"l": [1, 2, 4]}) == {"l": [1, 2, 4]}


def test_diff_of_equal_values_is_empty() -> None:
    value = {"a": {"b": [1, {"c": 2}]}, "d": "e"}
    assert diff(value, value) == {}
    assert diff(value, copy.deepcopy(value)) == {}
    assert diff({}, {}) == {}


def test_diff_of_non_objects_is_the_new_value() -> None:
    assert diff(1, 2) == 2
    assert diff(5, 5) == 5  # a non-object patch replaces, even when equal
    assert diff({"a": 1}, [1]) == [1]
    assert diff([1], {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert apply([1], diff([1], {"a": {"b": 1}})) == {"a": {"b": 1}}
    assert diff({"a": 1}, None) is None
    assert apply({"a": 1}, diff({"a": 1}, None)) is None


def test_diff_refuses_none_it_would_have_to_send() -> None:
    with pytest.raises(ValueError, match=r"\['a'\] is None"):
        diff({"a": 1}, {"a": None})
    with pytest.raises(ValueError, match=r"\['a'\] is None"):
        diff({}, {"a": None})
    with pytest.raises(ValueError, match=r"\['nodes', 'b', 'error', 'message'\] is None"):
        diff({"nodes": {}}, {"nodes": {"b": {"error": {"message": None}}}})
    with pytest.raises(ValueError, match=r"\['n', 'a', 'x'\] is None"):
        diff({"n": {"a": {"x": 1}}}, {"n": {"a": {"x": None}}})
    with pytest.raises(ValueError, match=r"\['a', 'b'\] is None"):
        diff([1], {"a": {"b": None}})


def test_diff_allows_none_it_does_not_send() -> None:
    assert diff({"a": None, "b": 1}, {"a": None, "b": 2}) == {"b": 2}  # unchanged
    assert diff({"a": 1}, {"a": [None, {"b": None}]}) == {"a": [None, {"b": None}]}
    assert diff({"a": None}, {}) == {"a": None}  # a removal


def test_diff_does_not_mutate_and_patch_does_not_alias_the_inputs_dicts() -> None:
    old = {"run": {"counts": {"done": 1}}, "nodes": {"a": {"status": "running"}}}
    new: dict[str, Any] = {
        "run": {"counts": {"done": 2}},
        "nodes": {"a": {"status": "done"}, "b": {"x": 1}},
    }
    old_before, new_before = copy.deepcopy(old), copy.deepcopy(new)
    patch = diff(old, new)
    assert old == old_before
    assert new == new_before
    assert patch["run"] is not new["run"]
    assert patch["nodes"]["a"] is not new["nodes"]["a"]


# --- properties ---------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d", "status", "nodes"])
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=4),
)


def json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(KEYS, children, max_size=4),
        ),
        max_leaves=12,
    )


VALUES = json_values(SCALARS)
VALUES_WITH_NONE = json_values(st.one_of(st.none(), SCALARS))
DICTS = st.dictionaries(KEYS, VALUES, max_size=5)
DICTS_WITH_NONE = st.dictionaries(KEYS, VALUES_WITH_NONE, max_size=5)
# Generous on a loaded machine: the checks are fast, the first draws may not be.
PROPS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def has_member_none(value: Any) -> bool:
    """Whether ``value`` has ``None`` as a dict member value, through dicts only."""
    return isinstance(value, dict) and any(v is None or has_member_none(v) for v in value.values())


@PROPS
@given(DICTS_WITH_NONE, DICTS)
def test_apply_diff_round_trips(old: dict[str, Any], new: dict[str, Any]) -> None:
    old_before, new_before = copy.deepcopy(old), copy.deepcopy(new)
    patch = diff(old, new)
    patch_before = copy.deepcopy(patch)
    assert apply(old, patch) == new
    assert old == old_before
    assert new == new_before
    assert patch == patch_before


@PROPS
@given(DICTS_WITH_NONE, DICTS)
def test_diff_names_only_what_changed(old: dict[str, Any], new: dict[str, Any]) -> None:
    patch = diff(old, new)
    assert (patch == {}) == (old == new)
    for key, value in patch.items():
        if key in new:
            assert key not in old or old[key] != new[key]
            if not (isinstance(old.get(key), dict) and isinstance(new[key], dict)):
                assert value == new[key]
        else:
            assert key in old
            assert value is None


@PROPS
@given(DICTS_WITH_NONE)
def test_diff_of_a_value_with_itself_is_empty(value: dict[str, Any]) -> None:
    assert diff(value, value) == {}
    assert diff(value, copy.deepcopy(value)) == {}


@PROPS
@given(VALUES_WITH_NONE, VALUES_WITH_NONE)
def test_diff_round_trips_or_refuses(old: Any, new: Any) -> None:
    """Any values at all: the patch is right, or diff says it cannot be written."""
    try:
        patch = diff(old, new)
    except ValueError:
        assert has_member_none(new)
        return
    assert apply(old, patch) == new


# --- snapshot-shaped ----------------------------------------------------------------------


def snapshot(n: int = 3) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for i in range(n):
        node: dict[str, Any] = {"status": "done", "attempt": 1, "started": i * 0.5}
        if i % 2:
            node["tags"] = ["llm"]
        nodes[f"n{i}"] = node
    return {
        "run": {"id": "r-1", "status": "running", "counts": {"done": n}, "total": n},
        "nodes": nodes,
        "edges": [[f"n{i}", f"n{i + 1}"] for i in range(n - 1)],
    }


def test_one_status_change_names_one_node_and_one_field() -> None:
    old = snapshot()
    new = copy.deepcopy(old)
    new["nodes"]["n1"]["status"] = "failed"
    assert diff(old, new) == {"nodes": {"n1": {"status": "failed"}}}


def test_node_added_and_removed() -> None:
    old = snapshot()
    new = copy.deepcopy(old)
    new["nodes"]["n9"] = {"status": "pending", "tags": ["io"]}
    assert diff(old, new) == {"nodes": {"n9": {"status": "pending", "tags": ["io"]}}}
    del new["nodes"]["n9"], new["nodes"]["n0"]
    assert diff(old, new) == {"nodes": {"n0": None}}
    assert apply(old, diff(old, new)) == new


def test_field_removed_run_counts_and_edges() -> None:
    old = snapshot()
    new = copy.deepcopy(old)
    del new["nodes"]["n1"]["tags"]
    new["run"]["counts"] = {"done": 2, "failed": 1}
    new["edges"].append(["n0", "n2"])
    assert diff(old, new) == {
        "run": {"counts": {"done": 2, "failed": 1}},
        "nodes": {"n1": {"tags": None}},
        "edges": [["n0", "n1"], ["n1", "n2"], ["n0", "n2"]],
    }


def test_nodes_are_matched_by_id_not_by_content() -> None:
    old = {"nodes": {"a": {"status": "running"}, "b": {"status": "done", "preview": "1"}}}
    new = {
        "nodes": {"a": {"status": "done", "preview": "1"}, "b": {"status": "done", "preview": "1"}}
    }
    assert diff(old, new) == {"nodes": {"a": {"status": "done", "preview": "1"}}}
    swapped = {"nodes": {"a": old["nodes"]["b"], "b": old["nodes"]["a"]}}
    assert diff(old, swapped) == {
        "nodes": {
            "a": {"status": "done", "preview": "1"},
            "b": {"status": "running", "preview": None},
        }
    }


@PROPS
@given(st.data())
def test_patch_mentions_exactly_the_changed_nodes(data: st.DataObject) -> None:
    old = snapshot(8)
    new = copy.deepcopy(old)
    ids = sorted(old["nodes"])
    changed = data.draw(st.sets(st.sampled_from(ids)))
    removed = data.draw(st.sets(st.sampled_from(ids)))
    for node_id in changed:
        field = data.draw(st.sampled_from(["status", "attempt", "preview", "tags"]))
        new["nodes"][node_id][field] = data.draw(st.sampled_from(["done", 2, "'x'", ["gpu"]]))
    for node_id in removed:
        del new["nodes"][node_id]
    patch = diff(old, new)
    touched = {i for i in changed - removed if new["nodes"][i] != old["nodes"][i]} | removed
    assert set(patch.get("nodes", {})) == touched
    for node_id in removed:
        assert patch["nodes"][node_id] is None
    assert set(patch) <= {"nodes"}
    assert apply(old, patch) == new


def test_ten_thousand_nodes_hundred_changes() -> None:
    old = snapshot(10_000)
    new = dict(old, nodes=dict(old["nodes"]))
    changed = [f"n{i}" for i in range(0, 10_000, 100)]
    for node_id in changed:
        new["nodes"][node_id] = dict(old["nodes"][node_id], status="running")
    patch = diff(old, new)
    assert patch == {"nodes": {key: {"status": "running"} for key in changed}}
    assert diff(old, copy.deepcopy(new)) == patch
    result = apply(old, patch)
    assert result == new
    assert result["nodes"]["n1"] is old["nodes"]["n1"]
    assert result["edges"] is old["edges"]
    assert old["nodes"]["n0"]["status"] == "done"
