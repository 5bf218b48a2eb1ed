"""No request works without bound (issue 20): geometry sizes, request bodies, the statement
timeout, paging and id ranges, keep-alive; and the media type of /queryables as documented."""

from __future__ import annotations

import socket
import time

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from psycopg.errors import QueryCanceled
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.app import create_app
from landreg.access import FULL
from landreg.db import make_engine, unbounded_statements
from landreg.importer import ImportOptions, import_file
from landreg.parcels import ParcelError, create_parcel
from landreg.safeguarding import PlanError, check_plan
from landreg.scoring import ensure_default_profiles
from landreg.settings import get_settings
from tests.helpers import (
    DORTMUND_REINOLDIKIRCHE,
    app_client,
    bearers,
    database_url,
    live_server,
    squares_in_dortmund,
    utm,
)

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)


def circle(vertices: int, radius: float = 50.0) -> shapely.Polygon:
    """A polygon of ``vertices`` vertices (the closing one included) in Dortmund."""
    angles = np.linspace(0, 2 * np.pi, vertices - 1, endpoint=False)
    ring = np.column_stack([X0 + radius * np.cos(angles), Y0 + radius * np.sin(angles)])
    return shapely.Polygon(ring)


def feature(geom, **props) -> dict:
    wgs = shapely.transform(geom, lambda xy: np.column_stack(TO_WGS84.transform(xy[:, 0], xy[:, 1])))
    return {"type": "Feature", "geometry": shapely.geometry.mapping(wgs), "properties": props}


def assert_error(response, status: int, *words: str, field: str | None = None) -> dict:
    """The one error body: detail and status (and the field at fault), the detail naming ``words``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and set(body) <= {"detail", "status", "field", "reason"}
    for word in words:
        assert word in body["detail"], body["detail"]
    if field is not None:
        assert body["field"] == field
    return body


# -- geometry size ----------------------------------------------------------------------------
def test_a_parcel_over_the_vertex_limit_is_refused_by_core_api_import_and_plan_check(committed_db, settings, tmp_path):
    settings(MAX_VERTICES=1000)
    big, small = circle(2001), circle(1000)
    assert shapely.get_num_coordinates(big) == 2001 and shapely.get_num_coordinates(small) == 1000
    with Session(committed_db) as session:  # the core, as the command line and every adapter use it
        with pytest.raises(ParcelError) as refused:
            create_parcel(session, "planer.do", local_ref="BIG", category="bauluecke", geom=big)
        assert refused.value.field == "geom"
        assert "2,001 vertices" in str(refused.value) and "1,000" in str(refused.value)
        assert "LANDREG_MAX_VERTICES" in str(refused.value)
        create_parcel(session, "planer.do", local_ref="SMALL", category="bauluecke", geom=small)  # at the limit
        session.rollback()

    tokens = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))
    with app_client(committed_db) as client:
        answer = client.post(
            "/collections/parcels/items",
            json=feature(big, local_ref="BIG", category="bauluecke"),
            headers=tokens["planner"],
        )
        assert_error(answer, 400, "2,001 vertices", "1,000", "LANDREG_MAX_VERTICES", field="geometry")
        plan = {"name": "B-Plan", "intended_use": "WA", "geometry": shapely.geometry.mapping(big), "crs": 25832}
        answer = client.post("/safeguarding/plan-checks", json=plan, headers=tokens["planner"])
        assert answer.status_code == 422 and "2,001 vertices" in answer.json()["detail"]

    path = tmp_path / "parcels.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["OK", "BIG"], "category": ["bauluecke", "bauluecke"]},
        geometry=[shapely.box(X0 + 500, Y0, X0 + 540, Y0 + 40), big],
        crs=25832,
    ).to_file(path)
    with committed_db.connect() as conn:
        report = import_file(conn, path, ImportOptions(actor="planer.do", dry_run=True))
        [issue] = report.rejections
        assert (issue.row, issue.field) == (2, "geom")
        assert "2,001 vertices" in issue.reason and "LANDREG_MAX_VERTICES" in issue.reason
        with pytest.raises(PlanError, match="2,001 vertices"):
            check_plan(conn, big, "WA", view=FULL)


def test_a_geometry_over_the_byte_limit_is_refused(committed_db, settings):
    settings(MAX_GEOMETRY_BYTES=10_000)  # 2D WKB: 16 bytes a vertex
    with Session(committed_db) as session:
        with pytest.raises(ParcelError, match=r"takes 16,0\d\d bytes.*10,000.*LANDREG_MAX_GEOMETRY_BYTES"):
            create_parcel(session, "planer.do", local_ref="HEAVY", category="bauluecke", geom=circle(1000))


def test_z_coordinates_in_a_body_are_refused_not_dropped(committed_db):
    tokens = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))
    flat = feature(shapely.box(X0, Y0, X0 + 40, Y0 + 40), local_ref="Z-1", category="bauluecke")
    with_z = flat | {
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[*position, 120.0] for position in flat["geometry"]["coordinates"][0]]],
        }
    }
    with app_client(committed_db) as client:
        answer = client.post("/collections/parcels/items", json=with_z, headers=tokens["planner"])
        assert_error(answer, 400, "parcels are 2D", "drop the Z values", field="geometry")
        assert client.get("/collections/parcels/items", headers=tokens["planner"]).json()["numberMatched"] == 0
        assert client.post("/collections/parcels/items", json=flat, headers=tokens["planner"]).status_code == 201


# -- request bodies ---------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_by_its_length_or_by_the_bytes_that_arrive(committed_db, settings, tmp_path):
    settings(MAX_BODY_BYTES=2_000)
    tokens = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))
    large = feature(circle(200), local_ref="L", category="bauluecke")  # about 8 KB as JSON
    with app_client(committed_db) as client:
        declared = client.post("/collections/parcels/items", json=large, headers=tokens["planner"])
        assert_error(declared, 413, "2,000 bytes", "LANDREG_MAX_BODY_BYTES")

        def chunks():  # no Content-Length: the bytes are counted as they arrive
            yield b'{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[['
            for _ in range(300):
                yield b"7.466, 51.5138], ["
            yield b"7.466, 51.5138]]]}}"

        streamed = client.post(
            "/collections/parcels/items",
            content=chunks(),
            headers=tokens["planner"] | {"Content-Type": "application/json"},
        )
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "2,000 bytes", "LANDREG_MAX_BODY_BYTES")
        small = feature(shapely.box(X0, Y0, X0 + 40, Y0 + 40), local_ref="S", category="bauluecke")
        assert client.post("/collections/parcels/items", json=small, headers=tokens["planner"]).status_code == 201

        # an upload to /imports is bounded by its own cap, not by this one
        path = tmp_path / "upload.geojson"
        gpd.GeoDataFrame(
            {"ref": ["UP-1"], "category": ["bauluecke"]}, geometry=[circle(200).buffer(0)], crs=25832
        ).to_file(path, driver="GeoJSON")
        assert path.stat().st_size > 2_000
        with path.open("rb") as f:
            uploaded = client.post("/imports", files={"file": (path.name, f)}, headers=tokens["planner"])
        assert uploaded.status_code == 201, uploaded.text


# -- statement timeout ------------------------------------------------------------------------
def _many_parcels(engine, count: int) -> None:
    """``count`` 20 m squares in central Dortmund, written in one statement."""
    with engine.begin() as conn:
        squares_in_dortmund(conn, count, "T-", (X0 - 1500, Y0 - 1500))


def test_a_statement_over_the_timeout_is_cancelled_and_answers_503(committed_db, settings):
    _many_parcels(committed_db, 20_000)
    settings(STATEMENT_TIMEOUT_MS=1)
    with app_client(committed_db) as client:
        for url in (
            "/collections/parcels/items?limit=10000",
            "/safeguarding/balance?dates=" + ",".join(f"{year}-12-31" for year in range(2007, 2027)),
        ):
            answer = client.get(url)
            body = assert_error(answer, 503, "1 ms", "LANDREG_STATEMENT_TIMEOUT_MS", "cancelled")
            assert answer.headers["Retry-After"] == "1", body
        assert client.get("/health").status_code == 200  # the next request is answered as usual


def test_imports_and_the_command_line_are_not_bound_by_the_statement_timeout(committed_db, settings, tmp_path):
    settings(STATEMENT_TIMEOUT_MS=1)
    sleep = text("SELECT pg_sleep(0.02)")
    serving = make_engine(database_url(committed_db), serving=True)
    try:
        with serving.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1ms"
        with serving.connect() as conn:
            with pytest.raises(OperationalError) as cancelled:
                conn.execute(sleep)
            assert isinstance(cancelled.value.orig, QueryCanceled)
        with unbounded_statements(), serving.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
            conn.execute(sleep)
        with serving.connect() as conn:  # lifted for that transaction only
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1ms"
    finally:
        serving.dispose()
    command_line = make_engine(database_url(committed_db))
    try:
        with command_line.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    finally:
        command_line.dispose()

    tokens = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))
    path = tmp_path / "upload.gpkg"
    gpd.GeoDataFrame(
        {"ref": [f"UP-{i}" for i in range(50)], "category": ["bauluecke"] * 50},
        geometry=[shapely.box(X0 + 60 * i, Y0, X0 + 60 * i + 40, Y0 + 40) for i in range(50)],
        crs=25832,
    ).to_file(path)
    with app_client(committed_db) as client, path.open("rb") as f:
        uploaded = client.post("/imports", files={"file": (path.name, f)}, headers=tokens["planner"])
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["inserted"] == 50


# -- paging and id bounds ---------------------------------------------------------------------
def test_paging_and_ids_out_of_range_are_400_or_404_never_500(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    planner = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))["planner"]
    too_big = "10000000000000000001"  # beyond bigint
    with app_client(committed_db) as client:
        ranking = "/profiles/investor-industrie/ranking"
        assert_error(client.get(f"{ranking}?offset={too_big}"), 400, "offset", field="offset")
        assert_error(client.get(f"{ranking}?offset=1000000001"), 400, "1000000000", field="offset")
        assert_error(client.get(f"{ranking}?limit=1001"), 400, "limit", field="limit")
        assert client.get(f"{ranking}?offset=1000000000").json()["parcels"] == []
        assert_error(client.get(f"/profiles/investor-industrie/versions/{too_big}"), 400, field="version")
        assert client.get("/profiles/investor-industrie/versions/2147483647").status_code == 404
        for feature_id in (too_big, f"-{too_big}", "9223372036854775807", "2147483648"):
            assert_error(client.get(f"/collections/bahnhof/items/{feature_id}"), 404)
        assert_error(client.get(f"/collections/parcels/items?offset={too_big}"), 400, field="offset")
        plan = {"name": "P", "intended_use": "WA", "geometry": shapely.geometry.mapping(circle(20)), "crs": too_big}
        assert_error(client.post("/safeguarding/plan-checks", json=plan, headers=planner), 400, field="crs")


# -- keep-alive -------------------------------------------------------------------------------
def _client_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def test_an_idle_connection_outlives_the_old_five_seconds(committed_db):
    """uvicorn's default keep-alive (5 s) closed connections that clients (httpx: 5 s) were about to
    reuse; ``landreg serve`` keeps them LANDREG_KEEP_ALIVE_S (75 s), as live_server does."""
    assert get_settings().keep_alive_s == 75
    app = create_app(database_url(committed_db))
    with live_server(app) as base, httpx.Client(base_url=base, limits=httpx.Limits(keepalive_expiry=120)) as client:
        first = client.get("/health")
        time.sleep(6)
        second = client.get("/health")
        assert first.status_code == second.status_code == 200
        assert _client_port(second) == _client_port(first)  # the same connection, still open
    with live_server(app, keep_alive_s=1) as base:  # the test can tell: a server that closes sooner
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: landreg\r\n\r\n")
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
            head, _, body = answer.partition(b"\r\n\r\n")
            length = int(
                next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1]
            )
            while len(body) < length:  # the body may come in a packet of its own
                body += sock.recv(65536)
            time.sleep(2)
            assert sock.recv(1) == b""  # closed by the server


def test_landreg_serve_passes_the_keep_alive_setting_to_uvicorn(committed_db, settings, monkeypatch):
    import uvicorn

    from landreg import cli

    settings(DATABASE_URL=database_url(committed_db), KEEP_ALIVE_S=90)
    for set_by_serve in ("LANDREG_DB_POOL_SIZE", "LANDREG_DB_MAX_OVERFLOW", "LANDREG_READS_AT_ONCE"):
        monkeypatch.setenv(set_by_serve, "")  # remembered as unset: serve's values leave with the test
        monkeypatch.delenv(set_by_serve)
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(kwargs))
    cli.serve(None, None, workers=1)  # one worker: uvicorn alone (more: gunicorn, tests/test_workers.py)
    assert served[0]["timeout_keep_alive"] == 90


# -- OpenAPI ----------------------------------------------------------------------------------
def test_queryables_document_the_media_type_they_answer(committed_db):
    with app_client(committed_db) as client:
        answer = client.get("/collections/parcels/queryables")
        assert answer.headers["content-type"].startswith("application/schema+json")
        content = client.get("/openapi.json").json()["paths"]["/collections/{collectionId}/queryables"]["get"]
        assert next(iter(content["responses"]["200"]["content"])) == "application/schema+json"
