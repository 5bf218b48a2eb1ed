"""OGC API – Features against a real PostGIS: reading, CRS, filters, access control, edits with ETags."""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from api.app import create_app
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, bearers, record, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture
def api(committed_db):
    """Five parcels in Dortmund (one unpublished, with contact and notes) and tokens for each role."""
    record(
        committed_db,
        *[
            {
                "local_ref": f"P{i}",
                "category": "bauluecke" if i % 2 else "gewerbeflaeche",
                "publication_allowed": True,
                "name": f"Fläche {i}",
                "contamination": "verdacht" if i == 0 else None,
                "geom": shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 50, Y0 + 40),
            }
            for i in range(4)
        ],
        {
            "local_ref": "HIDDEN",
            "category": "brachflaeche",
            "publication_allowed": False,
            "owner_contact": "Frau Geheim, 0231 123",
            "internal_notes": "nur intern",
            "geom": shapely.box(X0, Y0 + 200, X0 + 80, Y0 + 260),
        },
    )
    tokens = bearers(
        committed_db,
        planner=("planer.do", "planner", ["05913000"]),
        ministry=("ministerium", "ministry"),
        essen=("planer.e", "planner", ["05113000"]),
    )
    with app_client(committed_db) as client:
        yield client, tokens


def features(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["features"]


def test_landing_conformance_and_collections(api):
    client, _ = api
    rels = {link["rel"] for link in client.get("/").json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conforms = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conforms
    parcels = client.get("/collections/parcels").json()
    assert parcels["storageCrs"].endswith("/25832") and f"{EPSG}3857" in parcels["crs"]
    assert client.get("/collections/nothing").status_code == 404
    assert client.get("/api").json()["openapi"].startswith("3.0")


def test_paging_with_links_and_counts(api):
    client, _ = api
    page = client.get("/collections/parcels/items?limit=3").json()
    assert (page["numberMatched"], page["numberReturned"]) == (4, 3)
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    second = client.get(nxt).json()
    assert second["numberReturned"] == 1 and any(link["rel"] == "prev" for link in second["links"])
    ids = [f["id"] for f in page["features"]] + [f["id"] for f in second["features"]]
    assert len(set(ids)) == 4


@pytest.mark.parametrize(
    "query, message",
    [
        ("limit=0", "limit must lie between"),
        ("limit=abc", "whole number"),
        ("bbox=1,2,3", "4 or 6"),
        ("crs=EPSG:9999", "not supported"),
        ("filter=category%20%3D", "cannot be parsed"),
        ("sortby=nope", "cannot sort"),
        ("datetime=yesterday", "RFC 3339"),
        ("colour=red", "unknown query parameter"),
        ("f=xml", "unknown format"),
    ],
)
def test_bad_parameters_are_a_clear_400(api, query, message):
    client, _ = api
    response = client.get(f"/collections/parcels/items?{query}")
    assert response.status_code == 400 and message in response.json()["detail"]


def test_anonymous_never_sees_confidential_fields_or_unpublished_parcels(api):
    client, tokens = api
    for fmt in ("json", "csv", "html"):
        body = client.get(f"/collections/parcels/items?f={fmt}&limit=100").text
        assert "HIDDEN" not in body and "Geheim" not in body and "nur intern" not in body
    public = features(client.get("/collections/parcels/items"))
    assert all("owner_contact" not in f["properties"] and "contamination" not in f["properties"] for f in public)
    assert [f["properties"]["contamination_flag"] for f in public if f["properties"]["local_ref"] == "P0"] == [True]
    for secret_filter in ("owner_contact LIKE 'Frau%'", "internal_notes IS NOT NULL", "contamination = 'verdacht'"):
        response = client.get("/collections/parcels/items", params={"filter": secret_filter})
        assert response.status_code == 400 and "not queryable" in response.json()["detail"]
    full = features(client.get("/collections/parcels/items", headers=tokens["ministry"]))
    hidden = next(f for f in full if f["properties"]["local_ref"] == "HIDDEN")
    assert hidden["properties"]["owner_contact"] == "Frau Geheim, 0231 123"
    assert client.get(f"/collections/parcels/items/{hidden['id']}").status_code == 404
    assert client.get("/collections/parcels/items", headers={"Authorization": "Bearer lr_nope"}).status_code == 401


def test_one_public_feature_is_answered_before_routing_with_the_routes_bytes(api, monkeypatch):
    """api.itemhits answers a public feature asked for without parameters itself: the same body
    and headers as the route (where a parameter leads), errors too; a signed-in caller and a
    browser asking for the page go to the route."""
    import api.security as security

    client, tokens = api
    routed_views = []
    view_of = security.view_of
    monkeypatch.setattr(security, "view_of", lambda *a: routed_views.append(a) or view_of(*a))

    def both(path: str, **headers):
        before = len(routed_views)
        direct = client.get(path, headers=headers)
        assert len(routed_views) == before, f"{path} went through the route"
        routed = client.get(path + "?f=json", headers=headers)
        assert len(routed_views) == before + 1
        assert direct.status_code == routed.status_code and direct.content == routed.content
        for name in ("etag", "content-type", "content-crs", "content-encoding", "vary", "content-length"):
            assert direct.headers.get(name) == routed.headers.get(name), name
        return direct

    public = features(client.get("/collections/parcels/items"))
    for feature in public[:2]:
        for encoding in ("gzip", "identity"):
            answer = both(f"/collections/parcels/items/{feature['id']}", **{"Accept-Encoding": encoding})
            assert answer.json()["properties"]["local_ref"] == feature["properties"]["local_ref"]
    hidden = next(
        f for f in features(client.get("/collections/parcels/items", headers=tokens["ministry"]))
        if f["properties"]["local_ref"] == "HIDDEN"
    )  # fmt: skip
    for missing in (hidden["id"], "kein-uuid", "00000000-0000-0000-0000-000000000000"):
        assert both(f"/collections/parcels/items/{missing}").status_code == 404
    assert both("/collections/keine/items/1").status_code == 404

    before = len(routed_views)
    signed_in = client.get(f"/collections/parcels/items/{hidden['id']}", headers=tokens["ministry"])
    assert signed_in.json()["properties"]["owner_contact"] == "Frau Geheim, 0231 123"
    page = client.get(f"/collections/parcels/items/{public[0]['id']}", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert len(routed_views) == before + 2


def test_filters_bbox_and_sorting(api):
    client, _ = api
    cql = features(
        client.get(
            "/collections/parcels/items", params={"filter": "category = 'bauluecke' AND area_m2 BETWEEN 1000 AND 3000"}
        )
    )
    assert sorted(f["properties"]["local_ref"] for f in cql) == ["P1", "P3"]
    as_json = {"op": "in", "args": [{"property": "local_ref"}, ["P0", "P2"]]}
    assert (
        len(
            features(
                client.get(
                    "/collections/parcels/items", params={"filter": json.dumps(as_json), "filter-lang": "cql2-json"}
                )
            )
        )
        == 2
    )
    lon, lat = TO_WGS84.transform(X0 + 25, Y0 + 20)  # inside P0
    spatial = features(
        client.get("/collections/parcels/items", params={"filter": f"S_INTERSECTS(geom, POINT({lon} {lat}))"})
    )
    assert [f["properties"]["local_ref"] for f in spatial] == ["P0"]
    lat_first = features(
        client.get(
            "/collections/parcels/items",
            params={"filter": f"S_INTERSECTS(geom, POINT({lat} {lon}))", "filter-crs": f"{EPSG}4326"},
        )
    )
    assert [f["properties"]["local_ref"] for f in lat_first] == ["P0"]  # EPSG:4326 as a URI is latitude first
    box = features(
        client.get(
            "/collections/parcels/items",
            params={"bbox": f"{X0 + 90},{Y0 - 10},{X0 + 260},{Y0 + 50}", "bbox-crs": f"{EPSG}25832"},
        )
    )
    assert sorted(f["properties"]["local_ref"] for f in box) == ["P1", "P2"]
    ordered = features(client.get("/collections/parcels/items?sortby=-local_ref&properties=local_ref"))
    assert [f["properties"] for f in ordered] == [{"local_ref": f"P{i}"} for i in (3, 2, 1, 0)]
    assert (
        client.get("/collections/parcels/items", params={"filter": "name LIKE 'x%'; DROP TABLE parcel"}).status_code
        == 400
    )


def test_crs_output_and_axis_order(api):
    client, _ = api
    (f,) = features(
        client.get("/collections/parcels/items", params={"filter": "local_ref = 'P0'", "crs": f"{EPSG}25832"})
    )
    ring = f["geometry"]["coordinates"][0][0]
    assert min(x for x, _ in ring) == pytest.approx(X0, abs=0.01)
    response = client.get("/collections/parcels/items", params={"filter": "local_ref = 'P0'", "crs": f"{EPSG}4326"})
    assert response.headers["content-crs"] == f"<{EPSG}4326>"
    lat, lon = response.json()["features"][0]["geometry"]["coordinates"][0][0][0]
    expected_lon, expected_lat = TO_WGS84.transform(*ring[0])
    assert (lat, lon) == (pytest.approx(expected_lat, abs=1e-6), pytest.approx(expected_lon, abs=1e-6))


def test_queryables_follow_the_role(api):
    client, tokens = api
    public = client.get("/collections/parcels/queryables").json()["properties"]
    assert "owner_contact" not in public and public["category"]["enum"][0] == "brachflaeche"
    assert (
        "owner_contact"
        in client.get("/collections/parcels/queryables", headers=tokens["ministry"]).json()["properties"]
    )


def _feature(geom: shapely.Polygon, **props) -> dict:
    wgs = shapely.transform(geom, lambda xy: np.column_stack(TO_WGS84.transform(xy[:, 0], xy[:, 1])))
    return {"type": "Feature", "geometry": shapely.geometry.mapping(wgs), "properties": props}


def test_create_update_retire_with_etags_and_history(api):
    client, tokens = api
    planner = tokens["planner"]
    new = _feature(
        shapely.box(X0 + 600, Y0, X0 + 640, Y0 + 40), local_ref="NEU-1", category="bauluecke", publication_allowed=True
    )
    assert client.post("/collections/parcels/items", json=new).status_code == 401
    created = client.post("/collections/parcels/items", json=new, headers=planner)
    assert created.status_code == 201, created.text
    url, etag = created.headers["location"], created.headers["etag"]
    item = client.get(url, headers=planner)
    assert item.headers["etag"] == etag and item.json()["properties"]["area_m2"] == pytest.approx(1600, abs=1)
    assert client.get(url).status_code == 404  # a new parcel waits for review before anybody else sees it

    patch = {"type": "Feature", "geometry": None, "properties": {"status": "verfuegbar"}}
    assert client.patch(url, json=patch, headers=planner).status_code == 428
    updated = client.patch(url, json=patch, headers=planner | {"If-Match": etag})
    assert updated.status_code == 204 and updated.headers["etag"] != etag
    stale = client.patch(
        url, json=patch | {"properties": {"status": "reserviert"}}, headers=planner | {"If-Match": etag}
    )
    assert stale.status_code == 412  # a second planner with the old version cannot overwrite
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    retired = client.delete(url, params={"reason": "bebaut"}, headers=planner | {"If-Match": updated.headers["etag"]})
    assert retired.status_code == 204
    assert client.get(url).status_code == 404
    earlier = {"datetime": before.isoformat().replace("+00:00", "Z")}
    as_of = client.get(url, params=earlier, headers=planner)
    assert as_of.status_code == 200 and as_of.json()["properties"]["status"] == "verfuegbar"
    # the public sees no past of a parcel that is not public now
    assert client.get(url, params=earlier).status_code == 404
    assert client.get(f"{url}/history").status_code == 404
    versions = client.get(f"{url}/history", headers=planner).json()["versions"]
    assert [(v["version"], v["status"], v["actor"]) for v in versions] == [
        (1, "potenzial", "planer.do"),
        (2, "verfuegbar", "planer.do"),
    ]
    assert versions[-1]["valid_to"] is not None


def test_planners_edit_only_their_municipality_and_bad_geometry_is_422(api):
    client, tokens = api
    in_essen = _feature(
        shapely.box(*utm(*ESSEN_HBF), utm(*ESSEN_HBF)[0] + 30, utm(*ESSEN_HBF)[1] + 30),
        local_ref="E-1",
        category="bauluecke",
    )
    assert client.post("/collections/parcels/items", json=in_essen, headers=tokens["planner"]).status_code == 403
    assert client.post("/collections/parcels/items", json=in_essen, headers=tokens["essen"]).status_code == 201

    def dortmund(ref: str) -> tuple[str, str]:
        (feature,) = features(client.get(f"/collections/parcels/items?local_ref={ref}", headers=tokens["ministry"]))
        url = f"/collections/parcels/items/{feature['id']}"
        return url, client.get(url, headers=tokens["ministry"]).headers["etag"]

    url, etag = dortmund("P1")
    patch = {"type": "Feature", "geometry": None, "properties": {"status": "genutzt"}}
    assert client.patch(url, json=patch, headers=tokens["essen"] | {"If-Match": etag}).status_code == 403
    hidden, hidden_etag = dortmund("HIDDEN")  # unpublished: to Essen it does not exist
    assert client.patch(hidden, json=patch, headers=tokens["essen"] | {"If-Match": hidden_etag}).status_code == 404
    bowtie = {
        "type": "Feature",
        "properties": {},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[7.466, 51.513], [7.467, 51.514], [7.467, 51.513], [7.466, 51.514], [7.466, 51.513]]],
        },
    }
    refused = client.patch(url, json=bowtie, headers=tokens["planner"] | {"If-Match": etag})
    assert refused.status_code == 422 and refused.json()["field"] == "geom"


def test_statistics_and_readiness(api):
    client, _ = api
    stats = client.get("/statistics?by=category").json()["groups"]
    assert {g["category"]: g["parcels"] for g in stats} == {"bauluecke": 2, "gewerbeflaeche": 2}  # published only
    assert client.get("/ready").json()["status"] == "ok"


def test_the_api_answers_503_while_the_database_is_down():
    app = create_app("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 503
        assert client.get("/collections/parcels/items").status_code == 503
