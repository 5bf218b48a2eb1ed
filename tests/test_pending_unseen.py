"""Nobody who sees a parcel's approved version can tell that a change of it waits for review.

Scores and indicators used to be stored for the latest version only, so while a planner's change
waited, the public saw the approved version without a score in rankings, tiles, search and exposé,
its distances read "unbekannt" and its explanation was refused with a message that said why (found
in review). Now the approved version keeps its own stored values: every public answer is the same
as before the change, down to the byte of the explanation; the municipality sees its change at
once; an approval makes everybody see it; a change of a context layer recomputes the approved
version's distances, checked here against shapely.
"""

from __future__ import annotations

import uuid

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg import context, register, review
from landreg.access import FULL, PUBLIC, Principal
from landreg.parcels import create_parcel
from landreg.scoring import ensure_default_profiles, recompute
from landreg.scoring.engine import rescore_stale
from landreg.scoring.explain import drivers
from landreg.scoring.profiles import current_profile
from landreg.sites.expose import expose
from landreg.sites.search import SiteQuery, search_sites
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND = "05913000"
PROFILE = "investor-industrie"
PLANNER = Principal(None, "planer.do", "planner", (DORTMUND,))
REVIEWER = Principal(None, "pruefer", "reviewer")
META = context.Metadata("Test, erfunden", "CC0 1.0")
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
WMQ = morecantile.tms.get("WebMercatorQuad")
OUTLINE = shapely.box(X0, Y0, X0 + 200, Y0 + 200)


def _junctions(tmp_path, name: str, *points: tuple[float, float]):
    path = tmp_path / f"{name}.gpkg"
    frame = gpd.GeoDataFrame({"name": [f"AS {i}" for i in range(len(points))]}, crs=25832,
                             geometry=[shapely.Point(x, y) for x, y in points])  # fmt: skip
    frame.to_file(path)
    return context.read_features(path, "autobahnanschluss")


@pytest.fixture
def world(committed_db, tmp_path):
    """An offered public industrial site A (with a confidential contamination record) and a
    neighbour B, scored with a motorway junction 1.5 km east of A."""
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
        context.load(conn, "test", "anschluesse", _junctions(tmp_path, "anschluesse", (X0 + 1700, Y0 + 100)), META)
    ids = {}
    with Session(committed_db) as session:
        for ref, category, dx in (("A", "industrieflaeche", 0), ("B", "gewerbeflaeche", 400)):
            ids[ref] = str(
                create_parcel(
                    session, "seed", local_ref=ref, name=f"Standort {ref}", category=category,
                    availability="kurzfristig", status="verfuegbar", servicing="erschlossen", designation="GI",
                    publication_allowed=True, owner_willing="ja", contamination="verdacht",
                    geom=shapely.affinity.translate(OUTLINE, dx),
                ).id
            )  # fmt: skip
        session.commit()
    recompute(committed_db, "test")
    return {"engine": committed_db, "ids": ids, "tmp_path": tmp_path}


def _tile_score(client, at: shapely.Polygon) -> float | None:
    """A's score in the z15 tile over the centre of ``at`` (its outline as the public sees it)."""
    lon, lat = TO_WGS84.transform(at.centroid.x, at.centroid.y)
    tile = WMQ.tile(lon, lat, 15)
    answer = client.get(
        f"/collections/parcels/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}", params={"profile": PROFILE}
    )
    assert answer.status_code == 200, answer.text
    layer = mapbox_vector_tile.decode(answer.content).get("parcels", {"features": []})
    scores = [f["properties"].get("score") for f in layer["features"] if f["properties"].get("name") == "Standort A"]
    assert len(scores) == 1
    return scores[0]


def _public(world, at: shapely.Polygon = OUTLINE) -> dict:
    """Everything the public is told about A that depends on its stored values (``at``: where the
    public sees it)."""
    a = world["ids"]["A"]
    with app_client(world["engine"]) as client:
        ranking = {r["parcel_id"]: r for r in client.get(f"/profiles/{PROFILE}/ranking").json()["parcels"]}
        explained = client.get(f"/profiles/{PROFILE}/parcels/{a}/explanation")
        item = client.get(f"/collections/parcels/items/{a}").json()["properties"]
        tile = _tile_score(client, at)
    with world["engine"].connect() as conn:
        found = {s["id"]: s for s in search_sites(conn, SiteQuery(motorway_km=5)).sites}
        shown = expose(conn, a, with_surroundings=False)
        strengths = drivers(conn, current_profile(conn, PROFILE), [uuid.UUID(a)], view=PUBLIC)  # the priority map's
    assert explained.status_code == 200, explained.text
    return {
        "ranking": ranking.get(a),
        "explanation": explained.json(),
        "abstand": (item.get("abstand_class_possible"), item.get("abstand_class_possible_number")),
        "tile": tile,
        "search": found.get(a),
        "expose": (shown["score"], shown["distances"], shown["reasons"]),
        "drivers": strengths,
    }


def _ranked(world, headers: dict) -> dict:
    with app_client(world["engine"]) as client:
        rows = client.get(f"/profiles/{PROFILE}/ranking", headers=headers).json()["parcels"]
    return {r["parcel_id"]: r["score"] for r in rows}


def _change(world, **attributes) -> int:
    with Session(world["engine"]) as session:
        parcel = register.update(session, PLANNER, world["ids"]["A"], "*", attributes)
        version = parcel.version
        session.commit()
    with world["engine"].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel_pending")).scalar() == 1
    return version


def _submission(world) -> int:
    with world["engine"].connect() as conn:
        return conn.execute(text("SELECT max(id) FROM submission")).scalar_one()


def test_a_confidential_change_waiting_for_review_changes_nothing_the_public_is_told(world):
    before = _public(world)
    assert before["ranking"]["score"] is not None and before["tile"] is not None
    assert before["search"]["score"] is not None and before["expose"][0] is not None
    motorway = next(d for d in before["expose"][1] if d["label"] == "Autobahnanschluss")
    assert "unbekannt" not in str(motorway)
    tokens = bearers(
        world["engine"], ministry=("ministerium", "ministry"), planner=("planer.do", "planner", [DORTMUND])
    )
    full_before = _ranked(world, tokens["ministry"])

    _change(world, contamination="saniert", owner_willing="nein")  # confidential fields only

    assert _public(world) == before
    # the ministry sees the approved version too (with its full score), the municipality its change
    assert _ranked(world, tokens["ministry"]) == full_before
    assert world["ids"]["A"] not in _ranked(world, tokens["planner"])  # the owner now objects: excluded


def test_a_moved_outline_keeps_the_public_distances_until_approved(world):
    a = world["ids"]["A"]
    before = _public(world)
    moved = shapely.affinity.translate(OUTLINE, 1000)  # 1 km nearer the junction
    _change(world, geom=moved)

    assert _public(world) == before
    planner = bearers(world["engine"], planner=("planer.do", "planner", [DORTMUND]))["planner"]
    with app_client(world["engine"]) as client:
        own = client.get(f"/profiles/{PROFILE}/parcels/{a}/explanation", headers=planner).json()
    motorway = {c["key"]: c for c in own["criteria"]}["motorway"]["raw"]
    junction = shapely.Point(X0 + 1700, Y0 + 100)
    assert motorway == pytest.approx(moved.distance(junction), abs=0.01)

    with world["engine"].begin() as conn:
        review.approve(conn, REVIEWER, [_submission(world)])
        assert conn.execute(text("SELECT count(*) FROM approved_indicator")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM approved_score")).scalar() == 0
    after = _public(world, at=moved)
    public_motorway = {c["key"]: c for c in after["explanation"]["criteria"]}["motorway"]["raw"]
    assert public_motorway == pytest.approx(motorway, abs=0.01)
    assert after["explanation"]["score"] > before["explanation"]["score"]  # nearer: better


def test_a_rejected_change_keeps_the_approved_version_scored(world):
    before = _public(world)
    _change(world, availability="langfristig")
    with world["engine"].begin() as conn:
        review.reject(conn, REVIEWER, [_submission(world)], "Verfügbarkeit bitte belegen")
    assert _public(world) == before


def test_the_approved_versions_distances_follow_a_changed_context_layer(world):
    """Measured from the approved outline, not from the changed one, and equal to shapely's."""
    _change(world, geom=shapely.affinity.translate(OUTLINE, 3000))
    moved_junction = shapely.Point(X0 - 800, Y0 + 50)
    with world["engine"].begin() as conn:
        context.replace(
            conn,
            "test",
            "anschluesse",
            _junctions(world["tmp_path"], "neu", (moved_junction.x, moved_junction.y)),
            META,
        )
    explained = _public(world)["explanation"]
    motorway = {c["key"]: c for c in explained["criteria"]}["motorway"]
    assert motorway["raw"] == pytest.approx(OUTLINE.distance(moved_junction), abs=0.01)
    assert explained["stored_score"] == explained["score"]
    assert explained["stored_score_stale"] is False


def test_scoring_runs_keep_and_restore_the_approved_versions_scores(world):
    before = _public(world)
    _change(world, planning_status="bplan_rechtskraeftig")
    recompute(world["engine"], "test")
    assert _public(world) == before
    with world["engine"].begin() as conn:  # as after the upgrade that brought them (0041)
        conn.execute(text("DELETE FROM approved_score; DELETE FROM approved_indicator"))
    with world["engine"].begin() as conn:
        rescore_stale(conn)
    assert _public(world) == before


def test_a_retirement_waiting_for_review_keeps_the_site_and_its_score_public(world):
    """A retirement leaves the approved version the latest one: read once, not twice."""
    before = _public(world)
    with Session(world["engine"]) as session:
        register.retire(session, PLANNER, world["ids"]["A"], "*", "bebaut")
        session.commit()
    assert _public(world) == before
    with app_client(world["engine"]) as client:
        items = client.get("/collections/parcels/items", params={"local_ref": "A"}).json()
    assert items["numberMatched"] == 1
    with world["engine"].connect() as conn:  # a version's stored values are in one of the two tables
        twice = conn.execute(
            text("""SELECT (SELECT count(*) FROM parcel_indicator JOIN approved_indicator USING (parcel_id, parcel_version)),
                           (SELECT count(*) FROM parcel_score JOIN approved_score
                                                 USING (profile_id, parcel_id, parcel_version))""")
        ).one()
    assert tuple(twice) == (0, 0)


def test_the_public_explanation_says_why_a_value_is_unknown_of_the_outline_it_shows(world):
    """A port layer that covers a place 4 km east only: the site lies outside, so its port distance
    is unknown, saying why. Moved into the coverage, the site's municipality sees a distance; the
    public still sees the approved outline's "outside the coverage", not a note of the new place."""
    a = world["ids"]["A"]
    moved = shapely.affinity.translate(OUTLINE, 4000)
    port = shapely.Point(X0 + 4900, Y0 + 100)
    with world["engine"].begin() as conn:
        ports = world["tmp_path"] / "haefen.gpkg"
        gpd.GeoDataFrame({"name": ["Hafen"]}, crs=25832, geometry=[port]).to_file(ports)
        coverage = context.Coverage(moved.buffer(1500), note="Testgebiet")
        context.load(conn, "test", "haefen", context.read_features(ports, "hafen"), META, coverage)
    before = _public(world)
    unknown = {c["key"]: c for c in before["explanation"]["criteria"]}["port"]
    assert unknown["available"] is False and "haefen" in unknown["note"]
    _change(world, geom=moved)
    assert _public(world) == before
    planner = bearers(world["engine"], planner=("planer.do", "planner", [DORTMUND]))["planner"]
    with app_client(world["engine"]) as client:
        own = client.get(f"/profiles/{PROFILE}/parcels/{a}/explanation", headers=planner).json()
    known = {c["key"]: c for c in own["criteria"]}["port"]
    assert known["available"] and known["raw"] == pytest.approx(moved.distance(port), abs=0.01)


def test_a_waiting_retirements_distances_follow_a_changed_context_layer(world):
    """Its indicators are the latest row's, which a change of a layer recomputes only for current
    parcels: computed again for it too, so that its stored score is the explained one."""
    with Session(world["engine"]) as session:
        register.retire(session, PLANNER, world["ids"]["A"], "*", "bebaut")
        session.commit()
    moved_junction = shapely.Point(X0 - 500, Y0 + 50)
    with world["engine"].begin() as conn:
        replaced = _junctions(world["tmp_path"], "naeher", (moved_junction.x, moved_junction.y))
        context.replace(conn, "test", "anschluesse", replaced, META)
    explained = _public(world)["explanation"]
    motorway = {c["key"]: c for c in explained["criteria"]}["motorway"]
    assert motorway["raw"] == pytest.approx(OUTLINE.distance(moved_junction), abs=0.01)
    assert (explained["stored_score"], explained["stored_score_stale"]) == (explained["score"], False)


def test_a_planners_import_leaves_each_version_scored_once(conn, tmp_path):
    """An import by a planner retires what its file no longer lists (without rescoring) and may be
    told not to score: the approved versions it leaves are scored, and not also as latest ones."""
    from landreg.importer import ImportOptions, import_file
    from landreg.scoring import ranking

    ensure_default_profiles(conn)
    rows = [(f"DO-{i}", X0 + 100 * i) for i in range(3)]

    def delivered(name: str, refs: list[tuple[str, float]], category: str = "bauluecke"):
        frame = gpd.GeoDataFrame(
            [{"ref": r, "category": category, "publication_allowed": True, "geometry": shapely.box(x, Y0, x + 40, Y0 + 40)}
             for r, x in refs], crs=25832,
        )  # fmt: skip
        frame.to_file(tmp_path / f"{name}.gpkg")
        return tmp_path / f"{name}.gpkg"

    import_file(conn, delivered("all", rows), ImportOptions(actor="seed"))
    profile = current_profile(conn, "wohnen-bauluecken")
    before = {r["local_ref"]: r["score"] for r in ranking(conn, profile, view=FULL)}  # as reviewed
    assert set(before) == {"DO-0", "DO-1", "DO-2"}
    changed = [("DO-0", X0), ("DO-1", X0 + 100 + 5)]  # DO-1 moved 5 m, DO-2 no longer delivered
    options = ImportOptions(actor="planer.do", principal=PLANNER, retire_missing=True, score=False)
    report = import_file(conn, delivered("changed", changed), options)
    assert report.retired == 1 and report.submission_id is not None
    twice = conn.execute(
        text("""SELECT (SELECT count(*) FROM parcel_indicator JOIN approved_indicator USING (parcel_id, parcel_version)),
                       (SELECT count(*) FROM parcel_score JOIN approved_score USING (profile_id, parcel_id, parcel_version))""")
    ).one()
    assert tuple(twice) == (0, 0)
    assert {r["local_ref"]: r["score"] for r in ranking(conn, profile, view=FULL)} == before
