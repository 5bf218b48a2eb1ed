"""What the primary announces about committed tile invalidations, heard on one listening connection.

Migration 0028 makes every transaction that records a tile invalidation send ``NOTIFY
landreg_tiles`` with its transaction id; PostgreSQL delivers it after the commit. A thread per
process listens on its own connection to the primary and counts what it hears. The tile cache
(:mod:`landreg.tilecache`) compares that count with what its last sync covered: while nothing new
was announced, a cached tile is current without asking the database, which is what makes a cache
hit as cheap as an empty HTTP answer.

Whenever the thread is not listening (starting, the primary restarted, the connection lost, its
heartbeat not heard back within two seconds) the cache syncs on every request, as without
announcements; on each (re)connection one announcement stands for whatever was committed while
nobody listened. Each announcement carries the primary's WAL position read after it arrived; only
the primary can be listened to (a hot standby refuses LISTEN), so a sync on a replica covers the
announcements only once that replica has replayed the position.

Between a commit and its announcement reaching another process lies the delivery of one message
on an open connection and the listening thread's turn to run: a few milliseconds at most on one
host. A change this process commits is counted as it commits (the engine's commit event, just
before the COMMIT) and again when the database's notification arrives after it.
"""

from __future__ import annotations

import logging
import math
import select
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

CHANNEL = "landreg_tiles"
_POLL_S = 1.0  # how often the listening thread looks up from waiting, and sends its heartbeat
_HEARTBEAT_S = 2.0  # its own heartbeat not heard back within this: the line is dead (or a pooler eats it)
_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)
_WAL_POSITION = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"


class Announcements:
    """A count of announcements heard (and of commits made here), and the primary's WAL position
    after the newest one heard: a hot standby that has replayed it sees what was announced.
    ``listening`` only while the connection is open, LISTEN in force and its heartbeat heard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.lsn = 0
        self.xid = 0  # the newest announcing transaction heard (for diagnosis and tests)
        self._pending = False  # counted, the WAL position after them not read yet
        self.listening = False
        self.epoch = 0  # connections made: a sync in the same epoch missed nothing in between
        self._fd = -1  # the listening connection's socket while it listens
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def announce(self, lsn: int | None = None) -> None:
        """Something was committed that a sync must take in (``lsn``: the primary's WAL position
        at or after its commit, when known)."""
        with self._lock:
            self.count += 1
            if lsn is not None and lsn > self.lsn:
                self.lsn = lsn

    def state(self) -> tuple[int, float]:
        """The count, and the WAL position a replica must have replayed to cover it (infinite while
        the position after the newest announcements is being read)."""
        with self._lock:
            return self.count, math.inf if self._pending else self.lsn

    def quiet(self) -> bool:
        """Listening, and nothing arrived that the thread has not counted yet (a look at the
        socket, no round trip: it closes most of the gap between a notification's arrival and the
        listening thread's turn to run). Never raises: in doubt, not quiet."""
        fd = self._fd
        if not self.listening or fd < 0:
            return False
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    # -- the listening thread --------------------------------------------------------------------

    def start(self, connect: Callable[[], psycopg.Connection]) -> None:
        """Listen in a daemon thread on connections from ``connect`` (autocommit, to the primary)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(connect,), name="landreg-tile-notices", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self, connect: Callable[[], psycopg.Connection]) -> None:
        failures = 0
        while not self._stop.is_set():
            conn = None
            try:
                conn = connect()
                conn.execute(f"LISTEN {CHANNEL}")
                with self._lock:
                    self.epoch += 1
                # what was committed while nobody listened: covered once a sync sees this position
                self.announce(conn.execute(_WAL_POSITION).fetchone()[0])
                self._fd = conn.fileno()
                self.listening = True
                failures = 0
                self._hear(conn)
            except (psycopg.Error, OSError, _Deaf) as exc:
                if not self._stop.is_set():
                    log.warning("tile cache: not listening for changes (%s); syncing per request", _first_line(exc))
                failures += 1
            finally:
                self.listening = False  # before the socket closes: quiet() must not look at it
                self._fd = -1
                if conn is not None:
                    conn.close()
            self._stop.wait(_RETRY_S[min(failures, len(_RETRY_S) - 1)])

    def _hear(self, conn: psycopg.Connection) -> None:
        """Count what arrives; send a heartbeat (a notification to itself) each second of silence
        and stop listening when it does not come back: a connection that died without a word, or a
        pooler in transaction mode that never delivers, must not look like a quiet register."""
        ping = f"ping {conn.info.backend_pid}"
        sent = None
        while not self._stop.is_set():
            heard = []
            for notice in conn.notifies(timeout=_POLL_S):
                if notice.payload == ping:
                    sent = None
                elif not notice.payload.startswith("ping "):  # others' heartbeats are not changes
                    heard.append(notice.payload)
            if heard:
                with self._lock:  # counted at once; a replica covers them once it is past `position`
                    self.count += len(heard)
                    self._pending = True
                self.xid = max([self.xid, *(int(p) for p in heard if p.isdigit())])
                position = conn.execute(_WAL_POSITION).fetchone()[0]  # at or after those commits
                with self._lock:
                    self.lsn = max(self.lsn, position)
                    self._pending = False
            now = time.monotonic()
            if sent is not None and now - sent > _HEARTBEAT_S:
                raise _Deaf(f"own heartbeat not heard back within {_HEARTBEAT_S:g} s")
            if sent is None:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, ping))
                sent = now


class _Deaf(Exception):
    """The listening connection stopped hearing."""


def listen(notices: Announcements, primary: Engine) -> Callable[[], None]:
    """Start hearing the announcements of ``primary`` (the database that takes the writes) and count
    this process's own commits at once; returns the function that stops both."""
    conninfo = primary.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def connect() -> psycopg.Connection:
        return psycopg.connect(
            conninfo,
            autocommit=True,
            application_name="landreg-tile-notices",
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )

    def committed(_conn) -> None:
        notices.announce()

    event.listen(primary, "commit", committed)
    notices.start(connect)

    def stop() -> None:
        notices.stop()
        event.remove(primary, "commit", committed)

    return stop


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
