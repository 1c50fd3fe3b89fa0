"""One check of JSON data, shared by every floor that takes it from outside.

A leaf module. :func:`check_json` walks a value with a stack of its own (no
depth can exhaust Python's) and refuses, with a message naming ``what``,
anything that would not come back from a JSON round trip exactly: other
types than dict (str keys), list, tuple, str, int, float, bool and None;
integers outside the 64-bit range orjson encodes; NaN and the infinities
(orjson would write them as ``null``); strings that are not valid Unicode
(lone surrogates). The server checks what clients send with it, the engine
what a question or an answer carries (with limits on size as well).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["INT_MAX", "INT_MIN", "JSONLimitError", "check_json"]

INT_MIN, INT_MAX = -(1 << 63), (1 << 64) - 1  # what orjson can encode


class JSONLimitError(ValueError):
    """A JSON value is nested too deeply, too big, or holds what cannot be encoded again."""


def check_json(
    value: Any,
    what: str = "the JSON",
    *,
    max_depth: int = 32,
    max_items: int | None = None,
    max_chars: int | None = None,
    error: type[Exception] = JSONLimitError,
) -> None:
    """Raise ``error`` unless ``value`` is plain JSON data within the limits.

    ``max_depth`` counts nested containers (a list in a dict is two levels);
    ``max_items`` counts every value, containers and scalars; ``max_chars``
    counts the characters of strings and keys together.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    items = chars = 0
    while stack:
        item, depth = stack.pop()
        items += 1
        if max_items is not None and items > max_items:
            raise error(f"{what} has more than {max_items:,} values")
        kind = type(item)
        if item is None or kind is bool:
            continue
        if isinstance(item, str):
            chars += len(item)
            _check_text(item, what, error)
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise error(f"{what} has an integer outside the 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise error(f"{what} holds {item!r}, which JSON cannot carry")
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                raise error(f"{what} is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise error(
                            f"{what} has a key of type {type(key).__name__}; JSON keys are str"
                        )
                    chars += len(key)
                    _check_text(key, what, error)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            raise error(f"{what} holds a {kind.__name__}, which is not JSON data")
        if max_chars is not None and chars > max_chars:
            raise error(f"{what} holds more than {max_chars:,} characters")


def _check_text(text: str, what: str, error: type[Exception]) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise error(f"{what} has a string with a lone surrogate") from None
