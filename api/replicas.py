"""Which requests may read from a replica (:mod:`landreg.routing`), and read-your-writes for writers.

GET and HEAD never write in landreg (tests/test_read_only.py walks every GET route on a read-only
role), so they may read from a hot standby. Every other method works on the primary; when it
committed, its answer carries the primary's WAL position in the cookie ``landreg_lsn``, and the
client's next reads use a replica only once that replica has replayed it (until then, the
primary). Clients without cookies may send the position back as the header ``Landreg-Min-LSN``.
A read whose replica went away under it, or cancelled it in a conflict with recovery, before its
answer began is answered again by the primary: a standby stopped under load, or replaying what a
read still used, costs no errors. Without replicas (a plain engine) this middleware does nothing.
"""

from __future__ import annotations

import logging
import math

from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from landreg.routing import RoutingEngine, format_lsn, parse_lsn, reading, reading_from_primary, writing

log = logging.getLogger(__name__)

COOKIE = "landreg_lsn"
HEADER = "landreg-min-lsn"
#: Seconds beyond the lag limit the cookie is kept: by then every replica in use has replayed it.
_COOKIE_MARGIN_S = 5


def _min_lsn(scope: Scope) -> int:
    connection = HTTPConnection(scope)
    given = [parse_lsn(connection.cookies.get(COOKIE)), parse_lsn(connection.headers.get(HEADER))]
    return max((lsn for lsn in given if lsn is not None), default=0)


def _cookie(scope: Scope, lsn: int, engine: RoutingEngine) -> bytes:
    max_age = math.ceil(engine.max_lag_s + engine.check_s) + _COOKIE_MARGIN_S
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return f"{COOKIE}={format_lsn(lsn)}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}".encode()


class ReadRouting:
    """Marks each request as a read (GET, HEAD) or a write for the :class:`RoutingEngine`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine = getattr(scope["app"].state, "engine", None) if scope["type"] == "http" else None
        if not isinstance(engine, RoutingEngine):
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):
            await self._read(scope, receive, send)
            return
        with writing() as route:

            async def send_with_lsn(message: Message) -> None:
                if message["type"] == "http.response.start" and route.wrote:
                    try:
                        lsn = await run_in_threadpool(engine.commit_lsn)
                    except DBAPIError as exc:  # committed, but the primary went away since: no promise
                        log.warning("could not read the commit's WAL position: %s", type(exc.orig).__name__)
                    else:
                        headers = [*message.get("headers", []), (b"set-cookie", _cookie(scope, lsn, engine))]
                        message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_lsn)

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A read from a replica; answered again by the primary if the replica failed it before
        anything was sent (:attr:`~landreg.routing.Route.read_again`: a standby stopped under it, or
        cancelled it in a conflict with recovery). Reads never write, so running one twice is safe,
        and the client sees one answer."""
        replay = _Replay(receive)
        sent = retry = False

        async def send_unless_lost(message: Message) -> None:
            nonlocal sent, retry
            if not sent and message["type"] == "http.response.start" and message["status"] >= 500:
                retry = route.read_again
            if not retry:
                sent = True
                await send(message)

        with reading(_min_lsn(scope)) as route:
            try:
                await self.app(scope, replay.recording, send_unless_lost)
            except Exception:
                if sent or not route.read_again:
                    raise
                retry = True
        if retry:
            why = "cancelled it in a conflict with recovery" if route.recovery_conflict else "lost its connection"
            log.info("%s %s: the replica %s; the primary answers", scope["method"], scope["path"], why)
            with reading_from_primary():
                await self.app(scope, replay.replaying, send)


class _Replay:
    """The request's messages as the first attempt received them, for a second attempt."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.received: list[Message] = []

    async def recording(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received.append(message)
        return message

    async def replaying(self) -> Message:
        return self.received.pop(0) if self.received else await self.receive()
