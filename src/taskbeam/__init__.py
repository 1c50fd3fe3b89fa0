"""taskbeam: run task graphs inside Jupyter and watch them live.

>>> import taskbeam as tb
>>> g = tb.Graph("report")
>>> _ = g.add("load", lambda: [1, 2, 3])
>>> _ = g.add("total", lambda load: sum(load), deps=["load"])
>>> tb.start(g).wait().results
{'load': [1, 2, 3], 'total': 6}
"""

import importlib as _importlib
import typing as _typing

from taskbeam._compare import Comparison, compare
from taskbeam._errors import (
    AnswerError,
    CacheWarning,
    DepthError,
    GraphError,
    IllegalTransition,
    NodeTimeout,
    NotRunning,
    QuestionClosed,
    QuestionTimeout,
    TaskbeamError,
    WorkerLost,
)
from taskbeam._service import ExecutionService
from taskbeam._stored import StoredResults, StoredRun, open_run
from taskbeam._version import __version__
from taskbeam.broadcast import Broadcaster, BroadcastStats, Subscription
from taskbeam.engine import (
    NO_DEFAULT,
    ErrorInfo,
    Event,
    Executor,
    LocalExecutor,
    MemoryCache,
    ProcessExecutor,
    Question,
    RemoteResult,
    Run,
    RunState,
    RunStatus,
    SavePolicy,
    Status,
    _display,
    _observers,
    ask,
    ask_sync,
    continue_run,
    metric,
    progress,
    rerun,
    resume,
    start,
    usage,
)
from taskbeam.graph import Expansion, Graph, Task, expand
from taskbeam.store import (
    JSONSerializer,
    PickleSerializer,
    SQLiteStore,
    StoreError,
    StoreRecoveryWarning,
)

if _typing.TYPE_CHECKING:
    from taskbeam.engine._dask import DaskExecutor
    from taskbeam.otel import instrument
    from taskbeam.server import Registry, serve
    from taskbeam.widget import GraphView


__all__ = [
    "AnswerError",
    "BroadcastStats",
    "Broadcaster",
    "CacheWarning",
    "Comparison",
    "DaskExecutor",
    "DepthError",
    "ErrorInfo",
    "Event",
    "ExecutionService",
    "Executor",
    "Expansion",
    "Graph",
    "GraphError",
    "GraphView",
    "IllegalTransition",
    "JSONSerializer",
    "LocalExecutor",
    "MemoryCache",
    "NO_DEFAULT",
    "NodeTimeout",
    "NotRunning",
    "PickleSerializer",
    "ProcessExecutor",
    "Question",
    "QuestionClosed",
    "QuestionTimeout",
    "Registry",
    "RemoteResult",
    "Run",
    "RunState",
    "RunStatus",
    "SQLiteStore",
    "SavePolicy",
    "Status",
    "StoreError",
    "StoreRecoveryWarning",
    "StoredResults",
    "StoredRun",
    "Subscription",
    "Task",
    "TaskbeamError",
    "WorkerLost",
    "__version__",
    "ask",
    "ask_sync",
    "compare",
    "continue_run",
    "expand",
    "instrument",
    "metric",
    "open_run",
    "progress",
    "rerun",
    "resume",
    "serve",
    "start",
    "usage",
]


# A run shows itself in a notebook through the widget, which the engine does not
# import: the first view loads it (see taskbeam.engine._display).
_display.set_loader(lambda: _importlib.import_module("taskbeam.widget"))
# A run started with tracer= loads OpenTelemetry's subscriber (an optional extra).
_observers.set_loader(lambda: _importlib.import_module("taskbeam.otel"))


def __getattr__(name: str) -> _typing.Any:
    # The widget pulls in ipywidgets (~0.2 s) and the server starlette and
    # socketio: import them on first use only, so scripts and the command
    # line that never show a view or serve don't pay.
    if name == "GraphView":
        from taskbeam.widget import GraphView

        return GraphView
    if name == "dask":  # tb.dask.get, the Dask scheduler: dask is an optional extra
        return _importlib.import_module("taskbeam.dask")
    if name == "DaskExecutor":  # distributed is an optional extra, and slow to import
        from taskbeam.engine._dask import DaskExecutor

        return DaskExecutor
    if name == "instrument":  # OpenTelemetry is an optional extra (taskbeam[otel])
        from taskbeam.otel import instrument

        return instrument
    if name in ("Registry", "serve"):  # the server's libraries are an optional extra
        from taskbeam import server

        return getattr(server, name)
    raise AttributeError(f"module 'taskbeam' has no attribute {name!r}")
