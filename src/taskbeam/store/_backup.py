"""Emergency backups: a run written to a JSON file when the database refuses it.

The file is written atomically (a temporary file made with ``O_CREAT|O_EXCL``
and mode 0600, fsync, a hard link to its final name, which never replaces
or follows anything already there, fsync of the folder) next to the
database, or, when that folder is not writable either, in a new folder of
its own (mode 0700, random name) in the system's temporary folder. A
failed write removes its temporary file. The backup can be imported back
with ``taskbeam import FILE`` once the database works again.
"""

from __future__ import annotations

import contextlib
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
    name = f"{db_path.name}.backup-{record.id}-{time.strftime('%Y%m%dT%H%M%S')}"
    errors = []
    try:
        return _atomic_write(db_path.parent, name, data)
    except OSError as exc:
        errors.append(f"{db_path.parent}: {exc}")
    try:  # a shared folder: a new private folder in it, nothing with a predictable name
        private = Path(tempfile.mkdtemp(prefix="taskbeam-backup-"))
    except OSError as exc:
        errors.append(f"{tempfile.gettempdir()}: {exc}")
    else:
        try:
            return _atomic_write(private, name, data)
        except OSError as exc:
            errors.append(f"{private}: {exc}")
            with contextlib.suppress(OSError):
                private.rmdir()
    raise StoreError("could not write an emergency backup anywhere: " + "; ".join(errors))


def _atomic_write(folder: Path, name: str, data: bytes) -> Path:
    """Write ``folder/name.json`` (or ``name-1.json``, ... if taken) and return its path.

    Never opens, replaces or follows an existing file or link; mode 0600.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".json.tmp", dir=folder)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        for n in range(1000):
            path = folder / (f"{name}.json" if n == 0 else f"{name}-{n}.json")
            try:
                os.link(tmp, path, follow_symlinks=False)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError(f"no free name for {name}.json in {folder}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fd = os.open(folder, os.O_RDONLY)
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
    created = store.create_run(record, root).result()
    store.save(
        record, batch, [s for s in structures if s[0] != ""], log=created.batches
    ).result()  # the run row's checksum is that of the log written here
    return record.id
