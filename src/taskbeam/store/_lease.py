"""Leases: which process owns a running run, and whether it still lives.

A run that is ``running`` or ``paused`` in the store has a lease: the
owner's pid, host name and process start time, and when the lease was last
renewed. The lease is written in the same transaction as the run's
creation and refreshed by every save; a store whose runs make no save for a
while renews the leases of the runs it owns every ``RENEW`` seconds (one
``UPDATE`` on the writer thread, whatever the number of runs). A terminal
save drops the lease.

Reading a run back (``store.runs()``, ``store.load()``) turns a stored
``running``/``paused`` status into ``interrupted`` when

* there is no lease (the run was stored by a version without leases), or
* the lease expired (not renewed for ``TTL`` seconds), or
* the owner was on this host and is gone: no process has its pid, or the
  process with that pid started at another time (a reused pid).

The stored status itself is never rewritten: continuing the run (see
:func:`taskbeam.continue_run`) replaces it.

Threading: :func:`touch` and :func:`renew` run on the store's writer thread
(inside its transactions); :func:`judge` on any thread, on a read connection.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from taskbeam._schema import RunFields, StoredRunItem

__all__ = ["RENEW", "TTL", "LeaseKeeper", "Owner", "judge", "owner", "renew", "touch"]

# What judge() marks: stored runs as listed, a snapshot's run fields, or plain dicts.
Judged = TypeVar("Judged", StoredRunItem, RunFields, dict[str, Any])
T = TypeVar("T")


class Writer(Protocol):
    """What the lease keeper needs of its store (``SQLiteStore`` is one)."""

    @property
    def path(self) -> Path: ...

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]: ...


# Seconds a lease stays valid after its last renewal.
TTL = 30.0
# Seconds between renewals of the leases a store holds (when its runs make no save).
RENEW = 10.0
LIVE = ("running", "paused")

# Columns of the run row (no table of its own: a new table costs pages in
# every database, and the run row is written by every save anyway).
MIGRATION = """
    ALTER TABLE runs ADD COLUMN lease_pid INTEGER;
    ALTER TABLE runs ADD COLUMN lease_host TEXT;
    ALTER TABLE runs ADD COLUMN lease_started TEXT;
    ALTER TABLE runs ADD COLUMN lease_renewed REAL;
    ALTER TABLE runs ADD COLUMN lease_ttl REAL;
"""


class Owner(NamedTuple):
    """A process: its pid, its host's name and its start time (``None`` if unknown)."""

    pid: int
    host: str
    started: str | None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as an opaque string; ``None`` if unknown or gone.

    On Linux, field 22 of ``/proc/<pid>/stat`` (clock ticks after boot) with
    the boot id, so two processes that shared a pid never compare equal.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 20:
        return None
    return f"{_boot_id()}:{fields[19].decode()}"


@functools.cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


@functools.cache
def _owner(pid: int) -> Owner:
    return Owner(pid, socket.gethostname(), process_start(pid))


def owner() -> Owner:
    """This process (after a fork, the child)."""
    return _owner(os.getpid())


def alive(who: Owner) -> bool | None:
    """Whether ``who`` still runs: ``None`` when it cannot be told from here (another host)."""
    if who.host != socket.gethostname():
        return None
    try:
        os.kill(who.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists: someone else's process
        return _same_start(who)
    except OSError:
        return None
    return _same_start(who)


def _same_start(who: Owner) -> bool:
    """Whether the process with ``who``'s pid started when ``who`` did (not a reused pid)."""
    if who.started is None:
        return True
    now = process_start(who.pid)
    return now is None or now == who.started


def touch(conn: sqlite3.Connection, run_id: str, status: str, held: set[str]) -> None:
    """After a run row was written: hold the lease of a live run, drop that of an ended one."""
    if status in LIVE:
        me = owner()
        conn.execute(
            "UPDATE runs SET lease_pid = ?, lease_host = ?, lease_started = ?, "
            "lease_renewed = ?, lease_ttl = ? WHERE id = ?",
            (me.pid, me.host, me.started, time.time(), TTL, run_id),
        )
        held.add(run_id)
    else:
        conn.execute(
            "UPDATE runs SET lease_pid = NULL, lease_host = NULL, lease_started = NULL, "
            "lease_renewed = NULL, lease_ttl = NULL WHERE id = ?",
            (run_id,),
        )
        held.discard(run_id)


def renew(conn: sqlite3.Connection, held: Iterable[str]) -> None:
    """Renew the leases of ``held`` that this process still owns."""
    ids = list(held)
    me = owner()
    now = time.time()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        conn.execute(
            f"UPDATE runs SET lease_renewed = ? WHERE lease_pid = ? AND lease_host = ? AND id IN "
            f"({', '.join('?' * len(chunk))})",
            (now, me.pid, me.host, *chunk),
        )


def judge(conn: sqlite3.Connection, items: list[Judged]) -> list[Judged]:
    """Set ``status`` to ``interrupted`` on the live-looking runs of ``items`` whose owner is gone.

    ``items`` are run dicts with ``id`` and ``status``; an interrupted one also
    gets ``stored_status`` (what the row says). Returns ``items``.
    """
    live = [item for item in items if item["status"] in LIVE]
    if not live:
        return items
    leases: dict[str, tuple[Any, ...]] = {}
    # A file of an older schema, opened without migrating, has no lease columns.
    with contextlib.suppress(sqlite3.OperationalError):
        ids = [item["id"] for item in live]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in conn.execute(
                "SELECT id, lease_pid, lease_host, lease_started, lease_renewed, lease_ttl "
                f"FROM runs WHERE lease_pid IS NOT NULL AND id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ):
                leases[row[0]] = row[1:]
    now = time.time()
    verdicts: dict[Owner, bool | None] = {}
    for item in live:
        lease = leases.get(item["id"])
        gone = True
        if lease is not None:
            pid, host, started, renewed, ttl = lease
            who = Owner(pid, host, started)
            if who not in verdicts:
                verdicts[who] = alive(who)
            gone = renewed + ttl < now or verdicts[who] is False
        if gone:
            item["stored_status"] = item["status"]
            item["status"] = "interrupted"
    return items


class LeaseKeeper:
    """Renews, every ``RENEW`` seconds, the leases one store holds; one daemon thread per store.

    The thread starts with the first lease and sleeps on an event, so a store
    with no live run costs nothing; a renewal is one ``UPDATE`` handed to the
    store's writer.
    """

    def __init__(self, store: Writer, interval: float = RENEW) -> None:
        self.store = store
        self.interval = interval
        self.held: set[str] = set()  # touched on the writer thread only
        self.renewals = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def started(self) -> None:
        """A lease was taken: make sure the renewing thread runs (writer thread)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._main, name=f"taskbeam-lease-{self.store.path.name}", daemon=True
                )
                self._thread.start()

    def _main(self) -> None:
        while not self._stop.wait(self.interval):
            ids = self.held.copy()  # one C-level step: the writer thread changes the set
            if not ids:
                continue
            if self.store.submit(functools.partial(renew, held=ids)).exception() is not None:
                return  # the store closed meanwhile: nothing is held any more
            self.renewals += 1

    def stop(self) -> None:
        self._stop.set()
