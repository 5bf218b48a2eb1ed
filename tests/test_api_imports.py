"""Import upload over HTTP: planners only, and only for their own municipalities."""

from __future__ import annotations

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api import models
from api.app import create_app
from landreg.auth import create_token, revoke_token
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, square_at


@pytest.fixture
def client(committed_db):
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        yield client


@pytest.fixture
def tokens(committed_db):
    with committed_db.begin() as conn:
        return {
            "dortmund": create_token(conn, "planer.dortmund", "planner", ["05913000"]),
            "ministry": create_token(conn, "ministerium", "ministry"),
        }


def bearer(token) -> dict:
    return {"Authorization": f"Bearer {token[1]}"}


@pytest.fixture
def gpkg(tmp_path):
    path = tmp_path / "reserven.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["DO-1", "E-1"], "category": ["bauluecke", "gewerbeflaeche"]},
        geometry=[square_at(DORTMUND_REINOLDIKIRCHE, 40), square_at(ESSEN_HBF, 40)],
        crs=25832,
    ).to_file(path)
    return path


def upload(client, path, headers, **form):
    with open(path, "rb") as f:
        return client.post("/imports", files={"file": (path.name, f)}, data=form, headers=headers)


def test_a_planner_imports_for_their_municipality_only(client, tokens, gpkg, committed_db):
    response = upload(client, gpkg, bearer(tokens["dortmund"]))
    assert response.status_code == 422
    [issue] = response.json()["rejections"]
    assert issue["row"] == 2 and issue["field"] == "ags" and "05113000 Essen" in issue["reason"]
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel")).scalar_one() == 0

    response = upload(client, gpkg, bearer(tokens["dortmund"]), mode="keep-valid")
    assert response.status_code == 201, response.text
    assert (response.json()["inserted"], response.json()["rejected"]) == (1, 1)
    with committed_db.connect() as conn:
        row = conn.execute(text("SELECT ags, created_by FROM parcel")).one()
    assert tuple(row) == ("05913000", "planer.dortmund")


def test_the_import_is_listed_for_its_planner(client, tokens, gpkg, committed_db):
    dry = upload(client, gpkg, bearer(tokens["dortmund"]), dry_run="true")
    created = upload(client, gpkg, bearer(tokens["dortmund"]), mode="keep-valid").json()
    listed = client.get("/imports", headers=bearer(tokens["dortmund"])).json()
    assert [i["id"] for i in listed] == [created["import_id"]]  # dry runs are not recorded
    report = client.get(f"/imports/{created['import_id']}", headers=bearer(tokens["ministry"])).json()
    assert report["file_name"] == "reserven.gpkg" and report["inserted"] == 1
    with committed_db.begin() as conn:
        other = create_token(conn, "planer.essen", "planner", ["05113000"])
    assert client.get("/imports", headers=bearer(other)).json() == []
    assert client.get(f"/imports/{created['import_id']}", headers=bearer(other)).status_code == 404
    # the upload answers are what the OpenAPI document declares (the route returns them as they are)
    for answer in (dry.json(), created):
        models.ImportReport.model_validate(answer)
    assert "rejected_file" not in created  # a server path


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, 401),
        ({"Authorization": "Bearer lr_wrong"}, 401),
    ],
)
def test_uploads_need_a_valid_token(client, gpkg, headers, code):
    assert upload(client, gpkg, headers).status_code == code


def test_revoked_tokens_and_other_roles_cannot_upload(client, tokens, gpkg, committed_db):
    assert upload(client, gpkg, bearer(tokens["ministry"])).status_code == 403
    with committed_db.begin() as conn:
        revoke_token(conn, tokens["dortmund"][0])
    assert upload(client, gpkg, bearer(tokens["dortmund"])).status_code == 401


def test_a_refused_file_is_a_clear_422(client, tokens, tmp_path):
    path = tmp_path / "leer.gpkg"
    path.write_bytes(b"")
    response = upload(client, path, bearer(tokens["dortmund"]))
    assert response.status_code == 422 and "the file is empty" in response.json()["detail"]
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert "unsupported file type" in upload(client, other, bearer(tokens["dortmund"])).json()["detail"]
