"""Reads from hot standbys, writes to the primary: which database a connection comes from.

"Reads never write" in landreg, so a read can be answered by a streaming replica. The HTTP adapter
(:mod:`api.replicas`) marks each request with :func:`reading` or :func:`writing`; the
:class:`RoutingEngine` then hands out connections:

* ``connect()`` inside :func:`reading`: a replica that is up, lags at most
  ``LANDREG_REPLICA_MAX_LAG_S`` and has replayed the caller's last commit (``min_lsn``), else the
  primary; a replica that refuses the connection is marked down and the primary answers instead;
  one whose connection breaks during a read is marked down at once and the request told
  (``Route.replica_lost``: the adapter answers it again from the primary); a read the replica
  cancels because replay needed what it used (a conflict with recovery) leaves the replica in use
  and is answered again from the primary too (``Route.recovery_conflict``);
* ``begin()`` (a transaction that may write), and everything outside :func:`reading` (the command
  line, background work, writes): the primary.

Read-your-writes by LSN, not by pinning the writer to the primary for a while: after a write the
adapter hands the client the primary's WAL position (``pg_current_wal_insert_lsn()``, at or
after the commit) and the client's reads go to a replica only once that replica has replayed it.
That is exact (no guessed duration that a lagging replica could exceed), needs no shared state
between workers, and sends the writer back to the replicas as soon as they caught up (the next
check, about a second).

The state of each replica (up, in recovery, replayed LSN, lag) is checked in the background at
most every ``LANDREG_REPLICA_CHECK_S``, never per request. Lag is measured against samples of the
primary's flushed WAL position taken at each check: a replica that has replayed the position the
primary had at time *t* misses at most what was committed since *t*.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.engine.base import OptionEngine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from landreg.db import is_stale_prepared, make_engine, sqlalchemy_url
from landreg.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: The engines of hot standbys (what :func:`on_replica` asks).
_REPLICA_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
PRIMARY_NAME = "landreg-primary"
REPLICA_NAME = "landreg-replica"
_CHECK_NAME = "landreg-replica-check"
#: Seconds the check waits for a replica's connection (a host that is gone must not hold it up).
CHECK_CONNECT_TIMEOUT_S = 2


@dataclass
class Route:
    """What one request may use: ``read_only`` requests a replica that has replayed ``min_lsn``;
    ``wrote`` is set when it committed on the primary."""

    read_only: bool
    min_lsn: int = 0
    wrote: bool = False
    replica: Replica | None = None  # all reads of one request from one replica: one consistent state
    replica_lost: bool = False  # that replica's connection broke during the request
    recovery_conflict: bool = False  # that replica cancelled a read: its replay needed what the read used

    @property
    def read_again(self) -> bool:
        """The replica failed a read, not the request: the primary may answer it again (reads never
        write, so running one twice is safe)."""
        return self.replica_lost or self.recovery_conflict


_ROUTE: ContextVar[Route | None] = ContextVar("landreg_route", default=None)


@contextmanager
def _routed(route: Route) -> Iterator[Route]:
    token = _ROUTE.set(route)
    try:
        yield route
    finally:
        _ROUTE.reset(token)


def reading(min_lsn: int = 0):
    """Connections taken inside may come from a replica that has replayed ``min_lsn``."""
    return _routed(Route(read_only=True, min_lsn=min_lsn))


def writing():
    """Connections taken inside come from the primary; the route records whether it committed."""
    return _routed(Route(read_only=False))


def reading_from_primary():
    """A read the primary answers: the replica's connection broke under its first attempt."""
    return _routed(Route(read_only=False))


#: SQLSTATEs of a read a hot standby cancelled "due to conflict with recovery": replay had to remove
#: rows its snapshot might still see, take a lock it held, or clean a page it pinned (40001), or it
#: deadlocked with replay (40P01). On a standby nothing else raises them: every transaction there
#: reads, and a serializable one is refused outright.
RECOVERY_CONFLICT = frozenset({"40001", "40P01"})

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def parse_lsn(value: str | None) -> int | None:
    """A WAL position as PostgreSQL writes it (``16/B374D848``) as a number; None if it is none."""
    found = _LSN.match(value or "")
    return (int(found[1], 16) << 32 | int(found[2], 16)) if found else None


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaState:
    """One check's finding: ``ok``, ``lagging``, ``down``, ``not_standby`` or ``unknown`` (not yet checked)."""

    state: str = "unknown"
    replay_lsn: int = 0
    lag_s: float | None = None
    checked_at: float = 0.0  # time.monotonic()
    reason: str | None = None


@dataclass
class Replica:
    """A hot standby: the engine requests use and a small one of its own for the checks."""

    name: str
    engine: Engine
    probe: Engine
    state: ReplicaState = field(default_factory=ReplicaState)

    def mark_down(self, exc: Exception) -> None:
        was = self.state.state
        self.state = ReplicaState("down", checked_at=time.monotonic(), reason=_first_line(exc))
        if was != "down":
            log.warning("replica %s is down, reading from the primary: %s", self.name, self.state.reason)

    def failed(self, context: ExceptionContext) -> None:
        """A ``handle_error`` listener. A read cancelled by a conflict with recovery tells the
        request and leaves the replica in use (replay went on as it should; also when the conflict
        ended the session). A connection that broke otherwise (the server stopped or went away)
        takes the replica out of use at once, not at the next check, and tells the request (not a
        prepared statement that a replayed migration made stale: the replica is fine)."""
        route = _ROUTE.get()
        ours = route is not None and route.replica is self
        if getattr(context.original_exception, "sqlstate", None) in RECOVERY_CONFLICT:
            if ours:
                route.recovery_conflict = True
        elif context.is_disconnect and not is_stale_prepared(context.original_exception):
            self.mark_down(context.original_exception)
            if ours:
                route.replica_lost = True


def _first_line(exc: Exception) -> str:
    """The cause, without the connection details before it (a socket, host or user name)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).splitlines()
    return f"{type(orig).__name__}: {lines[0].rsplit(': ', 1)[-1]}" if lines else type(orig).__name__


class RoutingEngine(OptionEngine):
    """The primary's engine for everything, a replica's for the reads of :func:`reading`.

    An :class:`~sqlalchemy.Engine` over the primary's pool (as ``engine.execution_options()``
    makes one), so that code written for an engine, ORM sessions included, works unchanged."""

    def __init__(self, primary: Engine, replicas: list[Replica], max_lag_s: float, check_s: float):
        super().__init__(primary, {})
        self.primary = primary
        self.replicas = replicas
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, primary's flushed LSN)
        self._checked_at = 0.0
        self._checking = False
        self._lock = threading.Lock()
        self._turn = 0
        event.listen(primary, "commit", _note_commit)

    # -- connections ------------------------------------------------------------------------
    def connect(self) -> Connection:
        route = _ROUTE.get()
        if route is not None and route.read_only:
            replica = route.replica or self.pick(route.min_lsn)
            if replica is not None and replica.state.state == "ok":
                try:
                    connection = replica.engine.connect()
                except DBAPIError as exc:
                    replica.mark_down(exc)
                else:
                    route.replica = replica
                    return connection
            route.read_only = False  # the rest of the request reads from the primary too
        return super().connect()  # the primary's pool, as this engine (a session's connections stay one)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction that may write: on the primary, wherever it is begun."""
        with super().connect() as conn, conn.begin():
            yield conn

    def dispose(self, close: bool = True) -> None:
        self.primary.dispose(close)
        for replica in self.replicas:
            replica.engine.dispose()
            replica.probe.dispose()

    def pick(self, min_lsn: int = 0) -> Replica | None:
        """A usable replica that has replayed ``min_lsn`` (in turn), or None: read from the primary."""
        self._check_when_due()
        usable = [
            r
            for r in self.replicas
            if r.state.state == "ok" and r.state.replay_lsn >= min_lsn and not self._stale(r.state)
        ]
        if not usable:
            return None
        self._turn += 1
        return usable[self._turn % len(usable)]

    def _stale(self, state: ReplicaState) -> bool:
        """A finding too old to vouch for the lag (the checks stopped): the replica is not used."""
        return time.monotonic() - state.checked_at > self.max_lag_s

    def commit_lsn(self) -> int:
        """The primary's WAL position now: at or after every commit made before this call."""
        with self.primary.connect() as conn:
            return parse_lsn(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()) or 0

    # -- checks -----------------------------------------------------------------------------
    def _check_when_due(self) -> None:
        with self._lock:
            due = not self._checking and time.monotonic() - self._checked_at >= self.check_s
            self._checking = self._checking or due
        if due:
            threading.Thread(target=self._check_in_background, name="landreg-replica-check", daemon=True).start()

    def _check_in_background(self) -> None:
        try:
            self.check()
        finally:
            self._checking = False

    def check(self) -> None:
        """Sample the primary's WAL position, then find each replica's state and lag."""
        self._checked_at = time.monotonic()
        try:
            with self.primary.connect() as conn:
                flushed = parse_lsn(conn.execute(text("SELECT pg_current_wal_flush_lsn()::text")).scalar_one())
            self._samples.append((time.monotonic(), flushed or 0))
        except DBAPIError as exc:  # the primary is down: replicas are judged by the last sample
            log.warning("could not sample the primary's WAL position: %s", _first_line(exc))
        keep = self.max_lag_s + 3 * self.check_s
        while len(self._samples) > 1 and time.monotonic() - self._samples[0][0] > keep:
            self._samples.popleft()
        for replica in self.replicas:
            replica.state = self._check_replica(replica)

    def _check_replica(self, replica: Replica) -> ReplicaState:
        try:
            with replica.probe.connect() as conn:
                standby, replayed = conn.execute(
                    text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")
                ).one()
        except DBAPIError as exc:
            if replica.state.state != "down":
                log.warning("replica %s is down: %s", replica.name, _first_line(exc))
            return ReplicaState("down", checked_at=time.monotonic(), reason=_first_line(exc))
        now = time.monotonic()
        if not standby:  # promoted, or a primary given by mistake: it no longer follows the primary
            return ReplicaState("not_standby", checked_at=now, reason="pg_is_in_recovery() is false")
        replay = parse_lsn(replayed) or 0
        lag = self._lag(replay, now)
        if lag is None or lag > self.max_lag_s:
            return ReplicaState("lagging", replay, lag, now, f"more than {self.max_lag_s:g} s behind the primary")
        return ReplicaState("ok", replay, lag, now)

    def _lag(self, replay: int, now: float) -> float | None:
        """Seconds of commits the replica may miss: since the newest primary sample it has replayed
        (0 when it has replayed the latest). None: older than every sample kept."""
        samples = list(self._samples)
        if not samples or replay >= samples[-1][1]:
            return 0.0
        for at, lsn in reversed(samples):
            if lsn <= replay:
                return round(now - at, 3)
        return None

    def states(self) -> list[dict]:
        """Which databases serve: the primary, then each replica with its state (no addresses)."""
        self._check_when_due()
        out = [{"name": "primary", "role": "primary", "state": "ok", "in_use": True, "lag_s": None}]
        for replica in self.replicas:
            state = replica.state
            usable = state.state == "ok" and not self._stale(state)
            out.append(
                {
                    "name": replica.name,
                    "role": "replica",
                    "state": state.state if state.state != "ok" or usable else "unknown",
                    "in_use": usable,
                    "lag_s": state.lag_s,
                    "reason": state.reason,
                }
            )
        return out


def _note_commit(conn: Connection) -> None:
    route = _ROUTE.get()
    if route is not None:
        route.wrote = True


def replica_urls(settings: Settings | None = None) -> list[str]:
    """``LANDREG_READ_DATABASE_URLS`` as a list."""
    value = (settings or get_settings()).read_database_urls or ""
    return [url.strip() for url in value.split(",") if url.strip()]


def serving_engine(
    url: str | None = None, read_urls: list[str] | None = None, settings: Settings | None = None
) -> Engine | RoutingEngine:
    """The API's engine: the primary alone, or with the replicas of ``read_urls`` (default:
    ``LANDREG_READ_DATABASE_URLS``), checked once before the first request."""
    settings = settings or get_settings()
    read_urls = replica_urls(settings) if read_urls is None else read_urls
    primary = make_engine(url, serving=True, application_name=PRIMARY_NAME)
    if not read_urls:
        return primary
    replicas = []
    for number, read_url in enumerate(read_urls, start=1):
        engine = make_engine(sqlalchemy_url(read_url), serving=True, application_name=REPLICA_NAME)
        probe = create_engine(
            make_url(sqlalchemy_url(read_url)),
            poolclass=NullPool,
            connect_args={"application_name": _CHECK_NAME, "connect_timeout": CHECK_CONNECT_TIMEOUT_S},
        )
        _REPLICA_ENGINES.add(engine)
        replica = Replica(f"replica-{number}", engine, probe)
        event.listen(engine, "handle_error", replica.failed)
        replicas.append(replica)
    routing = RoutingEngine(primary, replicas, settings.replica_max_lag_s, settings.replica_check_s)
    routing.check()
    return routing


def database_states(engine) -> list[dict]:
    """For /ready: the databases in use and their state."""
    if isinstance(engine, RoutingEngine):
        return engine.states()
    return [{"name": "primary", "role": "primary", "state": "ok", "in_use": True, "lag_s": None}]


def on_replica(conn: Connection) -> bool:
    """Whether ``conn`` reads from a hot standby."""
    return conn.engine in _REPLICA_ENGINES


def primary_of(engine):
    """The primary's engine (health checks must ask the primary, not whichever replica answers)."""
    return engine.primary if isinstance(engine, RoutingEngine) else engine
