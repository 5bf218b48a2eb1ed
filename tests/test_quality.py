"""Datenqualität: completeness, findings and score per parcel, kept current by edits and imports,
filterable in the API and aggregated per municipality."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from landreg import clock, quality
from landreg.importer import ImportOptions, import_file
from landreg.parcels import create_parcel, retire_parcel, update_parcel
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, bearers, database_url, record, utm
from tests.test_cli import landreg

TODAY = clock.today()
RECENT, OLDER_12, OLDER_24 = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=400), TODAY - dt.timedelta(800)
X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND, ESSEN = "05913000", "05113000"

#: A Gewerbefläche with every field its category needs, recorded a month ago: score 100.
CLEAN = {
    "category": "gewerbeflaeche",
    "designation": "GE",
    "planning_status": "bplan_rechtskraeftig",
    "availability": "mittelfristig",
    "restriction_class": 0,
    "servicing": "erschlossen",
    "ownership": "oeffentlich",
    "data_date": RECENT,
}


def box(slot: int, width: float = 100, height: float = 50, east: float = 0, origin=(X0, Y0)) -> shapely.Polygon:
    """A rectangle in its own slot (300 m apart) around Dortmund's centre, shifted ``east`` metres."""
    x, y = origin[0] + 300 * (slot % 10) + east, origin[1] + 300 * (slot // 10)
    return shapely.box(x, y, x + width, y + height)


def parcel(session, ref: str, slot: int, **attrs):
    return create_parcel(session, "planer.do", local_ref=ref, **({"geom": box(slot)} | attrs))


def stored(conn, parcel_id) -> tuple:
    """(score, completeness, findings) of the parcel's stored quality, for its current version only."""
    row = conn.execute(
        text("""SELECT q.score, q.completeness, q.findings FROM parcel_quality q
                  JOIN parcel p ON p.id = q.parcel_id AND p.version = q.parcel_version WHERE p.id = :id"""),
        {"id": parcel_id},
    ).one_or_none()
    return None if row is None else (row.score, pytest.approx(row.completeness, abs=1e-6), row.findings)


def findings(conn, parcel_id) -> list[str]:
    return stored(conn, parcel_id)[2]


# -- findings, one by one -------------------------------------------------------------------
def test_a_clean_parcel_is_complete_and_has_no_findings(session, conn):
    assert stored(conn, parcel(session, "CLEAN", 0, **CLEAN).id) == (100, 1.0, [])


@pytest.mark.parametrize(
    ("code", "triggers", "clean"),
    [
        (
            "bauluecke_ueber_1ha",
            {"category": "bauluecke", "geom": box(1, 120, 100)},  # 1.2 ha
            {"category": "bauluecke", "geom": box(2, 99, 100)},  # 0.99 ha
        ),
        (
            "verfuegbar_mit_schweren_restriktionen",
            {"status": "verfuegbar", "restriction_class": 2},
            {"status": "verfuegbar", "restriction_class": 1},
        ),
        (
            "altlastverdacht_kurzfristig",
            {"contamination": "verdacht", "availability": "kurzfristig"},
            {"contamination": "untersucht", "availability": "kurzfristig"},
        ),
        ("stand_aelter_12_monate", {"data_date": OLDER_12}, {"data_date": TODAY - dt.timedelta(days=300)}),
        ("stand_aelter_24_monate", {"data_date": OLDER_24}, {"data_date": TODAY}),
        ("stand_aelter_24_monate", {"data_date": None}, {"data_date": RECENT}),  # a missing Stand counts as old
    ],
)
def test_each_finding_is_raised_by_its_case_and_not_by_a_near_miss(session, conn, code, triggers, clean):
    flagged = parcel(session, "FLAGGED", 1, **(CLEAN | triggers))
    assert findings(conn, flagged.id) == [code]
    near_miss = parcel(session, "NEAR", 2, **(CLEAN | clean))
    assert findings(conn, near_miss.id) == []


def test_a_parcel_split_by_a_municipal_border(session, conn):
    # a point on the border of Essen and Bochum, and a rectangle across it (as in test_import)
    x, y = conn.execute(
        text("""SELECT ST_X(p), ST_Y(p) FROM (
                  SELECT ST_PointOnSurface(ST_Intersection(ST_Buffer(e.geom, 1), ST_Buffer(b.geom, 1))) AS p
                    FROM municipality e, municipality b WHERE e.ags = '05113000' AND b.ags = '05911000') border""")
    ).one()
    split = create_parcel(session, "p", local_ref="GRENZE", geom=shapely.box(x - 50, y - 50, x + 110, y + 110), **CLEAN)
    assert findings(conn, split.id) == ["gemeindegrenze"]
    inside = create_parcel(session, "planer", local_ref="INNEN", geom=box(0, origin=utm(*ESSEN_HBF)), **CLEAN)
    assert inside.ags == ESSEN and findings(conn, inside.id) == []


def test_duplicates_are_found_and_follow_their_neighbours(session, conn):
    a = parcel(session, "A", 3, **CLEAN)
    b = parcel(session, "B", 3, geom=box(3, east=3), **CLEAN)  # 97 % of A's area over A
    c = parcel(session, "C", 3, geom=box(3, east=20), **CLEAN)  # 80 % over A, 83 % over B: no duplicate
    assert findings(conn, a.id) == findings(conn, b.id) == ["doppelte_geometrie"]  # A refreshed with B's creation
    assert findings(conn, c.id) == []
    assert stored(conn, a.id)[0] == 70  # 60 × 1 + 40 − 30

    update_parcel(session, b.id, "planer.do", geom=box(4))  # B moves away: A is no longer a duplicate
    assert findings(conn, a.id) == findings(conn, b.id) == []
    update_parcel(session, b.id, "planer.do", geom=box(3, east=22))  # onto C: both are, A is not
    assert findings(conn, b.id) == findings(conn, c.id) == ["doppelte_geometrie"]
    assert findings(conn, a.id) == []
    retire_parcel(session, b.id, "planer.do", "fehlerfassung")  # a retired twin is no twin
    assert findings(conn, c.id) == []


def test_completeness_and_score_by_hand(session, conn):
    # a Gewerbefläche with 4 of its 7 fields (designation, planning status, availability, Stand), Stand
    # 13 months old: 60 × 4/7 + 40 − 10 = 64.29 → 64
    a = parcel(
        session, "HAND-A", 5, category="gewerbeflaeche", designation="GI", planning_status="fnp",
        availability="langfristig", data_date=OLDER_12,
    )  # fmt: skip
    assert stored(conn, a.id) == (64, 4 / 7, ["stand_aelter_12_monate"])
    # a Baulücke of 1.2 ha with 4 of its 5 fields (no Stand): 60 × 4/5 + 40 − 15 − 20 = 53
    b = parcel(
        session, "HAND-B", 6, category="bauluecke", designation="WA", planning_status="paragraph_34",
        availability="kurzfristig", ownership="privat_einzeln", geom=box(6, 120, 100),
    )  # fmt: skip
    assert stored(conn, b.id) == (53, 0.8, ["bauluecke_ueber_1ha", "stand_aelter_24_monate"])
    # the same Baulücke with a blank previous use (not needed) and a Stand: 60 + 40 − 15 = 85
    update_parcel(session, b.id, "planer.do", data_date=RECENT, previous_use="  ")
    assert stored(conn, b.id) == (85, 1.0, ["bauluecke_ueber_1ha"])
    # a Brachfläche with nothing filled, a duplicate of another, no Stand: 40 − 30 − 20 < 0 → 0
    c = parcel(session, "HAND-C", 7, category="brachflaeche", previous_use=" ")
    parcel(session, "HAND-C2", 7, category="brachflaeche", geom=box(7, east=1))
    assert stored(conn, c.id) == (0, 0.0, ["doppelte_geometrie", "stand_aelter_24_monate"])


def test_the_stored_quality_is_of_the_current_version_and_due_when_the_stand_ages(session, conn):
    p = parcel(session, "AGING", 8, **(CLEAN | {"data_date": OLDER_12}))
    other = parcel(session, "OTHER", 9, **CLEAN)
    assert quality.due_ids(conn) == []
    # as if checked a while ago, when the Stand was recent: due now, and computed anew
    conn.execute(text("UPDATE parcel_quality SET findings = '{}', score = 100 WHERE parcel_id = :id"), {"id": p.id})
    conn.execute(text("DELETE FROM parcel_quality WHERE parcel_id = :id"), {"id": other.id})
    assert set(quality.due_ids(conn)) == {p.id, other.id}
    assert quality.refresh_due(conn) == 2
    assert stored(conn, p.id) == (90, 1.0, ["stand_aelter_12_monate"]) and stored(conn, other.id)[0] == 100
    assert quality.due_ids(conn) == []
    assert quality.refresh_all(conn) == 2


# -- imports ----------------------------------------------------------------------------------
def test_an_imports_parcels_get_their_quality_in_its_transaction(conn, tmp_path):
    rows = [
        {"ref": "IMP-1", "kategorie": "Gewerbefläche", "stand": RECENT.isoformat(), "festsetzung": "GE",
         "planungsstand": "fnp", "verfuegbarkeit": "kurzfristig", "restriktion": 0, "erschliessung": "erschlossen",
         "eigentum": "oeffentlich", "geometry": box(10)},
        {"ref": "IMP-2", "kategorie": "Baulücke", "stand": OLDER_12.isoformat(), "geometry": box(11, 120, 100)},
        {"ref": "IMP-3", "kategorie": "Baulücke", "stand": OLDER_12.isoformat(), "geometry": box(11, 120, 100, 2)},
    ]  # fmt: skip
    path = tmp_path / "qualitaet.gpkg"
    gpd.GeoDataFrame(rows, geometry="geometry", crs=25832).to_file(path)
    report = import_file(conn, path, ImportOptions(actor="planer.do", score=False))
    assert report.status == "committed" and report.inserted == 3, report.lines()
    got = dict(
        conn.execute(
            text("""SELECT p.local_ref, q.findings FROM parcel p
                      JOIN parcel_quality q ON q.parcel_id = p.id AND q.parcel_version = p.version""")
        ).all()
    )
    duplicate_old_large = ["doppelte_geometrie", "bauluecke_ueber_1ha", "stand_aelter_12_monate"]
    assert got == {"IMP-1": [], "IMP-2": duplicate_old_large, "IMP-3": duplicate_old_large}

    # a re-import moves IMP-3 away and drops IMP-2 (retired): the quality follows both
    rows[2]["geometry"] = box(12)
    gpd.GeoDataFrame([rows[0], rows[2]], geometry="geometry", crs=25832).to_file(path)
    report = import_file(conn, path, ImportOptions(actor="planer.do", retire_missing=True))
    assert (report.changed, report.retired) == (1, 1), report.lines()
    moved = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'IMP-3'")).scalar_one()
    assert findings(conn, moved) == ["stand_aelter_12_monate"]  # no longer large, nor a duplicate


# -- API: filter, confidentiality, aggregates; CLI --------------------------------------------
@pytest.fixture
def registry(committed_db):
    """Five parcels in Dortmund and one in Essen, all published, with tokens for each role."""
    published = {"publication_allowed": True}
    record(
        committed_db,
        {"local_ref": "D1", **CLEAN, **published, "geom": box(0)},  # 100
        {  # 64
            "local_ref": "D2", "category": "gewerbeflaeche", "designation": "GI", "planning_status": "fnp",
            "availability": "langfristig", "data_date": OLDER_12, **published, "geom": box(1),
        },
        {  # 53
            "local_ref": "D3", "category": "bauluecke", "designation": "WA", "planning_status": "paragraph_34",
            "availability": "kurzfristig", "ownership": "privat_einzeln", **published, "geom": box(2, 120, 100),
        },
        {"local_ref": "D4", "category": "brachflaeche", **published, "geom": box(3)},  # 0
        {"local_ref": "D5", "category": "brachflaeche", **published, "geom": box(3, east=1)},  # 0
        {"local_ref": "E1", **CLEAN, **published, "geom": box(0, origin=utm(*ESSEN_HBF))},  # 100
    )  # fmt: skip
    tokens = bearers(
        committed_db,
        ministry=("ministerium", "ministry"),
        dortmund=("planer.do", "planner", [DORTMUND]),
        essen=("planer.e", "planner", [ESSEN]),
    )
    with app_client(committed_db) as client:
        yield client, tokens


def _refs(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(f["properties"]["local_ref"] for f in response.json()["features"])


def test_quality_is_filterable_by_who_may_see_it_and_refused_to_the_public(registry):
    client, tokens = registry
    items = "/collections/parcels/items"
    assert _refs(client.get(items, params={"filter": "quality_score < 50"}, headers=tokens["ministry"])) == [
        "D4",
        "D5",
    ]
    like = {"filter": "quality_findings LIKE '%doppelte_geometrie%'"}
    assert _refs(client.get(items, params=like, headers=tokens["ministry"])) == ["D4", "D5"]
    assert _refs(client.get(items, params={"filter": "quality_score < 50"}, headers=tokens["dortmund"])) == [
        "D4",
        "D5",
    ]
    essen = client.get(items, params={"filter": "quality_score = 100"}, headers=tokens["essen"])
    assert _refs(essen) == ["E1"]  # Dortmund's quality is not Essen's to see, even of published parcels

    one = client.get(items, params={"filter": "local_ref = 'D2'"}, headers=tokens["ministry"]).json()["features"][0]
    assert (one["properties"]["quality_score"], one["properties"]["quality_findings"]) == (64, "stand_aelter_12_monate")
    for secret in ("quality_score < 50", "quality_findings LIKE '%doppelte%'"):
        response = client.get(items, params={"filter": secret})
        assert response.status_code == 400 and "not queryable" in response.json()["detail"], response.text
    public = client.get("/collections/parcels/queryables").json()["properties"]
    assert "quality_score" not in public
    queryables = client.get("/collections/parcels/queryables", headers=tokens["ministry"]).json()["properties"]
    assert queryables["quality_score"]["title"] == "Datenqualität (0–100)"


def test_quality_per_municipality_against_hand_counts(registry):
    client, tokens = registry
    answer = client.get("/quality", headers=tokens["ministry"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [f["code"] for f in body["findings"]] == list(quality.FINDINGS)
    essen, dortmund = body["municipalities"]  # by AGS
    zero = dict.fromkeys(quality.FINDINGS, 0)
    assert dortmund == {
        "ags": DORTMUND, "name": "Dortmund", "parcels": 5, "checked": 5,
        "current_share": 0.2,  # D1 only: D2 is 13 months old, D3, D4, D5 have no Stand
        "complete_share": 0.2,  # D1 only
        "reviewed_share": 1.0,  # recorded by the operator: needs no review
        "mean_score": round((100 + 64 + 53 + 0 + 0) / 5, 1),
        "findings": zero | {"doppelte_geometrie": 2, "bauluecke_ueber_1ha": 1, "stand_aelter_12_monate": 1,
                            "stand_aelter_24_monate": 3},
    }  # fmt: skip
    assert essen == {
        "ags": ESSEN, "name": "Essen", "parcels": 1, "checked": 1, "current_share": 1.0, "complete_share": 1.0,
        "reviewed_share": 1.0, "mean_score": 100.0, "findings": zero,
    }  # fmt: skip

    own = client.get("/quality", headers=tokens["dortmund"]).json()["municipalities"]
    assert [m["ags"] for m in own] == [DORTMUND] and own[0] == dortmund
    chosen = client.get("/quality", params={"ags": ESSEN}, headers=tokens["ministry"])
    assert chosen.json()["municipalities"] == [essen]
    refused = client.get("/quality", params={"ags": ESSEN}, headers=tokens["dortmund"])
    assert refused.status_code == 403 and ESSEN in refused.json()["detail"]
    malformed = client.get("/quality", params={"ags": "Essen"}, headers=tokens["ministry"])
    assert malformed.status_code == 400 and malformed.json()["field"] == "ags"
    assert client.get("/quality").status_code == 401


def test_landreg_quality_recomputes_what_is_due_and_all(registry, committed_db):
    with committed_db.begin() as conn:
        conn.execute(text("DELETE FROM parcel_quality WHERE parcel_id IN (SELECT id FROM parcel WHERE ags = :a)"),
                     {"a": ESSEN})  # fmt: skip
    env = {"LANDREG_DATABASE_URL": database_url(committed_db)}
    due = landreg("quality", **env)
    assert due.returncode == 0, due.stderr
    assert "data quality of 1 parcels" in due.stdout and "        2  doppelte_geometrie" in due.stdout
    everything = landreg("quality", "--all", **env)
    assert everything.returncode == 0 and "data quality of 6 parcels" in everything.stdout, everything.stderr


def test_truncating_the_parcels_takes_their_derived_rows_along(session, conn):
    """Quality, indicators and scores have no foreign key to the parcel (it locked each parcel a row
    was written for: seconds at 1M); a TRUNCATE of the parcels, the one way they go, empties them."""
    from landreg.scoring import ensure_default_profiles, rescore

    ensure_default_profiles(conn)
    pid = parcel(session, "ABGELEITET", 0, **CLEAN).id
    session.flush()
    rescore(conn, [pid])
    derived = ("parcel_quality", "parcel_indicator", "parcel_score")

    def rows() -> dict:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t} WHERE parcel_id = :id"), {"id": pid}).scalar_one()
                for t in derived}  # fmt: skip

    assert rows() == {"parcel_quality": 1, "parcel_indicator": 1, "parcel_score": 1}  # one profile ranks Gewerbeflächen
    conn.execute(text("TRUNCATE parcel CASCADE"))
    assert {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in derived} == dict.fromkeys(
        derived, 0
    )
