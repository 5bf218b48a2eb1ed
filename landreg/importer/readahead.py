"""The next batch of a file read and prepared in a thread while the importer writes the current one.

Reading (GDAL) and the geometry work (GEOS) release the GIL, so the two overlap on two cores. The
reading thread's Python parts (columns translated, rows built) hold it, though, and the importer's
thread needs it back after every answer of the server (a COPY's flush, a statement's result):
with CPython's switch interval of 5 ms it waited up to that long each time. While a file is read
ahead the interval is 0.5 ms (:func:`short_switches`): an import of 1M parcels took 91.8 s and
97.0 s instead of 100.3 s and 101.5 s (paired, alternately), writing the staging rows 9.5–10.7 s
instead of 12.6–13.0 s, of which the importer's thread computed 1.6 s. With the indicators computed
by a second process beside it (:mod:`landreg.scoring.ahead`) both cores are busy throughout and the
gain is about 2 s: what the importer's thread then waits for is a core, not the GIL.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

#: The switch interval while a file is read ahead (seconds).
SWITCH_INTERVAL_S = 0.0005

_lock = threading.Lock()
_readers = 0
_saved_interval: float | None = None

T = TypeVar("T")


@contextmanager
def short_switches():
    """The interpreter's switch interval at :data:`SWITCH_INTERVAL_S` for the block, as it was
    afterwards. Imports running at once in one process (uploads) share it: the first sets it, the
    last one to end restores it."""
    global _readers, _saved_interval
    with _lock:
        if _readers == 0:
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL_S, _saved_interval))
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0:
                sys.setswitchinterval(_saved_interval)
                _saved_interval = None


def read_ahead(batches: Iterator[T], prepare: Callable[[int, T], tuple]) -> Iterator[tuple]:
    """(batch, prepared), the next batch read and prepared in a thread while this one is written;
    at most two batches in memory."""

    def next_prepared(i: int):
        batch = next(batches, None)
        return None if batch is None else (batch, prepare(i, batch))

    with short_switches(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as pool:
        ahead = pool.submit(next_prepared, 0)
        i = 0
        while (done := ahead.result()) is not None:
            i += 1
            ahead = pool.submit(next_prepared, i)
            yield done
