"""Public vector tiles answered from the tile cache before routing, when nothing has changed.

A map shown to many people asks for the same public tiles again and again. When the tile cache
knows without asking the database that it is current (:meth:`landreg.tilecache.TileCache.peek`:
the primary's change announcements are heard and none is pending), such a request needs no
database, no routing, no parameter validation and no compression: this layer answers it with the
tile and its gzipped body as kept. Everything else (a signed-in caller, any query parameter, a tile
not kept, a cache that must sync first) passes on to the route in :mod:`api.tiles`, which gives
the same answer the long way; the answers are the same bytes and headers (tested).

It sits inside the request log, the metrics and Server-Timing, so a cache hit is logged, counted
and timed like every request, and outside the compression, replica routing and body limits, which
a kept tile does not need (it has no body to limit and is compressed once, when first asked for).
"""

from __future__ import annotations

import gzip
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from api.metrics import record_cache
from api.tiles import MVT, router, tile_headers
from landreg.access import PUBLIC
from landreg.tilecache import CachedTile, TileCache, TileKey

_PATH = re.compile(r"/collections/([A-Za-z0-9_-]{1,64})/tiles/WebMercatorQuad/(\d{1,2})/(\d{1,8})/(\d{1,8})")
_TEMPLATE = "/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
#: As the app's GZipMiddleware: smaller bodies are sent as they are.
GZIP_MINIMUM = 1024
GZIP_LEVEL = 1


class CachedPublicTiles:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route = next(r for r in router.routes if getattr(r, "path", None) == _TEMPLATE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._kept(scope) if scope["type"] == "http" else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route  # the request log and metrics name the route
        record_cache(True, "tiles")
        headers = tile_headers(entry.etag, False, "hit")
        accepts_gzip = revalidates = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                revalidates = entry.etag.encode() in value
            elif name == b"accept-encoding":
                accepts_gzip = b"gzip" in value
        if revalidates:
            await _send(send, 304, headers, b"")
            return
        body = entry.body
        if len(body) >= GZIP_MINIMUM:
            headers["Vary"] += ", Accept-Encoding"
            if accepts_gzip:
                body = _gzipped(entry)
                headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = MVT
        await _send(send, 200, headers, body)

    def _kept(self, scope: Scope) -> CachedTile | None:
        """The kept tile this request asks for, if it is a public tile request the cache can answer."""
        if scope["method"] != "GET" or scope["query_string"]:
            return None
        match = _PATH.fullmatch(scope["path"])
        if match is None or any(name == b"authorization" for name, _ in scope["headers"]):
            return None
        cache: TileCache | None = getattr(scope["app"].state, "tile_cache", None)
        if cache is None:
            return None
        collection, z, y, x = match.groups()
        return cache.peek(TileKey(collection, PUBLIC, None, int(z), int(x), int(y)))


def _gzipped(entry: CachedTile) -> bytes:
    """The body compressed once per kept tile (as the GZipMiddleware would compress it each time)."""
    if entry.gzipped is None:
        entry.gzipped = gzip.compress(entry.body, GZIP_LEVEL, mtime=0)
    return entry.gzipped


async def _send(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if status != 304:
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
