"""The application factory: ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from api import (
    context,
    due,
    imports,
    inbox,
    maps,
    ogc,
    openapi30,
    publication,
    quality,
    review,
    routes,
    safeguarding,
    scoring,
    tiles,
    web,
)
from api.admission import ReadAdmission, Turns
from api.errors import add_exception_handlers
from api.itemhits import PublicItems
from api.limits import AddressLimits, RequestLimits
from api.logs import RequestLog
from api.metrics import RequestMetrics
from api.metrics import router as metrics_router
from api.repeats import single_values
from api.replicas import ReadRouting
from api.security import flush_token_usage
from api.tilehits import GZIP_LEVEL, GZIP_MINIMUM, CachedPublicTiles
from api.timing import ServerTimingMiddleware
from landreg import __version__
from landreg.auth import TokenUsage
from landreg.routing import primary_of, serving_engine
from landreg.settings import get_settings, reads_at_once
from landreg.tilenotices import listen

log = logging.getLogger(__name__)


async def mail_notifications(engine, interval_s: float = 60.0) -> None:
    """E-mail new inbox notifications (changes to review, decisions, reminders) every minute while
    the server runs with ``LANDREG_SMTP_URL``; :func:`landreg.inbox.deliver` never raises for a
    server that is down, and what was not sent waits for the next round."""
    from fastapi.concurrency import run_in_threadpool

    from landreg import inbox

    def once() -> None:
        with engine.begin() as conn:
            inbox.deliver(conn)

    while True:
        try:
            await run_in_threadpool(once)
        except DBAPIError as exc:  # a read-only replica or a database that is down: try again later
            log.warning("could not send notifications: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        await asyncio.sleep(interval_s)


def create_app(database_url: str | None = None, read_database_urls: list[str] | None = None) -> FastAPI:
    """The app on ``database_url`` (default: LANDREG_DATABASE_URL or the embedded database), reading
    from the hot standbys of ``read_database_urls`` (default: LANDREG_READ_DATABASE_URLS)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = serving_engine(database_url, read_database_urls)  # with replicas: a RoutingEngine
        app.state.token_usage = TokenUsage()
        app.state.read_turns = Turns(reads_at_once())
        app.state.tile_cache = tiles.make_cache()
        notices = app.state.tile_cache.announcements
        stop_listening = listen(notices, primary_of(app.state.engine)) if notices is not None else None
        mailer = asyncio.create_task(mail_notifications(app.state.engine)) if get_settings().smtp_url else None
        yield
        if mailer is not None:
            mailer.cancel()
        if stop_listening is not None:
            stop_listening()
        flush_token_usage(app)
        app.state.engine.dispose()

    app = FastAPI(
        title="landreg – Flächenregister Ruhr",
        description=(
            "Register wiedernutzbarer Flächen im Ruhrgebiet: Brachflächen, Baulücken, "
            "Gewerbe- und Industrieflächen. / Registry of reusable land in the Ruhr region."
        ),
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: api.web.landing, from the vendored files (no CDN)
        redoc_url=None,
        dependencies=[Depends(single_values)],  # a parameter that takes one value, given twice: 400
    )
    app.add_middleware(RequestLimits)  # innermost: a refused body is answered before any other work
    app.add_middleware(ReadAdmission)  # reads at once per process (api.admission); the fast paths below wait too
    app.add_middleware(PublicItems)  # one public feature without parameters: no routing (api.itemhits)
    # level 1: 3.6 ms for 200 KB of GeoJSON or tiles where level 9 takes 16 ms, for 19 % more bytes
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM, compresslevel=GZIP_LEVEL)
    # public tiles without parameters: no routing (api.tilehits); it compresses them itself, once a tile
    app.add_middleware(CachedPublicTiles)
    app.add_middleware(AddressLimits)  # a NUL character in the address: 400 before the fast paths
    app.add_middleware(ReadRouting)  # reads from a replica when there are replicas (landreg.routing)
    app.add_middleware(ServerTimingMiddleware)  # outermost: the time includes compressing
    app.add_middleware(RequestMetrics)  # /metrics: requests by route template, latency, pools
    app.add_middleware(RequestLog)  # outermost: request id (header, SQL comment), one JSON line each
    app.include_router(metrics_router)
    app.include_router(ogc.router)
    app.include_router(routes.router)
    app.include_router(imports.router)
    app.include_router(scoring.router)
    app.include_router(tiles.router)
    app.include_router(safeguarding.router)
    app.include_router(context.router)
    app.include_router(quality.router)
    app.include_router(publication.router)
    app.include_router(review.router)
    app.include_router(due.router)
    app.include_router(inbox.router)
    app.mount(maps.STATIC_PATH, maps.static_files, name="map-assets")
    app.include_router(maps.router)
    app.mount(web.STATIC_PATH, web.static_files, name="workspace-assets")
    app.include_router(web.router)

    @app.get("/api", include_in_schema=False)
    def openapi_30() -> JSONResponse:
        return JSONResponse(
            openapi30.downgrade(app.openapi()), media_type="application/vnd.oai.openapi+json;version=3.0"
        )

    add_exception_handlers(app)

    return app
