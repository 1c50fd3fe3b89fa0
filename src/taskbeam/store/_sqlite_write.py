"""The writes of :class:`~taskbeam.store._sqlite.SQLiteStore`: what each piece
of work handed to the writer thread does in its transaction (a run's creation,
its saves and their compaction, the checksum of its log, questions, answers and
projects). The writer thread itself, which runs them, is in :mod:`._sqlite`."""

from __future__ import annotations

import concurrent.futures
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from taskbeam.store._base import RunRecord, Saved, StoreError, log_digest
from taskbeam.store._lease import LeaseKeeper, touch
from taskbeam.store._log import Log, encode
from taskbeam.store._questions import answer_row, put_answer, put_question, question_row
from taskbeam.store._serialize import Serializer
from taskbeam.store._sqlite_conn import store_error
from taskbeam.store._stored import put_project

log = logging.getLogger("taskbeam.store")
_logger = log  # for methods with a parameter named log
T = TypeVar("T")

# A run whose log grows past this many batches is compacted into one.
COMPACT_AFTER = 64


class Writes:
    """The writing half of :class:`~taskbeam.store._sqlite.SQLiteStore` (a mixin:
    the store's writer thread runs what these hand to :meth:`submit`)."""

    path: Path
    serializer: Serializer
    leases: LeaseKeeper
    _logs: dict[str, dict[int, int]]

    if TYPE_CHECKING:

        def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]: ...

        def _wrote(self, size: int) -> None: ...

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

    def save_project(self, project_id: str, graph: str, params: Any, created: float) -> None:
        """Store a server project (its graph's name and params), waiting for the commit."""
        self.submit(lambda conn: put_project(conn, project_id, graph, params, created)).result()

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
            raise store_error(self.path, exc) from exc

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
