"""The API's own documents: OpenAPI 3.1 and 3.0, health, statistics labels in both languages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from landreg import migrate
from landreg.parcels import create_parcel
from tests.helpers import DORTMUND_REINOLDIKIRCHE, square_at


@pytest.fixture
def client(engine, database_url):
    with TestClient(create_app(database_url)) as client:
        yield client


def test_openapi_documents(client):
    assert client.get("/openapi.json").json()["info"]["title"].startswith("landreg")
    legacy = client.get("/api").json()
    assert legacy["openapi"] == "3.0.3"
    assert '"type": "null"' not in str(legacy).replace("'", '"')


def test_ready_reports_postgis_and_schema(client):
    body = client.get("/ready").json()
    assert body["status"] == "ok" and body["postgis"].startswith("3.")
    assert body["schema_revision"] == migrate.head_revision()


def test_statistics_in_german_and_english(committed_db):
    from sqlalchemy.orm import Session

    with Session(committed_db) as session:
        create_parcel(
            session,
            "t",
            local_ref="A",
            category="bauluecke",
            status="verfuegbar",
            publication_allowed=True,  # anonymous statistics count published parcels only
            geom=square_at(DORTMUND_REINOLDIKIRCHE, 50, 10),
        )
        session.commit()
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        de = client.get("/statistics?by=municipality,category").json()["groups"][0]
        assert (de["municipality_name"], de["category_label"], de["area_ha"], de["available_area_ha"]) == (
            "Dortmund",
            "Baulücke",
            0.05,
            0.05,
        )
        assert (de["reserve_area_ha"], de["restriction_free_area_ha"]) == (0.05, 0.05)
        assert de["by_status"] == {"Verfügbar": 1}
        en = client.get("/statistics?by=category&lang=en").json()["groups"][0]
        assert en["category_label"] == "Vacant infill lot" and en["by_status"] == {"Available": 1}
        bad = client.get("/statistics?by=owner")
        assert bad.status_code == 400 and bad.json()["field"] == "by" and "by" in bad.json()["detail"]
