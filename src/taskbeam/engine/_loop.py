"""The run's private event loop, with eager task start.

Most tasks in a graph finish their first step without ever suspending (a
cache hit, a no-op, a quick computation). Running that first step at once,
inside ``create_task``, instead of scheduling it for the next loop
iteration, saves a handle, a loop turn and a wake-up per node; the Task still
exists, so ``asyncio.current_task()``, ``asyncio.timeout()`` and cancel
scopes behave exactly as in a normally started Task.

Python 3.12 has this built in (``Task(..., eager_start=True)``). On 3.11 the
loop below runs the first ``call_soon`` that a new Task makes synchronously,
after stepping out of the Task currently running (3.11 refuses to enter a
Task while another is current) and stepping back in afterwards.

A first step that raises ``KeyboardInterrupt`` or ``SystemExit``: asyncio
records it on the Task and re-raises it. On 3.11 :func:`eager_task` keeps
it there and returns the Task, done; on 3.12 it propagates from
:func:`eager_task`. The caller handles both.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import Context
from typing import Any, TypeVar

__all__ = ["as_coroutine", "close_loop", "eager_task", "import_nest_asyncio2", "new_loop"]

T = TypeVar("T")

if sys.version_info >= (3, 12):  # pragma: no cover - exercised on 3.12+
    _LoopClass: type[asyncio.BaseEventLoop] = asyncio.SelectorEventLoop

    def eager_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:
    from asyncio.tasks import _current_tasks, _enter_task, _leave_task  # type: ignore[attr-defined]

    class _EagerLoop(asyncio.SelectorEventLoop):
        _eager = False

        def call_soon(  # type: ignore[override]
            self, callback: Callable[..., object], *args: Any, context: Context | None = None
        ) -> asyncio.Handle | None:
            if not self._eager:
                return super().call_soon(callback, *args, context=context)
            self._eager = False  # only the new Task's first step; its own calls schedule
            current = _current_tasks.get(self)
            if current is not None:
                _leave_task(self, current)
            try:
                if context is None:
                    callback(*args)
                else:
                    context.run(callback, *args)
            except (KeyboardInterrupt, SystemExit):
                # The step recorded it on the Task before re-raising it; the
                # Task's creator finds it there, done (see eager_task).
                return None
            finally:
                if current is not None:
                    _enter_task(self, current)
            return None

    _LoopClass = _EagerLoop

    def eager_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        if not isinstance(loop, _EagerLoop):  # e.g. patched by nest-asyncio2: start lazily
            return loop.create_task(coro)
        loop._eager = True
        try:
            return asyncio.Task(coro, loop=loop)  # not loop.create_task: one call fewer
        finally:
            loop._eager = False


def new_loop(nested: bool = False) -> asyncio.AbstractEventLoop:
    """A new loop for one run; ``nested=True`` makes it re-entrant.

    nest-asyncio2 patches the *class* of the loop it is given, so each nested
    run gets a class of its own and no other loop changes. ``asyncio.run``
    is wrapped once per process: called while one of these loops is running
    on the current thread, it runs the coroutine on that loop; anywhere else
    it is the original ``asyncio.run``, unchanged.
    """
    if not nested:
        return _LoopClass()
    nest = import_nest_asyncio2()
    loop: asyncio.AbstractEventLoop = type(
        "_NestedRunLoop", (_LoopClass,), {"_taskbeam_nested": True}
    )()
    nest._patch_loop(loop)
    _wrap_asyncio_run()
    return loop


def import_nest_asyncio2() -> Any:
    """Import nest-asyncio2 or explain which extra to install."""
    try:
        import nest_asyncio2
    except ImportError:
        raise ImportError(
            "nested_loops=True needs nest-asyncio2: pip install 'taskbeam[nested]'"
        ) from None
    return nest_asyncio2


_original_run = asyncio.run


def _run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    loop = asyncio.events._get_running_loop()
    if loop is not None and getattr(loop, "_taskbeam_nested", False):
        return loop.run_until_complete(main)
    return _original_run(main, debug=debug)


def _wrap_asyncio_run() -> None:
    if asyncio.run is not _run:
        _run.__wrapped__ = _original_run  # type: ignore[attr-defined]
        asyncio.run = _run


async def as_coroutine(awaitable: Awaitable[T]) -> T:
    """A coroutine awaiting ``awaitable``: an asyncio Task runs coroutines only."""
    return await awaitable


async def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """What a run's loop runs last, before it is closed."""
    await asyncio.sleep(0)  # run the handles queued before the door closed (see Driver.call)
    await loop.shutdown_asyncgens()
    # No shutdown_default_executor(): it starts a thread to wait for the pool
    # (a run's own LoopThreads waits for nothing, see engine/_executor.py), and
    # loop.close() shuts the default executor down anyway. One thread a run
    # fewer is a third of a small run's fixed cost.
