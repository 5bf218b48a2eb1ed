"""One JSON line per request on stderr, and a request id from the edge to the database.

The request id is the caller's ``X-Request-ID`` when it is 1 to 64 characters of letters, digits,
``.``, ``_`` and ``-`` (what nginx's ``$request_id``, UUIDs and tracing ids use), else a new one; it
is returned in ``X-Request-ID``, written in the request's log line and passed to the database
(:data:`landreg.db.REQUEST_ID`): in the session's ``application_name`` after the engine's name, or,
with prepared statements turned off, as a comment before each statement, so ``pg_stat_activity``
and the server log show which request a running statement serves.

A line holds time, level, request id, method, route template, path (without the query, which may
carry personal search terms), status, duration in ms, client address and, when someone is signed
in or sent a token, their name and role. Never headers, bodies, passwords or tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import route_of
from landreg.db import REQUEST_ID

HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("landreg.requests")


def _loggable_path(scope) -> str:
    """The path asked for, unless it carries a secret (a saved search's feed or mail token is its own
    credential): then the route's template, e.g. ``/standorte/alarm/{token}.atom``."""
    route = route_of(scope)
    return route if "{token}" in route else scope["path"]


class JsonLines(logging.Formatter):
    """A record as one JSON object: its message and the fields passed in ``extra={"fields": …}``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        } | getattr(record, "fields", {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(stream=None) -> None:
    """JSON lines for the request log on stderr (once per process; tests may pass a stream)."""
    if stream is None and log.handlers:
        return
    for handler in list(log.handlers):
        log.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is well-formed, else a new one."""
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode() if _VALID_ID.fullmatch(value) else uuid.uuid4().hex
    return uuid.uuid4().hex


def _caller(state: dict) -> dict:
    """Name and role of a token's owner (api.security) or of the signed-in person (api.web.session)."""
    principal = state.get("principal")
    session = state.get("web_session")
    if principal is None and session is not None:
        principal = session.user.principal
    if principal is None:
        return {}
    return {"user": principal.owner, "role": principal.role}


class RequestLog:
    """Sets the request id for the request (response header, database comment) and logs the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        configure()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)
        status = 500  # unless a response starts: an exception became the server's 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            fields = {
                "request_id": rid,
                "method": scope["method"],
                "route": route_of(scope),
                "path": _loggable_path(scope),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": scope["client"][0] if scope.get("client") else None,
            } | _caller(scope.get("state", {}))
            level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
            if log.isEnabledFor(level):
                _emit(level, (scope["method"], fields["route"], status), fields)


def _emit(level: int, args: tuple, fields: dict) -> None:
    """Log the request's line as ``log.log`` would, without its search of the stack for the caller
    (some 5 µs of every request): the caller is the frame above, and says so to any formatter."""
    caller = sys._getframe(1)
    record = log.makeRecord(
        log.name, level, __file__, caller.f_lineno, "%s %s %s", args, None, caller.f_code.co_name, {"fields": fields}
    )
    log.handle(record)
