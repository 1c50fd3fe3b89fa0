"""taskbeam: run task graphs inside Jupyter and watch them live.

>>> import taskbeam as tb
>>> g = tb.Graph("report")
>>> _ = g.add("load", lambda: [1, 2, 3])
>>> _ = g.add("total", lambda load: sum(load), deps=["load"])
>>> tb.start(g).wait().results
{'load': [1, 2, 3], 'total': 6}
"""

from taskbeam._errors import DepthError, GraphError, IllegalTransition, NodeTimeout, TaskbeamError
from taskbeam._service import ExecutionService
from taskbeam.engine import ErrorInfo, Event, Run, RunState, RunStatus, Status, start
from taskbeam.graph import Expansion, Graph, Task, expand

__version__ = "0.1.0"

__all__ = [
    "DepthError",
    "ErrorInfo",
    "Event",
    "ExecutionService",
    "Expansion",
    "Graph",
    "GraphError",
    "IllegalTransition",
    "NodeTimeout",
    "Run",
    "RunState",
    "RunStatus",
    "Status",
    "Task",
    "TaskbeamError",
    "__version__",
    "expand",
    "start",
]
