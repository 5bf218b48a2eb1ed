"""The three figures of land that can be used (Reserve, verfügbar (Status), restriktionsfreie Reserve),
counted by hand for one municipality and checked on every output that shows one, each naming it.

Bottrop gets nine hand-built parcels of known size; the expected hectares are sums of those sizes
written out here, not the result of the registry's own SQL.
"""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from landreg import safeguarding
from landreg.auth import create_token
from landreg.parcels import create_parcel, retire_parcel, update_parcel
from tests.helpers import utm
from tests.test_maps import _embedded

BOTTROP = "05512000"
X0, Y0 = utm(6.9290, 51.5236)  # Bottrop, Rathaus

# ref: (category, status, restriction_class, availability, published, width m, height m)
PARCELS = {
    "A": ("gewerbeflaeche", "verfuegbar", 0, "kurzfristig", True, 100, 100),  # 1.0 ha
    "B": ("industrieflaeche", "verfuegbar", 2, "kurzfristig", True, 100, 200),  # 2.0 ha, restricted
    "C": ("gewerbeflaeche", "potenzial", None, "mittelfristig", True, 150, 100),  # 1.5 ha, no class recorded
    "D": ("industrieflaeche", "reserviert", 0, "nicht_verfuegbar", True, 100, 50),  # 0.5 ha, not available
    "E": ("gewerbeflaeche", "verfuegbar", 0, None, True, 200, 370),  # 7.4 ha, taken up below
    "F": ("brachflaeche", "verfuegbar", 0, "langfristig", False, 100, 300),  # 3.0 ha, unpublished
    "G": ("industrieflaeche", "in_entwicklung", 0, "mittelfristig", False, 120, 100),  # 1.2 ha, unpublished
    "H": ("bauluecke", "andere_nutzung", 0, "kurzfristig", True, 50, 50),  # 0.25 ha, lost to another use
    "I": ("gewerbeflaeche", "verfuegbar", 0, "kurzfristig", True, 100, 100),  # 1.0 ha, retired below
}

# By hand, in ha. Reserve: potenzial, verfuegbar, reserviert, in_entwicklung. Verfügbar (Status):
# verfuegbar. Restriktionsfrei: reserve with class 0 (or none) whose availability is not
# nicht_verfuegbar. E is taken up (genutzt), H lost, I retired: in none of them.
ALL = {  # every current parcel (the ministry; a planner of Bottrop)
    "parcels": 8,  # A–H
    "area_ha": 1.0 + 2.0 + 1.5 + 0.5 + 7.4 + 3.0 + 1.2 + 0.25,  # 16.85
    "reserve_area_ha": 1.0 + 2.0 + 1.5 + 0.5 + 3.0 + 1.2,  # A B C D F G = 9.2
    "available_area_ha": 1.0 + 2.0 + 3.0,  # A B F = 6.0
    "restriction_free_area_ha": 1.0 + 1.5 + 3.0 + 1.2,  # A C F G = 6.7
}
PUBLISHED = {  # the public view: F and G are not published
    "parcels": 6,  # A B C D E H
    "area_ha": 1.0 + 2.0 + 1.5 + 0.5 + 7.4 + 0.25,  # 12.65
    "reserve_area_ha": 1.0 + 2.0 + 1.5 + 0.5,  # A B C D = 5.0
    "available_area_ha": 1.0 + 2.0,  # A B = 3.0
    "restriction_free_area_ha": 1.0 + 1.5,  # A C = 2.5
}
# The Flächenbilanz: commercial and industrial categories (A B C D E G I); the ministry's counts
# every parcel, the public's only those public now (not G, unpublished; not I, retired).
INDUSTRIAL_RESERVE_M2 = 10_000 + 20_000 + 15_000 + 5_000 + 12_000  # A B C D G
INDUSTRIAL_FREE_M2 = 10_000 + 15_000 + 12_000  # A C G = 37,000
PUBLIC_INDUSTRIAL_FREE_M2 = 10_000 + 15_000  # A C = 25,000
TAKE_UP_M2 = 74_000  # E, verfuegbar -> genutzt today (E is published)

LABELS = {
    "reserve_area_ha": ("Reserve", "Reserve"),
    "available_area_ha": ("verfügbar (Status)", "available (status)"),
    "restriction_free_area_ha": ("restriktionsfreie Reserve", "restriction-free reserve"),
}


@pytest.fixture
def bottrop(committed_db):
    """The nine parcels (E then taken up, I retired) and tokens: ministry, planners of Bottrop and Essen."""
    with Session(committed_db) as session:
        ids = {}
        for i, (ref, (category, status, restriction, availability, published, w, h)) in enumerate(PARCELS.items()):
            x, y = X0 + 400 * (i % 5), Y0 + 500 * (i // 5)
            ids[ref] = create_parcel(
                session,
                "planer.bottrop",
                local_ref=ref,
                category=category,
                status=status,
                restriction_class=restriction,
                availability=availability,
                publication_allowed=published,
                geom=shapely.box(x, y, x + w, y + h),
            ).id
        session.commit()
        update_parcel(session, ids["E"], "planer.bottrop", status="genutzt")
        retire_parcel(session, ids["I"], "planer.bottrop", "bebaut")
        session.commit()
    with committed_db.begin() as conn:
        assert dict(conn.execute(text("SELECT local_ref, ags FROM parcel")).all()) == dict.fromkeys(PARCELS, BOTTROP)
        tokens = {
            name: {"Authorization": f"Bearer {create_token(conn, name, role, ags)[1]}"}
            for name, role, ags in (
                ("ministerium", "ministry", []),
                ("planer.bottrop", "planner", [BOTTROP]),
                ("planer.essen", "planner", ["05113000"]),
            )
        }
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        yield client, tokens, committed_db


@pytest.mark.parametrize(
    ("caller", "expected"),
    [(None, PUBLISHED), ("planer.essen", PUBLISHED), ("planer.bottrop", ALL), ("ministerium", ALL)],
)
def test_statistics_counts_each_figure_over_what_the_caller_may_see(bottrop, caller, expected):
    client, tokens, _ = bottrop
    body = client.get("/statistics", params={"by": "municipality"}, headers=tokens.get(caller, {})).json()
    (group,) = body["groups"]
    assert group["ags"] == BOTTROP and group["parcels"] == expected["parcels"]
    for key in ("area_ha", *LABELS):
        assert group[key] == pytest.approx(expected[key]), key
    assert {k: (v["de"], v["en"]) for k, v in body["figures"].items()} == LABELS


def test_statistics_route_says_whose_parcels_it_counts(bottrop):
    client, _, _ = bottrop
    route = client.get("/openapi.json").json()["paths"]["/statistics"]["get"]
    assert "published parcels" in route["description"] and "verfügbar (Status)" in route["description"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["StatisticsGroup"]["properties"]
    assert schema["restriction_free_area_ha"]["description"].startswith("restriktionsfreie Reserve")


@pytest.mark.parametrize(
    ("metric", "label", "caller", "expected"),
    [
        ("available_ha", "verfügbar (Status), ha", None, PUBLISHED["available_area_ha"]),
        ("available_ha", "verfügbar (Status), ha", "ministerium", ALL["available_area_ha"]),
        ("restriction_free_ha", "restriktionsfreie Reserve, ha", None, PUBLISHED["restriction_free_area_ha"]),
        ("restriction_free_ha", "restriktionsfreie Reserve, ha", "ministerium", ALL["restriction_free_area_ha"]),
        ("reserve_ha", "Reserve, ha", None, PUBLISHED["reserve_area_ha"]),
        # restriction-free industrial reserve ÷ take-up per year over 3 years: 37,000 / (74,000 / 3);
        # for the public only what is public now: 25,000 / (74,000 / 3)
        ("years_of_supply", "Reichweite (Jahre)", "ministerium", 1.5),
        ("years_of_supply", "Reichweite (Jahre)", None, 1.01),
    ],
)
def test_gemeindeuebersicht_shows_and_names_each_figure(bottrop, metric, label, caller, expected):
    client, tokens, _ = bottrop
    page = client.get("/maps/gemeindeuebersicht", params={"metric": metric}, headers=tokens.get(caller, {}))
    assert page.status_code == 200, page.text
    (bottrop_props,) = [f["properties"] for f in _embedded(page.text) if f["properties"].get("ags") == BOTTROP]
    assert bottrop_props[metric] == pytest.approx(expected)
    assert f"{label}: " in page.text  # the title names the figure and what it counts
    assert f"<b>{label}</b>" in page.text  # so does the legend


def test_the_english_overview_names_the_figure_in_english(bottrop):
    client, _, _ = bottrop
    page = client.get("/maps/gemeindeuebersicht", params={"metric": "restriction_free_ha", "lang": "en"}).text
    assert "<b>restriction-free reserve, ha</b>" in page


def test_flaechenbilanz_counts_restriction_free_industrial_reserve(bottrop):
    client, tokens, engine = bottrop
    with engine.connect() as conn:
        now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        (stock,) = safeguarding.balance(conn, [now], ags=BOTTROP, window_years=1)["stocks"]
        supply = safeguarding.supply_by_municipality(conn, now, window_years=3)[BOTTROP]
    assert stock["reserve_m2"] == pytest.approx(INDUSTRIAL_RESERVE_M2)
    assert stock["restriction_free_available_m2"] == pytest.approx(INDUSTRIAL_FREE_M2)
    assert stock["take_up_per_year_m2"] == pytest.approx(TAKE_UP_M2)
    assert stock["years_of_supply"] == pytest.approx(0.5)  # 37,000 / 74,000
    assert supply == pytest.approx(
        {"restriction_free_available_m2": INDUSTRIAL_FREE_M2, "take_up_per_year_m2": 24_666.67, "years_of_supply": 1.5}
    )
    params = {"dates": now.isoformat(), "ags": BOTTROP, "window_years": 1}
    body = client.get("/safeguarding/balance", params=params).json()  # the public: parcels public now
    assert body["stocks"][0]["restriction_free_available_m2"] == pytest.approx(PUBLIC_INDUSTRIAL_FREE_M2)
    assert body["stocks"][0]["reserve_m2"] == pytest.approx(INDUSTRIAL_RESERVE_M2 - 12_000)  # without G
    full = client.get("/safeguarding/balance", params=params, headers=tokens["ministerium"]).json()
    assert full["stocks"][0]["restriction_free_available_m2"] == pytest.approx(INDUSTRIAL_FREE_M2)
    assert (body["figures"]["restriction_free_available_m2"]["de"], body["figures"]["reserve_m2"]["de"]) == (
        "restriktionsfreie Reserve",
        "Reserve",
    )
