"""The reads of :class:`~taskbeam.store._sqlite.SQLiteStore` (any thread): each
on a short-lived connection of its own in one read transaction, beside the
writer (WAL); the read-back of final saves keeps one connection open."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson

from taskbeam._schema import StoredRunItem
from taskbeam.store._base import (
    DECODE_ERRORS,
    StoreError,
    StoreRecoveryWarning,
    damaged,
    load_snapshot,
    read_log,
)
from taskbeam.store._lease import judge
from taskbeam.store._log import FIELDS
from taskbeam.store._questions import read_questions
from taskbeam.store._serialize import Serializer
from taskbeam.store._sqlite_conn import connect, connect_readonly, read_error, store_error
from taskbeam.store._stored import get_project, history, list_projects, run_info
from taskbeam.store._stored import result as stored_result


class Reads:
    """The reading half of :class:`~taskbeam.store._sqlite.SQLiteStore` (a mixin)."""

    path: Path
    serializer: Serializer
    busy_timeout: float
    readonly: bool
    _closed: bool
    _empty: bool
    _reader: sqlite3.Connection | None
    _reader_lock: threading.Lock

    def _read(self) -> sqlite3.Connection:
        if self.readonly:
            return connect_readonly(self.path, self.busy_timeout)
        if not self.path.exists():
            raise StoreError(f"no run store at {self.path}")
        return connect(self.path, self.busy_timeout)

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
        try:
            metrics = log.metrics()
        except DECODE_ERRORS as exc:
            raise damaged(self.path, run_id, "the metrics of its log are damaged", exc) from exc
        return {"options": options, "done": nodes, "structure": structure, "metrics": metrics}

    def questions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's questions in asked order (answered ones: ``answer``, ``by``, ``answered``)."""
        with self._reading(run_id) as conn:
            return read_questions(conn, run_id)

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
                raise store_error(self.path, exc) from exc
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
            raise read_error(self.path, exc, run_id) from exc
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise read_error(self.path, exc, run_id) from exc
        finally:
            conn.close()
