"""``/metrics`` in Prometheus' text format: requests, latency, database pools, caches, imports.

* Requests are counted by route *template* (``/collections/{collectionId}/items``), never the raw
  path, and by method, an unknown one as ``OTHER``, so the number of series stays bounded whatever
  clients ask for; requests that match no route are counted under ``<unmatched>``.
* Database pools (in use, open, limit) are sampled at each scrape.
* Caches report hits and misses through :func:`record_cache` (the tile cache calls it).
* Imports are counted from ``import_run`` at scrape time: committed imports only, from every
  process including the command line, and the figures survive restarts.

Several worker processes (gunicorn): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
writable by the workers, created afresh before the server starts. prometheus-client then keeps
each process's values in files there and ``/metrics`` adds them up over all workers; the process
manager calls :func:`mark_worker_dead` when a worker exits (gunicorn's ``child_exit`` hook).

Who may read it (:class:`MetricsSettings`): callers on the loopback interface (the proxy's own
scraper, ``curl`` on the host; ``LANDREG_METRICS_ALLOW_LOOPBACK``) and callers that send
``Authorization: Bearer`` with ``LANDREG_METRICS_TOKEN``. Everyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

log = logging.getLogger(__name__)


class MetricsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANDREG_METRICS_", env_file=".env", extra="ignore")

    #: Bearer token a scraper on another host sends (unset: only loopback callers may read /metrics).
    token: str | None = None
    #: Whether callers on 127.0.0.0/8 and ::1 may read /metrics without the token. Behind a reverse
    #: proxy on the same host the proxy's own requests come from loopback: the nginx example in
    #: deploy/ refuses /metrics from outside for that reason.
    allow_loopback: bool = True


_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED = "<unmatched>"

REQUESTS = Counter(
    "landreg_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "landreg_http_request_duration_seconds",
    "Time from the request reaching the application to the end of its response, by route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
IN_PROGRESS = Gauge("landreg_http_requests_in_progress", "Requests being answered", multiprocess_mode="livesum")
POOL = Gauge(
    "landreg_db_pool_connections",
    "Database connections of the pool: in_use (checked out), open (in use and idle), limit "
    "(pool size + overflow), summed over the worker processes",
    ["database", "state"],
    multiprocess_mode="livesum",
)
READS = Gauge(
    "landreg_reads",
    "Reads (GET, HEAD) the worker processes work on at most at once (limit) and that wait for a turn "
    "(waiting), summed over the worker processes (api.admission)",
    ["state"],
    multiprocess_mode="livesum",
)
CACHE = Counter("landreg_cache_requests", "Cache look-ups by cache and result (hit, miss)", ["cache", "result"])


def record_cache(hit: bool, cache: str) -> None:
    """Count one look-up in ``cache`` (a fixed name such as ``tiles``: it becomes a label)."""
    _child(CACHE, (cache, "hit" if hit else "miss")).inc()


#: Labelled series by metric and label values: ``labels()`` checks and locks each time, some 4 µs
#: of the 55 µs the application spends on a cached tile. The keys are bounded as the labels are.
_CHILDREN: dict[tuple, object] = {}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _child(metric, values: tuple):
    key = (id(metric), *values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN.setdefault(key, metric.labels(*values))
    return child


def mark_worker_dead(pid: int) -> None:
    """For gunicorn's ``child_exit`` hook: drop the gauges of a worker that exited."""
    if _MULTIPROCESS:
        multiprocess.mark_process_dead(pid)


# -- requests ---------------------------------------------------------------------------------------
def route_of(scope: Scope) -> str:
    """The template of the route that answered (set by the router), not the path asked for."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or UNMATCHED


class RequestMetrics:
    """Counts requests and their latency by route template and status (the pools are sampled when
    ``/metrics`` is read: per request that cost some 40 µs of every request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception became the server's 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, counting_send)
        finally:
            IN_PROGRESS.dec()
            route = route_of(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            _child(REQUESTS, (method, route, status)).inc()
            _child(LATENCY, (method, route)).observe(time.perf_counter() - started)


# -- database pools -----------------------------------------------------------------------------------
def _engines(engine) -> list[Engine]:
    """The engines behind the app's engine: itself, or a routing engine's primary and replicas."""
    if isinstance(engine, Engine):
        return [engine]
    primary = getattr(engine, "primary", None)
    replicas = [getattr(r, "engine", None) for r in getattr(engine, "replicas", [])]
    return [e for e in [primary, *replicas] if isinstance(e, Engine)]


def _database_label(engine: Engine) -> str:
    url = engine.url
    host = url.host or str(url.query.get("host", "local")).rsplit("/", 1)[-1]
    return f"{host}/{url.database}"


def sample_pools(app) -> None:
    """Set the pool gauges from the pools' own counters (a few attribute reads)."""
    for engine in _engines(getattr(app.state, "engine", None)):
        pool = engine.pool
        checkedout = getattr(pool, "checkedout", None)
        if checkedout is None:  # a NullPool keeps nothing
            continue
        label = _database_label(engine)
        POOL.labels(label, "in_use").set(checkedout())
        POOL.labels(label, "open").set(checkedout() + pool.checkedin())
        POOL.labels(label, "limit").set(pool.size() + max(0, getattr(pool, "_max_overflow", 0)))


def sample_reads(app) -> None:
    """Set the gauges of the reads' turns (:class:`api.admission.Turns`)."""
    turns = getattr(app.state, "read_turns", None)
    if turns is not None:
        READS.labels("limit").set(turns.at_once)
        READS.labels("waiting").set(turns.waiting)


# -- imports ---------------------------------------------------------------------------------------
_IMPORTS = text("""
    SELECT status, count(*), sum(rows_read), sum(inserted), sum(changed), sum(unchanged), sum(rejected), sum(retired)
    FROM import_run GROUP BY status
""")
_ROW_OUTCOMES = ("read", "inserted", "changed", "unchanged", "rejected", "retired")


class ImportCollector:
    """Imports and their rows by outcome, from ``import_run`` (one small aggregate per scrape)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self):
        runs = CounterMetricFamily(
            "landreg_imports", "Recorded imports by status (committed, rejected)", labels=["status"]
        )
        rows = CounterMetricFamily(
            "landreg_import_rows",
            "Rows of recorded imports by outcome (read, inserted, changed, unchanged, rejected = refused, retired)",
            labels=["outcome"],
        )
        totals = dict.fromkeys(_ROW_OUTCOMES, 0)
        try:
            with self.engine.connect() as conn:
                found = conn.execute(_IMPORTS).all()
        except DBAPIError as exc:
            log.warning("metrics: could not count imports: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
            return
        for status, count, *sums in found:
            runs.add_metric([status], count)
            for outcome, value in zip(_ROW_OUTCOMES, sums, strict=True):
                totals[outcome] += value or 0
        for outcome, value in totals.items():
            rows.add_metric([outcome], value)
        yield runs
        yield rows


# -- the endpoint ----------------------------------------------------------------------------------
def _allowed(request: Request, settings: MetricsSettings) -> bool:
    if settings.token:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {settings.token}".encode()):
            return True
    if settings.allow_loopback and request.client is not None:
        try:
            return ipaddress.ip_address(request.client.host).is_loopback
        except ValueError:  # a test client's or a Unix socket's name
            return False
    return False


def exposition(app) -> bytes:
    """The metrics of this process, or of all workers in multiprocess mode, and the imports."""
    engine = getattr(getattr(app, "state", None), "engine", None)
    imports = CollectorRegistry(auto_describe=False)
    primary = _engines(getattr(engine, "primary", engine))
    if primary:
        imports.register(ImportCollector(primary[0]))
    counted = generate_latest(imports)
    if app is not None:
        sample_pools(app)  # after counting the imports: their connection is open, as under load
        sample_reads(app)
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry) + counted
    return generate_latest(REGISTRY) + counted


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings = MetricsSettings()
    if not _allowed(request, settings):
        how = "from the host itself (loopback)" if settings.allow_loopback else "nowhere without the token"
        return JSONResponse(
            error_body(
                403,
                f"/metrics is served {how} or with 'Authorization: Bearer' and the token of LANDREG_METRICS_TOKEN",
            ),
            status_code=403,
        )
    body = await run_in_threadpool(exposition, request.app)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
