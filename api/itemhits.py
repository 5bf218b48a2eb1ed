"""Public features asked for one by one, without parameters, answered before routing.

A map's popup or a list asks ``/collections/{collection}/items/{id}`` for one public feature
after another. This layer answers such a request (GET, no query, no Authorization, not asking for
HTML) itself, through :func:`api.ogc.item_answer`, the same function the route calls, with the
public view the route's dependency gives an anonymous caller; it skips routing and FastAPI's
dependency solving, about 0.7 of 1.8 ms a request. Anything else goes on to the route; the answers
are the same bytes and headers (tested), errors included: they are answered by the app's own
handlers (:mod:`api.errors`).

Like :mod:`api.tilehits` it sits inside the request log, metrics, Server-Timing, compression and
replica routing, so such a request is logged under the route's name, counted, timed, compressed
and read from a replica like every other.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.admission import turn
from api.errors import handler_for
from api.ogc import item_answer, router
from landreg.access import view_of

_PATH = re.compile(r"/collections/([A-Za-z0-9_-]{1,64})/items/([^/]{1,200})")
_TEMPLATE = "/collections/{collectionId}/items/{featureId}"


class PublicItems:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route = next(
            r for r in router.routes if getattr(r, "path", None) == _TEMPLATE and "GET" in getattr(r, "methods", ())
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = self._asked(scope) if scope["type"] == "http" else None
        if asked is None:
            await self.app(scope, receive, send)
            return
        collection, feature_id = asked
        scope["route"] = self._route  # the request log and metrics name the route
        request = Request(scope, receive)
        try:
            async with turn(scope):  # a read's turn (api.admission)
                response = await run_in_threadpool(item_answer, request, collection, feature_id, view_of(None))
        except Exception as exc:
            handler = handler_for(scope["app"], exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _asked(self, scope: Scope) -> tuple[str, str] | None:
        """Collection and feature id of a request for one public feature as JSON without parameters."""
        if scope["method"] != "GET" or scope["query_string"]:
            return None
        match = _PATH.fullmatch(scope["path"])
        if match is None:
            return None
        for name, value in scope["headers"]:
            if name == b"authorization" or (name == b"accept" and b"text/html" in value):
                return None  # a signed-in caller, or a browser asking for the page: the route
        return match.group(1), match.group(2)
