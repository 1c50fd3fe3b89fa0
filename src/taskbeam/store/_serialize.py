"""Serializers turn task results into bytes for the store and back.

JSON (orjson) is the default: safe to load, readable from any language, but
lossy for Python types (a tuple comes back as a list, a datetime as a
string); values it would change (NaN, non-string keys) are refused at save
(see :func:`taskbeam.store._log.lossy`). Pickle keeps types exactly but
loading a pickle runs code from the database file, so it must be chosen
explicitly and only for databases nobody else can write. A store decodes
results only with its own serializer, whatever format a row names.
"""

from __future__ import annotations

import pickle
from typing import Any, Protocol

import orjson

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer", "UnserializableResult"]


class UnserializableResult(TypeError):
    """The serializer cannot store this value."""


class Serializer(Protocol):
    """Turns a result into bytes (``dumps``) and back (``loads``); ``name`` is stored with it."""

    name: str

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JSONSerializer:
    """JSON through orjson; numpy arrays, dataclasses and datetimes included."""

    name = "json"
    _options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

    def dumps(self, value: Any) -> bytes:
        try:
            return orjson.dumps(value, option=self._options)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise UnserializableResult(f"{type(value).__qualname__}: {exc}") from None

    def loads(self, data: bytes) -> Any:
        return orjson.loads(data)


class PickleSerializer:
    """Exact Python types. Loading runs code from the database: use it only for
    files that nobody but you can write (nor their folder)."""

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=self.protocol)
        except Exception as exc:
            raise UnserializableResult(f"{type(value).__qualname__}: {exc}") from None

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)
