"""How many reads one server process works on at once; the others wait their turn, first come first served.

Reads (GET, HEAD) are what many clients send at once: a map's tiles, lists of parcels. Working on
all of them at once does not finish them sooner on a few cores. Their statements and their Python
share the cores, and each switch between them costs time. Measured with 1M parcels, one process on
2 cores, items with bbox and limit 100 from 32 clients at once (``bench/api_bench.py``; the server
it starts inherits ``LANDREG_READS_AT_ONCE``), in one run each against tipg:

* 40 at once (anyio's thread limit, as before): 178 req/s, p95 454 ms, 1.57 × tipg's throughput;
* 8 at once (the default here): 248 and 238 req/s, p95 206 and 202 ms, 2.04 and 2.00 × tipg's.

Between 4 and 8 at once the differences stayed within the noise.

``LANDREG_READS_AT_ONCE`` sets the number per process. Unset, it is 4 × the CPU cores the process
may use, and ``landreg serve`` divides that among its workers.

A read holds its turn until its answer starts, not while the answer travels. A slow client
therefore holds no turn: every answer's body is made before it starts, since no route streams.

Writes never wait here. An import or a profile's rescoring may take minutes, and a few of them
must not stop every read. Probes (``/health``, ``/ready``, ``/metrics``) and static files do not
wait either: a load balancer must not take a busy process for a dead one.

The fast paths before routing (:mod:`api.tilehits` for a tile not in the cache, :mod:`api.itemhits`)
wait for a turn with :func:`turn` themselves; a tile the cache answers needs none.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.maps import STATIC_PATH as MAP_ASSETS
from api.web.pages import STATIC_PATH as WORKSPACE_ASSETS
from landreg.settings import checked_reads

_READS = frozenset({"GET", "HEAD"})
_PROBES = frozenset({"/health", "/ready", "/metrics"})
_ASSETS = (MAP_ASSETS + "/", WORKSPACE_ASSETS + "/")


def waits_for_turn(scope: Scope) -> bool:
    """Whether a request waits for a turn: a read, not a probe, not a static file."""
    if scope["type"] != "http" or scope["method"] not in _READS:
        return False
    path = scope["path"]
    return path not in _PROBES and not path.startswith(_ASSETS)


class Turns:
    """The turns of one process: a semaphore, made in the event loop on first use."""

    def __init__(self, at_once: int) -> None:
        self.at_once = checked_reads(at_once)
        self._semaphore: anyio.Semaphore | None = None

    @property
    def semaphore(self) -> anyio.Semaphore:
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.at_once)
        return self._semaphore

    @property
    def waiting(self) -> int:
        """Reads waiting for a turn now (for /metrics)."""
        return 0 if self._semaphore is None else self._semaphore.statistics().tasks_waiting


def turns_for(scope: Scope) -> Turns | None:
    """The process's turns when the request waits for one (:func:`waits_for_turn`), else None."""
    return getattr(scope["app"].state, "read_turns", None) if waits_for_turn(scope) else None


@asynccontextmanager
async def turn(scope: Scope):
    """A turn for a read worked on outside routing (the fast paths); none needed for other requests."""
    turns = turns_for(scope)
    if turns is None:
        yield
        return
    async with turns.semaphore:
        yield


class ReadAdmission:
    """Routed reads wait for a turn (:class:`Turns`, ``app.state.read_turns``) and give it back as
    their answer starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        turns = turns_for(scope)
        if turns is None:
            await self.app(scope, receive, send)
            return
        semaphore = turns.semaphore
        await semaphore.acquire()
        holding = True

        async def send_and_give_back(message: Message) -> None:
            nonlocal holding
            if holding and message["type"] == "http.response.start":
                holding = False
                semaphore.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_give_back)
        finally:
            if holding:
                semaphore.release()
