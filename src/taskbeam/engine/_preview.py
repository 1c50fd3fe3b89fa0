"""Short, safe text previews of arbitrary results, bounded in time and memory.

A preview must never raise, never be long, and never cost anyone but the
node that made the result: results can be anything (a 500 MB ``bytes``, a
DataFrame, a socket, an object whose ``__repr__`` is slow, huge or broken).

Two formatters share one bounded walk (at most 8 items per container, 6
levels deep, one character budget for the whole walk; ``str`` and ``bytes``
are cut before they are formatted; dicts and sets are never sorted; a huge
``int`` is described, not printed; dataclasses and namedtuples with their
generated ``__repr__`` are walked field by field):

* :func:`preview` runs no user code: a value it cannot format itself (an
  object of a type with its own ``__repr__``) is shown by its type only,
  ``<Model object>``. It is what the run's and the broadcaster's threads
  call, so a result can never stall them.
* :func:`preview_then` makes both previews of a result that needs user code
  (the short one of the snapshot and the longer one of ``details``) once,
  where the result is produced: on the calling thread (a sync task's own
  worker) or on a reused daemon preview thread (:class:`_Pool`). One
  watchdog thread gives up on a ``__repr__`` after :data:`REPR_SECONDS`: the
  previews then say it took too long, and its thread finishes on its own.
  :func:`needs_previews` and :func:`safe_preview` tell, cheaply, whether a
  value needs this at all.

Threads: every function here may be called from any thread; the pool and
the watchdog keep their own locks.
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import dataclasses
import heapq
import itertools
import queue
import reprlib
import threading
import time
from collections.abc import Callable
from itertools import islice
from typing import Any, NamedTuple

__all__ = [
    "CHEAP_TYPES",
    "DETAIL_CHARS",
    "PREVIEW_CHARS",
    "REPR_SECONDS",
    "Previewed",
    "needs_previews",
    "preview",
    "previews",
    "preview_then",
    "previews_of",
    "register",
    "safe_preview",
    "submit_preview",
]

PREVIEW_CHARS = 120
DETAIL_CHARS = 4000
REPR_SECONDS = 1.0
_PLAIN = frozenset({bool, int, float})
_PLAIN_OR_NONE = _PLAIN | {type(None)}
_SAFE_NUMBERS = frozenset({float, complex, bool, type(None), type(...), type(NotImplemented)})
_INT_BITS = 1000  # past this an int is described by its size (its repr is quadratic)

# The code objects of the __repr__ that namedtuple and dataclass generate (shared
# by every class they make): a preview of such a value walks its fields itself.
_NAMEDTUPLE_REPR = collections.namedtuple("_NamedTuple", "a").__repr__.__code__


@dataclasses.dataclass
class _DataClass:
    a: int


_DATACLASS_REPR = getattr(_DataClass.__repr__, "__code__", None)

# Types outside this module whose preview is known without user code (RemoteResult).
_KNOWN: dict[type, Callable[[Any], str]] = {}


def register(cls: type, text: Callable[[Any], str]) -> None:
    """Preview instances of ``cls`` with ``text(value)`` (must be cheap and never raise)."""
    _KNOWN[cls] = text


class Previewed(NamedTuple):
    """A result with its two previews, made where the result was produced."""

    value: Any
    preview: str
    detail: str | None  # None: made when asked for (it needs no user code)


class _UserCode(Exception):
    """The value's preview would run user code."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Bounded(reprlib.Repr):
    """``reprlib`` with every path bounded; ``user`` decides whether user ``__repr__`` runs."""

    def __init__(self, limit: int, user: bool) -> None:
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = limit
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 8
        self.maxdeque = self.maxarray = self.maxdict = 8
        self.user = user
        self.limit = limit
        self.spent = 0

    def repr1(self, x: Any, level: int) -> str:
        # One budget for the whole walk: 8 items a level, 6 levels, could
        # otherwise still make 8**6 pieces of ``limit`` characters each.
        if self.spent > self.limit:
            return self.fillvalue
        text = self._one(x, level)
        self.spent += len(text)
        return text

    def _one(self, x: Any, level: int) -> str:
        cls = type(x)
        if cls in _SAFE_NUMBERS:
            return builtins.repr(x)
        if isinstance(x, str):
            return builtins.repr(str.__getitem__(x, slice(0, self.maxstring)))[: self.maxstring]
        if isinstance(x, (bytes, bytearray)):
            # A slice (never the whole buffer), by the base type's own __getitem__.
            cut = slice(0, self.maxstring)
            head = (
                bytes.__getitem__(x, cut)
                if isinstance(x, bytes)
                else bytes(bytearray.__getitem__(x, cut))
            )
            return _cut(
                f"{cls.__name__}({head!r})" if cls is not bytes else repr(head), self.maxstring
            )
        if isinstance(x, memoryview):
            return f"<memoryview of {x.nbytes} bytes>"
        if cls is int:
            if x.bit_length() > _INT_BITS:
                return f"<int of {x.bit_length()} bits>"
            return builtins.repr(x)
        known = _KNOWN.get(cls)
        if known is not None:
            return known(x)
        data = _DATA.get((cls.__module__, cls.__qualname__))
        if data is not None:
            return data(x, self.limit)
        if cls in (list, tuple, dict, set, frozenset) or cls.__module__ in ("collections", "array"):
            return super().repr1(x, level)
        if cls is range:
            return builtins.repr(x)
        rep: Any = cls.__repr__
        if rep is object.__repr__:  # no __repr__ of its own: nothing to call
            return f"<{cls.__module__}.{cls.__qualname__} object at {id(x):#x}>"
        code = getattr(rep, "__code__", None)
        if code is not None:
            if code is _NAMEDTUPLE_REPR and isinstance(x, tuple):
                return self._fields(x, level, cls.__name__, x._fields)  # type: ignore[attr-defined]
            if code is _DATACLASS_REPR and dataclasses.is_dataclass(x):
                names = [f.name for f in dataclasses.fields(x) if f.repr]
                return self._fields(x, level, cls.__qualname__, names)
        return self.repr_instance(x, level)

    def _fields(self, x: Any, level: int, name: str, fields: Any) -> str:
        """``Name(a=..., b=...)`` as a namedtuple's or a dataclass's own ``__repr__`` makes it."""
        if level <= 0:
            return f"{name}({self.fillvalue})"
        pieces = [f"{f}={self.repr1(getattr(x, f), level - 1)}" for f in islice(fields, 8)]
        if len(fields) > 8:
            pieces.append(self.fillvalue)
        return f"{name}({', '.join(pieces)})"

    def repr_dict(self, x: Any, level: int) -> str:
        n = len(x)
        if n == 0:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in islice(x.items(), self.maxdict)
        ]
        if n > self.maxdict:
            pieces.append(self.fillvalue)
        return "{" + ", ".join(pieces) + "}"

    def _items(self, x: Any, level: int, left: str, right: str, most: int) -> str:
        if level <= 0:
            return left + self.fillvalue + right
        pieces = [self.repr1(item, level - 1) for item in islice(x, most)]
        if len(x) > most:
            pieces.append(self.fillvalue)
        return left + ", ".join(pieces) + right

    def repr_set(self, x: Any, level: int) -> str:
        if not x:
            return "set()"
        return self._items(x, level, "{", "}", self.maxset)

    def repr_frozenset(self, x: Any, level: int) -> str:
        if not x:
            return "frozenset()"
        return self._items(x, level, "frozenset({", "})", self.maxfrozenset)

    def repr_instance(self, x: Any, level: int) -> str:
        if not self.user:
            raise _UserCode
        try:
            text = builtins.repr(x)
        except BaseException as exc:  # a broken __repr__ must not break the run
            return (
                f"<{type(x).__name__} instance at {id(x):#x} (repr failed: {type(exc).__name__})>"
            )
        return _cut(text if isinstance(text, str) else "", self.maxother)


# -- arrays and frames: their own repr formats every value it shows (milliseconds for a
# chunk of a Dask array), so they are previewed here, from a few values, in microseconds.
_VALUE_KINDS = frozenset("biufcmMSU")  # numpy dtype kinds whose values are plain Python data


def _head(values: Any, count: int, limit: int) -> str:
    """The first ``count`` items of a flat numpy array, as a Python list shows them."""
    items = values[:count].tolist()
    text = ", ".join(_cut(repr(v), limit) for v in items)
    return text + (", …" if len(values) > count else "")


def _ndarray_text(x: Any, limit: int) -> str:
    dtype = x.dtype
    plain = dtype.kind in _VALUE_KINDS and dtype.fields is None
    if x.ndim == 0:
        value = _cut(repr(x.item()), limit) if plain else "…"
        return f"array({value}, dtype={dtype})"
    head = f"array(shape={x.shape}, dtype={dtype})"
    if not plain:
        return head
    count = max(4, min(limit // 12, 500))
    return f"{head} [{_head(x.reshape(-1)[: count + 1], count, limit)}]"


def _series_values(x: Any, count: int, limit: int) -> str:
    dtype = getattr(x, "dtype", None)
    if getattr(dtype, "kind", "O") not in _VALUE_KINDS:
        return ""
    first = x.iloc[: count + 1] if hasattr(x, "iloc") else x[: count + 1]
    return f" [{_head(first.to_numpy(), count, limit)}]"


def _frame_text(x: Any, limit: int) -> str:
    rows, cols = x.shape
    shown = max(2, min(limit // 16, 50))
    columns = ", ".join(
        f"{_cut(str(name), 40)}: {dtype}" for name, dtype in islice(x.dtypes.items(), shown)
    )
    more = ", …" if cols > shown else ""
    return f"DataFrame {rows}×{cols} [{columns}{more}]"


def _series_text(x: Any, limit: int) -> str:
    name = "" if x.name is None else f" {_cut(repr(x.name), 40)}"
    count = max(4, min(limit // 12, 200))
    return f"Series{name} {len(x)} {x.dtype}{_series_values(x, count, limit)}"


def _index_text(x: Any, limit: int) -> str:
    count = max(4, min(limit // 12, 200))
    return f"{type(x).__name__} {len(x)} {x.dtype}{_series_values(x, count, limit)}"


_DATA: dict[tuple[str, str], Callable[[Any, int], str]] = {
    ("numpy", "ndarray"): _ndarray_text,
    ("pandas", "DataFrame"): _frame_text,
    ("pandas", "Series"): _series_text,
    ("pandas", "Index"): _index_text,
    ("pandas", "RangeIndex"): _index_text,
}


def _by_type(value: Any) -> str:
    cls = type(value)
    if cls in (list, tuple, dict, set, frozenset):
        return f"<{cls.__name__} of {len(value)} items>"
    shape = (
        getattr(value, "shape", None) if cls.__module__.startswith(("numpy", "pandas")) else None
    )
    size = f" of shape {shape!r}" if isinstance(shape, tuple) else ""
    return f"<{cls.__qualname__} object{size}>"


def _format(value: Any, limit: int, user: bool) -> str:
    try:
        text = _Bounded(limit, user).repr(value)  # one per call: it counts what it made
    except _UserCode:
        raise
    except BaseException as exc:  # e.g. a dataclass field that is a property that raises
        text = f"<{type(value).__qualname__} (repr failed: {type(exc).__name__})>"
    return _cut(text, limit)


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A bounded ``repr(value)`` of at most ``limit`` characters, with ``…`` when cut.

    Runs no user code: a value that would need its own ``__repr__`` is
    shown by its type (see :func:`previews_of` for the real thing).

    Examples
    --------
    >>> preview([1, 2, 3])
    '[1, 2, 3]'
    >>> len(preview("x" * 1000)) <= 120
    True
    >>> preview(b"x" * 10**6)[:12]
    "b'xxxxxxxxxx"
    """
    cls = type(value)
    if value is None or cls is float or cls is bool:  # the common cases, without reprlib
        return repr(value)
    if cls is int and value.bit_length() <= _INT_BITS:
        return repr(value)
    try:
        return _format(value, limit, user=False)
    except _UserCode:
        return _cut(_by_type(value), limit)


def previews(values: list[Any]) -> list[str]:
    """``[preview(v) for v in values]``, in one C-level pass when all are plain."""
    if _PLAIN_OR_NONE.issuperset(map(type, values)) and all(
        type(v) is not int or v.bit_length() <= _INT_BITS for v in values
    ):
        return list(map(repr, values))
    return [preview(v) for v in values]


# Values of these types are previewed cheaply, with no user code, whenever
# asked: nothing to do where they are produced.
_CHEAP = frozenset({type(None), bool, float, complex, str, bytes, bytearray, memoryview, range})


#: Result types that never need their previews made where they are produced.
CHEAP_TYPES = _CHEAP | {int}


def needs_previews(value: Any) -> bool:
    """Whether ``value``'s previews may need user code, so must be made where it is produced.

    False for plain values (None, numbers, ``str``, ``bytes``) and the types
    :func:`register` knows: their previews are cheap whenever asked for.
    Containers and other objects are checked by :func:`safe_preview`.
    """
    cls = type(value)
    return not (cls in _CHEAP or cls is int or cls in _KNOWN)


def safe_preview(value: Any) -> str | None:
    """The short preview of ``value`` if it needs no user code, else ``None`` (cheap)."""
    try:
        return _format(value, PREVIEW_CHARS, False)
    except _UserCode:
        return None


def previews_of(value: Any, seconds: float = REPR_SECONDS) -> Previewed:
    """``value`` with its previews, user ``__repr__`` included, within ``seconds``.

    Call it where the result is produced (a worker thread, or a thread of
    its own), never on a thread that others wait for: it may take up to
    ``seconds``. A value that needs no user code gets its short preview
    only (``detail`` is ``None``: the long one is made, cheaply, when asked for).
    """
    short = safe_preview(value)
    if short is not None:
        return Previewed(value, short, None)
    out: list[str] = []
    made_both = threading.Event()

    def both() -> None:
        out.append(_format(value, PREVIEW_CHARS, True))
        out.append(_format(value, DETAIL_CHARS, True))
        made_both.set()

    _POOL.submit(both)
    if made_both.wait(seconds):
        return Previewed(value, out[0], out[1])
    slow = f"<{type(value).__qualname__} (repr took longer than {seconds:g} s)>"
    return Previewed(value, _cut(slow, PREVIEW_CHARS), slow)


def preview_then(
    value: Any,
    deliver: Callable[[Previewed], None],
    seconds: float = REPR_SECONDS,
    here: bool = False,
) -> None:
    """Make ``value``'s previews, then ``deliver`` them.

    ``deliver(previewed)`` is called exactly once: with the previews, or,
    if the ``__repr__`` has not returned within ``seconds``, from the
    watchdog thread with previews that say so (the ``__repr__`` goes on,
    unseen). With ``here`` the previews are made on the calling thread
    (a task's own worker: it returns when the ``__repr__`` does), else on
    a preview thread (this returns at once).
    """
    once = _Once(deliver, value)

    def make() -> None:
        try:
            made = Previewed(
                value, _format(value, PREVIEW_CHARS, True), _format(value, DETAIL_CHARS, True)
            )
        except BaseException as exc:  # contained like any user code
            text = f"<{type(value).__qualname__} (repr failed: {type(exc).__name__})>"
            made = Previewed(value, _cut(text, PREVIEW_CHARS), text)
        once(made)

    # The watchdog keeps this for ``seconds``: it holds the value only through
    # the _Once, which drops everything once it has delivered.
    slow = f"<{type(value).__qualname__} (repr took longer than {seconds:g} s)>"

    def give_up() -> None:
        once.give_up(slow)

    _WATCHDOG.add(time.monotonic() + seconds, give_up)
    if here:
        make()
    else:
        _POOL.submit(make)


class _Once:
    """Delivers the first outcome, from whichever thread; ignores the rest.

    Once it has delivered it forgets the value and the callback, so the
    watchdog, which keeps it until the deadline, keeps no result alive.
    """

    __slots__ = ("_fn", "_lock", "_value")

    def __init__(self, fn: Callable[[Previewed], None], value: Any) -> None:
        self._fn: Callable[[Previewed], None] | None = fn
        self._value = value
        self._lock = threading.Lock()

    def __call__(self, made: Previewed) -> None:
        if self._lock.acquire(blocking=False):  # never released: a second call is a no-op
            fn, self._fn, self._value = self._fn, None, None
            assert fn is not None
            fn(made)

    def give_up(self, text: str) -> None:
        if self._lock.acquire(blocking=False):
            fn, value, self._fn, self._value = self._fn, self._value, None, None
            assert fn is not None
            fn(Previewed(value, _cut(text, PREVIEW_CHARS), text))


class _Watchdog:
    """One daemon thread that calls each registered function at its deadline."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._wake = threading.Condition()
        self._ticket = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, when: float, fn: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._due, (when, next(self._ticket), fn))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="taskbeam-preview-watchdog", daemon=True
                )
                self._thread.start()
            elif self._due[0][0] == when:  # a new earliest deadline (deadlines mostly rise)
                self._wake.notify()

    def _main(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, fn = heapq.heappop(self._due)
            with contextlib.suppress(BaseException):
                fn()


_WATCHDOG = _Watchdog()


class _Pool:
    """Daemon threads that run user ``__repr__``, reused; one more whenever none is idle.

    A ``__repr__`` that never returns keeps its thread for good (a daemon:
    it does not hold up interpreter exit) and the next preview gets a new
    one, so a stuck preview never delays another.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._made = 0

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)
        if not self._idle.acquire(blocking=False):
            self._made += 1
            name = f"taskbeam-preview_{self._made}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            self._idle.release()


_POOL = _Pool()


def submit_preview(job: Callable[[], None]) -> None:
    """Run ``job`` (which makes previews) on a preview thread, soon; return at once."""
    _POOL.submit(job)
