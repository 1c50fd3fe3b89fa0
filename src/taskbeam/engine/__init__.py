"""The execution engine: the pure state machine and the run that drives it."""

from taskbeam.engine._cache import MemoryCache
from taskbeam.engine._executor import Executor, LocalExecutor, RemoteResult
from taskbeam.engine._metrics import metric, progress, usage
from taskbeam.engine._persist import SavePolicy
from taskbeam.engine._process import ProcessExecutor
from taskbeam.engine._questions import NO_DEFAULT, Question, ask, ask_sync
from taskbeam.engine._run import Run
from taskbeam.engine._start import continue_run, rerun, resume, start
from taskbeam.engine._state import ErrorInfo, RunState
from taskbeam.engine._status import Event, RunStatus, Status

__all__ = [
    "MemoryCache",
    "ErrorInfo",
    "Event",
    "Executor",
    "LocalExecutor",
    "NO_DEFAULT",
    "ProcessExecutor",
    "Question",
    "RemoteResult",
    "Run",
    "RunState",
    "RunStatus",
    "SavePolicy",
    "Status",
    "ask",
    "ask_sync",
    "continue_run",
    "metric",
    "progress",
    "rerun",
    "resume",
    "start",
    "usage",
]
