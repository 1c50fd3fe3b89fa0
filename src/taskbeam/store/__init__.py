"""Persistence: the SQLite store, serializers, emergency backups."""

from taskbeam.store._base import RunRecord, StoreError, StoreRecoveryWarning
from taskbeam.store._serialize import (
    JSONSerializer,
    PickleSerializer,
    Serializer,
    UnserializableResult,
)
from taskbeam.store._sqlite import DEFAULT_PATH, SQLiteStore

__all__ = [
    "DEFAULT_PATH",
    "JSONSerializer",
    "PickleSerializer",
    "RunRecord",
    "SQLiteStore",
    "Serializer",
    "StoreError",
    "StoreRecoveryWarning",
    "UnserializableResult",
]
