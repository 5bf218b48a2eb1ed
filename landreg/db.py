"""Connecting to the registry database: the configured URL or the embedded local cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

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


def _statement_timeout(milliseconds: int):
    """A listener for a transaction's begin: ``SET LOCAL statement_timeout`` (unless unbounded)."""
    statement = f"SET LOCAL statement_timeout = {int(milliseconds)}"

    def begin(conn: Connection) -> None:
        if not _UNBOUNDED.get():
            # SQLAlchemy cannot execute while it begins the transaction; the driver can (and begins it)
            with conn.connection.dbapi_connection.cursor() as cursor:
                cursor.execute(statement)

    return begin


def make_engine(url: str | None = None, serving: bool = False, **kwargs) -> Engine:
    """An engine for landreg's work: short queries over spatial indexes.

    * the border tolerance (``LANDREG_BORDER_TOLERANCE_M``) for the parcel trigger's municipality check;
    * JIT off: PostgreSQL's JIT compilation (triggered by the large cost estimates of spatial
      joins) costs more than it saves;
    * no prepared statements and custom plans always: a generic plan cannot know how selective a
      bounding box or filter is (a wrong guess costs far more than the millisecond of planning it
      saves), and unprepared statements also pass through PgBouncer in transaction mode;
    * a pool that keeps enough connections for a busy API (a new connection first loads PostGIS
      and its catalogue caches: tens of milliseconds), reusing the most recent one first so that
      idle extras are not kept warm needlessly; pre-ping so that a restarted database is
      reconnected without an error;
    * ``serving`` (the API): no parallel workers. Starting them costs 10-30 ms, more than the
      bounding-box queries of a request take; those that aggregate much ask for them themselves.
      And each transaction's statements are cancelled after ``LANDREG_STATEMENT_TIMEOUT_MS``,
      the last net under the limits of each parameter (``SET LOCAL`` as it begins: a round trip
      of some 50 µs; setting up a connection and the pool's pings are not bounded), except
      inside :func:`unbounded_statements`.
    """
    server_settings = "-c jit=off -c plan_cache_mode=force_custom_plan"
    # the parcel trigger accepts a claimed municipality this near, as the import does (migration 0022)
    server_settings += f" -c landreg.border_tolerance_m={float(get_settings().border_tolerance_m):g}"
    if serving:
        server_settings += " -c max_parallel_workers_per_gather=0"
    options = {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 20,
        "pool_use_lifo": True,
        "connect_args": {
            "options": server_settings,
            "prepare_threshold": None,
        },
    }
    engine = create_engine(url or resolve_database_url(), **(options | kwargs))
    timeout = get_settings().statement_timeout_ms
    if serving and timeout > 0:
        event.listen(engine, "begin", _statement_timeout(timeout))
    return engine
