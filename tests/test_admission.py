"""Reads a process works on at once (api.admission): the others wait their turn; writes, probes and
answers on their way to the client hold no turn."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import morecantile
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import create_engine, text

from api.admission import ReadAdmission, Turns
from api.app import create_app
from landreg.settings import READS_PER_CORE, reads_at_once
from tests.helpers import DORTMUND_REINOLDIKIRCHE, database_url, live_server, record, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
WMQ = morecantile.tms.get("WebMercatorQuad")


def test_reads_at_once_are_the_cores_share_unless_set(settings):
    cores = len(os.sched_getaffinity(0))
    settings()  # nothing set
    assert reads_at_once() == READS_PER_CORE * cores
    assert reads_at_once(workers=2) == READS_PER_CORE * cores // 2
    assert reads_at_once(workers=10 * READS_PER_CORE * cores) == 1  # never none
    settings(READS_AT_ONCE=3)
    assert reads_at_once() == reads_at_once(workers=4) == 3
    with pytest.raises(ValueError, match="LANDREG_READS_AT_ONCE=0: .* use 1 or more"):
        Turns(0)


def _waiting_on_lock(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()


def _settled(engine, expected: int, seconds: float = 15.0) -> int:
    deadline = time.monotonic() + seconds
    while (n := _waiting_on_lock(engine)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


def _tile_urls(geom: shapely.Geometry, z: int) -> list[str]:
    (w, s), (e, n) = TO_WGS84.transform(*geom.bounds[:2]), TO_WGS84.transform(*geom.bounds[2:])
    return [f"/collections/parcels/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}" for t in WMQ.tiles(w, s, e, n, [z])]


def test_reads_beyond_the_limit_wait_for_a_turn_on_every_path(committed_engine, settings):
    """Two turns; items (routed), single features (api.itemhits) and tiles missing from the cache
    (api.tilehits) all wait for one. The parcel table is locked, so a read with a turn waits in the
    database, where it can be counted; the rest wait in the process."""
    parcels = [shapely.box(X0 + 3000 * i, Y0, X0 + 3000 * i + 40, Y0 + 40) for i in range(2)]
    record(
        committed_engine,
        *[
            {"local_ref": f"T{i}", "category": "brachflaeche", "publication_allowed": True, "geom": g}
            for i, g in enumerate(parcels)
        ],
    )
    with committed_engine.connect() as conn:
        ids = [str(i) for i in conn.execute(text("SELECT id FROM parcel ORDER BY local_ref")).scalars()]
    settings(READS_AT_ONCE=2)
    reads = [
        *(f"/collections/parcels/items?bbox={b}&limit=5" for b in ("6.0,50.0,8.0,52.0", "7.0,51.0,8.0,52.0")),
        *(f"/collections/parcels/items/{i}" for i in ids),
        *(_tile_urls(g, 16)[0] for g in parcels),
    ]
    observer = create_engine(database_url(committed_engine))
    with (
        live_server(create_app(database_url(committed_engine))) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.get("/health").status_code == 200
        locker = observer.connect()
        transaction = locker.begin()
        locker.execute(text("LOCK TABLE parcel IN ACCESS EXCLUSIVE MODE"))
        with ThreadPoolExecutor(len(reads)) as pool:
            try:
                answers = [pool.submit(httpx.get, url + path, timeout=60) for path in reads]
                assert _settled(observer, 2) == 2
                time.sleep(1.0)  # had any read not waited for a turn, it would be waiting on the lock by now
                assert _waiting_on_lock(observer) == 2
                assert not any(a.done() for a in answers)
                started = time.monotonic()
                assert client.get("/health").status_code == 200  # a probe needs no turn
                assert time.monotonic() - started < 5
                metrics = client.get("/metrics").text
                assert 'landreg_reads{state="limit"} 2.0' in metrics
                assert 'landreg_reads{state="waiting"} 4.0' in metrics
            finally:
                transaction.rollback()
                locker.close()
            assert [a.result().status_code for a in answers] == [200] * len(reads)
    observer.dispose()


def test_a_write_waits_for_no_turn(committed_engine, settings):
    """With the only turn taken by a read stuck in the database, a write still reaches it."""
    settings(READS_AT_ONCE=1)
    observer = create_engine(database_url(committed_engine))
    with live_server(create_app(database_url(committed_engine))) as url:
        locker = observer.connect()
        transaction = locker.begin()
        locker.execute(text("LOCK TABLE parcel IN ACCESS EXCLUSIVE MODE"))
        with ThreadPoolExecutor(2) as pool:
            try:
                read = pool.submit(httpx.get, url + "/collections/parcels/items?limit=1", timeout=60)
                assert _settled(observer, 1) == 1
                # a new parcel without credentials: answered (refused) while the read keeps the turn
                write = pool.submit(
                    httpx.post,
                    url + "/collections/parcels/items",
                    json={"type": "Feature", "geometry": None, "properties": {}},
                    timeout=60,
                )
                assert write.result(timeout=10).status_code == 401
                assert not read.done()
            finally:
                transaction.rollback()
                locker.close()
            assert read.result().status_code == 200
    observer.dispose()


def test_a_read_gives_its_turn_back_when_its_answer_starts():
    """An answer on its way to a slow client holds no turn: the next read is answered meanwhile."""
    body_may_go = threading.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/slow":
            while not body_may_go.is_set():
                await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    class State:
        read_turns = Turns(1)

    class App:
        state = State()

    async def call(path: str) -> bytes:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "app": App()}
        await ReadAdmission(app)(scope, receive, send)
        return b"".join(m.get("body", b"") for m in sent)

    async def both():
        slow = asyncio.create_task(call("/slow"))
        await asyncio.sleep(0.1)
        fast = await asyncio.wait_for(call("/fast"), timeout=5)  # would wait for the slow body without the fix
        assert not slow.done()
        body_may_go.set()
        return fast, await slow

    assert asyncio.run(both()) == (b"/fast", b"/slow")
