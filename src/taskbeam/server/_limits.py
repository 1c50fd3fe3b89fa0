"""Limits on what clients send: JSON depth and values, and query parameters.

Every JSON value that comes from a client (a REST body, a Socket.IO packet,
the ``auth`` of a connection) is checked by :func:`check_json` before it is
used or kept, so nothing a client sent can later fail to encode (orjson
refuses nesting past 255 levels, integers past 64 bits and strings with
lone surrogates): a project whose params passed the check can always be
listed. Integers in query strings are read by :func:`query_int` only:
ASCII digits, a bounded count of them, a range.

:data:`JSON` is the ``json`` module of the Socket.IO server's packets:
``dumps`` is the standard one, ``loads`` never raises: JSON it cannot
accept comes back as ``[MALFORMED, reason]``, which the event handler
answers with an error acknowledgement (the packet's ack id is kept).

Pure functions: no I/O, no threads.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from taskbeam._json import JSONLimitError
from taskbeam._json import check_json as _check_json

__all__ = [
    "JSON",
    "MALFORMED",
    "MAX_DEPTH",
    "JSONLimitError",
    "Malformed",
    "check_json",
    "query_int",
    "safe_loads",
]

MAX_DEPTH = 32
MAX_INT_DIGITS = 20  # 2**64 has 20 digits; the range check below is the exact one
_ASCII_DIGITS = re.compile("[0-9]+")


class Malformed(str):
    """The event name :func:`safe_loads` puts first for JSON it refused (never from a client)."""


MALFORMED = Malformed("malformed packet")


def check_json(value: Any, max_depth: int = MAX_DEPTH, what: str = "the JSON") -> None:
    """Raise :class:`JSONLimitError` unless ``value`` is JSON that can be encoded again.

    Checks nesting (objects and arrays, at most ``max_depth`` levels),
    integers (64-bit range), finite floats, strings and keys (valid Unicode:
    no lone surrogates); see :func:`taskbeam._json.check_json`. Iterative,
    so no depth can exhaust the stack.

    >>> check_json({"a": [1, {"b": "c"}]})
    >>> check_json([[[1]]], max_depth=2)
    Traceback (most recent call last):
    ...
    taskbeam._json.JSONLimitError: the JSON is nested deeper than 2 levels
    """
    _check_json(value, what, max_depth=max_depth)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONLimitError(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise JSONLimitError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise JSONLimitError(f"the number {text[:40]} is too large for a float")
    return value


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON exactly: an integer stays an integer (never read as a float,
    so one past 64 bits is refused by :func:`check_json`, not rounded), and
    ``NaN``/``Infinity`` are refused. Raises ``ValueError`` (``JSONLimitError``
    for what JSON cannot hold)."""
    return json.loads(
        text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant
    )


def safe_loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that never raises: refused JSON is ``[MALFORMED, reason]``.

    >>> safe_loads('["subscribe", {"project_id": "p"}]')
    ['subscribe', {'project_id': 'p'}]
    >>> safe_loads('[' * 40 + ']' * 40)[1]
    'the packet is nested deeper than 32 levels'
    """
    try:
        value = strict_loads(text)
        check_json(value, max_depth, "the packet")
    except JSONLimitError as exc:
        return [MALFORMED, str(exc)]
    except RecursionError:
        return [MALFORMED, f"the packet is nested deeper than {max_depth} levels"]
    except ValueError as exc:  # JSONDecodeError, or an integer over Python's digit limit
        return [MALFORMED, f"the packet is not valid JSON: {str(exc)[:200]}"]
    return value


class _SafeJSON:
    """A ``json`` module for python-socketio's packets (``dumps``, ``loads``)."""

    dumps = staticmethod(json.dumps)
    loads = staticmethod(safe_loads)


JSON = _SafeJSON()


def query_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter ``name``: ASCII digits only, from ``low`` to ``high``.

    Signs, spaces, other scripts' digits (``²``, ``٣``, full-width ``５``) and
    more digits than ``high`` has (leading zeros aside) are refused with
    ``ValueError``, whose message names the parameter and its range.

    >>> query_int({"limit": "20"}, "limit", 500, 1, 5000)
    20
    >>> query_int({}, "limit", 500, 1, 5000)
    500
    >>> query_int({"limit": "²"}, "limit", 500, 1, 5000)
    Traceback (most recent call last):
    ...
    ValueError: 'limit' is an integer from 1 to 5000
    """
    text = params.get(name)
    if text is None:
        return default
    error = ValueError(f"{name!r} is an integer from {low} to {high}")
    if _ASCII_DIGITS.fullmatch(text) is None:
        raise error
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(high)):
        raise error
    value = int(digits)
    if not low <= value <= high:
        raise error
    return value
