"""What the primary announces about committed tile invalidations, heard on one listening connection.

Migration 0028 makes every transaction that records a tile invalidation send ``NOTIFY
landreg_tiles`` with its transaction id; PostgreSQL delivers it after the commit. A thread per
process listens on its own connection to the primary and counts what it hears. The tile cache
(:mod:`landreg.tilecache`) compares that count with what its last sync covered: while nothing new
was announced, a cached tile is current without asking the database, which is what makes a cache
hit as cheap as an empty HTTP answer.

Whenever the thread is not listening (starting, the primary restarted, the connection lost) the
cache syncs on every request, as without announcements; on each (re)connection one announcement
without a transaction id stands for whatever was committed while nobody listened. Only the primary
can be listened to (a hot standby refuses LISTEN), so a cache reading from replicas still checks
that a replica has replayed an announced transaction before it counts as synced.

Between a commit and its announcement reaching another process lies the delivery of one message
on an open connection (well under a millisecond on one host); a change this process commits
itself counts at once (:meth:`Announcements.announce` from the engine's commit event).
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

CHANNEL = "landreg_tiles"
_POLL_S = 1.0  # how often the listening thread looks up from waiting (to stop, to check the line)
_CHECK_AFTER_S = 30.0  # silence after which the connection is checked with a query
_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class Announcements:
    """A count of announcements heard (and of commits made here) and the newest transaction id among
    them; ``listening`` only while the connection is open and LISTEN in force."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.xid = 0
        self.listening = False
        self.epoch = 0  # connections made: a sync in the same epoch missed nothing in between
        self._fd = -1  # the listening connection's socket while it listens
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def announce(self, xid: int | None = None) -> None:
        """Something was committed (by ``xid``, when known) that a sync must take in."""
        with self._lock:
            self.count += 1
            if xid is not None and xid > self.xid:
                self.xid = xid

    def state(self) -> tuple[int, int]:
        with self._lock:
            return self.count, self.xid

    def quiet(self) -> bool:
        """Listening, and nothing arrived that the thread has not counted yet (a look at the
        socket, no round trip: it closes most of the gap between a notification's arrival and the
        listening thread's turn to run)."""
        fd = self._fd
        return self.listening and fd >= 0 and not select.select([fd], [], [], 0)[0]

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
            try:
                with connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    with self._lock:
                        self.epoch += 1
                    self.announce()  # what was committed while nobody listened
                    self._fd = conn.fileno()
                    self.listening = True
                    failures = 0
                    self._hear(conn)
            except (psycopg.Error, OSError) as exc:
                if not self._stop.is_set():
                    log.warning("tile cache: not listening for changes (%s); syncing per request", _first_line(exc))
                failures += 1
            finally:
                self.listening = False
                self._fd = -1
            self._stop.wait(_RETRY_S[min(failures, len(_RETRY_S) - 1)])

    def _hear(self, conn: psycopg.Connection) -> None:
        quiet_s = 0.0
        while not self._stop.is_set():
            heard = False
            for notice in conn.notifies(timeout=_POLL_S):
                heard = True
                self.announce(int(notice.payload) if notice.payload.isdigit() else None)
            quiet_s = 0.0 if heard else quiet_s + _POLL_S
            if quiet_s >= _CHECK_AFTER_S:  # a connection that died silently raises here
                conn.execute("SELECT 1")
                quiet_s = 0.0


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
