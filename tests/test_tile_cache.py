"""The tile cache (landreg.tilecache): hits, exact invalidation through the database, HTTP caching."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import geopandas as gpd
import httpx
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg import clock, publication, register, review
from landreg.access import Principal
from landreg.importer import ImportOptions, import_file
from tests.helpers import (
    DORTMUND_REINOLDIKIRCHE,
    ESSEN_HBF,
    app_client,
    bearers,
    live_server,
    record,
    squares_in_dortmund,
    utm,
)

WMQ = morecantile.tms.get("WebMercatorQuad")
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
TILES = "/collections/parcels/tiles/WebMercatorQuad"
X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
EX, EY = utm(*ESSEN_HBF)
PLANNER = Principal(None, "planer.do", "planner", ("05913000",))
REVIEWER = Principal(None, "pruefung", "reviewer")
ZOOMS = range(6, 19)


@pytest.fixture(autouse=True)
def cache_header(monkeypatch):
    """Public tiles say hit or miss only when the operator asks for it (LANDREG_TILE_CACHE_HEADER)."""
    from landreg.settings import get_settings

    monkeypatch.setenv("LANDREG_TILE_CACHE_HEADER", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def api(committed_db):
    """A published parcel in Dortmund (A), one in Essen (far away); a planner of Dortmund's token."""
    record(
        committed_db,
        {
            "local_ref": "A",
            "name": "A0",
            "category": "gewerbeflaeche",
            "publication_allowed": True,
            "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 40),
        },  # fmt: skip
        {
            "local_ref": "E",
            "name": "Essen",
            "category": "brachflaeche",
            "publication_allowed": True,
            "geom": shapely.box(EX, EY, EX + 60, EY + 40),
        },  # fmt: skip
    )
    planner = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))["planner"]
    with app_client(committed_db) as client:
        _listening(client)
        client.baseline_xid, client.database = _newest_invalidation(committed_db), committed_db
        yield client, planner


def _listening(client) -> None:
    notices = client.app.state.tile_cache.announcements
    deadline = time.monotonic() + 10
    while not notices.listening:
        assert time.monotonic() < deadline, "the app does not listen for announcements"
        time.sleep(0.01)


def _newest_invalidation(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(xid::text::bigint), 0) FROM tile_invalidation")).scalar_one()


def _settled(client) -> None:
    """Wait until the app has heard of every invalidation committed since it started: until then a
    public tile may come from the cache (landreg.tilenotices; signed-in views never wait)."""
    notices = client.app.state.tile_cache.announcements
    newest = _newest_invalidation(client.database)  # not the app's engine: its statements are counted
    deadline = time.monotonic() + 5
    while newest > getattr(client, "baseline_xid", 0) and notices.xid < newest:
        assert time.monotonic() < deadline, "a committed change was not announced within 5 s"
        time.sleep(0.002)


def _parcel_id(engine, ref: str):
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM parcel WHERE local_ref = :r"), {"r": ref}).scalar_one()


def _tiles_of(geom: shapely.Geometry, z: int) -> set[morecantile.Tile]:
    """The tiles at zoom z that a geometry (EPSG:25832) lies in, computed by morecantile."""
    (w, s), (e, n) = TO_WGS84.transform(*geom.bounds[:2]), TO_WGS84.transform(*geom.bounds[2:])
    return set(WMQ.tiles(w, s, e, n, [z]))


def _url(tile: morecantile.Tile) -> str:
    return f"{TILES}/{tile.z}/{tile.y}/{tile.x}"


def _get(client, tile, headers=None):
    if hasattr(client, "baseline_xid"):
        _settled(client)
    response = client.get(_url(tile), headers=headers)
    assert response.status_code == 200, response.text
    return response


def _names(response) -> set[str]:
    layer = mapbox_vector_tile.decode(response.content).get("parcels", {"features": []})
    return {f["properties"].get("name") for f in layer["features"]}


def _edit(engine, principal: Principal, ref: str, **attributes) -> None:
    with Session(engine) as session:
        register.update(session, principal, _parcel_id(engine, ref), "*", attributes)
        session.commit()


def _approve_all(engine) -> None:
    with engine.begin() as conn:
        waiting = conn.execute(text("SELECT id FROM submission WHERE state = 'wartend'")).scalars().all()
        review.approve(conn, REVIEWER, waiting)


def test_public_tiles_do_not_say_hit_or_miss_by_default(api, monkeypatch):
    from landreg.settings import get_settings

    client, planner = api
    monkeypatch.setenv("LANDREG_TILE_CACHE_HEADER", "false")
    get_settings.cache_clear()
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    first, second = _get(client, here), _get(client, here)
    assert "x-cache" not in first.headers and "x-cache" not in second.headers
    assert first.headers["etag"] == second.headers["etag"]
    assert _get(client, here, planner).headers["x-cache"] in ("hit", "miss")  # a signed-in view: no secret


def test_a_tile_is_served_from_the_cache_until_an_edit_touches_it(api, committed_db):
    client, planner = api
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    far = WMQ.tile(*ESSEN_HBF, 16)
    assert _get(client, here).headers["x-cache"] == "miss"
    assert _get(client, far).headers["x-cache"] == "miss"
    assert _get(client, here).headers["x-cache"] == "hit"
    assert _names(_get(client, far)) == {"Essen"}

    _edit(committed_db, PLANNER, "A", name="A1")  # waits for review: the public still sees A0
    mine = _get(client, here, planner)
    assert _names(mine) == {"A1"}
    public = _get(client, here)
    assert public.headers["x-cache"] == "miss" and _names(public) == {"A0"}
    assert _get(client, far).headers["x-cache"] == "hit"

    _approve_all(committed_db)  # the review decision changes what the public sees
    approved = _get(client, here)
    assert approved.headers["x-cache"] == "miss" and _names(approved) == {"A1"}
    assert _get(client, here).headers["x-cache"] == "hit"
    assert _get(client, far).headers["x-cache"] == "hit"


def test_a_moved_parcel_invalidates_every_zoom_its_old_and_new_outline_touch(api, committed_db):
    client, planner = api  # the planner sees their change at once (the public after review)
    old = shapely.box(X0, Y0, X0 + 60, Y0 + 40)
    new = shapely.box(X0 + 3000, Y0 - 2000, X0 + 3080, Y0 - 1950)
    touched = {t for z in ZOOMS for g in (old, new) for t in _tiles_of(g, z)}
    far = {WMQ.tile(*ESSEN_HBF, z) for z in range(10, 19)}  # 30 km west: beyond every tile's reach
    for tile in touched | far:
        _get(client, tile, planner)
    assert all(_get(client, t, planner).headers["x-cache"] == "hit" for t in touched | far)

    _edit(committed_db, PLANNER, "A", geom=new)

    assert [t for t in touched if _get(client, t, planner).headers["x-cache"] == "hit"] == []
    assert all(_get(client, t, planner).headers["x-cache"] == "hit" for t in far)
    at_new = WMQ.tile(*TO_WGS84.transform(X0 + 3040, Y0 - 1975), 16)
    assert _names(_get(client, at_new, planner)) == {"A0"}
    assert _names(_get(client, WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16), planner)) == set()


def test_retiring_importing_and_an_objection_invalidate_the_tiles_they_touch(api, committed_db, tmp_path):
    client, planner = api
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 15)
    far = WMQ.tile(*ESSEN_HBF, 15)
    for headers in (None, planner):
        _get(client, here, headers), _get(client, far, headers)

    # an objection: the parcel leaves the public map at once
    with committed_db.begin() as conn:
        publication.record_objection(conn, PLANNER, _parcel_id(committed_db, "A"), clock.today())
    public = _get(client, here)
    assert public.headers["x-cache"] == "miss" and _names(public) == set()
    assert _get(client, far).headers["x-cache"] == "hit"

    # an import of a new parcel beside it
    path = tmp_path / "neu.gpkg"
    gpd.GeoDataFrame(
        {"Flächen-Nr": ["N-1"], "Bezeichnung": ["Neu"], "Kategorie": ["Brache"]},
        geometry=[shapely.box(X0 + 80, Y0, X0 + 120, Y0 + 40)],
        crs=25832,
    ).to_file(path)
    with committed_db.begin() as conn:
        report = import_file(conn, path, ImportOptions(actor="planer.do", principal=PLANNER))
    assert report.inserted == 1
    mine = _get(client, here, planner)
    assert mine.headers["x-cache"] == "miss" and _names(mine) == {"A0", "Neu"}

    # retiring it (the planner sees their own latest state)
    with Session(committed_db) as session:
        register.retire(session, PLANNER, _parcel_id(committed_db, "N-1"), "*", "fehlerfassung")
        session.commit()
    mine = _get(client, here, planner)
    assert mine.headers["x-cache"] == "miss" and _names(mine) == {"A0"}
    assert _get(client, far, planner).headers["x-cache"] == "hit"
    assert _get(client, far).headers["x-cache"] == "hit"


def test_conditional_requests_and_cache_rules(api, committed_db):
    client, planner = api
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    first = _get(client, here)
    assert first.headers["cache-control"] == "public, max-age=30, must-revalidate"
    again = client.get(_url(here), headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["x-cache"] == "hit"
    assert again.headers["etag"] == first.headers["etag"]

    _edit(committed_db, PLANNER, "A", name="A2")
    _approve_all(committed_db)
    _settled(client)
    changed = client.get(_url(here), headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    assert _names(changed) == {"A2"}


def test_public_and_signed_in_tiles_are_never_mixed(api, committed_db):
    client, planner = api
    with committed_db.begin() as conn:  # a parcel only its municipality sees
        conn.execute(
            text("UPDATE parcel SET publication_allowed = false, internal_notes = 'intern' WHERE local_ref = 'A'")
        )
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    mine = _get(client, here, planner)
    assert mine.headers["cache-control"] == "private, no-cache" and _names(mine) == {"A0"}
    assert _get(client, here, planner).headers["x-cache"] == "hit"
    public = _get(client, here)
    assert public.headers["x-cache"] == "miss" and _names(public) == set()
    assert public.headers["cache-control"].startswith("public")
    other = bearers(committed_db, essen=("planer.e", "planner", ["05113000"]))["essen"]
    theirs = _get(client, here, other)  # another municipality's planner: not the Dortmund entry
    assert theirs.headers["x-cache"] == "miss" and _names(theirs) == set()


def _mercator_bounds(outline: shapely.Geometry) -> tuple[float, float, float, float]:
    """The bounds of an outline (EPSG:25832) in EPSG:3857, as ``tile_invalidation`` records them."""
    mercator = Transformer.from_crs(25832, 3857, always_xy=True)
    return shapely.transform(outline, lambda c: np.column_stack(mercator.transform(c[:, 0], c[:, 1]))).bounds


def test_unchanged_writes_invalidate_nothing(api, committed_db):
    with committed_db.begin() as conn:
        before = conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one()
        conn.execute(text("UPDATE parcel SET name = name"))  # the row trigger keeps the row as it was
        assert conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one() == before
        conn.execute(text("UPDATE parcel SET name = 'x' WHERE local_ref = 'E'"))
        rows = conn.execute(text("SELECT layer, west, south, east, north FROM tile_invalidation ORDER BY seq")).all()
    layer, west, south, east, north = rows[-1]
    assert layer == "parcels" and len(rows) == before + 1
    assert (west, south, east, north) == pytest.approx(
        _mercator_bounds(shapely.box(EX, EY, EX + 60, EY + 40)), abs=0.01
    )


def test_no_tile_is_older_than_the_edit_it_shows_under_concurrent_edits(committed_db):
    """Writers change the parcel's name to n1, n2, … (each committed before it is counted); readers
    note the last counted edit before each request and must get a tile at least that new."""
    record(committed_db, {"local_ref": "A", "name": "n0", "category": "gewerbeflaeche",
                          "publication_allowed": True, "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 40)})  # fmt: skip
    planner = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))["planner"]
    from api.app import create_app
    from tests.helpers import database_url

    app = create_app(database_url(committed_db))
    tile = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    committed, stop, problems, outcomes = [0], threading.Event(), [], []

    def write() -> None:
        for i in range(1, 26):
            _edit(committed_db, PLANNER, "A", name=f"n{i}")
            committed[0] = i
            time.sleep(0.01)
        stop.set()

    def read(base: str) -> None:
        with httpx.Client(base_url=base, headers=planner) as http:
            while not stop.is_set():
                floor = committed[0]
                response = http.get(_url(tile))
                shown = int(next(iter(_names(response)))[1:])
                outcomes.append(response.headers["x-cache"])
                if shown < floor:
                    problems.append((floor, shown, response.headers["x-cache"]))

    with live_server(app) as base:
        readers = [threading.Thread(target=read, args=(base,)) for _ in range(3)]
        writer = threading.Thread(target=write)
        for t in (*readers, writer):
            t.start()
        for t in (*readers, writer):
            t.join(timeout=120)
    assert problems == []
    assert outcomes.count("hit") > 0 and outcomes.count("miss") > 0


def test_a_new_register_day_publishes_without_any_write_and_empties_the_cache(api, committed_db, monkeypatch):
    """A parcel turns public on the German day after its objection period (landreg.clock), not on the
    database's or the server's date; the cached tile of the day before is not served on the new day."""
    from landreg.settings import get_settings

    client, _ = api
    with committed_db.connect() as conn:
        public_from = conn.execute(text("SELECT public_since FROM parcel WHERE local_ref = 'A'")).scalar_one()
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    item = f"/collections/parcels/items/{_parcel_id(committed_db, 'A')}"

    def day(date) -> None:
        monkeypatch.setenv("LANDREG_TODAY", date.isoformat())
        get_settings.cache_clear()

    day(public_from - dt.timedelta(days=1))
    assert _names(_get(client, here)) == set() and client.get(item).status_code == 404
    assert _get(client, here).headers["x-cache"] == "hit"
    day(public_from)
    tile = _get(client, here)
    assert tile.headers["x-cache"] == "miss" and _names(tile) == {"A0"}
    assert client.get(item).status_code == 200


def test_a_small_public_tile_before_routing_has_the_routes_headers(api, committed_db):
    """api.tilehits sits outside the compression layer: a tile under its threshold must still get
    exactly the route's headers (no Vary: Accept-Encoding, no Content-Encoding), for every encoding."""
    client, _ = api
    record(committed_db, {"local_ref": "K1", "name": "Klein", "category": "gewerbeflaeche",
                          "publication_allowed": True, "geom": shapely.box(X0, Y0 - 50, X0 + 30, Y0 - 20)})  # fmt: skip
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    _get(client, here)  # rendered and kept
    for encoding in ("gzip", "identity", "br", "gzip;q=0"):
        headers = {"Accept-Encoding": encoding}
        kept = _get(client, here, headers)
        routed = client.get(_url(here) + "?filter-lang=cql2-text", headers=headers)
        assert kept.headers["x-cache"] == routed.headers["x-cache"] == "hit"
        assert 0 < len(kept.content) < 1024 and kept.content == routed.content
        for name in ("etag", "cache-control", "vary", "content-type", "content-encoding", "content-length"):
            assert kept.headers.get(name) == routed.headers.get(name), (encoding, name)
        assert kept.headers["vary"] == "Authorization" and "content-encoding" not in kept.headers


def test_a_kept_public_tile_needs_no_database_until_a_change_is_announced(api, committed_db):
    """api.tilehits answers kept public tiles before routing: same bytes and headers as the route,
    no statement; after an announced change the touched tile is new; without the listener every
    request asks the database again."""
    client, planner = api
    record(  # enough parcels for a tile above the compression threshold
        committed_db,
        *[
            {"local_ref": f"G{i}", "name": f"Gewerbefläche Nr. {i}", "category": "gewerbeflaeche",
             "publication_allowed": True, "geom": shapely.box(X0 + 80 * (i % 6), Y0 - 60 * (i // 6 + 1),
                                                              X0 + 80 * (i % 6) + 50, Y0 - 60 * (i // 6 + 1) + 40)}
            for i in range(30)
        ],
    )  # fmt: skip
    here, far = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16), WMQ.tile(*ESSEN_HBF, 16)
    statements = []
    engine = client.app.state.engine

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", count)
    try:
        for encoding in ("gzip", "identity"):
            headers = {"Accept-Encoding": encoding}
            first = _get(client, here if encoding == "gzip" else far, headers)  # rendered before routing
            del statements[:]
            kept = _get(client, here, headers)
            assert statements == [] and kept.headers["x-cache"] == "hit"
            routed = client.get(_url(here) + "?filter-lang=cql2-text", headers=headers)  # through the route
            assert routed.headers["x-cache"] == "hit" and len(routed.content) > 1024
            for answer in (kept, first) if encoding == "gzip" else (kept,):
                assert answer.content == routed.content
                for name in ("etag", "cache-control", "vary", "content-type", "content-encoding"):
                    assert answer.headers.get(name) == routed.headers.get(name), name
        assert kept.headers["vary"] == "Authorization, Accept-Encoding" and "content-encoding" not in kept.headers
        for wrong in ("/collections/keine/tiles/WebMercatorQuad/16/1/1", f"{TILES}/3/9/1"):  # no such tile
            before_routing, routed = client.get(wrong), client.get(wrong + "?filter-lang=cql2-text")
            assert before_routing.status_code == routed.status_code == 404
            assert before_routing.json() == routed.json()
        revalidated = client.get(_url(here), headers={"If-None-Match": kept.headers["etag"]})
        assert revalidated.status_code == 304 and revalidated.content == b"" and statements == []
        _get(client, far)

        _edit(committed_db, PLANNER, "G0", name="umbenannt")
        _approve_all(committed_db)
        changed = _get(client, here)  # _get waits for the announcement, as a moment later would
        assert changed.headers["x-cache"] == "miss" and "umbenannt" in _names(changed)
        assert _get(client, far).headers["x-cache"] == "hit"
        del statements[:]
        assert _get(client, far).headers["x-cache"] == "hit" and statements == []

        client.app.state.tile_cache.announcements.stop()  # no listener: each request syncs
        assert _get(client, far).headers["x-cache"] == "hit" and len(statements) == 1
        with committed_db.begin() as conn:
            conn.execute(text("UPDATE parcel SET name = 'sofort' WHERE local_ref = 'G1'"))
        assert "sofort" in _names(client.get(_url(here)))  # not waiting: the sync finds it
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_listener_comes_back_after_its_connection_is_killed_and_never_breaks_a_request(api, committed_db):
    """A lost listening connection: requests sync meanwhile (none fails), it reconnects on its own;
    looking at a socket that is gone says "not quiet" instead of raising."""
    client, _ = api
    notices = client.app.state.tile_cache.announcements
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    _get(client, here)
    epoch = notices.epoch
    with committed_db.connect() as conn:
        killed = conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'landreg-tile-notices'")
        ).scalars().all()  # fmt: skip
    assert killed and all(killed)
    deadline = time.monotonic() + 15
    while notices.epoch == epoch or not notices.listening:
        assert client.get(_url(here)).status_code == 200  # synced per request meanwhile
        assert time.monotonic() < deadline, "the listener did not reconnect"
        time.sleep(0.05)
    _get(client, here)
    assert _get(client, here).headers["x-cache"] == "hit"

    from landreg.tilenotices import Announcements

    gone = Announcements()
    gone.listening, gone._fd = True, 4000  # no such descriptor (and above select()'s limit of 1024)
    assert gone.quiet() is False


def test_a_burst_of_visitors_on_a_missing_tile_renders_it_once(committed_db, monkeypatch):
    """A cold cache (or an edit) under a busy map: the visitors asking for the same tile at once wait
    for one rendering of it instead of each costing the database the same work; another tile asked
    for at the same time has its own rendering."""
    record(committed_db,
           {"local_ref": "A", "name": "A0", "category": "gewerbeflaeche", "publication_allowed": True,
            "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 40)},
           {"local_ref": "E", "name": "Essen", "category": "brachflaeche", "publication_allowed": True,
            "geom": shapely.box(EX, EY, EX + 60, EY + 40)})  # fmt: skip
    from api import tiles as api_tiles
    from api.app import create_app
    from tests.helpers import database_url

    real, renders = api_tiles.tiles.render_tile, []

    def slow_render(conn, statement, values):
        renders.append((values["z"], values["x"], values["y"]))
        time.sleep(0.4)  # as long as a low-zoom tile takes: the other visitors arrive meanwhile
        return real(conn, statement, values)

    monkeypatch.setattr(api_tiles.tiles, "render_tile", slow_render)
    here, far = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 15), WMQ.tile(*ESSEN_HBF, 15)
    asked = [here] * 6 + [far] * 2
    start, answers = threading.Barrier(len(asked)), []

    def visit(tile, base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            start.wait()
            answers.append((tile, http.get(_url(tile))))

    with live_server(create_app(database_url(committed_db))) as base:
        visitors = [threading.Thread(target=visit, args=(t, base)) for t in asked]
        for v in visitors:
            v.start()
        for v in visitors:
            v.join(timeout=60)
    assert len(answers) == len(asked) and all(r.status_code == 200 for _, r in answers)
    assert sorted(renders) == sorted([(here.z, here.x, here.y), (far.z, far.x, far.y)])
    for tile, names in ((here, {"A0"}), (far, {"Essen"})):
        got = [r for t, r in answers if t == tile]
        assert len({r.content for r in got}) == 1 and _names(got[0]) == names
        assert sorted(r.headers["x-cache"] for r in got) == ["hit"] * (len(got) - 1) + ["miss"]


def test_a_request_waiting_for_a_rendering_takes_no_tile_older_than_an_edit_it_saw(committed_db):
    """The first request renders from before an edit; a second, which synced after the edit, waits for
    that rendering but does not take it: it renders the tile again. The second's tile is kept."""
    record(committed_db, {"local_ref": "A", "name": "A0", "category": "gewerbeflaeche", "publication_allowed": True,
                          "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 40)})  # fmt: skip
    from landreg import tiles
    from landreg.tilecache import TileCache, TileKey

    cache = TileCache(16 * 1024**2, tiles.cache_margin_units)
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    key = TileKey("parcels", "planner", None, here.z, here.x, here.y)
    rendering, finish, got = threading.Event(), threading.Event(), {}

    def first() -> None:
        def render() -> bytes:
            rendering.set()
            assert finish.wait(10)
            return b"before the edit"

        with committed_db.connect() as conn:
            got["first"] = cache.tile(conn, key, render)

    def second() -> None:
        with committed_db.connect() as conn:
            got["second"] = cache.tile(conn, key, lambda: b"after the edit")

    one = threading.Thread(target=first)
    one.start()
    assert rendering.wait(10)
    _edit(committed_db, PLANNER, "A", name="A1")
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.5)  # the second syncs (and learns of the edit), then waits for the first's rendering
    finish.set()
    one.join(timeout=10)
    two.join(timeout=10)
    assert got["first"][0].body == b"before the edit"
    assert got["second"] == (got["second"][0], "miss") and got["second"][0].body == b"after the edit"
    with committed_db.connect() as conn:
        assert cache.tile(conn, key, lambda: b"not asked") == (got["second"][0], "hit")


def _rename(engine, ref: str, name: str) -> None:
    """A direct edit of the parcel's name (no review), committed."""
    from landreg.parcels import update_parcel

    with Session(engine) as session:
        update_parcel(session, _parcel_id(engine, ref), "test", name=name)
        session.commit()


def test_a_rendering_on_a_database_behind_another_request_s_sync_is_not_kept(committed_db, monkeypatch):
    """A request syncs on a database that then stays behind (here a snapshot from before an edit, as
    on a lagging replica); another request's sync applies the edit before the first one renders.
    What the first renders answers the first only: the second, waiting for it, renders the edit."""
    record(committed_db, {"local_ref": "A", "name": "A0", "category": "gewerbeflaeche", "publication_allowed": True,
                          "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 40)})  # fmt: skip
    from landreg import tiles
    from landreg.tilecache import TileCache, TileKey

    cache = TileCache(16 * 1024**2, tiles.cache_margin_units)
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    key = TileKey("parcels", "planner", None, here.z, here.x, here.y)
    synced = {"behind": threading.Event(), "ahead": threading.Event()}
    go = {"behind": threading.Event(), "ahead": threading.Event()}
    rendering, finish, got = threading.Event(), threading.Event(), {}
    ready = cache._ready

    def ready_then_pause(conn, strict):  # between a request's sync and its look into the cache
        state = ready(conn, strict)
        me = threading.current_thread().name
        if me in synced:
            synced[me].set()
            assert go[me].wait(10)
        return state

    monkeypatch.setattr(cache, "_ready", ready_then_pause)

    def name(conn) -> bytes:
        return conn.execute(text("SELECT name FROM parcel WHERE local_ref = 'A'")).scalar_one().encode()

    def behind() -> None:
        with committed_db.connect().execution_options(isolation_level="REPEATABLE READ") as conn:

            def render() -> bytes:
                rendering.set()
                assert finish.wait(10)
                return name(conn)  # the snapshot of its sync: before the edit

            got["behind"] = cache.tile(conn, key, render)

    def ahead() -> None:
        with committed_db.connect() as conn:
            got["ahead"] = cache.tile(conn, key, lambda: name(conn))

    one = threading.Thread(target=behind, name="behind")
    one.start()
    assert synced["behind"].wait(10)
    _rename(committed_db, "A", "A1")
    two = threading.Thread(target=ahead, name="ahead")
    two.start()
    assert synced["ahead"].wait(10)  # the edit is applied to the cache
    go["behind"].set()
    assert rendering.wait(10)  # the first renders now, with what its database shows
    go["ahead"].set()
    time.sleep(0.3)  # the second finds it rendering and waits
    finish.set()
    one.join(timeout=10)
    two.join(timeout=10)
    assert got["behind"][0].body == b"A0"
    assert got["ahead"][0].body == b"A1" and got["ahead"][1] == "miss"
    with committed_db.connect() as conn:
        assert cache.tile(conn, key, lambda: b"not asked")[0].body == b"A1"


def test_requests_waiting_for_a_rendering_that_kept_nothing_wait_for_the_next_one(committed_db):
    """The first rendering is from before an edit and is not kept; of the three requests waiting for
    it, one renders the tile again and the other two take that: two renderings, not four."""
    record(committed_db, {"local_ref": "A", "name": "A0", "category": "gewerbeflaeche", "publication_allowed": True,
                          "geom": shapely.box(X0, Y0, X0 + 60, Y0 + 40)})  # fmt: skip
    from landreg import tiles
    from landreg.tilecache import TileCache, TileKey

    cache = TileCache(16 * 1024**2, tiles.cache_margin_units)
    here = WMQ.tile(*DORTMUND_REINOLDIKIRCHE, 16)
    key = TileKey("parcels", "planner", None, here.z, here.x, here.y)
    rendering, finish, renders, got = threading.Event(), threading.Event(), [], {}

    def first() -> None:
        def render() -> bytes:
            renders.append("first")
            rendering.set()
            assert finish.wait(10)
            return b"before the edit"

        with committed_db.connect() as conn:
            got["first"] = cache.tile(conn, key, render)

    def later(i: int) -> None:
        def render() -> bytes:
            renders.append(i)
            time.sleep(0.3)  # the others look meanwhile
            return b"after the edit"

        with committed_db.connect() as conn:
            got[i] = cache.tile(conn, key, render)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert rendering.wait(10)
    _rename(committed_db, "A", "A1")
    threads += [threading.Thread(target=later, args=(i,)) for i in range(3)]
    for t in threads[1:]:
        t.start()
    time.sleep(0.5)  # they sync (and learn of the edit), then wait for the first rendering
    finish.set()
    for t in threads:
        t.join(timeout=10)
    assert len(renders) == 2 and renders[0] == "first"
    assert [got[i][0].body for i in range(3)] == [b"after the edit"] * 3
    assert sorted(got[i][1] for i in range(3)) == ["hit", "hit", "miss"]


def _trigger_plans(conn, statement: str, counting: bool = True) -> list[dict]:
    """The plans (EXPLAIN's JSON, with the settings that differ from the defaults) of the tile
    trigger's count (``counting``; else of its recording of cells) when ``statement`` runs
    (auto_explain, sent as notices)."""
    notices: list[str] = []
    driver = conn.connection.driver_connection
    handler = lambda notice: notices.append(notice.message_primary)  # noqa: E731
    conn.execute(text("LOAD 'auto_explain'"))
    settings = {"min_duration": "0", "nested_statements": "on", "level": "notice", "format": "json", "settings": "on"}
    for name, value in settings.items():
        conn.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": f"auto_explain.log_{name}", "value": value}
        )
    conn.execute(text("SELECT set_config('client_min_messages', 'notice', true)"))
    driver.add_notice_handler(handler)
    try:
        conn.execute(text(statement))
    finally:
        driver.remove_notice_handler(handler)
        conn.execute(text("SELECT set_config('auto_explain.log_min_duration', '-1', true)"))
    explained = [json.loads(n[n.index("{") :]) for n in notices if "plan:" in n]
    if not counting:
        return [e for e in explained if e["Query Text"].startswith("INSERT INTO tile_invalidation (layer, west")]
    return [e for e in explained if "LIMIT 1001" in e["Query Text"] and "old_rows o JOIN new_rows n" in e["Query Text"]]


def _planner_settings(conn) -> dict[str, str]:
    """The settings the tile trigger changes for a large statement, as the transaction has them."""
    names = ("enable_nestloop", "enable_mergejoin", "enable_sort", "jit")
    return {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in names}


def _joins_row_by_row(node: dict) -> bool:
    """Whether a nested loop in the plan joins rows of one transition table with rows of the other."""

    def tuplestores(n: dict) -> int:
        return (n["Node Type"] == "Named Tuplestore Scan") + sum(tuplestores(c) for c in n.get("Plans", []))

    children = node.get("Plans", [])
    if node["Node Type"] == "Nested Loop" and len(children) >= 2 and all(tuplestores(c) for c in children[:2]):
        return True
    return any(_joins_row_by_row(c) for c in children)


@pytest.mark.parametrize("rows", [5, 1_500])
def test_an_update_of_many_rows_plans_the_trigger_without_nested_loops(conn, rows):
    """The trigger's count stops at 1,001 changed outlines: expecting to stop early, the planner joined
    the old and new rows of a large UPDATE in a nested loop, and where nothing differs it compared every
    old row with every new one (measured: 30,000 parcels unchanged, not done in 10 minutes; planned
    without them, 6.8 s). An UPDATE of more than 1,000 rows plans without nested loops (and so without
    JIT, which their penalty would start); fewer rows keep the index lookups of nested loops. Where the
    planner switches depends on its estimates, so the test checks the plan, not the time."""
    squares_in_dortmund(conn, rows, "H-", (X0 - 750, Y0 - 750), per_row=50)
    before, session = conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one(), _planner_settings(conn)
    (count,) = _trigger_plans(conn, "UPDATE parcel SET name = name WHERE local_ref LIKE 'H-%'")
    assert conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one() == before  # nothing differs
    planned = count.get("Settings", {})
    assert planned.get("jit") == "off" and "JIT" not in count  # compiling a trigger's statement never pays
    if rows > 1_000:
        assert planned.get("enable_nestloop") == "off" and planned.get("enable_mergejoin") == "off", planned
        assert not _joins_row_by_row(count["Plan"]), json.dumps(count["Plan"], indent=1)
    else:
        assert "enable_nestloop" not in planned and "enable_mergejoin" not in planned, planned
    # the function's settings end with it: the transaction's next statement plans as the session says
    assert _planner_settings(conn) == session
    assert conn.execute(text("UPDATE parcel SET name = 'neu' WHERE local_ref LIKE 'H-%'")).rowcount == rows
    recorded = conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one() - before
    assert recorded == rows if rows <= 1_000 else 1 <= recorded < rows  # an outline each, or 2 km cells


def _scans_of(node: dict, relation: str) -> list[dict]:
    found = [node] if node.get("Relation Name") == relation else []
    return found + [n for child in node.get("Plans", []) for n in _scans_of(child, relation)]


def _nodes_comparing(node: dict) -> list[dict]:
    """The plan's nodes that compare old and new values."""
    found = [node] if "IS DISTINCT FROM" in node.get("Join Filter", "") + node.get("Filter", "") else []
    return found + [n for child in node.get("Plans", []) for n in _nodes_comparing(child)]


def test_indicators_computed_again_are_compared_before_any_parcel_is_read(conn):
    """A full run computes every indicator again; the tile trigger compares old and new rows before it
    looks up outlines in ``parcel``: it looked up every updated row's outline first (at 1M parcels a
    scan of the table: 0.67 s for 125,000 unchanged indicators instead of 0.20 s). Whether the planner
    then reads ``parcel`` at all depends on the sizes (a small table is hashed first), so the test
    checks the plan's order. Unchanged values invalidate nothing, a changed one its parcel's outline."""
    squares_in_dortmund(conn, 1_500, "I-", (X0 - 750, Y0 + 900), per_row=50)
    conn.execute(
        text("""
        INSERT INTO parcel_indicator (parcel_id, parcel_version, dist_port_m)
        SELECT id, version, 100 FROM parcel WHERE local_ref LIKE 'I-%'
    """)
    )
    before = conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one()
    recomputed = """UPDATE parcel_indicator SET computed_at = clock_timestamp(), dist_port_m = 100
                     WHERE parcel_id IN (SELECT id FROM parcel WHERE local_ref LIKE 'I-%')"""
    (count,) = _trigger_plans(conn, recomputed)
    assert conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one() == before
    comparing = _nodes_comparing(count["Plan"])
    assert comparing and not any(_scans_of(node, "parcel") for node in comparing), json.dumps(count["Plan"], indent=1)
    conn.execute(
        text("""UPDATE parcel_indicator SET dist_port_m = CASE WHEN p.local_ref = 'I-7' THEN 250 ELSE 100 END
                  FROM parcel p WHERE p.id = parcel_id AND p.local_ref LIKE 'I-%'""")
    )
    rows = conn.execute(
        text("SELECT layer, west, south, east, north FROM tile_invalidation ORDER BY seq OFFSET :n"), {"n": before}
    ).all()
    x, y = X0 - 750 + 7 * 30, Y0 + 900  # I-7: the eighth square of the first row
    assert len(rows) == 1 and rows[0][0] == "parcels"
    assert rows[0][1:] == pytest.approx(_mercator_bounds(shapely.box(x, y, x + 20, y + 20)), abs=0.01)


def test_a_full_run_that_changes_no_score_keeps_the_score_tiles(conn):
    """A full run rewrites every score of a profile. The tile cache hears of the scores that changed
    what a tile shows (a parcel's score, its public variant's, the version they are of): a run that
    left them as they were kept every cached tile with scores (before: more than 1,000 updated rows
    emptied them all); a changed score invalidates its parcel's outline."""
    from landreg.scoring.engine import score_profile
    from landreg.scoring.profiles import save_profile

    squares_in_dortmund(conn, 1_200, "J-", (X0 - 750, Y0 - 1_800), per_row=40)
    profile, _ = save_profile(conn, "kachel", "Kachel", "t", {"criteria": {"size": 1.0}}, "t")
    score_profile(conn, profile, "t")
    invalidations = "SELECT layer, west, south, east, north FROM tile_invalidation WHERE seq > :seq ORDER BY seq"
    seq = conn.execute(text("SELECT coalesce(max(seq), 0) FROM tile_invalidation")).scalar_one()
    score_profile(conn, profile, "t")  # the same scores again
    assert conn.execute(text(invalidations), {"seq": seq}).all() == []
    conn.execute(text("UPDATE parcel_score SET coverage = coverage, excluded_by = excluded_by"))  # no tile shows them
    assert conn.execute(text(invalidations), {"seq": seq}).all() == []
    conn.execute(
        text("""UPDATE parcel_score s SET score = s.score + 1 FROM parcel p
                 WHERE p.id = s.parcel_id AND p.local_ref = 'J-41' AND s.profile_id = :p"""),
        {"p": profile.id},
    )
    (row,) = conn.execute(text(invalidations), {"seq": seq}).all()
    x, y = X0 - 750 + 30, Y0 - 1_800 + 30  # J-41: the second square of the second row
    assert row[0] == "scores" and row[1:] == pytest.approx(
        _mercator_bounds(shapely.box(x, y, x + 20, y + 20)), abs=0.01
    )


def _node_types(node: dict) -> list[str]:
    return [node["Node Type"]] + [t for child in node.get("Plans", []) for t in _node_types(child)]


def test_the_cells_of_a_large_statement_are_grouped_without_sorting_every_outline(conn):
    """More than 1,000 outlines are recorded per 2 km cell. The planner cannot tell how many cells
    there are and expected one per outline: it sorted them all (adopting 1M parcels' indicators after
    an import: 4.2 s, 2.1 s hashed). A statement's settings end with the trigger."""
    squares_in_dortmund(conn, 1_500, "K-", (X0 - 600, Y0 - 3_000), per_row=40)
    before, session = conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one(), _planner_settings(conn)
    adopted = """INSERT INTO parcel_indicator (parcel_id, parcel_version)
                 SELECT id, version FROM parcel WHERE local_ref LIKE 'K-%'"""
    # as in a register: statistics that say every outline differs (the planner's count of cells), and
    # the groups it then expects of a million outlines do not fit in memory; in 64 kB neither do 1,500
    conn.execute(text("ANALYZE parcel"))
    conn.execute(text("SET LOCAL work_mem = '64kB'"))
    (cells,) = _trigger_plans(conn, adopted, counting=False)
    assert "Sort" not in _node_types(cells["Plan"]) and "Aggregate" in _node_types(cells["Plan"]), cells["Plan"]
    recorded = conn.execute(text("SELECT count(*) FROM tile_invalidation")).scalar_one() - before
    assert 1 <= recorded <= 4  # the squares span 1.2 km × 1.1 km: one to four 2 km cells
    assert _planner_settings(conn) == session
