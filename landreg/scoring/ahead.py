"""Indicators of a large import's parcels, computed by a second process while the import runs.

An import of more parcels than it scores in its own transaction leaves them to a full run after its
commit, and most of that run is computing their indicators (1M parcels: ~110 s on one core). The
import keeps one core busy: PostgreSQL runs its INSERT … SELECT without parallel workers, and no
other connection sees its rows before the commit. So the other core computes the indicators of the
geometries the import writes, batch after batch as it writes them, into a temporary table of a
connection of its own; after the commit they are adopted for the parcels whose geometry is exactly
the one they were computed from (an indicator depends on the geometry and the context layers only,
:mod:`landreg.scoring.indicators`), and the full run computes only what is left.

The work runs in a process of its own, not a thread: its Python part (a coverage grid per chunk,
3–4 s each) would otherwise hold the interpreter lock the import's reading and COPY need. Its
connection holds the context lock (shared, :data:`indicators.CONTEXT_LOCK`) from before its first
computation until the adoption: no change of a context layer can fall between them (a change
waits as it waits for a full run, here for the rest of the import too: at 1M parcels some two
minutes). Like a full run, it needs a session of its own, not a pooler's in transaction mode. The
process ends with the importer however that ends (a process left behind would keep the lock).
Whatever goes wrong here costs time, never a value: a failed or stopped computation adopts nothing,
and the full run computes those parcels as before.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from landreg.db import geometry_copy, make_engine
from landreg.scoring import indicators

log = logging.getLogger(__name__)

#: Geometries computed in one statement: fewer statements build fewer coverage grids (3–4 s each at
#: this size), smaller ones leave less to compute after the import's last batch.
CHUNK = 200_000
#: The connection's buffers for its temporary tables (1M geometries with their values fill ~300 MB,
#: which the default 8 MB would write out and read back), and the adoption's memory for sorting.
TEMP_BUFFERS = "256MB"
#: How long :meth:`IndicatorsAhead.adopt` waits for the computation still under way, at most (seconds).
ADOPT_WAIT_S = 3_600
#: Batches waiting for the process at most: one that falls this far behind is stopped (the full run
#: computes the rest) rather than the import holding ever more geometries in memory for it.
BACKLOG = 64
_COLUMNS = ", ".join(indicators.COLUMNS)
_FINISH, _ADOPT_NOW = "finish", "adopt"  # messages to the process besides batches of geometries


class IndicatorsAhead:
    """The indicators of the geometries an import writes, computed while it runs (started once more
    than ``start_after`` have been fed: an import of fewer scores them in its own transaction).

    ``feed`` (the import's written rows as ``(ags, local_ref, EWKB)``) and ``finish`` return at once;
    ``adopt`` after the import's commit stores what was computed; ``discard`` stops it; ``close`` (or
    leaving the ``with`` block) ends it either way.
    """

    def __init__(self, engine: Engine, start_after: int, chunk: int = CHUNK) -> None:
        self.url = engine.url.render_as_string(hide_password=False)
        self.start_after, self.chunk = start_after, chunk
        self.fed = 0
        self.failure: str | None = None
        self._waiting: list[tuple] = []  # fed before the start
        self._process: multiprocessing.process.BaseProcess | None = None
        self._inbox: multiprocessing.Queue | None = None
        self._outbox: multiprocessing.Queue | None = None
        self._stopped = False

    def __enter__(self) -> IndicatorsAhead:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    @property
    def stopped(self) -> bool:
        """Whether it takes no more geometries (stopped, or its process ended)."""
        if self._process is not None and not self._process.is_alive():  # failed: its answer waits for adopt
            self._stopped = True
        return self._stopped

    def feed(self, rows: Iterable[tuple]) -> None:
        """Geometries the import writes, with the AGS and reference of their parcel. Never fails the
        import: whatever goes wrong stops this, and the full run computes them."""
        if self.stopped:
            return
        try:
            rows = [r for r in rows if r[0] is not None and r[1] is not None]
            self.fed += len(rows)
            if self._process is None:
                self._waiting.extend(rows)
                if self.fed <= self.start_after:
                    return
                rows, self._waiting = self._waiting, []
                self._start()
            self._inbox.put_nowait(rows)
        except queue.Full:
            self._give_up(f"the second process fell more than {BACKLOG} batches behind")
        except Exception as exc:
            self._give_up(f"{type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """No more geometries: compute the rest now."""
        if self._process is not None and not self.stopped:
            try:
                self._inbox.put_nowait(_FINISH)
            except Exception as exc:
                self._give_up(f"{type(exc).__name__}: {exc}")

    def _give_up(self, why: str) -> None:
        self.failure = why
        log.warning("computing the indicators during the import stopped (the full run computes them): %s", why)
        self.discard()

    def discard(self) -> None:
        """Stop computing (the import scores its parcels itself, or failed): adopt nothing. The
        process is killed; its session ends within a second (``client_connection_check_interval``),
        and its lock and tables with it."""
        self._stopped, self._waiting = True, []
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process = None
            self._inbox.cancel_join_thread()  # what it did not read is dropped, not waited for at exit

    def adopt(self) -> int:
        """After the import's commit: store the computed indicators of every current parcel whose
        geometry is the one they were computed from; returns how many parcels got theirs."""
        if self._process is None:
            return 0
        for message in (_FINISH, _ADOPT_NOW):
            while self._process.is_alive():  # the backlog empties as it computes
                try:
                    self._inbox.put(message, timeout=1)
                    break
                except queue.Full:
                    continue
        outcome = self._answer()
        self.close()
        if isinstance(outcome, int):
            return outcome
        self.failure = outcome
        log.warning(
            "the indicators computed during the import were not adopted (the full run computes them): %s", outcome
        )
        return 0

    def close(self) -> None:
        if self._process is not None:
            self.discard()
        self._stopped = True

    def _answer(self) -> int | str:
        """The process's answer: the count adopted, or why it failed."""
        for _ in range(ADOPT_WAIT_S):
            try:
                return self._outbox.get(timeout=1)
            except queue.Empty:
                if not self._process.is_alive():  # ended without a word (killed): one last look
                    try:
                        return self._outbox.get(timeout=1)
                    except queue.Empty:
                        return f"the process ended ({self._process.exitcode}) without an answer"
        return f"no answer within {ADOPT_WAIT_S} s"

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of this process's threads and connections
        self._inbox, self._outbox = context.Queue(BACKLOG), context.Queue()
        process = context.Process(
            target=_serve,
            args=(self.url, self.chunk, self._inbox, self._outbox),
            name="landreg-indicators-ahead",
            daemon=True,
        )
        process.start()  # one that could not start (no memory, no processes left) is nothing to stop
        self._process = process


def _serve(url: str, chunk: int, inbox: multiprocessing.Queue, outbox: multiprocessing.Queue) -> None:
    """The process: store and compute what arrives, adopt when asked, answer with the count (or why not).

    It ends with the importer: a process left behind would hold the context lock (and a change of a
    context layer waiting for it, and everyone queued behind that) for as long as it lives. Ctrl-C is
    the importer's to handle: it stops this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    engine = None
    try:
        engine = make_engine(url, application_name="landreg-indicators-ahead")
        with engine.connect() as conn:
            _prepare(conn)
            waiting, finished = 0, False
            while (message := _next(inbox, parent)) != _ADOPT_NOW:
                if message is None:  # the importer is gone: so is the session, its lock and tables
                    return
                if message == _FINISH:
                    finished = True
                else:
                    waiting += _store(conn, message)
                if waiting and (waiting >= chunk or finished):
                    _compute(conn)
                    waiting = 0
            outbox.put(_adopt(conn))
    except Exception as exc:  # reported to the importer, which leaves the parcels to the full run
        outbox.put(f"{type(exc).__name__}: {exc}")
    finally:
        if engine is not None:
            engine.dispose()


def _next(inbox: multiprocessing.Queue, parent: multiprocessing.process.BaseProcess | None):
    """The next message, or None once the importer's process has ended (looked at every second)."""
    while True:
        try:
            return inbox.get(timeout=1)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return None


def _prepare(conn: Connection) -> None:
    try:
        with conn.begin():  # before the first use of a temporary table
            conn.execute(text(f"SET temp_buffers = '{TEMP_BUFFERS}'"))
    except DBAPIError:
        log.debug("temp_buffers left as they are", exc_info=True)
    with conn.begin():
        # a killed process's session ends at once, even in the middle of a statement
        conn.execute(text("SET client_connection_check_interval = '1s'"))
        indicators.hold_context(conn, session=True)  # held after the commit, until the session ends
        conn.execute(
            text(f"""
            CREATE TEMP TABLE ahead_geom (ags char(8), local_ref text, geom geometry(MultiPolygon, 25832));
            CREATE TEMP TABLE ahead_indicator (
                ags char(8), local_ref text, geom geometry(MultiPolygon, 25832), computed_at timestamptz, {indicators.COLUMN_TYPES}
            );
        """)
        )


def _store(conn: Connection, rows: list[tuple]) -> int:
    if rows:
        with conn.begin():
            cursor, geometry = geometry_copy(conn)
            with cursor.copy("COPY ahead_geom (ags, local_ref, geom) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", geometry])
                for row in rows:
                    copy.write_row(row)
    return len(rows)


def _compute(conn: Connection) -> None:
    """The indicators of the geometries stored since the last computation, by the batch route of
    :func:`indicators.compute` (the same values), kept with their geometry."""
    with conn.begin():
        conn.execute(text("SET LOCAL jit = off; ANALYZE pg_temp.ahead_geom"))
        layers = indicators.loaded_layers(conn)
        batch = indicators.batch_source(conn, layers, "pg_temp.ahead_geom p", "p.ags, p.local_ref", [], {})
        if batch is not None:
            source, grid = batch
            conn.execute(
                text(f"""
                INSERT INTO pg_temp.ahead_indicator (ags, local_ref, geom, computed_at, {_COLUMNS})
                SELECT p.ags, p.local_ref, p.geom, clock_timestamp(), {indicators.select_list(layers, batch=True)}
                  FROM {source}
            """),
                grid,
            )
        conn.execute(text("TRUNCATE pg_temp.ahead_geom"))


def _adopt(conn: Connection) -> int:
    with conn.begin():
        conn.execute(
            text(f"SET LOCAL jit = off; SET LOCAL work_mem = '{TEMP_BUFFERS}'; ANALYZE pg_temp.ahead_indicator")
        )
        return conn.execute(text(_ADOPT), {"definition": indicators.DEFINITION}).rowcount


#: Adoption: a parcel's indicators computed from the geometry it has (``=``: the same coordinates in
#: the same order), after the last change of a context layer; one row per parcel (a reference given
#: twice in a file was rejected, but its geometries were computed), in key order. A row written since
#: by a newer version of the parcel (an edit after the commit) stays.
_ADOPT = f"""
    INSERT INTO parcel_indicator (parcel_id, parcel_version, computed_at, definition, {_COLUMNS})
    SELECT DISTINCT ON (p.id) p.id, p.version, a.computed_at, :definition, {", ".join(f"a.{c}" for c in indicators.COLUMNS)}
      FROM pg_temp.ahead_indicator a
      JOIN parcel p ON p.ags = a.ags AND p.local_ref = a.local_ref AND p.retired_at IS NULL
     WHERE p.geom = a.geom AND a.computed_at >= (SELECT changed_at FROM context_state)
     ORDER BY p.id
    ON CONFLICT (parcel_id) DO UPDATE SET {indicators.UPSERT_SET}
     WHERE parcel_indicator.parcel_version <= EXCLUDED.parcel_version
"""
