"""The frame codec: JSON messages, gzip-compressed into a binary buffer when that pays.

A message is serialized to JSON with orjson. When the JSON is at least
``compress_min_bytes`` long and gzip makes it at least 20 % smaller, the
message goes out as a small JSON header (``type``, ``room``, ``seq`` and
``"encoding": "gzip"``) with the gzip bytes as its one binary buffer, as comm
messages and Socket.IO both carry them: never base64. Otherwise the message
goes out as it is, with no buffers.

The key ``"encoding"`` is reserved for the codec: messages must not use it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["decode", "dumps", "encode"]

_HEADER_KEYS = ("type", "room", "seq")


def dumps(message: Any) -> bytes:
    """Serialize ``message`` to JSON bytes, the one way the package does it.

    Examples
    --------
    >>> dumps({"type": "batch", "seq": 3, "patch": {}})
    b'{"type":"batch","seq":3,"patch":{}}'
    """
    return orjson.dumps(message)


def encode(
    message: dict[str, Any],
    *,
    compress_min_bytes: int = 1024,
    max_ratio: float = 0.8,
    level: int = 6,
) -> tuple[dict[str, Any], list[bytes], int, int]:
    """Turn a message into what goes on the wire.

    Parameters
    ----------
    message
        A JSON-ready dict with a ``type`` (and usually ``room`` and ``seq``).
        It must not have an ``encoding`` key.
    compress_min_bytes
        JSON shorter than this is never compressed.
    max_ratio
        Compressed size over JSON size at or below which the gzip form is
        sent: ``0.8`` means gzip must save at least 20 %.
    level
        The gzip compression level, 0 to 9.

    Returns
    -------
    tuple
        ``(wire_message, buffers, raw_bytes, sent_bytes)``. Either
        ``wire_message`` is ``message`` itself and ``buffers`` is ``[]``, or
        it is a header ``{"type", "room", "seq", "encoding": "gzip"}``
        (members that are ``None`` left out) and ``buffers`` holds the gzip
        bytes. ``raw_bytes`` is the JSON length, ``sent_bytes`` the length of
        what was sent (gzip or JSON). Compression is deterministic (no
        timestamp in the gzip header).

    Raises
    ------
    ValueError
        If ``message`` has an ``encoding`` key.

    Examples
    --------
    >>> small = {"type": "batch", "room": "r", "seq": 2, "patch": {}}
    >>> encode(small) == (small, [], 46, 46)
    True
    >>> big = {"type": "snapshot", "room": "r", "seq": 1, "text": "ab" * 2000}
    >>> wire, buffers, raw, sent = encode(big)
    >>> wire, raw, sent < raw // 10
    ({'type': 'snapshot', 'room': 'r', 'seq': 1, 'encoding': 'gzip'}, 4048, True)
    >>> decode(wire, buffers) == big
    True
    """
    if "encoding" in message:
        raise ValueError("the message key 'encoding' is reserved for the codec")
    data = orjson.dumps(message)
    raw = len(data)
    if raw >= compress_min_bytes:
        packed = gzip.compress(data, compresslevel=level, mtime=0)
        if len(packed) <= max_ratio * raw:
            header = {k: message[k] for k in _HEADER_KEYS if message.get(k) is not None}
            header["encoding"] = "gzip"
            return header, [packed], raw, len(packed)
    return message, [], raw, raw


def decode(
    wire_message: dict[str, Any], buffers: Sequence[bytes | bytearray | memoryview]
) -> dict[str, Any]:
    """The message that :func:`encode` turned into ``wire_message`` and ``buffers``.

    Parameters
    ----------
    wire_message
        The JSON part as received. Without an ``encoding`` key it is the
        message itself and is returned as it is.
    buffers
        The binary buffers received with it: exactly one for ``"gzip"``.

    Returns
    -------
    dict
        The decoded message.

    Raises
    ------
    ValueError
        For an unknown encoding, a missing (or extra) buffer, bytes that are
        not gzip or not a JSON object, or a header that disagrees with the
        decoded message.

    Examples
    --------
    >>> decode({"type": "batch", "seq": 4, "patch": {}}, [])
    {'type': 'batch', 'seq': 4, 'patch': {}}
    >>> decode({"type": "batch", "encoding": "zstd"}, [b""])
    Traceback (most recent call last):
    ...
    ValueError: unknown message encoding 'zstd' (known: 'gzip')
    """
    encoding = wire_message.get("encoding")
    if encoding is None:
        return wire_message
    if encoding != "gzip":
        raise ValueError(f"unknown message encoding {encoding!r} (known: 'gzip')")
    if len(buffers) != 1:
        raise ValueError(f"a gzip message needs exactly one buffer, got {len(buffers)}")
    if not len(buffers[0]):
        raise ValueError("the message buffer is empty")
    try:
        data = gzip.decompress(buffers[0])
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"the message buffer is not valid gzip: {exc}") from None
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the message buffer is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ValueError(f"the message buffer holds a {type(message).__name__}, not an object")
    for key in _HEADER_KEYS:
        if key in wire_message and wire_message[key] != message.get(key):
            raise ValueError(
                f"header {key}={wire_message[key]!r} disagrees with the message's "
                f"{key}={message.get(key)!r}"
            )
    return message
