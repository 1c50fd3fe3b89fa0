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
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from contextvars import Context
from typing import Any, TypeVar

__all__ = ["eager_task", "new_loop"]

T = TypeVar("T")

if sys.version_info >= (3, 12):  # pragma: no cover - exercised on 3.12+

    def new_loop() -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def eager_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:
    from asyncio.tasks import _enter_task, _leave_task

    class _EagerLoop(asyncio.SelectorEventLoop):
        _eager = False

        def call_soon(  # type: ignore[override]
            self, callback: Callable[..., object], *args: Any, context: Context | None = None
        ) -> asyncio.Handle | None:
            if not self._eager:
                return super().call_soon(callback, *args, context=context)
            self._eager = False  # only the new Task's first step; its own calls schedule
            current = asyncio.current_task(self)
            if current is not None:
                _leave_task(self, current)
            try:
                if context is None:
                    callback(*args)
                else:
                    context.run(callback, *args)
            finally:
                if current is not None:
                    _enter_task(self, current)
            return None

    def new_loop() -> asyncio.AbstractEventLoop:
        return _EagerLoop()

    def eager_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        if not isinstance(loop, _EagerLoop):  # e.g. patched by nest-asyncio2: start lazily
            return loop.create_task(coro)
        loop._eager = True
        try:
            return loop.create_task(coro)
        finally:
            loop._eager = False
