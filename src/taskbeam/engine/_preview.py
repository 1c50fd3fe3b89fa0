"""Short, safe text previews of arbitrary results.

A preview must never raise and never be long: results can be anything
(a DataFrame, a socket, an object whose ``__repr__`` is broken).
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["PREVIEW_CHARS", "preview", "previews"]

PREVIEW_CHARS = 120
_PLAIN = frozenset({bool, int, float})
_PLAIN_OR_NONE = _PLAIN | {type(None)}

_repr = reprlib.Repr()
_repr.maxstring = PREVIEW_CHARS
_repr.maxother = PREVIEW_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, with ``…`` when cut.

    Examples
    --------
    >>> preview([1, 2, 3])
    '[1, 2, 3]'
    >>> len(preview("x" * 1000)) <= 120
    True
    """
    if value is None or type(value) in _PLAIN:  # the common case, without reprlib
        return repr(value)
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a broken __repr__ must not break the run
        text = f"<{type(value).__qualname__} (repr failed: {type(exc).__name__})>"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def previews(values: list[Any]) -> list[str]:
    """``[preview(v) for v in values]``, in one C-level pass when all are plain."""
    if _PLAIN_OR_NONE.issuperset(map(type, values)):
        return list(map(repr, values))
    return [preview(v) for v in values]
