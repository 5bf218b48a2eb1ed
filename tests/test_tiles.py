"""Vector tiles (OGC API – Tiles, MVT by PostGIS): geometry, access rights, aggregation, caching."""

from __future__ import annotations

import json

import mapbox_vector_tile
import morecantile
import pytest
import shapely
from pyproj import Transformer

from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, record, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_MERCATOR = Transformer.from_crs(25832, 3857, always_xy=True)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
WMQ = morecantile.tms.get("WebMercatorQuad")
TILES = "/collections/parcels/tiles/WebMercatorQuad"


@pytest.fixture
def api(committed_db):
    """Six published parcels 100 m apart in Dortmund, one unpublished; a planner's token."""
    record(
        committed_db,
        *[
            {
                "local_ref": f"T{i}",
                "name": f"Kachelfläche {i}",
                "category": "gewerbeflaeche" if i < 4 else "brachflaeche",
                "publication_allowed": True,
                "contamination": "verdacht" if i == 0 else None,
                "geom": shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 60, Y0 + 40),
            }
            for i in range(6)
        ],
        {
            "local_ref": "SECRET",
            "category": "brachflaeche",
            "publication_allowed": False,
            "internal_notes": "nur intern",
            "geom": shapely.box(X0, Y0 + 100, X0 + 50, Y0 + 150),
        },
    )
    planner = bearers(committed_db, planner=("planer.do", "planner", ["05913000"]))["planner"]
    with app_client(committed_db) as client:
        yield client, planner


def _tile_of(x: float, y: float, z: int) -> morecantile.Tile:
    lon, lat = TO_WGS84.transform(x, y)
    return WMQ.tile(lon, lat, z)


def _features(client, z: int, headers=None, **params) -> dict[str, dict]:
    """The parcels of every tile at zoom z over the test parcels, by local_ref (a parcel may span tiles)."""
    (w, s), (e, n) = TO_WGS84.transform(X0 - 10, Y0 - 10), TO_WGS84.transform(X0 + 600, Y0 + 160)
    found = {}
    for tile in WMQ.tiles(w, s, e, n, [z]):
        for f in _get(client, tile, headers, **params).get("parcels", {"features": []})["features"]:
            found[f["properties"]["local_ref"]] = f
    return found


def _get(client, tile: morecantile.Tile, headers=None, **params):
    response = client.get(f"{TILES}/{tile.z}/{tile.y}/{tile.x}", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})


def test_polygon_tile_coordinates_match_an_independent_projection(api):
    client, _ = api
    corners = [(X0, Y0), (X0 + 60, Y0), (X0 + 60, Y0 + 40), (X0, Y0 + 40)]
    for z in range(18, 10, -1):  # the most detailed tile that holds the whole parcel
        tile = _tile_of(X0 + 30, Y0 + 20, z)
        left, bottom, right, top = WMQ.xy_bounds(tile)
        expected = set()
        for x, y in corners:
            mx, my = TO_MERCATOR.transform(x, y)
            expected.add((round((mx - left) / (right - left) * 4096), round((top - my) / (top - bottom) * 4096)))
        if all(0 <= c <= 4096 for corner in expected for c in corner):
            break
    layer = _get(client, tile)["parcels"]
    feature = next(f for f in layer["features"] if f["properties"]["local_ref"] == "T0")
    ring = feature["geometry"]["coordinates"][0]
    got = {tuple(p) for p in ring}
    for ex in expected:  # each corner within two tile units (< 0.5 m here) of the projection by pyproj
        assert min(abs(ex[0] - g[0]) + abs(ex[1] - g[1]) for g in got) <= 2, (ex, got)
    assert feature["properties"]["area_m2"] == 2400
    assert feature["properties"]["category"] == "gewerbeflaeche"


def test_anonymous_tiles_carry_only_public_parcels_and_fields(api):
    client, planner = api
    public = list(_features(client, 15).values())
    refs = {f["properties"]["local_ref"] for f in public}
    assert refs == {f"T{i}" for i in range(6)}
    for f in public:
        assert {"contamination", "internal_notes", "owner_contact", "publication_allowed"}.isdisjoint(f["properties"])
    flagged = {f["properties"]["local_ref"] for f in public if f["properties"]["contamination_flag"]}
    assert flagged == {"T0"}  # the coarse flag only
    internal = list(_features(client, 15, planner).values())
    assert "SECRET" in {f["properties"]["local_ref"] for f in internal}
    assert {f["properties"]["contamination"] for f in internal if f["properties"]["local_ref"] == "T0"} == {"verdacht"}


def test_filter_narrows_tiles_and_confidential_filters_are_refused(api):
    client, _ = api
    assert set(_features(client, 15, filter="category = 'brachflaeche'")) == {"T4", "T5"}
    cql_json = json.dumps({"op": ">", "args": [{"property": "area_m2"}, 3000]})
    assert _features(client, 15, **{"filter": cql_json, "filter-lang": "cql2-json"}) == {}
    tile = _tile_of(X0, Y0, 15)
    refused = client.get(f"{TILES}/{tile.z}/{tile.y}/{tile.x}", params={"filter": "internal_notes = 'nur intern'"})
    assert refused.status_code == 400 and "not queryable" in refused.json()["detail"]


def test_low_zoom_tiles_aggregate_parcels_into_cells_with_exact_counts_and_areas(api):
    client, planner = api
    tile = _tile_of(X0, Y0, 9)
    assert _tile_of(X0 + 600, Y0 + 160, 9) == tile  # all test parcels lie in this one tile
    cells = _get(client, tile)["parcels"]["features"]
    assert sum(c["properties"]["parcels"] for c in cells) == 6
    assert sum(c["properties"]["area_m2"] for c in cells) == 6 * 2400
    assert all(c["geometry"]["type"] == "Point" for c in cells)
    internal = _get(client, tile, planner)["parcels"]["features"]
    assert sum(c["properties"]["parcels"] for c in internal) == 7


def test_tiles_have_etags_and_cache_rules(api):
    client, planner = api
    tile = _tile_of(X0, Y0, 14)
    url = f"{TILES}/{tile.z}/{tile.y}/{tile.x}"
    first = client.get(url)
    assert first.headers["cache-control"].startswith("public")
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert client.get(url, headers=planner).headers["cache-control"].startswith("private")
    empty = client.get(f"{TILES}/14/0/0")
    assert empty.status_code == 200 and empty.content == b""


def test_tile_errors_and_metadata(api):
    client, _ = api
    assert client.get(f"{TILES}/3/0/8").status_code == 404  # column beyond 2^3 - 1
    assert client.get(f"{TILES}/3/0/0", params={"colour": "red"}).status_code == 400
    assert client.get(f"{TILES}/3/0/0", params={"profile": "nope"}).status_code == 400
    assert client.get("/collections/nope/tiles/WebMercatorQuad/3/0/0").status_code == 404
    meta = client.get("/collections/parcels/tiles/WebMercatorQuad").json()
    template = next(link for link in meta["links"] if link["rel"] == "item")["href"]
    assert template.endswith("/collections/parcels/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}")
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["id"] == "WebMercatorQuad" and len(tms["tileMatrices"]) == 25
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in client.get("/conformance").json()["conformsTo"]
    links = client.get("/collections/parcels").json()["links"]
    assert any(link["rel"].endswith("tilesets-vector") for link in links)
    tile = _tile_of(X0, Y0, 10)
    municipalities = client.get(f"/collections/municipalities/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}")
    layer = mapbox_vector_tile.decode(municipalities.content)["municipalities"]
    assert "Dortmund" in {f["properties"]["name"] for f in layer["features"]}
