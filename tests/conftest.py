"""Shared helpers: poll against a deadline instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable

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
