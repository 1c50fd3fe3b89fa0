"""Dask collections as taskbeam runs: ``tb.dask.get`` is a Dask scheduler.

>>> import dask
>>> import taskbeam as tb
>>> total = dask.delayed(sum)([dask.delayed(abs)(-i) for i in range(4)])
>>> total.compute(scheduler=tb.dask.get)
6

Every Dask collection (``dask.array``, ``dask.dataframe``, ``dask.bag``,
``dask.delayed``) is computed as a taskbeam run: the live view in the
notebook cell, pause and cancel, a store to continue from after a crash, the
result cache. See docs/dask.md.
"""

from taskbeam.dask._convert import Converted, convert, readable
from taskbeam.dask._scheduler import Scheduler, get, scheduler

__all__ = ["Converted", "Scheduler", "convert", "get", "readable", "scheduler"]
