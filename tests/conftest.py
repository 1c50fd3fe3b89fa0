"""Shared helpers: poll against a deadline instead of sleeping; a small real filesystem."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hypothesis import HealthCheck, settings

# Hypothesis's "too slow" health check times data generation, which on a
# loaded 2-core machine is noise, not a property of the code: it is off for
# every test. Deadlines stay per test, where a test sets them.
settings.register_profile("taskbeam", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("taskbeam")


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.005
) -> None:
    """Poll ``predicate`` until it is truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextlib.contextmanager
def tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A real, small filesystem mounted for the test (the suite runs as root)."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)
