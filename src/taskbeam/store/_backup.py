"""Emergency backups: a run written to a JSON file when the database refuses it.

The file is written atomically (temporary file, fsync, rename, fsync of the
folder) next to the database, or in the system's temporary folder when that
folder is not writable either, and can be imported back with
``taskbeam import FILE`` once the database works again.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from taskbeam.store._base import RunRecord, StoreError
from taskbeam.store._log import encode
from taskbeam.store._serialize import JSONSerializer

if TYPE_CHECKING:
    from taskbeam.store._sqlite import SQLiteStore

__all__ = ["import_backup", "write_backup"]

FORMAT = "taskbeam-backup"


def write_backup(
    db_path: Path,
    record: RunRecord,
    structures: Sequence[tuple[str, Sequence[Any]]],
    batch: dict[str, Any],
) -> Path:
    """Write the run atomically as JSON and return the file's path.

    ``batch`` holds every node (see :mod:`taskbeam.store._log`); results that
    JSON cannot hold are kept as their previews.
    """
    encoded, _, _ = encode(batch, JSONSerializer())
    data = orjson.dumps(
        {
            "format": FORMAT,
            "version": 1,
            "written": time.time(),
            "run": dataclasses.asdict(record),
            "structure": [[parent, nodes] for parent, nodes in structures],
            "nodes": orjson.Fragment(encoded),
        },
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )
    name = f"{db_path.name}.backup-{record.id}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    errors = []
    for folder in (db_path.parent, Path(tempfile.gettempdir())):
        try:
            return _atomic_write(folder / name, data)
        except OSError as exc:
            errors.append(f"{folder}: {exc}")
    raise StoreError("could not write an emergency backup anywhere: " + "; ".join(errors))


def _atomic_write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def import_backup(store: SQLiteStore, path: str | os.PathLike[str]) -> str:
    """Load an emergency backup into ``store``; return the run id."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StoreError(f"cannot read backup {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StoreError(f"{path} is not a taskbeam backup")
    record = RunRecord(**data["run"])
    structures = [(parent, nodes) for parent, nodes in data["structure"]]
    root: list[Any] = next((nodes for parent, nodes in structures if parent == ""), [])
    batch = data["nodes"]
    store.create_run(record, root).result()
    store.save(record, batch, [s for s in structures if s[0] != ""]).result()
    return record.id
