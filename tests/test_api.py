"""The API skeleton: landing page, health, OpenAPI, and a summary that hides unpublished parcels."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_connection
from landreg import migrate
from landreg.parcels import create_parcel
from tests.helpers import DORTMUND_REINOLDIKIRCHE, square_at


@pytest.fixture
def client(database_url, conn):
    app = create_app(database_url)
    app.dependency_overrides[get_connection] = lambda: conn  # see the test's own transaction
    with TestClient(app) as client:
        yield client


def test_landing_page_links_to_the_openapi_document(client):
    body = client.get("/").json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["service-desc"].endswith("/openapi.json")
    assert client.get("/openapi.json").json()["info"]["title"].startswith("landreg")


def test_health_reports_postgis_and_schema(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["postgis"].startswith("3.")
    assert body["schema_revision"] == migrate.head_revision()


def test_summary_counts_only_published_parcels(client, session):
    create_parcel(session, "t", local_ref="A", category="bauluecke", publication_allowed=True,
                  geom=square_at(DORTMUND_REINOLDIKIRCHE, 50, 10))
    create_parcel(session, "t", local_ref="B", category="bauluecke", publication_allowed=False,
                  geom=square_at((7.48, 51.52), 80, 10))
    body = client.get("/summary").json()
    assert body["categories"] == [
        {"category": "bauluecke", "label": "Baulücke", "parcels": 1, "area_ha": 0.05}
    ]
    assert body["sample_data"] is False
    assert client.get("/summary?lang=en").json()["categories"][0]["label"] == "Vacant infill lot"
