"""A parameter naming something the register does not know (a municipality, a category, a category
a profile does not rank) is refused naming it, not answered with nothing: wrong input never yields a
confident answer (found by a fuzzing review: a balance of zeros, an empty ranking). Stored names of
plan checks are bounded."""

from __future__ import annotations

import pytest
import shapely

from landreg.scoring import ensure_default_profiles
from tests.helpers import app_client, bearers

DORTMUND_PLAN = shapely.geometry.mapping(shapely.box(393500, 5708000, 393800, 5708200))


@pytest.fixture
def client(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    with app_client(committed_db) as client:
        yield client


@pytest.mark.parametrize(
    ("address", "field", "words"),
    [
        ("/safeguarding/balance?dates=2024-01-01&category=foo", "category", "'foo' is not a category"),
        ("/safeguarding/balance?dates=2024-01-01&ags=99999999", "ags", "not the Gemeindeschlüssel"),
        ("/profiles/investor-industrie/ranking?category=Gewerbeflaeche", "category", "is not a category"),
        ("/profiles/investor-industrie/ranking?category=bauluecke", "category", "ranks"),
        ("/profiles/investor-industrie/ranking?ags=99999999", "ags", "not the Gemeindeschlüssel"),
    ],
)
def test_an_unknown_name_in_a_public_read_is_a_400_naming_it(client, address, field, words):
    answer = client.get(address)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["field"] == field and words in answer.json()["detail"]


def test_the_known_names_still_answer(client):
    assert client.get("/safeguarding/balance?dates=2024-01-01&ags=05913000&category=bauluecke").status_code == 200
    assert client.get("/profiles/investor-industrie/ranking?ags=05913000&category=gewerbeflaeche").status_code == 200


@pytest.mark.parametrize("address", ["/safeguarding/watch-list?ags=99999999", "/quality?ags=99999999"])
def test_an_unknown_municipality_in_a_ministry_read_is_a_400(committed_db, client, address):
    ministry = bearers(committed_db, m=("ministerium", "ministry"))["m"]
    answer = client.get(address, headers=ministry)
    assert answer.status_code == 400 and answer.json()["field"] == "ags", answer.text[:300]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"classes": {"foo": "V"}}, "classes"), ({"name": "x" * 201}, "name"), ({"name": " "}, "name")],
)
def test_a_plan_check_with_an_unknown_category_or_an_unbounded_name_is_refused(committed_db, client, change, field):
    planner = bearers(committed_db, p=("planer.do", "planner", ["05913000"]))["p"]
    body = {"name": "B-Plan 1", "intended_use": "WA", "crs": 25832, "geometry": DORTMUND_PLAN} | change
    answer = client.post("/safeguarding/plan-checks", json=body, headers=planner)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text[:300]
