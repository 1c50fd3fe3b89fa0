"""Graphs the server may run, by name: clients send a name and JSON params, never code.

A :class:`Registry` maps a name to a factory, ``factory(**params) -> Graph``.
The server builds a fresh graph from the factory each time a project starts,
so a factory is also where params are checked: it raises ``TypeError`` or
``ValueError`` for params it does not take, and the client gets the message.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from taskbeam.graph import Graph

__all__ = ["BadParams", "Registry", "UnknownGraph"]

Factory = Callable[..., Graph]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UnknownGraph(KeyError):
    """No graph of that name is registered."""


class BadParams(ValueError):
    """A factory refused its params, or did not return a graph."""


class Registry:
    """Named graph factories that clients of the server can start.

    Examples
    --------
    >>> import taskbeam as tb
    >>> from taskbeam.server import Registry
    >>> def squares(n: int = 3) -> tb.Graph:
    ...     g = tb.Graph("squares")
    ...     for i in range(n):
    ...         _ = g.add(f"sq{i}", lambda i=i: i * i)
    ...     return g
    >>> registry = Registry()
    >>> registry.register("squares", squares)
    >>> len(registry.build("squares", {"n": 4}))
    4
    >>> registry.build("squares", {"m": 4})
    Traceback (most recent call last):
    ...
    taskbeam.server._registry.BadParams: graph 'squares': ...unexpected keyword argument 'm'
    """

    def __init__(self) -> None:
        self._factories: dict[str, Factory] = {}

    def register(self, name: str, factory: Factory) -> None:
        """Make ``factory(**params)`` startable as ``name`` (letters, digits, ``_.-``)."""
        if not isinstance(name, str) or NAME.fullmatch(name) is None:
            raise ValueError(f"a graph name is 1-64 letters, digits or '_.-', not {name!r}")
        if not callable(factory):
            raise TypeError(f"the factory of {name!r} is not callable: {factory!r}")
        if name in self._factories:
            raise ValueError(f"a graph named {name!r} is already registered")
        self._factories[name] = factory

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def build(self, name: str, params: Mapping[str, Any]) -> Graph:
        """A new graph from the factory of ``name``.

        Raises :class:`UnknownGraph` for a name not registered and
        :class:`BadParams` when the factory raises ``TypeError`` or
        ``ValueError`` or returns something other than a Graph.
        """
        factory = self._factories.get(name)
        if factory is None:
            raise UnknownGraph(f"no graph named {name!r}")
        try:
            graph = factory(**params)
        except (TypeError, ValueError) as exc:
            raise BadParams(f"graph {name!r}: {exc}") from exc
        if not isinstance(graph, Graph):
            kind = type(graph).__name__
            raise BadParams(f"the factory of {name!r} returned a {kind}, not a taskbeam.Graph")
        return graph

    def describe(self) -> list[dict[str, Any]]:
        """Each graph's name, the first line of its factory's docstring, and its params."""
        out = []
        for name, factory in self._factories.items():
            doc = inspect.getdoc(factory) or ""
            out.append(
                {"name": name, "description": doc.partition("\n")[0], "params": _params(factory)}
            )
        return out

    def __repr__(self) -> str:
        return f"<Registry: {', '.join(self._factories) or 'empty'}>"


def _params(factory: Factory) -> list[dict[str, Any]]:
    """The keyword params a factory takes: name, whether required, JSON default."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to say
        return []
    out = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        entry: dict[str, Any] = {"name": p.name, "required": p.default is p.empty}
        if p.default is not p.empty and _is_json(p.default):
            entry["default"] = p.default
        out.append(entry)
    return out


def _is_json(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True
