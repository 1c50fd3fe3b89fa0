"""What a front end writes into a view's ``view_state`` is kept only where it is what a view keeps.

The trait is set by the browser (the timeline mode, the node whose details
are open); a hostile or broken front end may send anything. Unknown keys,
wrong types and long ids are left out, never an error and never kept.
"""

from __future__ import annotations

from typing import Any

import pytest

import taskbeam as tb


@pytest.fixture
def view() -> Any:
    g = tb.Graph("state")
    g.add("a", lambda: 1)
    run = tb.start(g).wait()
    view = tb.GraphView(run)
    yield view
    view.close()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"timeline": True, "details": "a"}, {"timeline": True, "details": "a"}),
        ({"timeline": "yes", "details": 3}, {}),
        ({"details": "x" * 201}, {}),
        ({"details": ""}, {}),
        ({"timeline": False, "evil": "<script>", "__proto__": {}}, {"timeline": False}),
        ({"details": {"nested": ["deep"] * 1000}}, {}),
    ],
)
def test_view_state_keeps_only_what_a_view_keeps(
    view: Any, sent: dict[str, Any], kept: dict[str, Any]
) -> None:
    view.view_state = sent
    assert view.view_state == kept


def test_a_view_state_that_is_not_a_mapping_is_refused_by_its_trait(view: Any) -> None:
    import traitlets

    with pytest.raises(traitlets.TraitError):
        view.view_state = ["timeline"]
    assert view.view_state == {}
