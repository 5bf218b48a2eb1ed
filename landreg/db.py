"""Connecting to the registry database: the configured URL or the embedded local cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

from landreg.localdb import LocalCluster
from landreg.settings import Settings, get_settings


def sqlalchemy_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def resolve_database_url(settings: Settings | None = None, start: bool = True) -> str:
    """The database to use: ``LANDREG_DATABASE_URL``, else the embedded cluster (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    cluster = LocalCluster.from_settings(settings)
    if start:
        cluster.ensure_running()
    return cluster.url()


#: The API request a statement serves (set by ``api.logs``; letters, digits, ``._-`` only). The
#: serving engine passes it to the database: in the session's ``application_name`` after the engine's
#: name (``landreg-replica 6786d0ee…``, :func:`_name_with_request`) where statements are prepared,
#: else as a comment before each statement, ``/* request_id=… */`` (:func:`_tag_with_request`); either
#: way pg_stat_activity and the server log (``%a`` in ``log_line_prefix``, or the STATEMENT line) show it.
REQUEST_ID: ContextVar[str | None] = ContextVar("landreg_request_id", default=None)


def _tag_with_request(conn, cursor, statement, parameters, context, executemany):
    """A listener before each statement: the request id as a comment (no extra round trip, but each
    statement's text unique: nothing can be prepared)."""
    request_id = REQUEST_ID.get()
    return (f"/* request_id={request_id} */ {statement}" if request_id else statement), parameters


#: Set by :func:`unbounded_statements`: transactions begun in this context run without a timeout.
_UNBOUNDED: ContextVar[bool] = ContextVar("landreg_unbounded_statements", default=False)


@contextmanager
def unbounded_statements() -> Iterator[None]:
    """Run work that takes minutes by design (an upload's import, rescoring every parcel) without
    the serving engine's statement timeout: transactions begun inside do not set it."""
    token = _UNBOUNDED.set(True)
    try:
        yield
    finally:
        _UNBOUNDED.reset(token)


@contextmanager
def local_settings(conn: Connection, **settings: str) -> Iterator[None]:
    """These settings for the statements inside, in the caller's transaction, and the previous
    values again after them (not restored after an error: the rollback of the caller's
    (sub)transaction undoes them)."""
    names = {f"n{i}": name for i, name in enumerate(settings)}
    read = ", ".join(f"current_setting(:{n})" for n in names)
    previous = dict(zip(names, conn.execute(text(f"SELECT {read}"), names).one(), strict=True))
    change = "SELECT " + ", ".join(f"set_config(:{n}, :v{n}, true)" for n in names)
    conn.execute(text(change), names | {f"v{n}": settings[name] for n, name in names.items()})
    yield
    conn.execute(text(change), names | {f"v{n}": value for n, value in previous.items()})


def _session_timeout(engine: Engine, milliseconds: int) -> None:
    """The statement timeout as a setting of each new session, set once it is set up (the driver's
    and SQLAlchemy's first queries on it are not bounded: a tiny timeout would break them): every
    transaction is bounded without a round trip of its own."""

    def connect(dbapi_connection, record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(milliseconds)}")
        dbapi_connection.commit()

    event.listen(engine, "connect", connect)


#: Set on a connection as a transaction begins inside :func:`unbounded_statements`.
_UNBOUND_DUE = "landreg_statement_timeout_off_due"


def _unbounded_when_asked(engine: Engine) -> None:
    """``SET LOCAL statement_timeout = 0`` in each transaction begun inside
    :func:`unbounded_statements`, sent just before the transaction's first statement (the serving
    engine's sessions have the timeout: every other transaction is bounded without a round trip).

    Not in the ``begin`` event itself: what fails there (a server that went away while the
    connection was idle in the pool) reaches the caller as the bare driver error, outside
    SQLAlchemy's handling: not recognised as a lost connection, the connection not invalidated,
    and a 500. Before a statement, a failure is SQLAlchemy's like any other (a
    :class:`~sqlalchemy.exc.DBAPIError`, the connection invalidated on a disconnect)."""

    def begin(conn: Connection) -> None:
        if _UNBOUNDED.get():
            conn.info[_UNBOUND_DUE] = True

    def before_statement(conn, cursor, statement_, parameters, context, executemany) -> None:
        if conn.info.pop(_UNBOUND_DUE, False):
            with cursor.connection.cursor() as setting:  # the driver's: no event, no autobegin
                setting.execute("SET LOCAL statement_timeout = 0")

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", before_statement)


#: Runs of a statement on a connection after which psycopg prepares it (its default): statements
#: run once or twice are not prepared at all.
PREPARE_THRESHOLD = 5

#: Seconds a pooled connection may have been idle before it is checked at checkout: less than a
#: restart of the database takes (stopping and starting, a few tenths of a second at the least).
PING_AFTER_IDLE_S = 0.1


def _check_at_checkout(engine: Engine, name: str | None = None, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """At checkout, name the session after the request it serves (``name``: the engine's
    ``application_name``, for :func:`_name_with_request`), else check a connection that sat in the
    pool longer than ``idle_s``.

    Instead of SQLAlchemy's ``pool_pre_ping``, which pings at every checkout: a round trip per
    request (0.3-0.4 ms of a 2 ms tile or feature on this machine). Under load a connection goes
    back out within milliseconds and is not checked; one idle for longer than a database restart
    takes is, so the first request after a restart gets a new connection, not an error. (Had the
    server gone away within the last tenth of a second, the request using the connection then
    failed, and SQLAlchemy invalidates the whole pool on a lost connection.) Where statements are
    prepared, the session is named after each request at its checkout instead: a round trip at
    every checkout for a request (measured: it takes a third of what preparing saves), and the
    check then. A check that fails
    (:class:`~sqlalchemy.exc.DisconnectionError`) makes the pool discard the connection and take
    another, as pre-ping does."""

    def checkin(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection, record, proxy) -> None:
        since = record.info.pop("idle_since", None)
        try:
            if name is not None and _name_with_request(dbapi_connection, record, name):
                return
            if since is None or time.monotonic() - since <= idle_s:
                return
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the driver's error of a connection that is gone
            raise DisconnectionError(str(exc)) from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


#: What the session's ``application_name`` was last set to (in the pool's record of the connection).
_NAMED = "landreg_application_name"


def _name_with_request(dbapi_connection, record, name: str) -> bool:
    """Set the session's ``application_name`` to ``name`` and the request's id (:data:`REQUEST_ID`)
    unless it already is; True when it was set (a round trip: the connection works).

    Sent by libpq directly, outside a transaction (the connection is idle at checkout) and outside
    psycopg's statement cache. The request id is letters, digits and ``._-`` (``api.logs``), and a
    parameter anyway. PostgreSQL shows the first 63 bytes in pg_stat_activity: a 32-character id
    after the engine's name fits."""
    request_id = REQUEST_ID.get()
    wanted = f"{name} {request_id}" if request_id else name
    if record.info.get(_NAMED) == wanted:
        return False
    record.info.pop(_NAMED, None)
    result = dbapi_connection.pgconn.exec_params(b"SELECT set_config('application_name', $1, false)", [wanted.encode()])
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        raise psycopg.OperationalError(result.get_error_message() or "application_name not set")
    record.info[_NAMED] = wanted
    return True


#: An execution option (see :func:`plan_each_time`).
PLAN_EACH_TIME = "landreg_plan_each_time"


def plan_each_time(conn: Connection) -> Connection:
    """Let the statements on ``conn`` run unprepared, planned for their values and the session's
    settings each time: for statements that aggregate much of the register.

    A generic plan is made once, for the settings of the moment and without the values: it keeps
    no parallel workers that a transaction asks for later (the dashboard's), and a bounding box of
    a tenth of the region counts as a few rows. Measured at 1M parcels: a z10 tile with 10,000 parcels waiting
    for review took 469 ms instead of 290. The planning such a statement saves is under a
    millisecond of hundreds."""
    return conn.execution_options(**{PLAN_EACH_TIME: True})


def _unprepared_when_asked(cursor, statement, parameters, context) -> bool:
    """A ``do_execute`` listener: run the statement without preparing it under :func:`plan_each_time`
    and inside :func:`unbounded_statements` (an upload's import, a rescoring: work of minutes, each
    statement planned for its values)."""
    if not (context.execution_options.get(PLAN_EACH_TIME) or _UNBOUNDED.get()):
        return False  # SQLAlchemy runs it as always
    cursor.execute(statement, parameters, prepare=False)
    return True


def _rollback_keeping_prepared(dbapi_connection) -> None:
    """End the connection's transaction, keeping its prepared statements unless it failed.

    psycopg forgets (and deallocates) every prepared statement of a connection on ``rollback()``,
    and SQLAlchemy rolls back each connection that goes back to the pool within a transaction: a
    read in a transaction would cost the next requests their prepared statements and a
    ``DEALLOCATE ALL``. Statements prepared on the wire are not transactional, and PostgreSQL
    plans a statement again when a table it uses changed, so they stay valid. A transaction that
    failed is rolled back by psycopg itself: the failure may have left its record of prepared
    statements out of step with the server's (a statement prepared in a pipeline whose
    preparation failed, a cached plan gone stale), and it starts afresh."""
    status = dbapi_connection.pgconn.transaction_status
    if status == psycopg.pq.TransactionStatus.IDLE:
        return
    if status != psycopg.pq.TransactionStatus.INTRANS:
        dbapi_connection.rollback()
        return
    result = dbapi_connection.pgconn.exec_(b"ROLLBACK")
    if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
        raise psycopg.OperationalError(result.get_error_message() or "ROLLBACK failed")


def single_statements(conn: Connection) -> Connection:
    """Let ``conn`` run each statement on its own, without a transaction around them (autocommit):
    for reads of one statement, or of several that need no snapshot in common (at READ COMMITTED,
    as everywhere here, each statement of a transaction has its own snapshot anyway). It saves the
    BEGIN and ROLLBACK round trips, 0.3-0.4 ms of a 2 ms request on this machine. Not for writes,
    nor for work that sets ``SET LOCAL`` options or runs inside :func:`unbounded_statements`
    (both need a transaction). Call it before the first statement."""
    return conn.execution_options(isolation_level="AUTOCOMMIT")


#: SQLSTATEs of a server that ends the session (admin_shutdown, crash_shutdown, cannot_connect_now).
_SERVER_ENDING = frozenset({"57P01", "57P02", "57P03"})


def _ended_by_server(context: ExceptionContext) -> None:
    """A ``handle_error`` listener: a session the server ended as it shut down or restarted is a
    lost connection (invalidated, not returned to the pool), whatever the driver says of its socket."""
    if getattr(context.original_exception, "sqlstate", None) in _SERVER_ENDING:
        context.is_disconnect = True


def is_stale_prepared(exc: BaseException | None) -> bool:
    """Whether ``exc`` is PostgreSQL's "cached plan must not change result type": a prepared
    statement whose result changed shape under it (SQLSTATE 0A000, which other unsupported features
    share, raised where the server revalidates a cached plan: the source function tells, whatever
    the server's language)."""
    diag = getattr(exc, "diag", None)
    return (
        getattr(exc, "sqlstate", None) == "0A000"
        and diag is not None
        and diag.source_function == "RevalidateCachedQuery"
    )


def _prepared_gone_stale(context: ExceptionContext) -> None:
    """A ``handle_error`` listener of the engines that prepare: a prepared statement whose result
    changed shape (a migration added a column to a table it reads as ``t.*`` while the API ran)
    fails on every later run on its connection, and psycopg keeps it. That connection is dropped as
    if lost (the request gets 503 with Retry-After); the pool's others stay, each failing so once
    if it had the statement prepared (:mod:`landreg.routing` does not take a replica out of use
    for it)."""
    if is_stale_prepared(context.original_exception):
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False


def make_engine(url: str | None = None, serving: bool = False, application_name: str | None = None, **kwargs) -> Engine:
    """An engine for landreg's work: short queries over spatial indexes.

    * the border tolerance (``LANDREG_BORDER_TOLERANCE_M``) for the parcel trigger's municipality check;
    * JIT off: PostgreSQL's JIT compilation (triggered by the large cost estimates of spatial
      joins) costs more than it saves;
    * statements of the API (``serving``) prepared and planned as PostgreSQL chooses (a generic
      plan once it costs no more than the custom ones): parsing and planning were a third to a half
      of the database's time for a feature, a bounding box's page or a tile. A generic plan misses
      how selective a large bounding box is: measured at 1M parcels, a page of items is 2.3 times as
      fast with it for a 2 km box (2,000 parcels), as fast for 38,000, and up to 1.75 times as slow
      for the whole region (190 against 340 ms). ``LANDREG_DB_PREPARED_STATEMENTS=false`` turns this
      off, e.g. behind PgBouncer in transaction mode before 1.21 (from 1.21 it needs
      ``max_prepared_statements``); in the API, aggregations of much of the register
      (:func:`plan_each_time`) and work inside :func:`unbounded_statements` (uploads, rescoring)
      are planned for their values each time, and the command line prepares nothing;
    * a pool that keeps every connection it opened, up to enough for a busy API (a new connection
      first loads PostGIS and its catalogue caches: tens of milliseconds), reusing the most recent
      one first so that idle extras are not kept warm needlessly; a connection idle for more than a tenth of a second
      is checked at checkout (:func:`_check_at_checkout`), so that a restarted database is reconnected
      without an error (and a session the server ended as it stopped is dropped, not pooled:
      :func:`_ended_by_server`); its size per process is ``LANDREG_DB_POOL_SIZE`` +
      ``LANDREG_DB_MAX_OVERFLOW`` (``landreg serve`` divides the database's connections among its
      workers, :func:`pool_plan`);
    * ``application_name`` names the engine in ``pg_stat_activity`` (landreg-primary, landreg-replica),
      followed by the request's id while it serves one (:data:`REQUEST_ID`);
    * ``serving`` (the API): no parallel workers. Starting them costs 10-30 ms, more than the
      bounding-box queries of a request take; the ministry's dashboard asks for them itself.
      And each statement is cancelled after ``LANDREG_STATEMENT_TIMEOUT_MS``, the last net under
      the limits of each parameter: a setting of the session, so it costs no round trip (a
      ``SET LOCAL`` per transaction cost one, 0.1-0.2 ms of a 1.5 ms feature request), except in
      transactions begun inside :func:`unbounded_statements`.
    """
    prepared = serving and get_settings().db_prepared_statements
    server_settings = "-c jit=off" + ("" if prepared else " -c plan_cache_mode=force_custom_plan")
    # the parcel trigger accepts a claimed municipality this near, as the import does (migration 0022)
    server_settings += f" -c landreg.border_tolerance_m={float(get_settings().border_tolerance_m):g}"
    timeout = get_settings().statement_timeout_ms if serving else 0
    if serving:
        server_settings += " -c max_parallel_workers_per_gather=0"
    options = {
        "pool_size": get_settings().db_pool_size,
        "max_overflow": get_settings().db_max_overflow,
        "pool_use_lifo": True,
        "connect_args": {
            "options": server_settings,
            # psycopg's default: a statement is prepared on its sixth run on a connection
            "prepare_threshold": PREPARE_THRESHOLD if prepared else None,
        }
        | ({"application_name": application_name} if application_name else {}),
    }
    engine = create_engine(url or resolve_database_url(), **(options | kwargs))
    if timeout > 0:
        _session_timeout(engine, timeout)
        _unbounded_when_asked(engine)
    if prepared:
        engine.dialect.do_rollback = _rollback_keeping_prepared
        event.listen(engine, "do_execute", _unprepared_when_asked)
        event.listen(engine, "handle_error", _prepared_gone_stale)
    elif serving:
        event.listen(engine, "before_cursor_execute", _tag_with_request, retval=True)
    _check_at_checkout(engine, (application_name or "landreg") if prepared else None)
    event.listen(engine, "handle_error", _ended_by_server)
    return engine


#: Connections kept free for the command line, migrations and maintenance when the budget is read
#: from the server.
CONNECTION_RESERVE = 10
#: The budget when the server's ``max_connections`` cannot be read: PostgreSQL's default 100 less the reserve.
DEFAULT_MAX_CONNECTIONS = 90
#: The connection each worker keeps listening for committed changes (landreg.tilenotices), besides its pool.
LISTENING_CONNECTIONS = 1
#: A worker needs one connection for requests, one for the background work beside them (/ready's
#: count, token use, e-mail) and the listening one.
MIN_CONNECTIONS_PER_WORKER = 2 + LISTENING_CONNECTIONS
#: Connections of one process however large the budget: 10 kept, up to 20 more under load.
MAX_CONNECTIONS_PER_PROCESS = 30


class PoolBudgetError(ValueError):
    """More workers than the database has connections for; the message names the limit and the fix."""


@dataclass(frozen=True)
class PoolPlan:
    """How ``landreg serve`` divides the database's connections among its workers."""

    workers: int
    budget: int
    pool_size: int
    max_overflow: int

    @property
    def per_worker(self) -> int:
        return self.pool_size + self.max_overflow + LISTENING_CONNECTIONS


def connection_budget(engine: Engine, configured: int | None = None) -> tuple[int, str]:
    """Connections all workers together may open, and where that figure comes from."""
    if configured is not None:
        return configured, f"LANDREG_DB_MAX_CONNECTIONS={configured}"
    try:
        with engine.connect() as conn:
            most, reserved = conn.execute(
                text(
                    "SELECT current_setting('max_connections')::int,"
                    " current_setting('superuser_reserved_connections')::int"
                )
            ).one()
    except DBAPIError:
        return DEFAULT_MAX_CONNECTIONS, f"the default {DEFAULT_MAX_CONNECTIONS} (max_connections could not be read)"
    budget = max(0, most - reserved - CONNECTION_RESERVE)
    return (
        budget,
        f"max_connections {most} less {reserved} for superusers and {CONNECTION_RESERVE} for the command line",
    )


def pool_plan(workers: int, budget: int, source: str = "LANDREG_DB_MAX_CONNECTIONS") -> PoolPlan:
    """Pool size per worker (no overflow) so that ``workers`` × (pool + the listening connection)
    ≤ ``budget``."""
    if workers < 1:
        raise PoolBudgetError(f"--workers {workers}: at least 1 worker is needed")
    per_worker = min(MAX_CONNECTIONS_PER_PROCESS, budget // workers)
    if per_worker < MIN_CONNECTIONS_PER_WORKER:
        most = max(0, budget // MIN_CONNECTIONS_PER_WORKER)
        raise PoolBudgetError(
            f"--workers {workers} needs {MIN_CONNECTIONS_PER_WORKER} database connections per worker "
            f"({workers * MIN_CONNECTIONS_PER_WORKER}), but landreg may use {budget} ({source}). "
            f"Use --workers {most} or fewer"
            + (", " if most else " (none fit), ")
            + "or raise max_connections of the database (or LANDREG_DB_MAX_CONNECTIONS)."
        )
    # every connection kept once opened: with a small pool and a large overflow, 32 clients at once
    # made a worker open and close connections all the time (each new one loads PostGIS, tens of
    # ms): 1M parcels, items: 73 req/s against 130 with all of them kept
    return PoolPlan(workers, budget, per_worker - LISTENING_CONNECTIONS, 0)


class _EWKB(Dumper):
    """EWKB bytes as they are: the binary form PostGIS reads for a geometry value."""

    format = Format.BINARY

    def dump(self, obj: bytes) -> bytes:
        return obj


def geometry_copy(conn: Connection) -> tuple[psycopg.Cursor, int]:
    """A cursor of ``conn``'s driver connection that sends ``bytes`` as geometry values (EWKB, no
    text formatting) in a binary COPY, and the geometry type's oid for ``Copy.set_types``."""
    driver = conn.connection.driver_connection
    geometry = driver.execute("SELECT 'geometry'::regtype::oid").fetchone()[0]
    cursor = driver.cursor()
    cursor.adapters.register_dumper(bytes, type(f"WKB{geometry}", (_EWKB,), {"oid": geometry}))
    return cursor, geometry
