"""The store's result cache: entries that outlive the process, shared by every run using the file.

One row per cache key (see taskbeam/engine/_cache.py for what a key is):
the result as the store serialises it, the digest of the value, the
function the entry was made by (``fn``, the hex fingerprint of the task's
function), where it was made (run and node), when, when it was last used and
how often.

Writing: a run's entries are written once its final save has landed, all in
one transaction of the store's writer (:meth:`StoreCache.write_later`),
which first checks that the run's row says it ended: a crash, or a final save
the disk refused, leaves no row naming a run whose results are not stored.
The run does not wait for it; a run that starts in this process after it
waits for the entries written before it (:meth:`StoreCache.begin`), so it
sees them, and so does closing the store or leaving the interpreter.

Reading: at a run's start :meth:`StoreCache.begin` says which functions have
any entry; a node whose function has none certainly misses, so the engine
neither makes its key nor looks it up while the run goes on (it keys it after
the run, with its row). The others are read a batch at a time
(:meth:`StoreCache.prefetch`) through one connection of the cache's own. In
front of the table sits a memory copy of the rows this process wrote or read
(at most ``FRONT_BYTES`` of their data, least recently used dropped first):
a value of an immutable type (``None``, ``bool``, ``int``, ``float``,
``str``, ``bytes``) is kept as it is, any other as its stored bytes, decoded
again for each hit, so no two runs share a mutable value. A row changed on
disk behind this process's back is seen by the next process (or once the
copy is dropped); a prune in this process empties the copy.

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

import atexit
import concurrent.futures
import contextlib
import logging
import math
import sqlite3
import threading
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from taskbeam._schema import RunStatus
from taskbeam.store._base import CacheEntry, StoreError
from taskbeam.store._serialize import Serializer

T = TypeVar("T")
log = logging.getLogger("taskbeam.store")


class _Store(Protocol):
    """What the cache uses of its :class:`~taskbeam.store._sqlite.SQLiteStore`."""

    path: Path
    serializer: Serializer

    def _read(self) -> sqlite3.Connection: ...

    def _reading(self, run_id: str | None = None) -> AbstractContextManager[sqlite3.Connection]: ...

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]: ...


__all__ = ["MIGRATION", "MIGRATION_FN", "CorruptEntry", "Made", "StoreCache"]

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

# Schema 4 -> 5: the function each entry was made by (NULL in rows written before, which
# the engine cannot rule out for any node: it looks every node up while such rows remain;
# a hit on one fills its function in). The index on "used" goes: every write and every
# use stamp paid for it, and only pruning, now and then, reads in that order.
MIGRATION_FN = """
    ALTER TABLE cache ADD COLUMN fn TEXT;
    CREATE INDEX cache_fn ON cache (fn);
    DROP INDEX cache_used;
"""

TOUCH_BATCH = 50_000  # hits kept before their "last used" is written (else: at the run's end)
PREFETCH_CHUNK = 500  # keys read in one query when a run looks up a batch of nodes
KEY_SET_MAX = 200_000  # most keys kept in memory, so that a miss asks SQLite nothing
FN_MAX = 10_000  # most functions begin() lists; past that every node is looked up
FRONT_BYTES = 64 * 2**20  # most stored bytes the memory copy in front of the table holds
LANDING_WAIT = 60.0  # seconds begin() and flush(wait=True) wait for entries being written
YIELD_EVERY = 256  # rows between two yields of the interpreter's lock (write_later)
_INT64 = (-(2**63), 2**64 - 1)  # what orjson writes as an integer
_ENDED = (RunStatus.DONE.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value)
_SHARED = frozenset({type(None), bool, int, float, str, bytes})  # immutable: kept as values
_UNDECODED: Any = object()  # a copy kept as its bytes (a mutable value): decoded at each hit
# The functions that have entries, in index order, one index probe each (a skip scan).
_FUNCTIONS = """
    WITH RECURSIVE f(fn) AS (
        SELECT min(fn) FROM cache
        UNION ALL
        SELECT (SELECT min(fn) FROM cache WHERE fn > f.fn) FROM f WHERE f.fn IS NOT NULL
        LIMIT ?
    ) SELECT fn FROM f WHERE fn IS NOT NULL
"""
_INSERT = (
    "INSERT OR REPLACE INTO cache (key, digest, format, data, bytes, crc, run_id, node_id, "
    "created, used, hits, fn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
)

# What the engine hands write_later, per entry: key, value, digest, run, node, created
# (wall clock) and the function fingerprint (None: not known).
Made = tuple[str, Any, "bytes | None", str, str, float, "str | None"]


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


def _fresh(entry: CacheEntry, value: Any) -> CacheEntry:
    return CacheEntry(value, entry.digest, entry.run, entry.node, entry.created)


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
        self._named: dict[str, str] = {}  # hits on rows without a function: key -> function
        # The keys the table holds, read (once a run) when a node is looked up alone, so
        # that such a miss asks SQLite nothing; None: not read, or too many to keep.
        self._keys: set[str] | None = None
        self._keys_read = False
        # The memory copy in front of the table: key -> (entry, data), least recently
        # used first (an entry of a mutable value holds _UNDECODED: decoded from data at
        # each hit); the bytes of their data.
        self._front: OrderedDict[str, tuple[CacheEntry, bytes]] = OrderedDict()
        self._front_bytes = 0
        self._last_touches: concurrent.futures.Future[None] | None = None
        self._landing: concurrent.futures.Future[None] | None = None  # the latest write_later
        self.unnamed = False  # begin() found rows without a function (from schema 4)
        self._unstored = 0
        self._errors = 0

    @property
    def unstored(self) -> int:
        """Results it could not keep exactly (see the module's text), once the entries
        handed to the writer so far have landed."""
        self._wait_landed()
        return self._unstored

    @property
    def errors(self) -> int:
        """Writes of entries that failed (a full disk, say), once those handed to the
        writer so far have landed."""
        self._wait_landed()
        return self._errors

    def begin(self) -> set[str] | None:
        """A run is starting: the functions that have any entry (hex fingerprints), once
        the entries this process is still writing have landed. None: a node of any
        function may hit (rows written before schema 5, too many functions, or the table
        could not be read: lookups report that)."""
        self._wait_landed()
        with self._lock:
            self._keys, self._keys_read = None, False  # other processes may have added
            try:
                conn = self._reader()
                self.unnamed = False
                if conn.execute("SELECT 1 FROM cache WHERE fn IS NULL LIMIT 1").fetchone():
                    self.unnamed = True  # lookups name the function of what they hit
                    return None
                fns = {fn for (fn,) in conn.execute(_FUNCTIONS, (FN_MAX + 1,))}
            except sqlite3.Error:
                self._drop()
                return None
        return None if len(fns) > FN_MAX else fns

    # -- reading -------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self.store._read()
        return self._conn

    def prefetch(
        self, keys: list[str], names: dict[str, str] | None = None
    ) -> dict[str, CacheEntry | StoreError]:
        """The entries of ``keys`` (a run about to look up a batch of nodes), from the
        memory copy or a few queries: a key stored is there with its entry, or with the
        :class:`CorruptEntry` of its damaged row, or with the StoreError of a table that
        could not be read. ``names``: the function of each key, recorded on a row that has
        none (written before schema 5). An entry of an immutable value may be the same
        object each time; any other holds a value of its own (a second node with the same
        key asks :meth:`get` for its own copy)."""
        out: dict[str, CacheEntry | StoreError] = {}
        with self._lock:
            front = self._front
            touched = self._touched
            loads = self.store.serializer.loads
            now = time.time()
            wanted = []
            for key in keys:
                kept = front.get(key)
                if kept is None:
                    wanted.append(key)
                elif key not in out:
                    front.move_to_end(key)
                    entry = kept[0]
                    if entry.value is _UNDECODED:  # decoded (and checked) before: a fresh copy
                        entry = _fresh(entry, loads(kept[1]))
                    out[key] = entry
                    touched[key] = now
            if wanted:
                known = self._keys
                wanted = [k for k in dict.fromkeys(wanted) if known is None or k in known]
            if wanted:
                try:
                    conn = self._reader()
                    for i in range(0, len(wanted), PREFETCH_CHUNK):
                        chunk = wanted[i : i + PREFETCH_CHUNK]
                        marks = ",".join("?" * len(chunk))
                        for key, *row in conn.execute(
                            "SELECT key, digest, format, data, crc, run_id, node_id, created, "
                            f"fn FROM cache WHERE key IN ({marks})",
                            chunk,
                        ):
                            made = self._entry(key, row, names.get(key) if names else None, now)
                            if made is not None:
                                out[key] = made
                except sqlite3.Error as exc:
                    self._drop()
                    error = StoreError(f"cannot read the cache of {self.store.path}: {exc}")
                    for key in wanted:
                        out.setdefault(key, error)
            if len(touched) >= TOUCH_BATCH:
                self._flush_touches()  # a long run: the stamps are not all kept to its end
        return out

    def get(self, key: str, fn: str | None = None) -> CacheEntry | None:
        """The entry stored under ``key`` or None; :class:`CorruptEntry` for a damaged row.

        ``fn``: the function fingerprint of the node looking it up, recorded on a row
        that has none (written before schema 5)."""
        with self._lock:
            kept = self._front.get(key)
            if kept is not None:
                self._front.move_to_end(key)
                entry = kept[0]
                if entry.value is _UNDECODED:  # decoded (and checked) before: a fresh copy
                    entry = _fresh(entry, self.store.serializer.loads(kept[1]))
                self._touch(key)
                return entry
            try:
                if not self._keys_read:
                    self._keys_read = True
                    self._keys = self._read_keys()
                if self._keys is not None and key not in self._keys:
                    return None
                row = (
                    self._reader()
                    .execute(
                        "SELECT digest, format, data, crc, run_id, node_id, created, fn "
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
            made = self._entry(key, row, fn)
        if isinstance(made, StoreError):
            raise made
        return made

    def _entry(
        self, key: str, row: Any, fn: str | None, now: float | None = None
    ) -> CacheEntry | StoreError | None:
        """A row read from the table as its entry (kept in the memory copy, its use
        stamped), or the CorruptEntry it is; None: another serializer's (the caller holds
        the lock)."""
        digest, fmt, data, crc, run_id, node_id, created, made_by = row
        if fmt != self.store.serializer.name:
            return None  # written with another serializer: not ours to decode
        if not isinstance(data, bytes) or _crc(data, digest) != crc:
            return CorruptEntry(f"cache entry {key} in {self.store.path} fails its checksum")
        try:
            value = self.store.serializer.loads(data)
        except Exception as exc:
            return CorruptEntry(f"cache entry {key} does not decode: {exc}")
        if made_by is None and fn is not None:
            self._named[key] = fn
        entry = CacheEntry(value, digest, run_id, node_id, created)
        self._keep_entry(key, entry, data)
        if now is None:
            self._touch(key)
        else:  # prefetch stamps its keys itself, and flushes when there are many
            self._touched[key] = now
        return entry

    def _read_keys(self) -> set[str] | None:
        conn = self._reader()
        (count,) = conn.execute("SELECT count(*) FROM cache").fetchone()
        if count > KEY_SET_MAX:
            return None
        return {k for (k,) in conn.execute("SELECT key FROM cache")}

    def forget(self, key: str) -> bool:
        """Drop the memory copy of ``key`` (the engine found its value does not match its
        digest); whether there was one. A :meth:`get` after it reads the table."""
        with self._lock:
            kept = self._front.pop(key, None)
            if kept is None:
                return False
            self._front_bytes -= len(kept[1])
            return True

    def _keep(
        self,
        key: str,
        value: Any,
        digest: bytes | None,
        data: bytes,
        run_id: str,
        node_id: str,
        created: float,
    ) -> None:
        """Put a row in the memory copy (the caller holds the lock)."""
        self._keep_entry(key, CacheEntry(value, digest, run_id, node_id, created), data)

    def _keep_entry(self, key: str, entry: CacheEntry, data: bytes) -> None:
        """Put ``entry`` (stored as ``data``) in the memory copy (the caller holds the
        lock); an entry of a mutable value is kept as its bytes only."""
        size = len(data)
        if size > FRONT_BYTES // 4:
            return
        front = self._front
        old = front.pop(key, None)
        if old is not None:
            self._front_bytes -= len(old[1])
        if type(entry.value) not in _SHARED:
            entry = _fresh(entry, _UNDECODED)
        front[key] = (entry, data)
        self._front_bytes += size
        while self._front_bytes > FRONT_BYTES:
            _, dropped = front.popitem(last=False)
            self._front_bytes -= len(dropped[1])

    def _touch(self, key: str) -> None:
        self._touched[key] = time.time()
        if len(self._touched) >= TOUCH_BATCH:
            self._flush_touches()  # a long run: the stamps are not all kept to its end

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing -------------------------------------------------------------------
    def put(self, key: str, entry: CacheEntry) -> None:
        """Store ``entry`` under ``key``, if it comes back exactly (written at once)."""
        self.put_many([(key, entry)])

    def put_many(self, items: list[tuple[str, CacheEntry]]) -> None:
        """Store entries (those that come back exactly) in one write of the store's writer.
        Their function is not known: see :meth:`write_later`, which the engine uses."""
        made = [(key, e.value, e.digest, e.run, e.node, e.created, None) for key, e in items]
        self.write_later(lambda: made)

    def write_later(self, make: Callable[[], Iterable[Made]], run_id: str | None = None) -> None:
        """Store the entries ``make()`` gives, in one transaction of the writer, after
        what is queued before it (a run's final save). ``make`` is called there, on the
        writer thread. With ``run_id``: only if that run's row says it ended (its final
        save landed); else nothing is written and it counts as an error."""
        serializer = self.store.serializer
        check = serializer.name == "json"

        def write(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if run_id is not None:
                row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
                if row is None or row[0] not in _ENDED:
                    raise StoreError(f"run {run_id} was not stored whole: its entries are not")
            name = serializer.name
            rows, kept = [], []
            unstored = 0
            for i, (key, value, digest, run, node, created, fn) in enumerate(make()):
                if not i % YIELD_EVERY:
                    time.sleep(0)  # other threads (a run going on) need the interpreter too
                if check and not exact_json(value):
                    unstored += 1
                    continue
                try:
                    data = serializer.dumps(value)
                except Exception:  # counted, and its node simply runs next time
                    unstored += 1
                    continue
                rows.append(
                    (key, digest, name, data, len(data), _crc(data, digest), run, node, created,
                     created, fn)
                )  # fmt: skip
                kept.append((key, value, digest, data, run, node, created))
            self._unstored += unstored
            rows.sort(key=_first)  # in key order: pages filled in turn, not at random
            conn.executemany(_INSERT, rows)
            return kept

        landed: concurrent.futures.Future[None] = concurrent.futures.Future()

        def wrote(future: concurrent.futures.Future[list[tuple[Any, ...]]]) -> None:
            try:
                exc = None if future.cancelled() else future.exception()
                if future.cancelled() or exc is not None:
                    self._errors += 1  # a miss next time, nothing worse
                    log.warning("cache entries of run %s not written: %s", run_id, exc)
                    return
                kept = future.result()
                for i in range(0, len(kept), YIELD_EVERY):  # only what the table holds now
                    with self._lock:
                        chunk = kept[i : i + YIELD_EVERY]
                        for item in chunk:
                            self._keep(*item)
                        if self._keys is not None:
                            self._keys.update(item[0] for item in chunk)
                    time.sleep(0)
            finally:
                landed.set_result(None)

        with self._lock:
            self._landing = landed
        _LANDING.add(self)
        self.store.submit(write).add_done_callback(wrote)

    def _wait_landed(self) -> None:
        landing = self._landing
        if landing is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError):
                landing.result(LANDING_WAIT)

    def flush(self, wait: bool = False) -> None:
        """Write when the entries used since the last flush were last used; ``wait``: until
        that write, and any one before it (entries too), has landed."""
        with self._lock:
            future = self._flush_touches() or self._last_touches
        if wait:
            self._wait_landed()
            if future is not None:
                with contextlib.suppress(StoreError):
                    future.result()

    def _flush_touches(self) -> concurrent.futures.Future[None] | None:
        touched, self._touched = self._touched, {}
        named, self._named = self._named, {}
        if not touched:
            return None

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE cache SET used = max(used, ?), hits = hits + 1 WHERE key = ?",
                [(touched[key], key) for key in sorted(touched)],  # in key order, as rows go
            )
            if named:
                conn.executemany(
                    "UPDATE cache SET fn = ? WHERE key = ? AND fn IS NULL",
                    [(fn, key) for key, fn in named.items()],
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
        with self._lock:  # what it removed must not be served from memory
            self._front.clear()
            self._front_bytes = 0
            self._keys, self._keys_read = None, False
        return result

    def close(self) -> None:
        with self._lock:
            self._drop()


# Caches with entries handed to their writer: waited for when the interpreter exits (the
# writer is a daemon thread, so what it still holds would be lost with it).
_LANDING: weakref.WeakSet[StoreCache] = weakref.WeakSet()


@atexit.register
def _land_all() -> None:
    for cache in list(_LANDING):
        cache._wait_landed()
