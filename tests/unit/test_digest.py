"""Content digests: equal data digests equal in any process; anything a task could tell
apart digests apart; what has no stable digest says so."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import subprocess
import sys
import uuid
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from taskbeam.engine._digest import digest

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=5)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=5)
    ),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal and built of the same types, dicts in the same order, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (a != a and b != b) or (a == b and str(a) == str(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(plain)
def test_a_value_rebuilt_digests_the_same(value: Any) -> None:
    import copy

    assert digest(value) is not None
    assert digest(copy.deepcopy(value)) == digest(value)


@given(plain, plain)
def test_values_a_task_could_tell_apart_digest_apart(a: Any, b: Any) -> None:
    if not same(a, b) and not (isinstance(a, frozenset) and a == b):
        assert digest(a) != digest(b)


def test_the_types_that_look_alike_are_told_apart() -> None:
    groups = [
        [1, 1.0, True, "1", b"1", bytearray(b"1"), complex(1, 0), decimal.Decimal(1)],
        [0.0, -0.0, 0, False, None, "", b"", [], (), {}, frozenset(), set()],
        [[1, 2], (1, 2), {1, 2}, frozenset({1, 2}), {1: 2}, {"1": 2}],
        [{"a": 1, "b": 2}, {"b": 2, "a": 1}],  # order matters: a task may iterate
        [np.arange(3), np.arange(3).astype(np.int32), np.arange(3).reshape(3, 1), [0, 1, 2]],
        [np.float64(1), np.float32(1), 1.0],
    ]
    for group in groups:
        digests = [digest(v) for v in group]
        assert None not in digests, group
        assert len(set(digests)) == len(digests), group


def test_sets_digest_by_content_whatever_their_order() -> None:
    a = {f"k{i}" for i in range(50)}
    b = set(sorted(a, reverse=True))
    assert digest(a) == digest(b)
    assert float("nan") != float("nan")
    assert digest(float("nan")) == digest(float("nan"))


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def test_known_library_and_standard_types_have_stable_digests() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    values = [
        Colour.RED,
        Point(1, [2]),
        when,
        when.date(),
        dt.timedelta(seconds=3),
        uuid.UUID(int=5),
        PurePosixPath("/a/b"),
        range(3),
        decimal.Decimal("1.50"),
    ]
    for v in values:
        assert digest(v) is not None, v
    assert digest(Colour.RED) != digest(Colour.BLUE)
    assert digest(Point(1, [2])) != digest(Point(1, [3]))
    assert digest(when) != digest(when.replace(tzinfo=None))
    assert digest(decimal.Decimal("1.5")) != digest(decimal.Decimal("1.50"))


def test_what_has_no_stable_digest_says_so() -> None:
    class Opaque:
        pass

    deep: list[Any] = []
    for _ in range(200):
        deep = [deep]
    for value in [
        object(),
        Opaque(),
        lambda: 1,
        [1, object()],
        {"k": Opaque()},
        np.array([object()]),
        pd.DataFrame({"a": [object(), 1]}),
        pd.Series(["a", 1]),  # pandas would hash both by their str()
        deep,
    ]:
        assert digest(value) is None, value


def test_numpy_arrays_digest_by_dtype_shape_and_data() -> None:
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert digest(a) == digest(a.copy())
    assert digest(a.T) == digest(np.ascontiguousarray(a.T))  # C order, whatever the strides
    assert digest(a.T) != digest(a)
    assert digest(a[:, ::2]) == digest(a[:, ::2].copy())
    b = a.copy()
    b[2, 3] += 1e-12
    assert digest(b) != digest(a)
    assert digest(np.array([], dtype=np.int8)) != digest(np.array([], dtype=np.int16))
    assert digest(np.arange(3).astype("datetime64[s]")) is not None
    assert digest(np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])) is not None


def test_pandas_objects_digest_by_names_dtypes_index_and_data() -> None:
    df = pd.DataFrame({"x": [1, 2, 3], "s": ["a", None, "c"], "f": [0.5, np.nan, 1.5]})
    assert digest(df) == digest(df.copy())
    assert digest(df) != digest(df.rename(columns={"x": "y"}))
    assert digest(df) != digest(df.astype({"x": "int32"}))
    assert digest(df) != digest(df.set_index("x"))
    assert digest(df) != digest(df.iloc[::-1])
    assert digest(df["s"]) != digest(df["s"].fillna(""))
    assert digest(pd.Series(["ab", "c"])) != digest(pd.Series(["a", "bc"]))
    assert digest(df["x"]) != digest(df["x"].rename("other"))
    cat = pd.Series(pd.Categorical(["a", "b", "a"]))
    assert digest(cat) is not None and digest(cat) != digest(cat.astype(str))
    multi = df.set_index(["x", "s"])
    assert digest(multi) == digest(multi.copy())


SCRIPT = """
import numpy as np, pandas as pd, datetime as dt
from taskbeam.engine._digest import digest
values = [
    "text", 12345678901234567890, 1.5, {"b": [1, (2, 3)], "a": {4, 5, 6}}, frozenset("abc"),
    np.arange(10), pd.DataFrame({"x": [1, 2], "s": ["p", "q"]}), dt.date(2026, 1, 1),
]
print(" ".join(digest(v) for v in values))
"""


def test_digests_are_the_same_in_fresh_interpreters() -> None:
    """String hashing differs between processes (PYTHONHASHSEED): digests must not."""
    outs = {
        subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1
