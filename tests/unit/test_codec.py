"""The frame codec: when it compresses, what goes on the wire, and decoding errors."""

from __future__ import annotations

import base64
import gzip
import random
import string
from typing import Any

import orjson
import pytest

from taskbeam.broadcast import decode, dumps, encode

# Printable ASCII without the characters JSON escapes: about 6.5 bits a character,
# so gzip saves well under 20 % on it.
PRINTABLE = "".join(c for c in string.printable if c.isprintable() and c not in '"\\')


def random_text(n: int, seed: int = 0) -> str:
    return "".join(random.Random(seed).choices(PRINTABLE, k=n))


def snapshot_message(n: int) -> dict[str, Any]:
    nodes = {f"node-{i}": {"status": "done", "attempt": 1, "started": i / 8} for i in range(n)}
    return {"type": "snapshot", "room": "r-7f3a", "seq": 41, "state": {"nodes": nodes}}


def test_dumps_is_compact_orjson() -> None:
    message = {"type": "batch", "patch": {"nodes": {"a": {"status": "done"}}}, "text": "é"}
    assert dumps(message) == orjson.dumps(message)
    assert (
        dumps(message)
        == '{"type":"batch","patch":{"nodes":{"a":{"status":"done"}}},"text":"é"}'.encode()
    )


def test_below_threshold_is_sent_as_it_is() -> None:
    message = {"type": "batch", "room": "r", "seq": 1, "patch": {"a": "x" * 500}}
    wire, buffers, raw, sent = encode(message)
    assert wire is message
    assert buffers == []
    assert raw == sent == len(dumps(message)) < 1024
    assert decode(wire, buffers) is message


def test_threshold_is_inclusive() -> None:
    message = snapshot_message(40)
    size = len(dumps(message))
    assert encode(message, compress_min_bytes=size)[1] != []
    assert encode(message, compress_min_bytes=size + 1)[1] == []


def test_compressible_payload_goes_as_a_gzip_buffer() -> None:
    message = snapshot_message(200)
    wire, buffers, raw, sent = encode(message)
    assert wire == {"type": "snapshot", "room": "r-7f3a", "seq": 41, "encoding": "gzip"}
    assert len(buffers) == 1
    assert isinstance(buffers[0], bytes)
    assert raw == len(dumps(message))
    assert sent == len(buffers[0]) <= 0.8 * raw
    assert gzip.decompress(buffers[0]) == dumps(message)
    assert decode(wire, buffers) == message
    assert encode(message) == (wire, buffers, raw, sent)  # deterministic: no timestamp


def test_header_leaves_out_missing_and_none_fields() -> None:
    message = {"type": "resync", "room": None, "text": "ab" * 1000}
    wire, buffers, _, _ = encode(message)
    assert wire == {"type": "resync", "encoding": "gzip"}
    assert decode(wire, buffers) == message


def test_level_is_passed_to_gzip() -> None:
    message = {"type": "snapshot", "text": random_text(3000) * 3}
    _, fast, _, _ = encode(message, level=1)
    _, best, _, _ = encode(message, level=9)
    assert fast != best
    assert decode({"type": "snapshot", "encoding": "gzip"}, fast) == message
    assert decode({"type": "snapshot", "encoding": "gzip"}, best) == message


def test_incompressible_payload_is_sent_uncompressed() -> None:
    message = {"type": "log", "room": "r", "seq": 3, "text": random_text(4096)}
    wire, buffers, raw, sent = encode(message)
    assert wire is message
    assert buffers == []
    assert raw == sent == len(dumps(message)) > 4096


def test_random_base64_saves_more_than_a_fifth_so_it_is_compressed() -> None:
    # Base64 carries 6 bits a character: gzip takes about a quarter off it.
    text = base64.b64encode(random.Random(1).randbytes(3072)).decode()
    message = {"type": "log", "text": text}
    wire, buffers, raw, sent = encode(message)
    assert wire["encoding"] == "gzip"
    assert 0.7 < sent / raw <= 0.8
    assert decode(wire, buffers) == message


def test_max_ratio_decides_around_the_measured_ratio() -> None:
    message = {"type": "log", "text": random_text(2000) + "a" * 600}
    raw = len(dumps(message))
    size = len(gzip.compress(dumps(message), mtime=0))
    assert 0.5 < size / raw < 0.95
    just_enough = encode(message, max_ratio=(size + 0.5) / raw)
    assert just_enough[1] != []
    assert just_enough[3] == size
    just_short = encode(message, max_ratio=(size - 0.5) / raw)
    assert just_short[0] is message
    assert just_short[1] == []
    assert just_short[3] == raw


def _message_with_ratio(low: float, high: float) -> tuple[dict[str, Any], float]:
    """A message whose gzip ratio (gzip/JSON) falls in ``(low, high]``, found by search."""
    noise = random_text(3000, seed=7)
    for fill in range(0, 3000, 5):
        message = {"type": "log", "text": noise + "a" * fill}
        data = dumps(message)
        ratio = len(gzip.compress(data, mtime=0)) / len(data)
        if low < ratio <= high:
            return message, ratio
    raise AssertionError(f"no message with a ratio in ({low}, {high}]")


def test_default_rule_just_over_a_fifth_saved_is_compressed() -> None:
    message, ratio = _message_with_ratio(0.79, 0.8)
    wire, buffers, raw, sent = encode(message)
    assert wire["encoding"] == "gzip"
    assert sent / raw == ratio
    assert decode(wire, buffers) == message


def test_default_rule_just_under_a_fifth_saved_is_not_compressed() -> None:
    message, _ = _message_with_ratio(0.8, 0.81)
    wire, buffers, raw, sent = encode(message)
    assert wire is message
    assert buffers == []
    assert sent == raw


def test_encoding_key_is_reserved() -> None:
    with pytest.raises(ValueError, match="reserved"):
        encode({"type": "batch", "encoding": "utf-8"})


def test_decode_accepts_bytes_like_buffers() -> None:
    message = snapshot_message(100)
    wire, buffers, _, _ = encode(message)
    assert decode(wire, [memoryview(buffers[0])]) == message
    assert decode(wire, (bytearray(buffers[0]),)) == message


GZIP = {"type": "batch", "encoding": "gzip"}


@pytest.mark.parametrize(
    ("wire", "buffers", "match"),
    [
        ({"type": "batch", "encoding": "br"}, [b"x"], "unknown message encoding 'br'"),
        ({"type": "batch", "encoding": 1}, [b"x"], "unknown message encoding 1"),
        (GZIP, [], "exactly one buffer, got 0"),
        (GZIP, [gzip.compress(b"{}"), gzip.compress(b"{}")], "exactly one buffer, got 2"),
        (GZIP, [b"not gzip at all"], "not valid gzip"),
        (GZIP, [b""], "buffer is empty"),
        (GZIP, [gzip.compress(b'{"type": "batch"}')[:-12]], "not valid gzip"),
        (GZIP, [gzip.compress(b'{"type": "batch"}')[:12] + b"\xff" * 20], "not valid gzip"),
        (GZIP, [gzip.compress(b'{"type": "batch",')], "not valid JSON"),
        (GZIP, [gzip.compress(b"\xff\xfe")], "not valid JSON"),
        (GZIP, [gzip.compress(b"[1, 2]")], "holds a list, not an object"),
        (
            {"type": "batch", "seq": 5, "encoding": "gzip"},
            [gzip.compress(b'{"type": "batch", "seq": 6}')],
            "header seq=5 disagrees",
        ),
        (GZIP, [gzip.compress(b'{"type": "snapshot"}')], "header type='batch' disagrees"),
    ],
)
def test_decode_rejects_malformed_input(
    wire: dict[str, Any], buffers: list[bytes], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        decode(wire, buffers)
