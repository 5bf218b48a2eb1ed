"""No request works without bound (issue 20): geometry sizes, request bodies, the statement
timeout, paging and id ranges, keep-alive; and the media type of /queryables as documented."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy.orm import Session

from landreg.importer import ImportOptions, import_file
from landreg.parcels import ParcelError, create_parcel
from landreg.safeguarding import PlanError, check_plan
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)


@pytest.fixture
def settings(monkeypatch):
    """Change landreg settings for one test: ``settings(MAX_VERTICES=1000)``."""

    def change(**values):
        for name, value in values.items():
            monkeypatch.setenv(f"LANDREG_{name}", str(value))
        get_settings.cache_clear()

    yield change
    monkeypatch.undo()
    get_settings.cache_clear()


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
            check_plan(conn, big, "WA")


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
