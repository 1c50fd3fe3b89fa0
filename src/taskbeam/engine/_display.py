"""How a run shows itself in a notebook, without the engine knowing the screen.

``Run.view()``, ``Run._repr_mimebundle_`` and ``Run._ipython_display_`` (and
the same on ``StoredRun``) look their renderer up here by kind: ``"view"``
builds a live view of a run, ``"display"`` displays a live run with a display
id. The widget package fills the table in when it is imported
(:func:`register`); the top package names the module that does so
(:func:`set_loader`), so the first view imports the widget lazily and a script
that never shows a run never pays for ipywidgets. The engine itself imports
nothing above it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["register", "renderer", "set_loader"]

_RENDERERS: dict[str, Callable[..., Any]] = {}
_loader: Callable[[], object] | None = None
_lock = threading.Lock()


def register(kind: str, render: Callable[..., Any]) -> None:
    """Make ``render`` the renderer of ``kind`` (the last registration wins)."""
    _RENDERERS[kind] = render


def set_loader(load: Callable[[], object]) -> None:
    """``load()`` imports whatever registers the renderers; called on first use."""
    global _loader
    _loader = load


def renderer(kind: str) -> Callable[..., Any]:
    """The renderer of ``kind``, loading the renderers first if none is known.

    >>> register("doc-example", str)
    >>> renderer("doc-example")(7)
    '7'
    """
    found = _RENDERERS.get(kind)
    if found is not None:
        return found
    with _lock:  # two threads showing runs at once load the widget once
        if kind not in _RENDERERS and _loader is not None:
            _loader()
    try:
        return _RENDERERS[kind]
    except KeyError:
        raise RuntimeError(
            f"no {kind!r} renderer for runs: showing a run needs taskbeam's widget "
            "(import taskbeam.widget; it needs ipywidgets and anywidget)"
        ) from None
