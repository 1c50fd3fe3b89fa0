"""The Jupyter widget: a live view of a run, drawn by the bundled front end in js/."""

from taskbeam.widget._view import GraphView

__all__ = ["GraphView"]
