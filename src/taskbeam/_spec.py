"""``MODULE:ATTRIBUTE`` on the command line: import it, call it if it is a factory."""

from __future__ import annotations

import importlib
import sys
from typing import Any, TypeVar

__all__ = ["load_object"]

T = TypeVar("T")


def load_object(spec: str, kind: type[T], usage: str) -> T:
    """Resolve ``spec`` to an instance of ``kind`` (or a zero-argument factory of one).

    Exits with a message naming ``usage`` (e.g. ``"MODULE:GRAPH"``) when the
    spec is malformed, cannot be imported, or names something else.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"taskbeam: expected {usage}, got {spec!r}")
    if "" not in sys.path:  # like `python -m`: modules in the current directory
        sys.path.insert(0, "")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"taskbeam: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit(f"taskbeam: {module_name!r} has no attribute {attr!r}") from None
    if callable(obj) and not isinstance(obj, kind):
        obj = obj()
    if not isinstance(obj, kind):
        raise SystemExit(
            f"taskbeam: {spec} is a {type(obj).__name__}, not a taskbeam.{kind.__name__}"
        )
    return obj
