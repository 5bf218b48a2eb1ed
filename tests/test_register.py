"""The register's use cases behave the same through every adapter: permissions and optimistic locking
over the API and the CLI, the public export equal to the anonymous API, one error shape."""

from __future__ import annotations

import uuid

import pyogrio
import pytest

from landreg.export import SHAPEFILE_NAMES
from tests.test_api_features import api  # noqa: F401 - the fixture: Dortmund parcels, tokens per role
from tests.test_cli import landreg

FORMATS = (".gpkg", ".geojson", ".csv", ".shp", ".fgb")


def _token(headers: dict) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _dortmund_parcel(client) -> tuple[str, str]:
    feature = client.get("/collections/parcels/items", params={"local_ref": "P1"}).json()["features"][0]
    return feature["id"], f"/collections/parcels/items/{feature['id']}"


def _database_url(client) -> str:
    return client.app.state.engine.url.render_as_string(hide_password=False)


def test_a_planner_of_essen_changes_no_dortmund_parcel_through_the_api_or_the_cli(api):  # noqa: F811
    client, tokens = api
    parcel_id, url = _dortmund_parcel(client)
    etag = client.get(url).headers["etag"]
    change = {"type": "Feature", "geometry": None, "properties": {"status": "verfuegbar"}}
    essen = tokens["essen"] | {"If-Match": etag}
    for answer in (
        client.patch(url, json=change, headers=essen),
        client.put(url, json=client.get(url).json() | {"properties": {"local_ref": "P1", "category": "bauluecke"}},
                   headers=essen),
        client.delete(url, headers=essen),
    ):  # fmt: skip
        assert answer.status_code == 403, answer.text
        assert answer.json()["status"] == 403 and "05113000" in answer.json()["detail"]
    db = _database_url(client)
    for args in (("set", parcel_id, "status=verfuegbar"), ("retire", parcel_id)):
        result = landreg("parcel", *args, "--version", "1", "--token", _token(tokens["essen"]), LANDREG_DATABASE_URL=db)
        assert result.returncode == 2 and "05113000" in result.stderr and "Traceback" not in result.stderr
    assert client.get(url).headers["etag"] == etag  # nothing changed


def test_a_stale_version_is_refused_the_same_way_by_the_api_and_the_cli(api):  # noqa: F811
    client, tokens = api
    parcel_id, url = _dortmund_parcel(client)
    db, dortmund = _database_url(client), _token(tokens["planner"])
    moved = landreg("parcel", "set", parcel_id, "status=verfuegbar", "--version", "1", "--token", dortmund,
                    LANDREG_DATABASE_URL=db)  # fmt: skip
    assert moved.returncode == 0 and "now version 2" in moved.stdout, moved.stderr
    stale_cli = landreg("parcel", "set", parcel_id, "status=reserviert", "--version", "1", "--token", dortmund,
                        LANDREG_DATABASE_URL=db)  # fmt: skip
    assert stale_cli.returncode == 2 and "now version 2" in stale_cli.stderr and "--version" in stale_cli.stderr
    change = {"type": "Feature", "geometry": None, "properties": {"status": "reserviert"}}
    stale_api = client.patch(url, json=change, headers=tokens["planner"] | {"If-Match": '"1"'})
    assert stale_api.status_code == 412 and "now version 2" in stale_api.json()["detail"]
    assert stale_api.headers["etag"] == '"2"'
    missing = client.patch(url, json=change, headers=tokens["planner"])
    assert missing.status_code == 428 and missing.json()["status"] == 428
    # an If-Match list (RFC 9110) is read as a list
    listed = client.patch(url, json=change, headers=tokens["planner"] | {"If-Match": '"1", "2"'})
    assert listed.status_code == 204 and listed.headers["etag"] == '"3"'
    shown = landreg("parcel", "show", parcel_id, "--token", dortmund, LANDREG_DATABASE_URL=db)
    assert '"status": "reserviert"' in shown.stdout and '"version": 3' in shown.stdout


@pytest.mark.parametrize("suffix", FORMATS)
def test_the_public_export_is_exactly_the_anonymous_api_view(api, tmp_path, suffix):  # noqa: F811
    client, _ = api
    target = tmp_path / f"open{suffix}"
    result = landreg("export", "--public", "-o", str(target), LANDREG_DATABASE_URL=_database_url(client))
    assert result.returncode == 0, result.stderr
    frame = pyogrio.read_dataframe(target)
    if suffix == ".shp":
        frame = frame.rename(columns={short: name for name, short in SHAPEFILE_NAMES.items()})
    features = client.get("/collections/parcels/items", params={"limit": 10_000}).json()["features"]
    assert sorted(frame["id"]) == sorted(f["id"] for f in features)
    api_columns = set(features[0]["properties"])
    file_columns = set(frame.columns) - {"geometry", "WKT"}
    assert file_columns == api_columns | {"id"}
    by_id = {f["id"]: f["properties"] for f in features}
    for row in frame.itertuples():
        assert row.local_ref == by_id[row.id]["local_ref"] and str(row.category) == by_id[row.id]["category"]
    text = target.read_bytes() if suffix != ".shp" else target.with_suffix(".dbf").read_bytes()
    for secret in (b"Frau Geheim", b"nur intern", b"HIDDEN", b"verdacht"):
        assert secret not in text


def test_public_and_retired_do_not_go_together(api):  # noqa: F811
    client, _ = api
    result = landreg(
        "export", "--public", "--include-retired", "-o", "/tmp/x.gpkg", LANDREG_DATABASE_URL=_database_url(client)
    )
    assert result.returncode == 2 and "public never sees retired parcels" in result.stderr


MALFORMED = [
    ("get", "/collections/parcels/items?limit=abc"),
    ("get", "/collections/parcels/items?limit=0"),
    ("get", "/collections/parcels/items?offset=-1"),
    ("get", "/collections/parcels/items?offset=10000000000000000001"),
    ("get", "/collections/parcels/items?bbox=1,2,3"),
    ("get", "/collections/parcels/items?bbox=-200,0,0,1"),
    ("get", "/collections/parcels/items?bbox=inf,0,1,1"),
    ("get", "/collections/parcels/items?datetime=yesterday"),
    ("get", "/collections/parcels/items?crs=EPSG:4326"),
    ("get", "/collections/parcels/items?sortby=owner_contact"),
    ("get", "/collections/parcels/items?filter=((("),
    ("get", "/collections/parcels/items?filter-lang=sql"),
    ("get", "/collections/parcels/items?restriction_class=two"),
    ("get", "/collections/parcels/items?restriction_class=99999999999"),
    ("get", "/collections/parcels/items?is_sample=maybe"),
    ("get", "/collections/parcels/items?properties=owner_contact"),
    ("get", "/collections/parcels/items?f=xml"),
    ("get", "/collections/parcels/items?unknown=1"),
    ("get", f"/collections/parcels/items/{uuid.uuid4()}?crs=nope"),
    ("get", f"/collections/parcels/items/{uuid.uuid4()}?page=2"),
    ("get", "/collections/parcels/items/not-a-uuid/history"),
    ("get", "/collections/parcels/tiles/WebMercatorQuad/10/342/abc"),
    ("get", "/collections/parcels/tiles/WebMercatorQuad/10/342/533?filter-lang=sql"),
    ("get", "/collections/parcels/tiles/WebMercatorQuad/10/342/533?filter=((("),
    ("get", "/statistics?by=owner"),
    ("get", "/statistics?lang=fr"),
    ("get", "/profiles/investor-industrie/ranking?limit=0"),
    ("get", "/profiles/investor-industrie/ranking?ags=5913"),
    ("get", f"/profiles/investor-industrie/parcels/{uuid.uuid4()}/explanation?lang=fr"),
    ("get", "/profiles/investor-industrie/parcels/not-a-uuid/explanation"),
    ("get", "/imports?limit=0"),
]


def test_every_route_answers_a_malformed_parameter_with_400_and_one_body_shape(api):  # noqa: F811
    client, tokens = api
    for method, url in MALFORMED:
        headers = tokens["ministry"] if url.startswith("/imports") else {}  # else anonymous: the public's limits
        answer = getattr(client, method)(url, headers=headers)
        assert answer.status_code == 400, (url, answer.status_code, answer.text)
        body = answer.json()
        assert body["status"] == 400 and isinstance(body["detail"], str) and body["detail"], url
        assert set(body) <= {"detail", "status", "field", "reason"}, url


def test_a_malformed_change_body_is_a_clear_4xx_never_a_500(api):  # noqa: F811
    client, tokens = api
    _, url = _dortmund_parcel(client)
    headers = tokens["planner"] | {"If-Match": client.get(url, headers=tokens["planner"]).headers["etag"]}
    for body, status, field in (
        ({"type": "Feature", "geometry": None, "properties": "status=verfuegbar"}, 400, "properties"),
        ({"type": "Feature", "geometry": None, "properties": ["status"]}, 400, "properties"),
        ({"type": "Feature", "geometry": None, "properties": {"is_sample": "vielleicht"}}, 422, "is_sample"),
        ({"type": "Feature", "geometry": None, "properties": {"restriction_class": "zwei"}}, 422, "restriction_class"),
        ({"type": "Feature", "geometry": None, "properties": {"data_date": "gestern"}}, 400, "data_date"),
        ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "x"}}, 400, "geometry"),
        ([1, 2, 3], 400, "body"),
    ):
        answer = client.patch(url, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["field"] == field and answer.json()["detail"], body
