"""``Server-Timing: app;dur=…`` on every response: how long the application took to answer.

Measured from the moment the request reaches the application until its response starts, so it
covers routing, validation, access control and the database, but not the HTTP server's parsing or
the network. Browsers show it in their developer tools; the benchmarks compare it with the raw SQL.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                duration = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={duration:.2f}".encode()),
                ]
            await send(message)

        await self.app(scope, receive, timed_send)
