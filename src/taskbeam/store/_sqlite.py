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
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from taskbeam._schema import StoredRunItem
from taskbeam.store._base import (
    DECODE_ERRORS,
    RunRecord,
    Saved,
    StoreError,
    StoreRecoveryWarning,
    damaged,
    load_snapshot,
    log_digest,
    read_log,
)
from taskbeam.store._lease import MIGRATION as LEASES
from taskbeam.store._lease import LeaseKeeper, judge, touch
from taskbeam.store._log import FIELDS, Log, encode
from taskbeam.store._questions import MIGRATION as QUESTIONS
from taskbeam.store._questions import (
    answer_row,
    put_answer,
    put_question,
    question_row,
    read_questions,
)
from taskbeam.store._serialize import JSONSerializer, PickleSerializer, Serializer
from taskbeam.store._stored import (
    get_project,
    history,
    list_projects,
    put_project,
    run_info,
)
from taskbeam.store._stored import result as stored_result

__all__ = ["DEFAULT_PATH", "SQLiteStore"]

log = logging.getLogger("taskbeam.store")
_logger = log  # for methods with a parameter named log
T = TypeVar("T")
DEFAULT_PATH = Path(".taskbeam") / "runs.db"
SCHEMA_VERSION = 3
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
]

# A run whose log grows past this many batches is compacted into one.
COMPACT_AFTER = 64

_STOP = object()
_CHECKPOINT = object()


SQLITE_HEADER = b"SQLite format 3\x00"


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _journal_wal(conn: sqlite3.Connection, timeout: float) -> str:
    """Switch to WAL (a no-op on a WAL file) and return the journal mode.

    SQLite answers "database is locked" here without calling its busy
    handler while another process recovers the WAL a killed writer left, or
    holds the lock that switching needs: try again, with backoff, for up to
    ``timeout`` seconds, as the busy handler would.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            mode: str = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            return mode
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that cannot write or create anything (``mode=ro`` URI).

    A WAL database on read-only media, whose ``-shm`` cannot be made, is
    opened ``immutable`` instead (nothing can change it there).
    """
    uri = path.absolute().as_uri()
    for query in ("?mode=ro", "?mode=ro&immutable=1"):
        conn = sqlite3.connect(
            uri + query, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            conn.close()
            if "unable to open" in str(exc).lower() and query == "?mode=ro":
                continue
            raise
        return conn
    raise sqlite3.OperationalError(f"unable to open {path} read-only")


def _create_private(path: Path) -> None:
    """Create a new database file readable by its owner only (0600); SQLite
    gives its ``-wal`` and ``-shm`` the same mode. An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _header_problem(path: Path) -> str | None:
    """Why ``path`` is not a file SQLite could use as a store, or None (absent, empty or SQLite)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "it is a folder"
    except OSError as exc:
        return f"it cannot be read ({exc})"
    if head and head != SQLITE_HEADER:
        return "it is not an SQLite database"
    return None


class SQLiteStore:
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
        problem = _header_problem(self.path)
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
            with contextlib.closing(_connect_readonly(self.path, self.busy_timeout)) as conn:
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
            if isinstance(exc, sqlite3.OperationalError) and not _looks_corrupt(exc):
                raise
            problem = _header_problem(self.path)
            if problem is not None:  # only SQLite databases are ever moved aside
                raise StoreError(
                    f"{self.path} is not a taskbeam store: {problem}. It was left as it is."
                ) from exc
            self._quarantine(exc)
            conn = self._open_checked()
        return conn

    def _open_checked(self) -> sqlite3.Connection:
        _create_private(self.path)
        conn = _connect(self.path, self.busy_timeout)
        try:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only a new file takes it
            mode = _journal_wal(conn, self.busy_timeout)
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
            _rollback(conn)
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
                    future.set_exception(_store_error(self.path, exc))

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
                done.set_exception(_store_error(self.path, exc))
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
            _rollback(conn)
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
                _rollback(conn)
                self._logs.clear()
                future.set_exception(_store_error(self.path, exc))
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

    # -- writing (called by runs) -------------------------------------------
    def create_run(
        self,
        record: RunRecord,
        structure: Sequence[Any] | str,
        keep: Iterable[str] | None = None,
    ) -> concurrent.futures.Future[Saved]:
        """Record a new or resumed run and its graph, before any node starts.

        ``structure`` is the graph as ``[(node_id, [dependency ids], [tags]), ...]``,
        or that list already encoded as JSON text.

        A new run starts with an empty log. For a resumed run (``keep`` given)
        the log is compacted to the rows of the nodes named in ``keep``: the
        others run again. Returns what the run's log now holds (see :class:`Saved`).
        """
        keep_set = None if keep is None else set(keep)
        text = structure if isinstance(structure, str) else orjson.dumps(structure).decode()

        def write(conn: sqlite3.Connection) -> Saved:
            _upsert_run(conn, record)
            self._lease(conn, record)
            batches: dict[int, int] = {}
            if keep_set is None:
                for table in ("structure", "batches", "results"):
                    conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (record.id,))
            else:
                conn.execute("DELETE FROM structure WHERE run_id = ? AND parent = ''", (record.id,))
                batches = _compact(conn, record.id, keep_set, reused=True)
            self._logs[record.id] = dict(batches)
            conn.execute(  # the checksum of the log as it is now
                "UPDATE runs SET checksum = ? WHERE id = ?", (log_digest(batches), record.id)
            )
            conn.execute(
                "INSERT INTO structure (run_id, parent, nodes) VALUES (?, '', ?)",
                (record.id, text),
            )
            self._wrote(len(text))
            return Saved(0, batches, replace=True)

        return self.submit(write)

    def save(
        self,
        record: RunRecord,
        batch: dict[str, Any],
        structures: Sequence[tuple[str, Sequence[Any]]] = (),
        live: Iterable[str] | None = None,
        log: Mapping[int, int] | None = None,
    ) -> concurrent.futures.Future[Saved]:
        """Append changed nodes to the run's log; update the run row and sub-graphs.

        ``batch`` holds the changed nodes as columns (see
        :mod:`taskbeam.store._log`); it is encoded, results included, here on
        the writer thread. A result
        the serializer refuses is stored as its preview only. With ``live``
        (the ids of every node of the run), rows and sub-graphs of other nodes,
        left from before a resume, are dropped. With ``log`` (the run's log as
        the caller knows it, ``{seq: crc32}``), the run row's checksum is
        updated to that of the log with this save in it: the log as stored,
        which the writer keeps track of itself (the caller's view may lack
        saves still queued). Returns how many results were refused and the
        checksums of the batches written (see :class:`Saved`).
        """
        serializer = self.serializer
        run_id = record.id
        live_set = None if live is None else set(live)
        keep_checksum = log is not None

        def write(conn: sqlite3.Connection) -> Saved:
            _upsert_run(conn, record)
            self._lease(conn, record)
            before = self._log_of(conn, run_id) if keep_checksum else {}
            saved = append(conn)
            if keep_checksum:
                after = saved.batches if saved.replace else {**before, **saved.batches}
                self._logs[run_id] = after
                conn.execute(
                    "UPDATE runs SET checksum = ? WHERE id = ?", (log_digest(after), run_id)
                )
            return saved

        def append(conn: sqlite3.Connection) -> Saved:
            if structures:
                texts = [(run_id, p, orjson.dumps(nodes).decode()) for p, nodes in structures]
                conn.executemany(
                    "INSERT OR REPLACE INTO structure (run_id, parent, nodes) VALUES (?, ?, ?)",
                    texts,
                )
                self._wrote(sum(len(t[2]) for t in texts))
            written: dict[int, int] = {}
            count = 0
            if batch["id"]:  # a save with no changed node only updates the run row
                data, side, refused = encode(batch, serializer)
                if refused:
                    reasons = batch.get("refused", {})
                    _logger.info(  # a documented outcome, not a failure: the row says why
                        "run %s: %d result(s) kept as previews only, not reusable on resume: %s",
                        run_id,
                        refused,
                        "; ".join(f"{n}: {why}" for n, why in list(reasons.items())[:5]),
                    )
                if side:
                    conn.executemany(
                        "INSERT OR REPLACE INTO results (run_id, node_id, data, format) "
                        "VALUES (?, ?, ?, ?)",
                        [(run_id, *item) for item in side],
                    )
                    self._wrote(sum(len(item[1]) for item in side))
                count, last = conn.execute(
                    "SELECT count(*), coalesce(max(seq), 0) FROM batches WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                conn.execute(
                    "INSERT INTO batches (run_id, seq, nodes) VALUES (?, ?, ?)",
                    (run_id, last + 1, data),
                )
                self._wrote(len(data))
                written[last + 1] = zlib.crc32(data)
                count += 1
            else:
                refused = 0
            if live_set is not None:  # one statement per stale row: no variable limit
                current = {p for p, _ in structures}
                stale = [
                    (run_id, p)
                    for (p,) in conn.execute(
                        "SELECT parent FROM structure WHERE run_id = ? AND parent != ''",
                        (run_id,),
                    )
                    if p not in current
                ]
                conn.executemany("DELETE FROM structure WHERE run_id = ? AND parent = ?", stale)
                return Saved(refused, _compact(conn, run_id, live_set), replace=True)
            if count > COMPACT_AFTER:
                return Saved(refused, _compact(conn, run_id, None), replace=True)
            return Saved(refused, written, replace=False)

        return self.submit(write)

    def _log_of(self, conn: sqlite3.Connection, run_id: str) -> dict[int, int]:
        """The run's log as stored (writer thread): remembered, or read again when
        the stored log is not the one remembered (another process wrote to it)."""
        known = self._logs.get(run_id)
        if known is not None:
            count, last = conn.execute(
                "SELECT count(*), coalesce(max(seq), 0) FROM batches WHERE run_id = ?", (run_id,)
            ).fetchone()
            if count != len(known) or last != max(known, default=0):
                known = None
        if known is None:
            known = self._logs[run_id] = {
                seq: zlib.crc32(blob)
                for seq, blob in conn.execute(
                    "SELECT seq, nodes FROM batches WHERE run_id = ?", (run_id,)
                )
            }
        return known

    def _lease(self, conn: sqlite3.Connection, record: RunRecord) -> None:
        """Hold the lease of a live run, drop an ended one's (writer thread; see _lease)."""
        touch(conn, record.id, record.status, self.leases.held)
        if self.leases.held:
            self.leases.started()

    # -- reading (any thread) -----------------------------------------------
    def _read(self) -> sqlite3.Connection:
        if self.readonly:
            return _connect_readonly(self.path, self.busy_timeout)
        if not self.path.exists():
            raise StoreError(f"no run store at {self.path}")
        return _connect(self.path, self.busy_timeout)

    def runs(self) -> list[StoredRunItem]:
        """Every stored run, newest first: id, name, status, counts, created, ended, project.

        A run whose row is damaged is still listed, with ``"damaged"`` saying what.
        """
        if self._empty:
            return []
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, name, status, counts, total, created, ended, error, options "
                "FROM runs ORDER BY created DESC"
            ).fetchall()
        out = []
        for rid, name, status, counts, total, created, ended, error, options in rows:
            item: StoredRunItem = {
                "id": str(rid),
                "name": str(name),
                "status": str(status),
                "counts": {},
                "total": total,
                "created": created,
            }
            try:
                item["counts"] = dict(orjson.loads(counts))
                project = orjson.loads(options).get("project")
                float(created)
            except DECODE_ERRORS as exc:
                item["damaged"] = f"its row of table runs is damaged ({type(exc).__name__}: {exc})"
                item["created"] = created if isinstance(created, float) else 0.0
                project = None
            if project is not None:
                item["project"] = project
            if ended is not None:
                item["ended"] = ended
            if error:
                item["error"] = error
            out.append(item)
        return self._judged(out)

    def load(self, run_id: str) -> dict[str, Any]:
        """The saved snapshot of a run, in the shape of ``run.snapshot()``.

        Raises
        ------
        KeyError
            No such run.
        StoreError
            Its rows are damaged, or its log disagrees with its checksum (the
            message names the rows; see :meth:`accept`).
        """
        if self._empty:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        with self._reading(run_id) as conn:
            snap = load_snapshot(conn, run_id, self.path)
            judge(conn, [snap["run"]])
            # Typed as run.snapshot() is: plain data its callers edit freely.
            return cast("dict[str, Any]", snap)

    def _judged(self, items: list[StoredRunItem]) -> list[StoredRunItem]:
        """``items`` with the runs whose owner is gone marked ``interrupted`` (see _lease)."""
        if any(item["status"] in ("running", "paused") for item in items):
            with self._reading() as conn:
                judge(conn, items)
        return items

    def history(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        project: str | None = None,
    ) -> dict[str, Any]:
        """One page of stored runs, newest first (see :func:`taskbeam.store._stored.history`)."""
        with self._reading() as conn:
            return history(
                conn, name=name, status=status, cursor=cursor, limit=limit, project=project
            )

    def run_info(self, run_id: str) -> dict[str, Any]:
        """A run's row as :meth:`runs` lists it, with its ``options``; ``KeyError`` if unknown."""
        with self._reading() as conn:
            return run_info(conn, run_id)

    def stored_result(self, run_id: str, node_id: str) -> Any:
        """The stored result of one done node (see :func:`taskbeam.store._stored.result`)."""
        with self._reading() as conn:
            return stored_result(conn, run_id, node_id, self.serializer)

    def project(self, project_id: str) -> dict[str, Any] | None:
        """A server project as stored: graph, params, created (``None`` if not stored)."""
        with self._reading() as conn:
            return get_project(conn, project_id)

    def projects(self) -> list[dict[str, Any]]:
        """Every stored project, oldest first (see :func:`taskbeam.store._stored.list_projects`)."""
        with self._reading() as conn:
            return list_projects(conn)

    def save_project(self, project_id: str, graph: str, params: Any, created: float) -> None:
        """Store a server project (its graph's name and params), waiting for the commit."""
        self.submit(lambda conn: put_project(conn, project_id, graph, params, created)).result()

    def load_for_resume(self, run_id: str) -> dict[str, Any]:
        """Options; per done node, status, fingerprint and (deserialized) result;
        and the stored sub-graphs of expanded nodes, by parent id.

        Only results in this store's own format are decoded. A result that no
        longer loads (its class was renamed, say) is left out with a
        :class:`StoreRecoveryWarning`: its node runs again.

        Raises
        ------
        KeyError
            No such run.
        StoreError
            The run's rows are damaged or disagree with its checksum, or some
            results are in another format than this store's serializer.
        """
        if self._empty:
            raise KeyError(f"no run {run_id!r} in {self.path}")
        with self._reading(run_id) as conn:
            row = conn.execute(
                "SELECT options, checksum FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id!r} in {self.path}")
            log = read_log(conn, self.path, run_id, row[1])
            side = {
                node_id: (fmt, data)
                for node_id, fmt, data in conn.execute(
                    "SELECT node_id, format, data FROM results WHERE run_id = ?", (run_id,)
                )
            }
            structure_rows = conn.execute(
                "SELECT parent, nodes FROM structure WHERE run_id = ? AND parent != ''",
                (run_id,),
            ).fetchall()
        try:
            options = dict(orjson.loads(row[0]))
        except DECODE_ERRORS as exc:
            raise damaged(self.path, run_id, "its options (table runs) are damaged", exc) from exc
        structure = {}
        for parent, text in structure_rows:
            try:
                structure[parent] = orjson.loads(text)
            except DECODE_ERRORS as exc:
                what = f"its graph structure (table structure, parent {parent!r}) is damaged"
                raise damaged(self.path, run_id, what, exc) from exc
        mine = self.serializer.name
        todo: list[tuple[str, Any, bytes, Any]] = []  # node, fingerprint, data, crc in the log
        foreign: dict[str, list[str]] = {}
        nodes: dict[str, tuple[str, str | None, Any]] = {}
        try:
            for node_id, (b, i) in log.latest.items():
                batch = log.batches[b]
                fmt = batch["format"][i]
                if batch["status"][i] != "done" or fmt in (None, "preview"):
                    continue
                fingerprint = batch["fingerprint"][i]
                if fmt == "json":  # embedded in the log, which is JSON: safe for any store
                    nodes[node_id] = ("done", fingerprint, batch["result"][i])
                    continue
                stored, data = side.get(node_id, (fmt, None))
                if fmt != mine or stored != mine:
                    foreign.setdefault(str(fmt if fmt != mine else stored), []).append(node_id)
                elif isinstance(data, bytes):
                    todo.append((node_id, fingerprint, data, batch.get("crc", {}).get(node_id)))
        except DECODE_ERRORS as exc:
            raise damaged(self.path, run_id, "a node row of its log is damaged", exc) from exc
        if foreign:
            listed = "; ".join(
                f"{len(ids)} in format {fmt!r} ({', '.join(map(repr, ids[:5]))}"
                + (", …)" if len(ids) > 5 else ")")
                for fmt, ids in sorted(foreign.items())
            )
            raise damaged(
                self.path,
                run_id,
                f"results are stored in another format than this store's {mine!r}: {listed}. "
                "A store decodes only its own format; nothing of this run was loaded. Open it "
                "with that serializer only if nobody but you can write the file (loading a "
                "pickle runs code from it)",
            )
        changed = [n for n, _, data, crc in todo if crc is not None and zlib.crc32(data) != crc]
        if changed:
            raise damaged(
                self.path,
                run_id,
                f"the stored results of {', '.join(map(repr, changed[:10]))} (table results) "
                "do not match the checksums in its log: the database was changed outside "
                "taskbeam, or is damaged. Nothing of this run was loaded",
            )
        unloadable = []
        for node_id, fingerprint, data, _ in todo:
            try:
                nodes[node_id] = ("done", fingerprint, self.serializer.loads(data))
            except Exception as exc:  # whatever the serializer (or the class it calls) raises
                unloadable.append(f"{node_id!r} ({type(exc).__name__}: {exc})")
        if unloadable:
            warnings.warn(
                StoreRecoveryWarning(
                    f"run {run_id!r} in {self.path}: {len(unloadable)} stored result(s) no "
                    f"longer load; their nodes run again: {'; '.join(unloadable[:5])}"
                ),
                stacklevel=2,
            )
        return {"options": options, "done": nodes, "structure": structure}

    # -- questions (see store/_questions.py) ----------------------------------
    def save_question(self, run_id: str, question: dict[str, Any]) -> None:
        """Store a question as it is asked; it is committed when this returns.

        Raises :class:`StoreError` when the store is read-only, closed, or
        the write fails (a full disk, say).
        """
        row = question_row(question)
        self._write_now(lambda conn: put_question(conn, run_id, row))

    def save_answer(self, run_id: str, key: str, value: Any, by: str, at: float) -> None:
        """Store the answer to question ``key`` (``by``: person or default); committed on return."""
        row = answer_row(key, value, by, at)
        self._write_now(lambda conn: put_answer(conn, run_id, row))

    def _write_now(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        try:
            self.submit(fn).result()
        except StoreError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise _store_error(self.path, exc) from exc

    def questions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's questions in asked order (answered ones: ``answer``, ``by``, ``answered``)."""
        with self._reading(run_id) as conn:
            return read_questions(conn, run_id)

    def accept(self, run_id: str) -> str | None:
        """Accept a run's log as it is now: store its checksum in the run row.

        For a run that :meth:`load` or :meth:`load_for_resume` refused because
        its log disagrees with the checksum, once you have checked the
        database. Returns the new checksum.

        Raises
        ------
        KeyError
            No such run.
        """

        def write(conn: sqlite3.Connection) -> str | None:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise KeyError(f"no run {run_id!r} in {self.path}")
            self._logs.pop(run_id, None)
            digest = log_digest(self._log_of(conn, run_id))
            conn.execute("UPDATE runs SET checksum = ? WHERE id = ?", (digest, run_id))
            return digest

        return self.submit(write).result()

    def node_rows(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The stored row of every node of a run, by node id (results as stored);
        empty for a run that is not stored.

        Raises
        ------
        StoreError
            The run's log is damaged or disagrees with its checksum.
        """
        if self._empty:
            return {}
        with self._reading(run_id) as conn:
            row = conn.execute("SELECT checksum FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return {}
            log = read_log(conn, self.path, run_id, row[0])
        try:
            rows = log.rows()
        except DECODE_ERRORS as exc:
            raise damaged(self.path, run_id, "a node row of its log is damaged", exc) from exc
        return {node_id: dict(zip(FIELDS, r, strict=True)) for node_id, r in rows.items()}

    def verify(self, run_id: str, batches: dict[int, int], total: int) -> list[str]:
        """Read a run back and compare it with what was written; return the differences.

        ``batches`` maps each batch of the run's log to the CRC-32 of the bytes
        written (as :meth:`save` reported them), ``total`` is the number of
        nodes. An empty list means the stored run is exactly what was sent.
        """
        with self._reader_lock:
            try:
                row, stored = self._read_back(run_id)
            except sqlite3.Error as exc:
                self._drop_reader()  # the next read-back opens a new one
                raise _store_error(self.path, exc) from exc
        problems = []
        if row is None or row[0] != total:
            problems.append(f"node count {None if row is None else row[0]}, expected {total}")
        if stored != batches:
            bad = sorted(set(stored) ^ set(batches)) + sorted(
                s for s in set(stored) & set(batches) if stored[s] != batches[s]
            )
            problems.append(f"batches {bad} differ from what was written")
        return problems

    def _read_back(self, run_id: str) -> tuple[Any, dict[int, int]]:
        """The run's node count and ``{seq: crc32}`` of its log, in one read transaction.

        On a connection of its own, kept open while the store is (a new one
        would start with an empty page cache); the caller holds ``_reader_lock``.
        """
        conn = self._reader
        if conn is None:
            conn = self._read()
            if self._closed:  # closing now: do not keep it
                with contextlib.closing(conn):
                    return self._read_back_on(conn, run_id)
            self._reader = conn
        return self._read_back_on(conn, run_id)

    @staticmethod
    def _read_back_on(conn: sqlite3.Connection, run_id: str) -> tuple[Any, dict[int, int]]:
        conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT total FROM runs WHERE id = ?", (run_id,)).fetchone()
            stored = {
                seq: zlib.crc32(blob)
                for seq, blob in conn.execute(
                    "SELECT seq, nodes FROM batches WHERE run_id = ?", (run_id,)
                )
            }
        finally:
            conn.execute("COMMIT")
        return row, stored

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _close_reader(self) -> None:
        with self._reader_lock:
            self._drop_reader()

    @contextlib.contextmanager
    def _reading(self, run_id: str | None = None) -> Iterator[sqlite3.Connection]:
        """A connection in one read transaction: every query sees the same commit
        (a run row and the log its checksum covers, even while the writer saves)."""
        try:
            conn = self._read()
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc, run_id) from exc
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _read_error(self.path, exc, run_id) from exc
        finally:
            conn.close()

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

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file (idempotent)."""
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


def _upsert_run(conn: sqlite3.Connection, r: RunRecord) -> None:
    conn.execute(
        "INSERT INTO runs (id, name, status, options, created, ended, counts, total, checksum, "
        "error, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name, status = excluded.status, "
        "options = excluded.options, ended = excluded.ended, counts = excluded.counts, "
        "total = excluded.total, checksum = excluded.checksum, error = excluded.error, "
        "updated = excluded.updated",
        (
            r.id,
            r.name,
            r.status,
            orjson.dumps(r.options).decode(),
            r.created,
            r.ended,
            orjson.dumps(r.counts).decode(),
            r.total,
            r.checksum,
            r.error,
            time.time(),
        ),
    )


def _compact(
    conn: sqlite3.Connection, run_id: str, keep: set[str] | None, reused: bool = False
) -> dict[int, int]:
    """Replace a run's log by one batch of its latest rows (only ``keep``, if given).

    ``reused``: the run is being continued, its kept rows are marked reused.
    Returns the new log's ``{seq: crc32}``.
    """
    data = Log.read(conn, run_id).compact(keep, reused)
    if keep is not None:
        stale = [
            (run_id, n)
            for (n,) in conn.execute("SELECT node_id FROM results WHERE run_id = ?", (run_id,))
            if n not in keep
        ]
        conn.executemany("DELETE FROM results WHERE run_id = ? AND node_id = ?", stale)
    conn.execute("DELETE FROM batches WHERE run_id = ?", (run_id,))
    if data is None:
        return {}
    conn.execute("INSERT INTO batches (run_id, seq, nodes) VALUES (?, 1, ?)", (run_id, data))
    return {1: zlib.crc32(data)}


def _serializer(spec: str | Serializer) -> Serializer:
    if spec == "json":
        return JSONSerializer()
    if spec == "pickle":
        return PickleSerializer()
    if isinstance(spec, str):
        raise ValueError(f"serializer must be 'json', 'pickle' or a Serializer, not {spec!r}")
    return spec


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # no transaction was open
        conn.execute("ROLLBACK")


def _looks_corrupt(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _read_error(path: Path, exc: sqlite3.Error, run_id: str | None) -> StoreError:
    """What a failed read says: which run, and why (the text of SQLite's error, shortened)."""
    text = str(exc)
    if len(text) > 300:
        text = text[:300] + "…"
    lower = text.lower()
    what = "the store" if run_id is None else f"run {run_id!r}"
    if "locked" in lower or "busy" in lower:
        hint = "another process held the database's lock past the busy timeout"
    elif "unable to open" in lower:
        hint = "the file cannot be opened"
    else:
        hint = "the database is damaged"
    error = StoreError(f"{what} in {path} cannot be read: {hint} ({type(exc).__name__}: {text})")
    error.__cause__ = exc
    return error


def _store_error(path: Path, exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    lower = text.lower()
    if "full" in lower:
        hint = "the disk (or the database's size limit) is full"
    elif "readonly" in lower or "read-only" in lower or "permission" in lower:
        hint = "the database or its folder is read-only"
    elif "locked" in lower or "busy" in lower:
        hint = "another process held the database's write lock past the busy timeout"
    else:
        hint = "the database could not be written"
    error = StoreError(f"{hint} ({path}): {text}")
    error.__cause__ = exc
    return error
