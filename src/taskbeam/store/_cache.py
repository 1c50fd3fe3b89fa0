"""The store's result cache: entries that outlive the process, shared by every run using the file.

One row per cache key (see taskbeam/engine/_cache.py for what a key is):
the result as the store serialises it, the digest of the value, where it
was made (run and node), when, when it was last used and how often. Writes
go through the store's writer thread (the run does not wait for them);
reads use one connection of the cache's own, so a lookup costs one indexed
query and the decoding of one value.

Only values that come back exactly are stored: with the JSON serializer
that is ``None``, ``bool``, ``int`` (64 bits), finite ``float``, ``str``
and lists and str-keyed dicts of them (a tuple would come back a list, an
array a list, a dataclass a dict: a dependant would get another type than
a run without the cache gives it). Such a result still runs, and its digest
still lets its dependants hit. Every row carries a CRC-32 of its data and
digest: a row that fails it, or does not decode, is a miss (and the
engine warns), never a wrong value; the engine also checks each value read
against the digest it was stored with (``verify``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from taskbeam.store._base import CacheEntry, StoreError
from taskbeam.store._serialize import Serializer

T = TypeVar("T")


class _Store(Protocol):
    """What the cache uses of its :class:`~taskbeam.store._sqlite.SQLiteStore`."""

    path: Path
    serializer: Serializer

    def _read(self) -> sqlite3.Connection: ...

    def _reading(self, run_id: str | None = None) -> AbstractContextManager[sqlite3.Connection]: ...

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]: ...


__all__ = ["MIGRATION", "CorruptEntry", "StoreCache"]

# Schema 3 -> 4.
MIGRATION = """
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        digest BLOB,
        format TEXT NOT NULL,
        data BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        crc INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        created REAL NOT NULL,
        used REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX cache_used ON cache (used);
"""

TOUCH_BATCH = 50_000  # hits kept before their "last used" is written (else: at the run's end)
KEY_SET_MAX = 200_000  # most keys kept in memory, so that a miss asks SQLite nothing
PREFETCH_CHUNK = 500  # keys read in one query when a run looks up a batch of nodes
_INT64 = (-(2**63), 2**64 - 1)  # what orjson writes as an integer


class CorruptEntry(StoreError):
    """A cache row whose data does not match its checksum or does not decode."""


def _crc(data: bytes, digest: bytes | None) -> int:
    return zlib.crc32(digest or b"", zlib.crc32(data))


def exact_json(value: Any, depth: int = 0) -> bool:
    """Whether JSON gives ``value`` back equal and of the same types."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(_INT64[0] <= value <= _INT64[1])
    if kind is float:
        return math.isfinite(value)
    if depth > 200:
        return False
    if kind is list:
        return all(exact_json(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and exact_json(v, depth + 1) for k, v in value.items())
    return False


class StoreCache:
    """The cache of one :class:`~taskbeam.store._sqlite.SQLiteStore` (``store.cache``)."""

    # The engine checks each value read here against its stored digest (a row changed
    # outside taskbeam, or a serializer that does not give the value back, is a miss).
    verify = True

    def __init__(self, store: _Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._touched: dict[str, float] = {}
        # The keys the table holds, as this process knows them (read at each run's start,
        # added to as it writes): a key not in it is a miss without a query. None: too
        # many to keep, or not read yet; then every lookup asks SQLite.
        self._keys: set[str] | None = None
        self._rows: dict[str, tuple[Any, ...]] = {}  # read ahead by prefetch(), for get()
        self._last_touches: concurrent.futures.Future[None] | None = None
        self.unstored = 0  # results it could not keep exactly (see the module's text)
        self.errors = 0  # writes that failed (a full disk, say)

    def begin(self) -> None:
        """Read the keys the table holds (a run is starting; other processes may have added)."""
        with self._lock:
            self._keys = None
            try:
                conn = self._reader()
                (count,) = conn.execute("SELECT count(*) FROM cache").fetchone()
                if count <= KEY_SET_MAX:
                    self._keys = {k for (k,) in conn.execute("SELECT key FROM cache")}
            except sqlite3.Error:  # read at lookup time instead, where errors are reported
                self._drop()

    # -- reading -------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self.store._read()
        return self._conn

    def prefetch(self, keys: list[str]) -> None:
        """Read the rows of ``keys`` in a few queries (a run about to look up a batch of
        nodes); :meth:`get` takes them from there. Errors are left to :meth:`get`."""
        with self._lock:
            self._rows = {}
            known = self._keys
            wanted = [k for k in dict.fromkeys(keys) if known is None or k in known]
            if not wanted:
                return
            rows: dict[str, tuple[Any, ...]] = {}
            try:
                conn = self._reader()
                for i in range(0, len(wanted), PREFETCH_CHUNK):
                    chunk = wanted[i : i + PREFETCH_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for key, *row in conn.execute(
                        "SELECT key, digest, format, data, crc, run_id, node_id, created "
                        f"FROM cache WHERE key IN ({marks})",
                        chunk,
                    ):
                        rows[key] = tuple(row)
            except sqlite3.Error:
                self._drop()
                return
            self._rows = rows

    def get(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key`` or None; :class:`CorruptEntry` for a damaged row."""
        with self._lock:
            keys = self._keys
            if keys is not None and key not in keys:
                return None
            row = self._rows.get(key)
            try:
                row = row or (
                    self._reader()
                    .execute(
                        "SELECT digest, format, data, crc, run_id, node_id, created "
                        "FROM cache WHERE key = ?",
                        (key,),
                    )
                    .fetchone()
                )
            except sqlite3.Error as exc:
                self._drop()
                raise StoreError(f"cannot read the cache of {self.store.path}: {exc}") from exc
            if row is None:
                return None
            digest, fmt, data, crc, run_id, node_id, created = row
            if fmt != self.store.serializer.name:
                return None  # written with another serializer: not ours to decode
            if not isinstance(data, bytes) or _crc(data, digest) != crc:
                raise CorruptEntry(f"cache entry {key} in {self.store.path} fails its checksum")
            try:
                value = self.store.serializer.loads(data)
            except Exception as exc:
                raise CorruptEntry(f"cache entry {key} does not decode: {exc}") from exc
            self._touched[key] = time.time()
            if len(self._touched) >= TOUCH_BATCH:
                self._flush_touches()  # a long run: the stamps are not all kept to its end
        return CacheEntry(value, digest, run_id, node_id, created)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing -------------------------------------------------------------------
    def put(self, key: str, entry: CacheEntry) -> None:
        """Store ``entry`` under ``key``, if it comes back exactly."""
        self.put_many([(key, entry)])

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        """Store entries (those that come back exactly) in one write of the store's writer."""
        serializer = self.store.serializer
        exact = serializer.name != "json"
        rows = []
        for key, entry in items:
            if not exact and not exact_json(entry.value):
                self.unstored += 1
                continue
            rows.append((key, entry))
        if not rows:
            return
        keys = self._keys
        if keys is not None:
            if len(keys) + len(rows) > KEY_SET_MAX:
                self._keys = None
            else:
                keys.update(k for k, _ in rows)

        def write(conn: sqlite3.Connection) -> None:
            name = serializer.name
            made = []
            for key, entry in rows:
                try:
                    data = serializer.dumps(entry.value)
                except Exception:  # counted, and its node simply runs next time
                    self.unstored += 1
                    continue
                crc = _crc(data, entry.digest)
                made.append(
                    (key, entry.digest, name, data, len(data), crc, entry.run, entry.node,
                     entry.created, entry.created)
                )  # fmt: skip
            conn.executemany(
                "INSERT OR REPLACE INTO cache (key, digest, format, data, bytes, crc, "
                "run_id, node_id, created, used, hits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                made,
            )

        self.store.submit(write).add_done_callback(self._wrote)

    def _wrote(self, future: Any) -> None:
        if future.cancelled() or future.exception() is not None:
            self.errors += 1

    def flush(self, wait: bool = False) -> None:
        """Write when the entries used since the last flush were last used; ``wait``: until
        that write, and any one before it, has landed."""
        with self._lock:
            future = self._flush_touches() or self._last_touches
        if wait and future is not None:
            with contextlib.suppress(StoreError):
                future.result()

    def _flush_touches(self) -> concurrent.futures.Future[None] | None:
        touched, self._touched = self._touched, {}
        if not touched:
            return None

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE cache SET used = max(used, ?), hits = hits + 1 WHERE key = ?",
                [(at, key) for key, at in touched.items()],
            )

        future = self._last_touches = self.store.submit(write)  # refused when closed or read-only
        return future

    # -- upkeep --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Entries, bytes stored, hits recorded, oldest entry and latest use (wall clock)."""
        self.flush(wait=True)
        with self.store._reading() as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'cache'").fetchone():
                entries, size, hits, oldest, used = 0, 0, 0, None, None  # an older file, read-only
            else:
                entries, size, hits, oldest, used = conn.execute(
                    "SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(hits), 0), "
                    "min(created), max(used) FROM cache"
                ).fetchone()
        return {
            "entries": entries,
            "bytes": size,
            "hits": hits,
            "oldest": oldest,
            "last_used": used,
            "path": str(self.store.path),
        }

    def prune(
        self, older_than: float | None = None, max_bytes: int | None = None
    ) -> dict[str, int]:
        """Drop entries unused for ``older_than`` seconds, then the least recently used
        until at most ``max_bytes`` remain. Returns ``{"removed", "freed"}`` (bytes)."""
        if older_than is not None and (not math.isfinite(older_than) or older_than < 0):
            raise ValueError("older_than must be a number of seconds >= 0")
        if max_bytes is not None and max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.flush(wait=True)
        cutoff = None if older_than is None else time.time() - older_than

        def write(conn: sqlite3.Connection) -> dict[str, int]:
            removed = freed = 0
            if cutoff is not None:
                n, size = conn.execute(
                    "SELECT count(*), coalesce(sum(bytes), 0) FROM cache WHERE used < ?", (cutoff,)
                ).fetchone()
                conn.execute("DELETE FROM cache WHERE used < ?", (cutoff,))
                removed, freed = removed + n, freed + size
            if max_bytes is not None:
                kept = 0
                drop: list[tuple[str]] = []
                for key, size in conn.execute("SELECT key, bytes FROM cache ORDER BY used DESC"):
                    kept += size
                    if kept > max_bytes:
                        drop.append((key,))
                        freed += size
                conn.executemany("DELETE FROM cache WHERE key = ?", drop)
                removed += len(drop)
            return {"removed": removed, "freed": freed}

        result: dict[str, int] = self.store.submit(write).result()
        return result

    def close(self) -> None:
        with self._lock:
            self._drop()
