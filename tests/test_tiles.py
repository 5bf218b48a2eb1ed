"""Vector tiles (OGC API – Tiles, MVT by PostGIS): geometry, access rights, what a tile carries,
aggregation, caching."""

from __future__ import annotations

import json

import mapbox_vector_tile
import morecantile
import pytest
import shapely
from pyproj import Transformer

from landreg import fields
from landreg.scoring import ensure_default_profiles, recompute
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, record, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_MERCATOR = Transformer.from_crs(25832, 3857, always_xy=True)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
WMQ = morecantile.tms.get("WebMercatorQuad")
TILES = "/collections/parcels/tiles/WebMercatorQuad"
#: What a parcel in a tile carries: its id, what the map colours it by and its popup's headline.
DRAWN = {"id", "name", "category", "status"}


@pytest.fixture
def api(committed_db):
    """Six published parcels 100 m apart in Dortmund (two available short term), one unpublished with
    confidential notes; a Dortmund planner's token."""
    record(
        committed_db,
        *[
            {
                "local_ref": f"T{i}",
                "name": f"Kachelfläche {i}",
                "category": "gewerbeflaeche" if i < 4 else "brachflaeche",
                "publication_allowed": True,
                "contamination": "verdacht" if i == 0 else None,
                "designation": "GE",
                "availability": "kurzfristig" if i in (1, 2) else "mittelfristig",
                "geom": shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 60, Y0 + 40),
            }
            for i in range(6)
        ],
        {
            "local_ref": "SECRET",
            "name": "Geheime Kachelfläche",
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
    """The parcels of every tile at zoom z over the test parcels, by name (a parcel may span tiles)."""
    (w, s), (e, n) = TO_WGS84.transform(X0 - 10, Y0 - 10), TO_WGS84.transform(X0 + 600, Y0 + 160)
    found = {}
    for tile in WMQ.tiles(w, s, e, n, [z]):
        for f in _get(client, tile, headers, **params).get("parcels", {"features": []})["features"]:
            found[f["properties"]["name"]] = f
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
    feature = next(f for f in layer["features"] if f["properties"]["name"] == "Kachelfläche 0")
    ring = feature["geometry"]["coordinates"][0]
    got = {tuple(p) for p in ring}
    for ex in expected:  # each corner within two tile units (< 0.5 m here) of the projection by pyproj
        assert min(abs(ex[0] - g[0]) + abs(ex[1] - g[1]) for g in got) <= 2, (ex, got)
    assert feature["properties"]["category"] == "gewerbeflaeche"


def test_anonymous_tiles_carry_only_public_parcels_and_the_item_their_public_record(api):
    client, planner = api
    public = _features(client, 15)
    assert set(public) == {f"Kachelfläche {i}" for i in range(6)}
    record = client.get(f"/collections/parcels/items/{public['Kachelfläche 0']['properties']['id']}").json()
    assert record["properties"]["contamination_flag"] is True  # the coarse flag only, from the item
    assert {"contamination", "internal_notes", "publication_allowed"}.isdisjoint(record["properties"])
    internal = _features(client, 15, planner)
    assert "Geheime Kachelfläche" in internal
    secret = internal["Geheime Kachelfläche"]["properties"]["id"]
    assert client.get(f"/collections/parcels/items/{secret}").status_code == 404
    own = client.get(f"/collections/parcels/items/{secret}", headers=planner).json()["properties"]
    assert own["internal_notes"] == "nur intern"  # the planner's record has it, the tile does not
    t0 = client.get(f"/collections/parcels/items/{internal['Kachelfläche 0']['properties']['id']}", headers=planner)
    assert t0.json()["properties"]["contamination"] == "verdacht"


def test_a_tile_carries_only_what_the_map_draws_in_every_view(api, committed_db):
    """Id, name, category, status (and the score with a profile): the rest of a record, confidential
    fields above all, comes from the item when a parcel is clicked."""
    client, planner = api
    assert not [f.name for f in fields.tile_fields() if f.confidential]
    assert {f.name for f in fields.tile_fields()} == DRAWN - {"id"}
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    recompute(committed_db, "test")
    ministry = bearers(committed_db, ministry=("ministerium", "ministry"))["ministry"]
    for who, headers in (("public", None), ("planner", planner), ("ministry", ministry)):
        for params, carried in (({}, DRAWN), ({"profile": "investor-industrie"}, DRAWN | {"score"})):
            features = _features(client, 16, headers, **params)
            assert len(features) == (6 if who == "public" else 7), who
            for name, f in features.items():
                assert set(f["properties"]) <= carried, (who, params, name, set(f["properties"]) - carried)
                assert DRAWN <= set(f["properties"]), (who, name)
            secret = features.get("Geheime Kachelfläche", {"properties": {}})["properties"]
            assert "nur intern" not in secret.values()
    scored = _features(client, 16, **{"profile": "investor-industrie"})
    assert any(f["properties"].get("score") is not None for f in scored.values())
    for f in scored.values():  # rounded to a tenth, as the popup shows it
        score = f["properties"].get("score")
        assert score is None or round(score, 1) == score


def test_the_item_gives_a_clicked_parcel_the_fields_its_tile_leaves_out(api):
    client, _ = api
    tile = _features(client, 15)["Kachelfläche 3"]["properties"]
    assert {"designation", "area_m2", "local_ref", "availability", "ags"}.isdisjoint(tile)
    record = client.get(f"/collections/parcels/items/{tile['id']}", params={"f": "json"}).json()["properties"]
    assert record["designation"] == "GE" and record["local_ref"] == "T3" and record["ags"] == "05913000"
    assert record["availability"] == "mittelfristig" and round(record["area_m2"]) == 2400
    assert (record["name"], record["category"], record["status"]) == (tile["name"], tile["category"], tile["status"])


def test_filter_narrows_tiles_and_confidential_filters_are_refused(api):
    client, _ = api
    assert set(_features(client, 15, filter="category = 'brachflaeche'")) == {"Kachelfläche 4", "Kachelfläche 5"}
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
    # counted from the parcels' rows, though single parcels' tiles no longer carry availability
    assert sum(c["properties"]["short_term"] for c in cells) == 2
    assert {c["properties"]["category"] for c in cells} <= {"gewerbeflaeche", "brachflaeche"}
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
