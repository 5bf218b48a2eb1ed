"""Bounds on one request as a whole, beside the checks of each parameter and geometry:

* its body: at most ``LANDREG_MAX_BODY_BYTES``, refused with 413 by the declared Content-Length
  before anything is read, or by the bytes counted as they arrive when no length is declared;
* its database work: every statement of the serving engine is cancelled after
  ``LANDREG_STATEMENT_TIMEOUT_MS`` (set when connecting, :func:`landreg.db.make_engine`), and a
  cancelled statement answers 503 (``api/app.py``).

Work that is costly per request and open to anyone is rationed per client (:class:`ClientRate`: a
token bucket per client address, in each server process), e.g. rendering an exposé's PDF.

Work that is long by design keeps its own bounds: a file upload to ``/imports`` or to the
workspace's import page ``/app/import`` (their routes cap the file; an import runs as long as on
the command line) and saving a scoring profile (ministry),
which rescores every parcel (about 35 s per profile for a million parcels in the benchmarks).
"""

from __future__ import annotations

import ipaddress
import math
import re
import threading
import time
from collections import OrderedDict
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body, is_page_path
from landreg.db import unbounded_statements
from landreg.messages import text
from landreg.settings import get_settings

_IMPORT_UPLOAD = ("POST", re.compile(r"/imports/?"))
#: The workspace's import page: its upload (a dry run) and its confirmation (the import).
_WEB_IMPORT_UPLOAD = ("POST", re.compile(r"/app/import/?"))
_WEB_IMPORT_CONFIRM = ("POST", re.compile(r"/app/import/[A-Za-z0-9_-]+/?"))
#: The workspace's plan check page: its route applies this body limit, answering with the form.
_WEB_PLAN_UPLOAD = ("POST", re.compile(r"/app/planpruefung/?"))
#: Requests whose body is bounded by their route, not here (multipart uploads only).
OWN_BODY_LIMIT = (_IMPORT_UPLOAD, _WEB_IMPORT_UPLOAD, _WEB_PLAN_UPLOAD)
#: Requests whose database statements may run longer than the statement timeout.
UNBOUNDED_STATEMENTS = (
    _IMPORT_UPLOAD,
    _WEB_IMPORT_UPLOAD,
    _WEB_IMPORT_CONFIRM,
    ("PUT", re.compile(r"/profiles/[^/]+/?")),
)


def _matches(table, scope: Scope) -> bool:
    return any(scope["method"] == method and path.fullmatch(scope["path"]) for method, path in table)


def body_too_large_message(limit: int) -> str:
    return (
        f"the request body is larger than the {limit:,} bytes accepted (LANDREG_MAX_BODY_BYTES); "
        "send less (e.g. a simplified outline), or upload a file of parcels to /imports"
    )


def statement_timeout_message() -> str:
    ms = get_settings().statement_timeout_ms
    return (
        f"the request needed longer than the {ms:,} ms a database statement may run "
        "(LANDREG_STATEMENT_TIMEOUT_MS) and was cancelled; ask for less (fewer dates, a smaller bbox "
        "or page, a narrower filter) or try again later"
    )


def statement_timeout_retry_after() -> str:
    """Seconds to wait before trying again: at least as long as the statement was allowed to run."""
    return str(max(1, math.ceil(get_settings().statement_timeout_ms / 1000)))


class BodyTooLarge(HTTPException):
    """Raised while the body is read: FastAPI passes HTTPExceptions from reading the body on to the
    exception handlers, so the answer has the usual error body."""

    def __init__(self, limit: int):
        super().__init__(413, body_too_large_message(limit), headers={"Connection": "close"})


class RequestLimits:
    """ASGI middleware: the body limit, and no statement timeout for the requests exempt from it."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | None = None):
        self.app = app
        self.max_body_bytes = get_settings().max_body_bytes if max_body_bytes is None else max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif _matches(UNBOUNDED_STATEMENTS, scope):
            with unbounded_statements():
                await self._bounded_body(scope, receive, send)
        else:
            await self._bounded_body(scope, receive, send)

    async def _bounded_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if _matches(OWN_BODY_LIMIT, scope) and headers.get("content-type", "").startswith("multipart/form-data"):
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)  # read outside FastAPI's handlers (middleware, streams)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            error_body(413, body_too_large_message(self.max_body_bytes)),
            status_code=413,
            headers={"Connection": "close"},  # the rest of the body is not read
        )
        await response(scope, receive, send)


class AddressLimits:
    """ASGI middleware: an address with a NUL character, which no route can use (PostgreSQL's text
    cannot hold it), is answered with a 400 naming the parameter, before the fast paths look it up.
    Pages (:func:`api.errors.is_page_path`) check their parameters themselves and answer with a page (a value that
    reaches the database anyway: :func:`api.errors.database_error`)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = is_page_path(scope.get("path", ""))
        name = _nul_in_address(scope) if scope["type"] == "http" and not page else None
        if name is None:
            await self.app(scope, receive, send)
            return
        message = f"{text('request.nul_parameter', 'de', name=name)} / {text('request.nul_parameter', name=name)}"
        await JSONResponse(error_body(400, message, name), status_code=400)(scope, receive, send)


def _nul_in_address(scope: Scope) -> str | None:
    """The query parameter (or ``path``) of the request's address that holds a NUL character, which
    no route can use (PostgreSQL's text cannot hold it); None: none does."""
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return "query"


class ClientRate:
    """A token bucket per client address: ``per_minute`` tokens, refilled evenly over a minute, so
    a client may take ``per_minute`` at once and then one every ``60 / per_minute`` seconds (0: no
    limit). IPv6 clients count by their /64 (one host often holds a whole one). In memory of this
    process, like the cache whose misses it rations; at most ``max_clients`` buckets are kept (the
    least recently used dropped: a full bucket again)."""

    def __init__(self, per_minute: int, max_clients: int = 10_000) -> None:
        self.per_minute = per_minute
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    @staticmethod
    def client_of(host: str | None) -> str:
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return host or "unknown"
        if address.version == 6:
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)

    def take(self, host: str | None) -> int:
        """Take a token for the client at ``host``: 0 when it had one, else the seconds to wait for the next."""
        if self.per_minute <= 0:
            return 0
        client, now, rate = self.client_of(host), time.monotonic(), self.per_minute / 60
        with self._lock:
            tokens, at = self._buckets.pop(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * rate)
            wait = 0 if tokens >= 1 else math.ceil((1 - tokens) / rate)
            self._buckets[client] = (tokens - 1 if not wait else tokens, now)
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return wait
