"""Public vector tiles without parameters answered before routing.

A map shown to many people asks for the same public tiles again and again, without parameters.
This layer answers such a request (no query, no Authorization) itself: when the tile cache knows
without asking the database that it is current (:meth:`landreg.tilecache.TileCache.peek`: the
primary's change announcements are heard and none is pending) straight from the cache, with the
gzipped body kept beside the tile; otherwise through :func:`api.tiles.public_tile`, the same code
the route runs, in the thread pool. It skips routing, parameter validation and FastAPI's
dependency solving, about half a millisecond a request. Anything else (another parameter, a
signed-in caller, another method) goes on to the route in :mod:`api.tiles`, which answers it the long
way; the answers are the same bytes and headers (tested), and an error is answered by the app's
own handlers (:mod:`api.errors`).

It sits inside the request log, metrics, Server-Timing and replica routing, so a tile is logged,
counted, timed and read from a replica like every request, and outside the compression layer: it
sends a tile of :data:`GZIP_MINIMUM` bytes or more gzipped itself (compressed once, kept beside the
tile), with the headers that layer gives the route's answer (``Vary: Accept-Encoding`` on every body
of that size, gzipped or not), and skips the layer's per-request work.
"""

from __future__ import annotations

import gzip
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.admission import turn
from api.errors import handler_for
from api.metrics import record_cache
from api.tiles import MVT, public_tile, router, tile_headers
from landreg import tiles
from landreg.access import PUBLIC
from landreg.tilecache import CachedTile, TileCache, TileKey

_PATH = re.compile(r"/collections/([A-Za-z0-9_-]{1,64})/tiles/WebMercatorQuad/([0-9]{1,2})/([0-9]{1,8})/([0-9]{1,8})")
_TEMPLATE = "/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
#: As the app's GZipMiddleware: smaller bodies are sent as they are.
GZIP_MINIMUM = 1024
GZIP_LEVEL = 1
GZIP_IN_THREAD = 128 * 1024


class CachedPublicTiles:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route = next(r for r in router.routes if getattr(r, "path", None) == _TEMPLATE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = self._asked(scope) if scope["type"] == "http" else None
        if asked is None:
            await self.app(scope, receive, send)
            return
        collection, z, x, y = asked
        cache: TileCache | None = getattr(scope["app"].state, "tile_cache", None)
        key = TileKey(collection, PUBLIC, None, z, x, y)
        entry = cache.peek(key) if cache is not None else None
        scope["route"] = self._route  # the request log and metrics name the route
        if entry is None:
            try:
                async with turn(scope):  # a read's turn (api.admission)
                    entry, outcome = await run_in_threadpool(public_tile, scope["app"], collection, z, x, y)
            except Exception as exc:
                handler = handler_for(scope["app"], exc)
                if handler is None:
                    raise
                # the app's own mapping of errors to answers (api.errors): the same as the route's
                response = await handler(Request(scope, receive), exc)
                await response(scope, receive, send)
                return
        else:
            record_cache(True, "tiles")
            outcome = "hit"
        await _answer(scope, send, entry, outcome, lambda gz: cache.keep_gzipped(key, entry, gz) if cache else None)

    def _asked(self, scope: Scope) -> tuple[str, int, int, int] | None:
        """Collection, z, x and y of a public tile request without parameters, else None."""
        if scope["method"] != "GET" or scope["query_string"]:
            return None
        match = _PATH.fullmatch(scope["path"])
        if match is None or any(name == b"authorization" for name, _ in scope["headers"]):
            return None
        collection, z, y, x = match.groups()
        if not tiles.MIN_ZOOM <= int(z) <= tiles.MAX_ZOOM:
            return None
        return collection, int(z), int(x), int(y)


async def _answer(scope: Scope, send: Send, entry: CachedTile, outcome: str, keep) -> None:
    headers = tile_headers(entry.etag, False, outcome)
    asked = {}
    for name, value in scope["headers"]:  # the first of a repeated header, as the route reads it
        asked.setdefault(name, value)
    if entry.etag.encode() in asked.get(b"if-none-match", b""):
        await _send(send, 304, headers, b"")
        return
    body = entry.body
    if len(body) >= GZIP_MINIMUM:
        headers["Vary"] += ", Accept-Encoding"  # as the compression layer says of a body this large
    if b"gzip" in asked.get(b"accept-encoding", b"") and len(body) >= GZIP_MINIMUM:
        # compressed once per kept tile, large ones off the event loop (as the compression layer
        # does from 128 KiB)
        if entry.gzipped is None:
            gzipped = await run_in_threadpool(_gzip, body) if len(body) >= GZIP_IN_THREAD else _gzip(body)
            keep(gzipped)
            body = gzipped
        else:
            body = entry.gzipped
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = MVT
    await _send(send, 200, headers, body)


def _gzip(body: bytes) -> bytes:
    """The bytes the app's GZipMiddleware would send (the same level, no timestamp)."""
    return gzip.compress(body, GZIP_LEVEL, mtime=0)


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if status != 304:
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
