"""The Jupyter widget: a live view of a run, drawn by the bundled front end in js/."""

from taskbeam.engine._display import register
from taskbeam.widget._view import GraphView, display_run

# A run shows itself as this view (Run.view, its notebook display, StoredRun.view).
register("view", GraphView)
register("display", display_run)

__all__ = ["GraphView"]
