"""Content digests of values: equal data, equal digest, in any process, on any day.

The cache (:mod:`taskbeam.engine._cache`) keys a node by its task and the
digests of its inputs, so a digest must never be equal for two values a task
could tell apart, and should be equal for the same data made again. Only
types whose content is known are digested; anything else has no digest
(``None``) and makes whatever depends on it uncacheable. The rules, which
docs/cache.md states for users:

- ``None``, ``bool``, ``int``, ``float`` (all NaNs alike, ``-0.0`` apart from
  ``0.0``), ``complex``, ``str``, ``bytes``, ``bytearray``: by type and value,
  exact types only (a subclass of ``int`` may behave otherwise). ``1`` and
  ``1.0`` differ, as ``True`` and ``1`` do.
- ``tuple`` and ``list`` by their items in order (a tuple and a list differ);
  ``dict`` by its items *in order* (two equal dicts built in another order
  differ: a task may iterate them); ``set`` and ``frozenset`` by their items
  whatever the order (their order is the interpreter's, not the data's).
- Enum members by class and name; dataclass instances by class and fields;
  ``datetime``/``date``/``time``/``timedelta``, ``Decimal``, ``UUID``,
  ``pathlib`` paths, ``range`` by type and value.
- numpy arrays (exactly ``ndarray``: a masked array or a matrix has more
  than its data) by dtype, shape and data (C order); numpy scalars by dtype
  and bytes; arrays of Python objects have no digest.
- pandas ``DataFrame``/``Series``/``Index`` by type, names, dtypes and data
  (numbers and dates by their bytes, strings by their text, categoricals by
  categories and codes, other extension types by
  ``pandas.util.hash_pandas_object``, whose key is fixed); an object column
  holding anything but strings, bytes, numbers, booleans or missing values
  has no digest.
- Anything else, and anything nested more than 100 levels deep, has none.

Classes are named by module and qualified name, not by their code: a
dataclass whose methods changed digests the same.

The hash is XXH3-128 (xxhash): fast enough that digesting costs less than
serialising (tens of GB/s on array data), not cryptographic. A cache key
collision needs 2**64 entries to become likely.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import pathlib
import struct
import sys
import uuid
from typing import Any

import xxhash

__all__ = ["digest", "digest_bytes"]

MAX_DEPTH = 100
_pack_double = struct.Struct("<d").pack
_pack_len = struct.Struct("<Q").pack
_xxh3_128_digest = xxhash.xxh3_128_digest  # the same digest as xxh3_128(data).digest()
_NAN = b"f\x00nan"
_NONE = _xxh3_128_digest(b"N")  # the digest of None (see _scalar)
# Objects of pandas columns whose elements hash_pandas_object hashes by value.
_SAFE_INFERRED = frozenset(
    {"string", "bytes", "empty", "integer", "floating", "boolean", "mixed-integer-float", "decimal"}
)


class _NoDigest(Exception):
    """Raised inside the walk: the value (or a part of it) has no stable digest."""


def digest(value: Any) -> str | None:
    """The hex digest of ``value`` (32 characters), or ``None`` when it has no stable one."""
    raw = digest_bytes(value)
    return None if raw is None else raw.hex()


def digest_bytes(value: Any) -> bytes | None:
    """:func:`digest` as 16 raw bytes."""
    if value is None:  # what most tasks run for their effects return
        return _NONE
    scalar = _scalar(value)
    if scalar is not None:  # the common result (None, a number, a str): hashed in one call
        return _xxh3_128_digest(scalar)
    h = xxhash.xxh3_128()
    try:
        _feed_compound(h.update, value, 0)
    except (_NoDigest, RecursionError):
        return None
    return h.digest()


def _scalar(value: Any) -> bytes | None:
    """The bytes of a plain scalar, or None when ``value`` is not one."""
    kind = type(value)
    if kind is str:
        data: bytes = value.encode("utf-8", "surrogatepass")
        return b"s" + _pack_len(len(data)) + data
    if kind is int:
        size = (value.bit_length() + 8) // 8
        raw: bytes = value.to_bytes(size, "little", signed=True)
        return b"i" + _pack_len(size) + raw
    if kind is float:
        return _NAN if math.isnan(value) else b"f" + _pack_double(value)
    if value is None:
        return b"N"
    if kind is bool:
        return b"T" if value else b"F"
    if kind is bytes:
        return b"b" + _pack_len(len(value)) + bytes(value)
    if kind is bytearray:
        return b"B" + _pack_len(len(value)) + bytes(value)
    if kind is complex:
        re, im = value.real, value.imag
        return (
            b"c"
            + (_NAN if math.isnan(re) else _pack_double(re))
            + (_NAN if math.isnan(im) else _pack_double(im))
        )
    return None


def _feed(update: Any, value: Any, depth: int) -> None:
    scalar = _scalar(value)
    if scalar is not None:
        update(scalar)
        return
    _feed_compound(update, value, depth)


def _feed_compound(update: Any, value: Any, depth: int) -> None:
    """:func:`_feed` of a value that is not a plain scalar."""
    if depth >= MAX_DEPTH:
        raise _NoDigest
    kind = type(value)
    if kind is list or kind is tuple:
        update((b"[" if kind is list else b"(") + _pack_len(len(value)))
        for item in value:
            item_bytes = _scalar(item)
            if item_bytes is not None:
                update(item_bytes)
            else:
                _feed_compound(update, item, depth + 1)
        return
    if kind is dict:
        update(b"{" + _pack_len(len(value)))
        for key, item in value.items():
            _feed(update, key, depth + 1)
            _feed(update, item, depth + 1)
        return
    if kind is set or kind is frozenset:
        parts = sorted(_part(item, depth + 1) for item in value)
        update((b"S" if kind is set else b"Z") + _pack_len(len(parts)) + b"".join(parts))
        return
    _feed_other(update, value, depth)


def _part(value: Any, depth: int) -> bytes:
    h = xxhash.xxh3_128()
    _feed(h.update, value, depth)
    return h.digest()


def _name(kind: type) -> bytes:
    text = f"{kind.__module__}.{kind.__qualname__}".encode()
    return _pack_len(len(text)) + text


def _feed_other(update: Any, value: Any, depth: int) -> None:
    kind = type(value)
    module = kind.__module__
    if module == "numpy" or module.startswith("numpy."):
        _feed_numpy(update, value)
        return
    if module == "pandas" or module.startswith("pandas."):
        _feed_pandas(update, value)
        return
    if isinstance(value, enum.Enum):
        update(b"e" + _name(kind))
        _feed(update, value.name, depth + 1)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        update(b"D" + _name(kind))
        for f in dataclasses.fields(value):
            _feed(update, f.name, depth + 1)
            _feed(update, getattr(value, f.name), depth + 1)
        return
    if kind in (dt.datetime, dt.date, dt.time):
        update(b"t" + _name(kind))
        _feed(update, value.isoformat(), depth + 1)
        if kind is not dt.date and value.tzinfo is not None:
            _feed(update, repr(value.tzinfo), depth + 1)  # the zone, not only its offset
        return
    if kind is dt.timedelta:
        update(b"d")
        _feed(update, (value.days, value.seconds, value.microseconds), depth + 1)
        return
    if kind is decimal.Decimal or kind is uuid.UUID or kind is range:
        update(b"r" + _name(kind))
        _feed(update, str(value) if kind is not range else repr(value), depth + 1)
        return
    if isinstance(value, pathlib.PurePath) and kind.__module__ == "pathlib":
        update(b"p" + _name(kind))
        _feed(update, str(value), depth + 1)
        return
    raise _NoDigest


def _feed_numpy(update: Any, value: Any) -> None:
    np = sys.modules["numpy"]
    if type(value) is np.ndarray:  # subclasses (masked arrays, matrices) carry more than data
        if value.dtype.hasobject:
            raise _NoDigest
        update(b"A" + _dtype(value.dtype) + _pack_len(value.ndim))
        update(b"".join(_pack_len(n) for n in value.shape))
        update(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
        return
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        update(b"a" + _dtype(value.dtype) + value.tobytes())
        return
    raise _NoDigest


def _dtype(dtype: Any) -> bytes:
    text = str(dtype.descr if dtype.fields is not None else dtype.str).encode()
    return _pack_len(len(text)) + text


def _feed_pandas(update: Any, value: Any) -> None:
    pd = sys.modules["pandas"]
    if isinstance(value, pd.DataFrame):
        update(b"P" + _pack_len(value.shape[0]) + _pack_len(value.shape[1]))
        _feed_index(update, value.columns, pd)
        _feed_index(update, value.index, pd)
        for i in range(value.shape[1]):
            _feed_values(update, value.iloc[:, i], pd)
        return
    if isinstance(value, pd.Series):
        update(b"Q" + _pack_len(len(value)))
        _feed(update, value.name, 1)
        _feed_index(update, value.index, pd)
        _feed_values(update, value, pd)
        return
    if isinstance(value, pd.Index):
        _feed_index(update, value, pd)
        return
    raise _NoDigest


def _feed_index(update: Any, index: Any, pd: Any) -> None:
    update(b"I" + _name(type(index)) + _pack_len(len(index)))
    _feed(update, list(index.names), 1)
    if isinstance(index, pd.RangeIndex):  # no data to hash: its three numbers say it all
        _feed(update, (index.start, index.stop, index.step), 1)
        return
    if isinstance(index, pd.MultiIndex):
        for level in range(index.nlevels):
            _feed_values(update, pd.Series(index.get_level_values(level)), pd)
        return
    _feed_values(update, pd.Series(index), pd)


def _feed_values(update: Any, column: Any, pd: Any) -> None:
    np = sys.modules["numpy"]
    dtype = column.dtype
    text = str(dtype).encode()
    update(b"V" + _pack_len(len(text)) + text)
    if isinstance(dtype, np.dtype) and not dtype.hasobject:  # plain numbers, dates: their bytes
        update(np.ascontiguousarray(column.to_numpy()).view(np.uint8))
        return
    if isinstance(dtype, pd.CategoricalDtype):  # its categories, then which one each row is
        update(b"C" if dtype.ordered else b"c")
        _feed_index(update, dtype.categories, pd)
        update(np.ascontiguousarray(column.cat.codes.to_numpy()).view(np.uint8))
        return
    inferred = pd.api.types.infer_dtype(column, skipna=True)
    if inferred in ("string", "empty"):
        # Which are missing, each string's length, then all of them: no separator to escape.
        missing = column.isna().to_numpy(dtype=bool)
        values = column.to_numpy(dtype=object)
        if missing.any():
            values = values[~missing]
        update(np.packbits(missing).tobytes())
        update(np.fromiter(map(len, values), dtype=np.int64, count=len(values)))
        update("".join(values).encode("utf-8", "surrogatepass"))
        return
    if getattr(dtype, "kind", "") == "O" and inferred not in _SAFE_INFERRED:
        raise _NoDigest  # objects that pandas would hash by their str()
    update(pd.util.hash_pandas_object(column, index=False, categorize=True).to_numpy())
