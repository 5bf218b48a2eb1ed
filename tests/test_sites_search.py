"""The public site search (landreg.sites.search): filters, orders, distances and bad input.

Orders are checked against independent computations: areas and distances with shapely on the
EPSG:25832 geometries the test made (the point transformed by pyproj), scores against the stored
public scores. A site whose distance no layer covers is unknown, never far away.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from landreg import context, fields
from landreg.scoring import ensure_default_profiles
from landreg.scoring.engine import rescore
from landreg.sites import SiteQuery, SiteQueryError, search_sites
from landreg.sites.search import DISTANCES
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, square_at, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND, ESSEN = "05913000", "05113000"
MARKER = "m4Rk"
STATION = shapely.Point(X0 + 300, Y0)  # a railway station in Dortmund (the layer covers Dortmund only)

#: ref -> (category, width m, availability, servicing, designation, status, published, dx)
SPECS = {
    "GI-BIG": ("industrieflaeche", 400, "kurzfristig", "erschlossen", "GI", "verfuegbar", True, 0),
    "GE-MID": ("gewerbeflaeche", 250, "mittelfristig", "teilweise", "GE", "potenzial", True, 1500),
    "BRACHE": ("brachflaeche", 300, "langfristig", "unerschlossen", "GIB", "potenzial", True, 4000),
    "GE-SMALL": ("gewerbeflaeche", 100, "kurzfristig", "erschlossen", "GE", "verfuegbar", True, 8000),
    "LUECKE": ("bauluecke", 60, "kurzfristig", "erschlossen", "WA", "verfuegbar", True, -2000),
    # not offered: reserved for someone
    "TAKEN": ("gewerbeflaeche", 200, "kurzfristig", "erschlossen", "GE", "reserviert", True, -4000),
    # not published: never found
    "SECRET": ("industrieflaeche", 500, "kurzfristig", "erschlossen", "GI", "verfuegbar", False, -6000),
}


def write(path, geometries):
    gpd.GeoDataFrame({}, geometry=list(geometries), crs=25832).to_file(path)
    return path


@pytest.fixture
def world(conn, session, tmp_path):
    """Sites in Dortmund and one in Essen; a station layer covering Dortmund only; scores stored."""
    from landreg.parcels import create_parcel

    ensure_default_profiles(conn)
    path = write(tmp_path / "bahnhoefe.gpkg", [STATION])
    context.load(
        conn, "test", "bahnhoefe-do", context.read_features(path, "bahnhof"), context.Metadata("test"),
        context.Coverage(ags=(DORTMUND,)),
    )  # fmt: skip
    geoms, ids = {}, {}
    for ref, (category, width, availability, servicing, designation, status, published, dx) in SPECS.items():
        geoms[ref] = shapely.box(X0 + dx, Y0 + 500, X0 + dx + width, Y0 + 500 + width)
        ids[ref] = create_parcel(
            session, "t", local_ref=ref, category=category, availability=availability, servicing=servicing,
            designation=designation, status=status, publication_allowed=published, owner_willing="ja",
            owner_contact=f"Kontakt {MARKER}", internal_notes=f"Notiz {MARKER}", contamination="verdacht",
            name=f"Fläche {ref}" + ("" if published else f" {MARKER}"), geom=geoms[ref],
        ).id  # fmt: skip
    geoms["ESSEN"] = square_at(ESSEN_HBF, 350)
    ids["ESSEN"] = create_parcel(
        session, "t", local_ref="E-1", category="industrieflaeche", availability="kurzfristig",
        servicing="erschlossen", designation="GI", status="verfuegbar", publication_allowed=True,
        geom=geoms["ESSEN"],
    ).id  # fmt: skip
    session.flush()
    rescore(conn, list(ids.values()))
    return {"ids": {k: str(v) for k, v in ids.items()}, "geoms": geoms}


def refs(page, world) -> list[str]:
    by_id = {v: k for k, v in world["ids"].items()}
    return [by_id[s["id"]] for s in page.sites]


def search(conn, limit=50, **params) -> object:
    return search_sites(conn, SiteQuery.from_params(params), limit=limit)


OFFERED = {"GI-BIG", "GE-MID", "BRACHE", "GE-SMALL", "LUECKE", "ESSEN"}


def test_only_offered_public_sites_are_found_with_public_fields_only(conn, world):
    page = search(conn)
    assert set(refs(page, world)) == OFFERED and page.number_matched == len(OFFERED)
    confidential = {f.name for f in fields.confidential()}
    for site in page.sites:
        assert not confidential & set(site), site
        assert MARKER not in repr(site)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "gewerbeflaeche,industrieflaeche"}, {"GI-BIG", "GE-MID", "GE-SMALL", "ESSEN"}),
        ({"category": ["gewerbeflaeche", "brachflaeche"]}, {"GE-MID", "GE-SMALL", "BRACHE"}),
        ({"min_ha": "5", "max_ha": "10"}, {"GE-MID", "BRACHE"}),  # 6.25 ha and 9 ha
        ({"min_ha": "12,25"}, {"GI-BIG", "ESSEN"}),  # 16 ha and 12.25 ha (German decimal comma)
        ({"ags": ESSEN}, {"ESSEN"}),
        ({"district": "05913"}, OFFERED - {"ESSEN"}),
        ({"availability": "kurzfristig"}, {"GI-BIG", "GE-SMALL", "LUECKE", "ESSEN"}),
        ({"servicing": "teilweise,unerschlossen"}, {"GE-MID", "BRACHE"}),
        ({"designation": "GI"}, {"GI-BIG", "ESSEN"}),
        ({"category": "gewerbeflaeche", "availability": "kurzfristig", "servicing": "erschlossen"}, {"GE-SMALL"}),
    ],
)
def test_filters(conn, world, params, expected):
    page = search(conn, **params)
    assert set(refs(page, world)) == expected
    assert page.number_matched == len(expected)


def test_sort_by_size_against_shapely_areas(conn, world):
    areas = {ref: world["geoms"][ref].area for ref in OFFERED}
    largest = sorted(OFFERED, key=lambda r: (-areas[r], r))
    page = search(conn, sort="size")
    assert refs(page, world) == largest
    for site in page.sites:
        ref = refs(type(page)([site], 1, 1, 0, page.query), world)[0]
        assert site["area_ha"] == pytest.approx(areas[ref] / 10_000, rel=1e-6)
    assert refs(search(conn, sort="size_asc"), world) == largest[::-1]


def test_sort_by_score_follows_the_stored_public_scores(conn, world):
    stored = dict(
        conn.execute(
            text("""SELECT s.parcel_id::text, s.public_score FROM parcel_score s
                      JOIN scoring_profile f ON f.id = s.profile_id WHERE f.name = 'investor-industrie'""")
        ).all()
    )
    page = search(conn)
    scores = [stored.get(s["id"]) for s in page.sites]
    assert any(v is not None for v in scores)
    scored = [v for v in scores if v is not None]
    assert scored == sorted(scored, reverse=True)
    assert scores[: len(scored)] == scored  # unscored (a Baulücke: not ranked by the profile) last
    assert refs(page, world)[-1] == "LUECKE" and page.sites[-1]["score"] is None
    for site, value in zip(page.sites, scores, strict=True):
        assert site["score"] == (None if value is None else round(value, 1))


def test_sort_by_distance_to_a_point_against_shapely(conn, world):
    lon, lat = 7.40, 51.50  # west of Dortmund's centre
    point = shapely.Point(utm(lon, lat))
    expected = sorted(OFFERED, key=lambda r: world["geoms"][r].distance(point))
    page = search(conn, sort="distance", near=f"{lon},{lat}")
    assert refs(page, world) == expected
    for site, ref in zip(page.sites, expected, strict=True):
        assert site["distance_m"] == pytest.approx(world["geoms"][ref].distance(point), abs=0.5)


def test_a_distance_filter_answers_only_what_a_layer_covers(conn, world):
    """Dortmund's sites are judged by the station layer where its coverage reaches far enough around
    them; Essen's site lies outside the coverage: unknown (counted), not far away, and not found."""
    everything = search(conn)
    distance = {ref: site["dist_rail_station_m"] for ref, site in zip(refs(everything, world), everything.sites)}
    assert distance["ESSEN"] is None
    for ref, metres in distance.items():
        if metres is not None:
            assert metres == pytest.approx(world["geoms"][ref].distance(STATION), abs=0.5)
    unknown = {ref for ref, metres in distance.items() if metres is None}
    near = {r for r in OFFERED - unknown if world["geoms"][r].distance(STATION) <= 2000}
    assert near and near != OFFERED - unknown  # the filter separates something
    page = search(conn, rail_km="2")
    assert set(refs(page, world)) == near and page.number_matched == len(near)
    assert page.unknown == {"rail_km": len(unknown)}
    assert search(conn, rail_km="2", category="bauluecke").unknown == {"rail_km": len(unknown & {"LUECKE"})}


def test_a_distance_criterion_without_a_loaded_layer_is_refused(conn, world):
    with pytest.raises(SiteQueryError) as refused:
        search(conn, motorway_km="5")
    assert refused.value.field == "motorway_km"
    assert "nicht gefiltert" in refused.value.text("de") and "cannot be filtered" in refused.value.text("en")


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"category": "schloss"}, "category", "unbekannter Wert „schloss“"),
        ({"availability": "nicht_verfuegbar"}, "availability", "möglich: kurzfristig, mittelfristig, langfristig"),
        ({"min_ha": "viel"}, "min_ha", "muss eine Zahl sein"),
        ({"min_ha": "nan"}, "min_ha", "muss eine Zahl sein"),
        ({"max_ha": "-1"}, "max_ha", "zwischen 0 und 10000 ha"),
        ({"min_ha": "1e9"}, "min_ha", "zwischen 0 und 10000 ha"),
        ({"min_ha": "10", "max_ha": "5"}, "max_ha", "mindestens so groß"),
        ({"min_ha": ["1", "2"]}, "min_ha", "nur ein Wert"),
        ({"rail_km": "0"}, "rail_km", "zwischen 0,1 und 100 km"),
        ({"ags": "5913000"}, "ags", "kein 8-stelliger Gemeindeschlüssel"),
        ({"ags": ",".join(f"{i:08d}" for i in range(61))}, "ags", "höchstens 60 Werte"),
        ({"district": "Dortmund"}, "district", "kein 5-stelliger Kreisschlüssel"),
        ({"near": "51.5,7.4"}, "near", "vertauscht"),
        ({"near": "7.4"}, "near", "zwei Zahlen"),
        ({"near": "7.4,abc"}, "near", "müssen Zahlen sein"),
        ({"sort": "distance"}, "near", "Bezugspunkt"),
        ({"sort": "preis"}, "sort", "„preis“ gibt es nicht"),
        ({"categroy": "bauluecke"}, "categroy", "unbekannter Parameter"),
        ({"category": "x" * 2000}, "category", "höchstens 1000 Zeichen"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field_and_the_limit(params, field, words):
    with pytest.raises(SiteQueryError) as refused:
        SiteQuery.from_params(params)
    assert refused.value.field == field
    assert words in refused.value.text("de"), refused.value.text("de")
    assert refused.value.text("en") != refused.value.text("de") and field in refused.value.text("en")


def test_paging_limits_are_checked(conn, world):
    with pytest.raises(SiteQueryError) as refused:
        search_sites(conn, SiteQuery(), limit=1000)
    assert refused.value.field == "limit"
    with pytest.raises(SiteQueryError):
        search_sites(conn, SiteQuery(), offset=-1)
    page = search_sites(conn, SiteQuery(), limit=2, offset=4)
    assert len(page.sites) == 2 and page.number_matched == len(OFFERED)
    past = search_sites(conn, SiteQuery(), limit=2, offset=40)
    assert past.sites == [] and past.number_matched == len(OFFERED)


def test_the_url_state_is_canonical_and_round_trips():
    given = {
        "category": ["industrieflaeche", "gewerbeflaeche"],
        "min_ha": "2.50",
        "availability": "",
        "rail_km": "5",
        "near": " 7.4 , 51.5 ",
        "sort": "distance",
        "lang": "en",
    }
    query = SiteQuery.from_params(given)
    params = query.to_params()
    assert params == {
        "category": "gewerbeflaeche,industrieflaeche",
        "min_ha": "2.5",
        "rail_km": "5",
        "near": "7.4,51.5",
        "sort": "distance",
    }
    assert SiteQuery.from_params(params) == query
    assert SiteQuery().to_params() == {}
    assert SiteQuery(category=("industrieflaeche", "gewerbeflaeche")) == SiteQuery.from_params(
        {"category": "gewerbeflaeche,industrieflaeche"}
    )
    with pytest.raises(SiteQueryError):
        SiteQuery(min_ha=-3.0)
    assert set(DISTANCES) == {"rail_km", "motorway_km", "port_km"}
