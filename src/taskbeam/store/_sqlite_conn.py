"""The SQLite file under a store: connections, file checks, and what a failed
read or write says (see :mod:`taskbeam.store._sqlite`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from taskbeam.store._base import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def journal_wal(conn: sqlite3.Connection, timeout: float) -> str:
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


def connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
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


def create_private(path: Path) -> None:
    """Create a new database file readable by its owner only (0600); SQLite
    gives its ``-wal`` and ``-shm`` the same mode. An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def header_problem(path: Path) -> str | None:
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


def rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # no transaction was open
        conn.execute("ROLLBACK")


def looks_corrupt(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def read_error(path: Path, exc: sqlite3.Error, run_id: str | None) -> StoreError:
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


def store_error(path: Path, exc: BaseException) -> StoreError:
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
