"""Scoring over HTTP: anyone reads profiles and public rankings; only the ministry changes profiles."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from landreg.auth import create_token
from landreg.parcels import create_parcel
from landreg.scoring import ensure_default_profiles, recompute
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


@pytest.fixture
def world(committed_db):
    with Session(committed_db) as session:
        for ref, dx, published, category, willing in (
            ("PUB", 0, True, "bauluecke", "unbekannt"),
            ("SECRET", 300, False, "bauluecke", "unbekannt"),
            ("NEIN", 600, True, "bauluecke", "nein"),  # excluded by wohnen-bauluecken's owner_objection
            ("BRACHE", 900, True, "brachflaeche", "ja"),
        ):
            create_parcel(
                session,
                "t",
                local_ref=ref,
                category=category,
                publication_allowed=published,
                availability="kurzfristig",
                contamination="verdacht",
                owner_willing=willing,
                geom=shapely.box(X0 + dx, Y0, X0 + dx + 40, Y0 + 40),
            )
        session.commit()
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
        ministry = create_token(conn, "ministerium", "ministry")[1]
        planner = create_token(conn, "planer.do", "planner", ["05913000"])[1]
    recompute(committed_db, "test")
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        yield client, {"Authorization": f"Bearer {ministry}"}, {"Authorization": f"Bearer {planner}"}


def test_profiles_are_public(world):
    client, _, _ = world
    names = {p["name"] for p in client.get("/profiles").json()}
    assert names == {"ministerium-revitalisierung", "investor-industrie", "wohnen-bauluecken"}
    assert client.get("/profiles/wohnen-bauluecken").json()["weights"]["transit"] == 0.3
    assert client.get("/profiles/nope").status_code == 404


def test_anonymous_rankings_show_published_parcels_only(world):
    client, ministry, _ = world
    public = client.get("/profiles/wohnen-bauluecken/ranking").json()["parcels"]
    # NEIN's owner objects: the full ranking excludes it; the public ranking, from public facts only,
    # must not, or its absence would tell the public what the owner said
    assert {p["local_ref"] for p in public} == {"PUB", "NEIN"}
    everything = client.get("/profiles/wohnen-bauluecken/ranking", headers=ministry).json()["parcels"]
    assert {p["local_ref"] for p in everything} == {"PUB", "SECRET"}


def test_explanations_hide_contamination_and_unpublished_parcels_from_the_public(world):
    client, ministry, _ = world
    ranked = client.get("/profiles/wohnen-bauluecken/ranking", headers=ministry).json()["parcels"]
    ids = {p["local_ref"]: p["parcel_id"] for p in ranked}
    public = client.get(f"/profiles/wohnen-bauluecken/parcels/{ids['PUB']}/explanation").json()
    assert public["score"] is not None and public["profile_version"] == 1
    assert client.get(f"/profiles/wohnen-bauluecken/parcels/{ids['SECRET']}/explanation").status_code == 404
    revitalisation = client.get(f"/profiles/ministerium-revitalisierung/parcels/{ids['PUB']}/explanation")
    assert revitalisation.status_code == 404  # a Baulücke is not ranked by the brownfield profile


def ids_of(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {ref: str(i) for ref, i in conn.execute(text("SELECT local_ref, id FROM parcel"))}


def test_rankings_cover_the_parcels_the_caller_may_see(world, committed_db):
    client, _, planner = world
    with committed_db.begin() as conn:
        essen = {"Authorization": f"Bearer {create_token(conn, 'planer.essen', 'planner', ['05113000'])[1]}"}
    refs = {
        name: [p["local_ref"] for p in client.get("/profiles/wohnen-bauluecken/ranking", headers=h).json()["parcels"]]
        for name, h in (("dortmund", planner), ("essen", essen))
    }
    # not another town's unpublished parcel; Essen sees Dortmund's owner objection (NEIN) as the public does
    assert refs == {"dortmund": ["PUB", "SECRET"], "essen": ["NEIN", "PUB"]}


WITHHELD_VALUES = ("raw", "normalised", "contribution", "available", "gain_if_best")


@pytest.mark.parametrize(
    "profile, ref, confidential",
    [
        ("wohnen-bauluecken", "NEIN", ["owner_willing", "owner_objection"]),
        ("ministerium-revitalisierung", "BRACHE", ["contamination", "owner_willing"]),
    ],
)
def test_explanations_withhold_criteria_built_on_confidential_fields(world, committed_db, profile, ref, confidential):
    client, ministry, planner = world
    with committed_db.begin() as conn:
        essen = {"Authorization": f"Bearer {create_token(conn, 'planer.essen', 'planner', ['05113000'])[1]}"}
    url = f"/profiles/{profile}/parcels/{ids_of(committed_db)[ref]}/explanation"
    full = client.get(url, headers=ministry).json()
    assert client.get(url, headers=planner).json() == full  # a planner of the parcel's town sees it all
    assert full["withheld"] == [] and all(c["withheld"] is None for c in full["criteria"])
    if ref == "NEIN":
        assert full["excluded_by"] == ["owner_objection"]
    for headers, lang, label in (({}, "de", "vertraulich"), (essen, "en", "confidential")):
        shown = client.get(f"{url}?lang={lang}", headers=headers).json()
        assert shown["withheld"] == confidential and shown["excluded_by"] == []
        hidden = [c for c in shown["criteria"] if c["withheld"]]
        assert {c["key"] for c in hidden} == set(confidential) - {"owner_objection"}
        assert all(c["withheld"] == label and all(c[k] is None for k in WITHHELD_VALUES) for c in hidden)
        assert not {h["criterion"] for h in shown["would_help_most"]} & set(confidential)
        assert not set(shown["not_available"]) & set(confidential)


def test_only_the_ministry_changes_profiles_and_a_change_is_a_new_scored_version(world):
    client, ministry, planner = world
    body = {
        "title": "Wohnen",
        "purpose": "test",
        "definition": {"categories": ["bauluecke"], "criteria": {"availability": 1, "owner_willing": 1}},
    }
    assert client.put("/profiles/wohnen-bauluecken", json=body).status_code == 401
    assert client.put("/profiles/wohnen-bauluecken", json=body, headers=planner).status_code == 403
    saved = client.put("/profiles/wohnen-bauluecken", json=body, headers=ministry).json()
    assert saved["profile"]["version"] == 2 and "normalised" in saved["notes"][0]
    ranked = client.get("/profiles/wohnen-bauluecken/ranking", headers=ministry).json()
    assert ranked["version"] == 2 and ranked["parcels"][0]["score"] == pytest.approx(75.0)  # (1 + 0.5) / 2
    public = client.get("/profiles/wohnen-bauluecken/ranking").json()  # owner_willing is confidential:
    assert public["version"] == 2 and public["parcels"][0]["score"] == pytest.approx(100.0)  # availability alone
    assert [v["version"] for v in client.get("/profiles/wohnen-bauluecken/versions").json()] == [1, 2]
    bad = dict(body, definition={"criteria": {"availability": -1}})
    assert client.put("/profiles/wohnen-bauluecken", json=bad, headers=ministry).status_code == 422


def test_sensitivity_is_for_the_ministry(world):
    client, ministry, _ = world
    assert client.get("/profiles/wohnen-bauluecken/sensitivity").status_code == 401
    report = client.get("/profiles/wohnen-bauluecken/sensitivity?change=0.3&top=2", headers=ministry).json()
    assert report["change"] == 0.3 and report["parcels"] == 2
