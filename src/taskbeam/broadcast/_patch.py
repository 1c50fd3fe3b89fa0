"""JSON Merge Patch (RFC 7386, republished as RFC 7396): compute one, apply one.

A merge patch mirrors the shape of the document it changes: an object member
with a value sets that member (merging recursively when both sides are
objects), a member set to ``null`` (``None``) removes it, and anything that
is not an object (a string, a number, a list) replaces what was there whole.
Lists are values: a change anywhere in a list sends the entire new list.

Snapshots keep nodes in an object keyed by id, so a patch names only the
nodes, and the fields of those nodes, that changed.

Both functions are pure: they never mutate their arguments and share the
parts of the input that did not change instead of copying them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply", "diff"]

_MISSING: Any = object()


class _NullValue(ValueError):
    """A ``None`` member value in ``new`` where the patch would have to carry it."""

    def __init__(self, key: Any) -> None:
        super().__init__(key)
        self.path: list[Any] = [key]


def diff(old: Any, new: Any) -> Any:
    """The merge patch that turns ``old`` into ``new``.

    Parameters
    ----------
    old, new
        JSON-like values: dicts with string keys, lists, strings, numbers,
        booleans. ``new`` must not hold ``None`` as the value of a dict member
        in any part the patch carries (see Raises).

    Returns
    -------
    Any
        When both are dicts, a dict: members removed in ``new`` map to
        ``None``, changed members map to the patch of their value (a nested
        patch when both sides are dicts, else the new value), unchanged
        members are left out. An empty dict ``{}`` therefore means "no
        change". When either side is not a dict, the patch is ``new`` itself
        (a non-object patch replaces the whole target, even an equal one).

    Raises
    ------
    ValueError
        If the patch would have to carry ``None`` as a dict member value:
        merge patches use ``null`` to mean "remove", so that value cannot be
        expressed. ``None`` inside a list, or as the whole of ``new``, is fine.

    Notes
    -----
    Values are compared with ``is`` first and ``==`` second, so a snapshot
    that shares the unchanged parts of the previous one is diffed fastest.
    ``==`` treats ``1``, ``1.0`` and ``True`` as equal: keep one type per
    field. The result may share (not copy) values of ``new``.

    Examples
    --------
    >>> old = {"nodes": {"a": {"status": "running"}, "b": {"status": "pending"}}}
    >>> new = {"nodes": {"a": {"status": "done", "ended": 0.5}, "b": {"status": "pending"}}}
    >>> diff(old, new)
    {'nodes': {'a': {'status': 'done', 'ended': 0.5}}}
    >>> diff({"a": 1, "b": [1, 2]}, {"b": [1, 2, 3]})
    {'b': [1, 2, 3], 'a': None}
    >>> diff(new, new)
    {}
    >>> diff({"a": 1}, {"a": None})
    Traceback (most recent call last):
    ...
    ValueError: new value at ['a'] is None, which a merge patch cannot express ...
    """
    if not isinstance(new, dict):
        return new
    try:
        if not isinstance(old, dict):
            _check(new)
            return new
        if old is new:
            return {}
        return _diff(old, new)
    except _NullValue as exc:
        raise ValueError(
            f"new value at {exc.path[::-1]} is None, which a merge patch cannot express "
            "(null means remove): leave the key out instead"
        ) from None


def _diff(old: dict[Any, Any], new: dict[Any, Any]) -> dict[Any, Any]:
    patch: dict[Any, Any] = {}
    get = old.get
    missing = _MISSING  # a local: this loop runs once per node of a snapshot
    added = 0
    for key, value in new.items():
        was = get(key, missing)
        if was is value:
            continue
        if was is missing:
            added += 1
        elif was == value:
            continue
        if value is None:
            raise _NullValue(key)
        if isinstance(value, dict):
            try:
                if isinstance(was, dict):
                    patch[key] = _diff(was, value)
                    continue
                _check(value)
            except _NullValue as exc:
                exc.path.append(key)
                raise
        patch[key] = value
    if len(old) > len(new) - added:  # some keys of old are not in new
        for key in old:
            if key not in new:
                patch[key] = None
    return patch


def _check(value: dict[Any, Any]) -> None:
    """Raise ``_NullValue`` if ``value`` holds ``None`` as a member value, at any dict depth."""
    for key, item in value.items():
        if item is None:
            raise _NullValue(key)
        if isinstance(item, dict):
            try:
                _check(item)
            except _NullValue as exc:
                exc.path.append(key)
                raise


def apply(target: Any, patch: Any) -> Any:
    """Apply the merge patch ``patch`` to ``target`` (RFC 7386 MergePatch).

    Parameters
    ----------
    target
        The JSON-like value to patch. Not modified.
    patch
        A merge patch, as made by :func:`diff`. Not modified.

    Returns
    -------
    Any
        The patched value. When ``patch`` is a dict the result is a new dict;
        only the dicts along changed paths are copied, everything else
        (untouched members of ``target``, lists and other values from
        ``patch``) is shared. A non-dict ``patch`` is returned as it is.

    Examples
    --------
    >>> snap = {"run": {"status": "running"}, "nodes": {"a": {"status": "running"}}}
    >>> apply(snap, {"nodes": {"a": {"status": "done"}, "b": {"status": "pending"}}})
    {'run': {'status': 'running'}, 'nodes': {'a': {'status': 'done'}, 'b': {'status': 'pending'}}}
    >>> apply({"a": 1, "b": 2}, {"a": None})
    {'b': 2}
    >>> apply({"a": [1, 2]}, {"a": [3]})
    {'a': [3]}
    >>> apply([1, 2], {"a": {"b": None}})
    {'a': {}}
    >>> snap["nodes"]["a"]
    {'status': 'running'}
    """
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = apply(target.get(key), value)
        else:
            result[key] = value
    return result
