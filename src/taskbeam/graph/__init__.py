"""The graph model: tasks, dependencies, validation and run-time expansion."""

from taskbeam.graph._expand import Expansion, expand
from taskbeam.graph._graph import Graph, Task

__all__ = ["Expansion", "Graph", "Task", "expand"]
