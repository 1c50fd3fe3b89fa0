"""SQLiteStore: the embedded default store.

Threading
---------
One writer thread owns the only writing connection. Engine threads hand it
work (:meth:`SQLiteStore.submit`) and never wait on the disk unless they ask
to (the run's creation and final save). The writer takes everything queued
and runs it in one transaction, so a burst of saves costs one commit; if
that transaction fails, each piece is retried alone so one bad piece cannot
sink the others. Reads open their own short-lived connection: WAL lets them
run beside the writer, from any thread or process; the read-back of final
saves keeps one open. A store that holds the lease of a live run also has a
lease thread (see :mod:`taskbeam.store._lease`), which only hands renewals
to the writer.

Checkpoints
-----------
SQLite's automatic checkpoint is off on the writer's connection: it would
copy the WAL into the database (and fsync both) inside whichever commit
crossed its threshold, often a run's final save. The writer checkpoints
instead (PASSIVE: it never waits for readers) when it has had nothing to do
for ``CHECKPOINT_IDLE`` seconds (new work interrupts that checkpoint), and
at once, after acknowledging the commit, when what it wrote since the last
complete checkpoint passes ``WAL_LIMIT`` bytes, which keeps the WAL bounded
under constant load. :meth:`SQLiteStore.checkpoint` runs one and waits.

Files
-----
``runs.db`` (plus ``-wal``/``-shm`` while open). Its folder must exist
(only the default ``.taskbeam`` folder is made). A file that is not an SQLite
database is refused untouched; an SQLite database that fails ``PRAGMA
quick_check`` at open is renamed ``runs.db.corrupt-<time>[-n]`` (never over
an earlier one) and a new one is created; emergency backups sit next to it as
``runs.db.backup-<run id>-<time>.json``.

Trust
-----
A store decodes results only with its own serializer: rows in another
format are refused. The log of a run is checked against the checksum in its
run row whenever the run is loaded or resumed. With ``readonly=True`` the
store opens the file through a ``mode=ro`` URI, has no writer thread and
creates nothing.

Modules
-------
This module opens the file and runs the writer thread (with the checkpoints
and the constants they read); the work it runs is in :mod:`._sqlite_write`,
the reads in :mod:`._sqlite_read`, connections and error messages in
:mod:`._sqlite_conn`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from taskbeam.store._base import StoreError, StoreRecoveryWarning
from taskbeam.store._cache import MIGRATION as CACHE
from taskbeam.store._cache import MIGRATION_FN as CACHE_FN
from taskbeam.store._cache import StoreCache
from taskbeam.store._lease import MIGRATION as LEASES
from taskbeam.store._lease import LeaseKeeper
from taskbeam.store._questions import MIGRATION as QUESTIONS
from taskbeam.store._serialize import JSONSerializer, PickleSerializer, Serializer
from taskbeam.store._sqlite_conn import (
    connect,
    connect_readonly,
    create_private,
    header_problem,
    journal_wal,
    looks_corrupt,
    rollback,
    store_error,
)
from taskbeam.store._sqlite_read import Reads
from taskbeam.store._sqlite_write import COMPACT_AFTER as COMPACT_AFTER
from taskbeam.store._sqlite_write import Writes

__all__ = ["DEFAULT_PATH", "SQLiteStore"]

log = logging.getLogger("taskbeam.store")
T = TypeVar("T")
DEFAULT_PATH = Path(".taskbeam") / "runs.db"
SCHEMA_VERSION = 5
# Page size of new databases. Batches are large blobs: bigger pages mean fewer
# overflow pages (and WAL frames) to write and read back per save.
PAGE_SIZE = 16384
# Page cache of the writer's connection, KiB (SQLite's default: 2,000).
CACHE_KIB = 16384
# Seconds without work after which the writer checkpoints the WAL.
CHECKPOINT_IDLE = 0.25
# Bytes written since the last complete checkpoint that make the writer
# checkpoint right after the commit, busy or not.
WAL_LIMIT = 16 * 1024 * 1024

# Each entry upgrades the schema by one version; entry i takes version i to i+1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        options TEXT NOT NULL,
        created REAL NOT NULL,
        ended REAL,
        counts TEXT NOT NULL DEFAULT '{}',
        total INTEGER NOT NULL DEFAULT 0,
        checksum TEXT,
        error TEXT,
        updated REAL NOT NULL
    );
    CREATE TABLE structure (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        parent TEXT NOT NULL,
        nodes TEXT NOT NULL,
        PRIMARY KEY (run_id, parent)
    );
    CREATE TABLE batches (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        nodes BLOB NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE results (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        node_id TEXT NOT NULL,
        format TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (run_id, node_id)
    ) WITHOUT ROWID;
    """,
    LEASES,  # 1 -> 2: who owns a live run (see _lease)
    QUESTIONS,  # 2 -> 3: questions asked inside runs, and their answers (see _questions)
    CACHE,  # 3 -> 4: the result cache (see _cache)
    CACHE_FN,  # 4 -> 5: the function of each cache entry (see _cache)
]

_STOP = object()
_CHECKPOINT = object()


class SQLiteStore(Writes, Reads):
    """Runs, graph structure, node states and results in one SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        Database file; default ``./.taskbeam/runs.db`` (whose ``.taskbeam``
        folder is made if needed). Any other folder must exist already.
    serializer : "json", "pickle" or a Serializer
        How results are stored, and the only way stored results are decoded
        (rows in another format are refused). ``"pickle"`` keeps exact types
        but loading it runs code from the file: use it only for databases
        that nobody but you can write.
    busy_timeout : float
        Seconds to wait for another process holding the write lock.
    readonly : bool
        Open an existing store for reading only (``runs``, ``load``,
        ``node_rows``): nothing is created, quarantined or written, and a
        read-only file or folder is fine. Writing raises StoreError.

    Raises
    ------
    StoreError
        The file cannot be opened for writing (read-only folder, no space, a
        folder that does not exist), it is not an SQLite database (it is left
        untouched), or (``readonly``) there is no store at ``path``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        serializer: str | Serializer = "json",
        busy_timeout: float = 5.0,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else DEFAULT_PATH
        self.serializer = _serializer(serializer)
        self.busy_timeout = busy_timeout
        self.readonly = readonly
        self.quarantined: Path | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._writes = 0
        self._wal = 0  # bytes written (estimated) since the last complete checkpoint
        self._idle_checkpoint = False  # written since the writer last checkpointed
        self._checkpointing = False  # an idle checkpoint runs (new work interrupts it)
        self._reader: sqlite3.Connection | None = None  # reads back final saves
        self._reader_lock = threading.Lock()
        # The log of each run as stored, {seq: crc32}: the writer thread's own
        # record, so that a run row's checksum also counts saves that were
        # still queued when the next one was handed over.
        self._logs: dict[str, dict[int, int]] = {}
        self._empty = False  # read-only, and the file holds no tables yet
        self.leases = LeaseKeeper(self)
        self._cache: StoreCache | None = None
        problem = header_problem(self.path)
        if problem is not None:
            raise StoreError(
                f"{self.path} is not a taskbeam store: {problem}. It was left as it is; "
                "choose another path with --store PATH or tb.SQLiteStore(path)."
            )
        if readonly:
            self._open_readonly()
            self._closed = True  # nothing to write: submit() refuses
            return
        try:
            if not self.path.parent.is_dir():
                if path is not None and self.path != DEFAULT_PATH:
                    raise FileNotFoundError(f"the folder {self.path.parent} does not exist")
                self.path.parent.mkdir(mode=0o700, exist_ok=True)  # the default folder only
            conn = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the run store at {self.path}: {exc}. "
                "Choose a writable location with tb.SQLiteStore(path)."
            ) from exc
        self._conn = conn
        self._thread = threading.Thread(
            target=self._writer, args=(conn,), name=f"taskbeam-store-{self.path.name}", daemon=True
        )
        self._thread.start()

    # -- opening -------------------------------------------------------------
    def _open_readonly(self) -> None:
        if not self.path.is_file():
            raise StoreError(f"no store at {self.path}")
        try:
            with contextlib.closing(connect_readonly(self.path, self.busy_timeout)) as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the run store at {self.path}: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this taskbeam "
                f"understands ({SCHEMA_VERSION}); upgrade taskbeam"
            )
        self._empty = version == 0

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._open_checked()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not looks_corrupt(exc):
                raise
            problem = header_problem(self.path)
            if problem is not None:  # only SQLite databases are ever moved aside
                raise StoreError(
                    f"{self.path} is not a taskbeam store: {problem}. It was left as it is."
                ) from exc
            self._quarantine(exc)
            conn = self._open_checked()
        return conn

    def _open_checked(self) -> sqlite3.Connection:
        create_private(self.path)
        conn = connect(self.path, self.busy_timeout)
        try:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only a new file takes it
            mode = journal_wal(conn, self.busy_timeout)
            if mode != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the writer checkpoints (see above)
            # A save of thousands of nodes is a blob of a megabyte or more: with
            # SQLite's default cache (2 MiB) writing one recycles most of it.
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # The version is read under the write lock: two processes opening a new
        # file at once must not both create the tables.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this taskbeam "
                    f"understands ({SCHEMA_VERSION}); upgrade taskbeam"
                )
            for target in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise

    def _quarantine(self, exc: Exception) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 0
        while any(Path(str(aside) + s).exists() for s in ("", "-wal", "-shm")):
            n += 1  # never over an earlier copy
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.rename(Path(str(aside) + suffix))
        self.quarantined = aside
        warnings.warn(
            StoreRecoveryWarning(
                f"{self.path} was not a readable database ({exc}); kept it aside as "
                f"{aside.name} and started a new one. Emergency backups next to it can be "
                "imported with `taskbeam import FILE`."
            ),
            stacklevel=4,
        )

    # -- the writer thread ---------------------------------------------------
    def _writer(self, conn: sqlite3.Connection) -> None:
        """Run queued work in one transaction per batch, in order; checkpoint when idle."""
        try:
            while True:
                idle = CHECKPOINT_IDLE if self._idle_checkpoint else None
                try:
                    item = self._queue.get(timeout=idle)
                except queue.Empty:
                    self._checkpoint(conn, idle=True)
                    continue
                batch = [item]
                while len(batch) < 1000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                work: list[Any] = []
                for i in batch:
                    if i is _STOP or i[0] is _CHECKPOINT:
                        self._run_work(conn, work)
                        work = []
                        if i is _STOP:
                            return
                        self._checkpoint(conn, done=i[1])
                    else:
                        work.append(i)
                self._run_work(conn, work)
                if self._wal > WAL_LIMIT:  # after the commit was acknowledged
                    self._checkpoint(conn)
        finally:
            self._close_reader()
            conn.close()

    def _run_work(
        self,
        conn: sqlite3.Connection,
        work: list[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]],
    ) -> None:
        if not work:
            return
        self._idle_checkpoint = True
        try:
            self._run_batch(conn, work)
        except BaseException as exc:  # never leave a caller waiting forever
            for _, future in work:
                if not future.done():
                    future.set_exception(store_error(self.path, exc))

    def _checkpoint(
        self,
        conn: sqlite3.Connection,
        idle: bool = False,
        done: concurrent.futures.Future[None] | None = None,
    ) -> None:
        """Copy the WAL into the database (PASSIVE), on the writer thread.

        An idle checkpoint gives way to new work: :meth:`submit` interrupts it.
        """
        self._idle_checkpoint = False
        if idle:
            with self._lock:
                if not self._queue.empty():
                    return
                self._checkpointing = True
        try:
            busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        except sqlite3.Error as exc:  # interrupted, or the disk refused: the WAL keeps it all
            if done is not None:
                done.set_exception(store_error(self.path, exc))
            elif not idle:
                log.warning("checkpoint of %s failed: %s", self.path, exc)
            return
        finally:
            if idle:
                with self._lock:
                    self._checkpointing = False
        if not busy and logged == copied:  # the next write starts the WAL afresh
            self._wal = 0
        if done is not None:
            done.set_result(None)

    def _run_batch(
        self,
        conn: sqlite3.Connection,
        work: list[tuple[Callable[[sqlite3.Connection], Any], concurrent.futures.Future[Any]]],
    ) -> None:
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _ in work:
                results.append(fn(conn))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            self._logs.clear()  # what the writer knew of the logs may be rolled back too
            if len(work) > 1:  # find the piece that failed; the others still land
                for piece in work:
                    self._run_batch(conn, [piece])
                return
            fn, future = work[0]
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                rollback(conn)
                self._logs.clear()
                future.set_exception(store_error(self.path, exc))
            else:
                future.set_result(result)
            return
        self._writes += 1
        for (_, future), result in zip(work, results, strict=True):
            future.set_result(result)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        """Run ``fn(connection)`` in the writer's next transaction."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self.readonly:
                future.set_exception(StoreError(f"the store at {self.path} was opened read-only"))
            elif self._closed:
                future.set_exception(StoreError(f"the store at {self.path} is closed"))
            else:
                self._queue.put((fn, future))
                if self._checkpointing:  # work first: the writer checkpoints when idle again
                    self._conn.interrupt()
        return future

    # -- life cycle ----------------------------------------------------------
    @property
    def commits(self) -> int:
        """Transactions committed by the writer so far."""
        return self._writes

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything submitted so far is written."""
        self.submit(lambda conn: None).result(timeout)

    def checkpoint(self, timeout: float | None = None) -> None:
        """Write everything submitted so far, then copy the WAL into the database
        file (a PASSIVE checkpoint: readers are not waited for); wait for both.

        The writer does this by itself when idle; this makes it happen now, e.g.
        before timing something else on the same machine.
        """
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self.readonly:
                raise StoreError(f"the store at {self.path} was opened read-only")
            if self._closed:
                raise StoreError(f"the store at {self.path} is closed")
            self._queue.put((_CHECKPOINT, future))
        future.result(timeout)

    def _wrote(self, size: int) -> None:
        """Count bytes toward the next checkpoint (writer thread; pages of the
        indexes and the run row are counted as one page per piece)."""
        self._wal += size + PAGE_SIZE

    # -- the result cache (see _cache) ---------------------------------------------
    @property
    def cache(self) -> StoreCache:
        """The store's result cache, which runs started with ``cache=True`` use."""
        with self._lock:
            if self._cache is None:
                self._cache = StoreCache(self)
            return self._cache

    def cache_stats(self) -> dict[str, Any]:
        """The cache's entries, bytes, hits recorded, oldest entry and latest use."""
        if self._empty:
            return {
                "entries": 0,
                "bytes": 0,
                "hits": 0,
                "oldest": None,
                "last_used": None,
                "path": str(self.path),
            }
        return self.cache.stats()

    def prune(
        self, older_than: float | None = None, max_bytes: int | None = None
    ) -> dict[str, int]:
        """Drop cache entries unused for ``older_than`` seconds, then the least recently
        used until at most ``max_bytes`` remain; ``{"removed", "freed"}``."""
        return self.cache.prune(older_than=older_than, max_bytes=max_bytes)

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file (idempotent)."""
        if self._cache is not None:
            self._cache.flush()
            self._cache.close()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.leases.stop()
            self._queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SQLiteStore {str(self.path)!r}{' read-only' if self.readonly else ''}>"


def _serializer(spec: str | Serializer) -> Serializer:
    if spec == "json":
        return JSONSerializer()
    if spec == "pickle":
        return PickleSerializer()
    if isinstance(spec, str):
        raise ValueError(f"serializer must be 'json', 'pickle' or a Serializer, not {spec!r}")
    return spec
