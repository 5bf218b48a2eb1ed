"""Scores: hand-computed expectations for both methods, missing layers, ties, bad profiles."""

from __future__ import annotations

import math

import pytest
import shapely
from sqlalchemy import select, text

from landreg import fields
from landreg.access import FULL, PUBLIC, View
from landreg.errors import NotFound
from landreg.parcels import create_parcel, update_parcel
from landreg.scoring import ProfileError, ranking, rescore, save_profile, sensitivity
from landreg.scoring.criteria import CATALOGUE, EXCLUSIONS
from landreg.scoring.engine import score_profile
from landreg.scoring.explain import explain, explanation
from landreg.scoring.profiles import current_profile
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
THREE = {"availability": 0.5, "restriction_class": 0.3, "size": 0.2}


def rect(dx: float, w: float, h: float) -> shapely.Polygon:
    return shapely.box(X0 + dx, Y0, X0 + dx + w, Y0 + h)


@pytest.fixture
def parcels(session):
    """A: 1 ha, available now, no restriction; B: 5 ha, medium term, minor; C: 9 ha, medium term, severe."""
    specs = [
        ("A", rect(0, 100, 100), "kurzfristig", 0),
        ("B", rect(400, 200, 250), "mittelfristig", 1),
        ("C", rect(800, 300, 300), "mittelfristig", 2),
    ]
    return {
        ref: create_parcel(
            session,
            "t",
            local_ref=ref,
            category="gewerbeflaeche",
            geom=geom,
            availability=availability,
            restriction_class=restriction,
        ).id
        for ref, geom, availability, restriction in specs
    }


def scores(conn, profile) -> dict[str, float]:
    rows = conn.execute(
        text("""
        SELECT p.local_ref, s.score FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id WHERE s.profile_id = :p
    """),
        {"p": profile.id},
    ).all()
    return {ref: score for ref, score in rows}


def profile(conn, criteria, method="weighted_sum", **extra):
    return save_profile(conn, "test", "Test", "tests", {"method": method, "criteria": criteria, **extra}, "t")[0]


def test_weighted_sum_by_hand(conn, parcels):
    p = profile(conn, THREE)
    score_profile(conn, p, "t")
    size_a = (1.0 - 0.2) / (5.0 - 0.2)  # 1 ha on the 0.2 ha (0) .. 5 ha (1) line
    expected = {
        "A": 100 * (0.5 * 1 + 0.3 * 1 + 0.2 * size_a),
        "B": 100 * (0.5 * 0.6 + 0.3 * 0.5 + 0.2 * 1),
        "C": 100 * (0.5 * 0.6 + 0.3 * 0 + 0.2 * 1),
    }
    assert scores(conn, p) == pytest.approx(expected, abs=1e-4)
    ranked = ranking(conn, p)
    assert [(r["local_ref"], r["rank"]) for r in ranked] == [("A", 1), ("B", 2), ("C", 3)]


def test_topsis_by_hand(conn, parcels):
    p = profile(conn, THREE, method="topsis")
    score_profile(conn, p, "t")
    matrix = {"A": [1.0, 1.0, (1.0 - 0.2) / 4.8], "B": [0.6, 0.5, 1.0], "C": [0.6, 0.0, 1.0]}
    weights = [0.5, 0.3, 0.2]
    norms = [math.sqrt(sum(row[j] ** 2 for row in matrix.values())) for j in range(3)]
    weighted = {k: [weights[j] * row[j] / norms[j] for j in range(3)] for k, row in matrix.items()}
    best = [max(w[j] for w in weighted.values()) for j in range(3)]
    worst = [min(w[j] for w in weighted.values()) for j in range(3)]
    expected = {}
    for k, w in weighted.items():
        d_plus = math.sqrt(sum((w[j] - best[j]) ** 2 for j in range(3)))
        d_minus = math.sqrt(sum((w[j] - worst[j]) ** 2 for j in range(3)))
        expected[k] = 100 * d_minus / (d_plus + d_minus)
    assert scores(conn, p) == pytest.approx(expected, abs=1e-4)


def test_a_missing_layer_is_not_available_never_zero(conn, parcels):
    p = profile(conn, {"availability": 0.5, "rail_station": 0.5})
    ev = score_profile(conn, p, "t")
    assert ev.unavailable == ["rail_station"]
    assert scores(conn, p)["A"] == pytest.approx(100.0)  # only availability counts, at full weight
    result = explain(conn, parcels["A"], p)
    assert result["coverage"] == 0.5 and result["not_available"] == ["rail_station"]

    # a station 1,000 m east of A's east edge: the distance is exact, the criterion counts
    conn.execute(
        text("""
        INSERT INTO context_feature (kind, name, source, geom)
        VALUES ('bahnhof', 'Test Hbf', 'test', ST_SetSRID(ST_MakePoint(:x, :y), 25832))
    """),
        {"x": X0 + 100 + 1000, "y": Y0 + 50},
    )
    rescore(conn, list(parcels.values()))
    result = explain(conn, parcels["A"], current_profile(conn, "test"))
    station = next(c for c in result["criteria"] if c["key"] == "rail_station")
    assert station["raw"] == pytest.approx(1000.0)
    assert station["normalised"] == pytest.approx((1000 - 5000) / (500 - 5000), abs=1e-4)
    assert result["coverage"] == 1.0


def test_transit_access_weighs_service_and_distance(conn, parcels):
    conn.execute(
        text("""
        INSERT INTO context_feature (kind, name, attributes, source, geom) VALUES
        ('haltestelle', 'Bus', '{"products": "bus"}', 'test', ST_SetSRID(ST_MakePoint(:x, :y1), 25832)),
        ('haltestelle', 'S-Bahn', '{"products": "suburban,regional"}', 'test', ST_SetSRID(ST_MakePoint(:x, :y2), 25832))
    """),
        {"x": X0 + 50, "y1": Y0 - 200, "y2": Y0 - 900},
    )
    p = profile(conn, {"transit": 1.0})
    result = explain(conn, parcels["A"], p)
    transit = result["criteria"][0]
    # bus 200 m away: 0.5 x (1 - 0.2) = 0.4; rail 900 m away: 1.0 x (1 - 0.9) = 0.1; the best counts
    assert transit["raw"] == pytest.approx(0.4)


def test_ties_share_a_rank(conn, session):
    for ref, dx in (("T1", 0), ("T2", 200), ("T3", 400)):
        create_parcel(
            session,
            "t",
            local_ref=ref,
            category="bauluecke",
            geom=rect(dx, 30, 30),
            availability="kurzfristig" if ref != "T3" else "langfristig",
        )
    p = profile(conn, {"availability": 1.0})
    score_profile(conn, p, "t")
    assert [(r["local_ref"], r["rank"]) for r in ranking(conn, p)] == [("T1", 1), ("T2", 1), ("T3", 3)]


def test_weights_are_normalised_and_the_user_told(conn):
    p, notes = save_profile(conn, "test", "Test", "t", {"criteria": {"availability": 2, "size": 2}}, "t")
    assert p.weights == {"availability": 0.5, "size": 0.5}
    assert "normalised" in notes[0]


@pytest.mark.parametrize(
    "criteria, message",
    [
        ({"availability": -1}, "0 or more"),
        ({"availability": float("nan")}, "0 or more"),
        ({"availability": 0}, "add up to 0"),
        ({"wind": 1}, "unknown criterion"),
        ({"size": {"weight": 1, "function": {"type": "linear", "worst": float("nan"), "best": 5}}}, "finite number"),
        ({"size": {"weight": 1, "function": {"type": "linear", "worst": 5, "best": 5}}}, "must differ"),
        (
            {"availability": {"weight": 1, "function": {"type": "table", "values": {"kurzfristig": 1.5}}}},
            "between 0 and 1",
        ),
    ],
)
def test_bad_profiles_are_refused(conn, criteria, message):
    with pytest.raises(ProfileError, match=message):
        save_profile(conn, "test", "Test", "t", {"criteria": criteria}, "t")


def test_a_changed_profile_is_a_new_version_and_scores_say_which(conn, parcels):
    first = profile(conn, THREE)
    score_profile(conn, first, "t")
    assert profile(conn, THREE).version == 1  # unchanged: no new version
    second = profile(conn, {**THREE, "size": 0.6})
    assert second.version == 2 and second.id != first.id
    score_profile(conn, second, "t")
    assert set(scores(conn, first)) == set(scores(conn, second)) == {"A", "B", "C"}
    assert scores(conn, first) != scores(conn, second)


def test_an_edit_is_rescored_at_once(conn, session, parcels):
    p = profile(conn, THREE)
    score_profile(conn, p, "t")
    before = scores(conn, p)["C"]
    update_parcel(session, parcels["C"], "t", restriction_class=0)
    assert scores(conn, p)["C"] == pytest.approx(before + 100 * 0.3)
    stale = conn.execute(
        text("""
        SELECT count(*) FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id WHERE s.parcel_version <> p.version
    """)
    ).scalar_one()
    assert stale == 0


def test_exclusions_remove_parcels_from_the_ranking(conn, session, parcels):
    update_parcel(session, parcels["B"], "t", owner_willing="nein")
    conn.execute(
        text("""
        INSERT INTO context_feature (kind, name, source, geom)
        VALUES ('ueberschwemmungsgebiet', 'HQ100', 'test', ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 25832), 30))
    """),
        {"x": X0 + 800, "y": Y0},
    )
    p = profile(conn, THREE, exclusions=["owner_objection", "flood_zone", "protected_area"])
    ev = score_profile(conn, p, "t")
    assert ev.unchecked_exclusions == ["protected_area"]
    excluded = dict(
        conn.execute(
            text("""
        SELECT p.local_ref, s.excluded_by FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id
         WHERE s.profile_id = :p
    """),
            {"p": p.id},
        ).all()
    )
    assert excluded == {"A": [], "B": ["owner_objection"], "C": ["flood_zone"]}
    assert [r["local_ref"] for r in ranking(conn, p)] == ["A"]


def test_the_explanation_adds_up_and_names_the_best_lever(conn, parcels):
    p = profile(conn, THREE)
    result = explain(conn, parcels["C"], p)
    assert sum(c["contribution"] for c in result["criteria"]) == pytest.approx(result["score"], abs=0.05)
    assert result["would_help_most"][0]["criterion"] == "restriction_class"
    assert result["would_help_most"][0]["gain"] == pytest.approx(30.0)


def test_sensitivity_reports_top_n_stability(conn, parcels):
    p = profile(conn, THREE)
    report = sensitivity(conn, p, change=0.2, top=2)
    assert report["parcels"] == 3 and len(report["variations"]) == 6
    # A leads by far; the top 2 (A, B) survive every ±20 % change of one weight
    assert report["min_top_n_kept"] == 1.0
    with pytest.raises(ValueError):
        sensitivity(conn, p, change=1.5)


def indicator_rows(conn) -> list:
    return conn.execute(text("SELECT * FROM parcel_indicator ORDER BY parcel_id")).all()


def test_an_explanation_computes_stale_indicators_without_storing_them(conn, parcels):
    p = profile(conn, {"availability": 0.5, "rail_station": 0.5})
    score_profile(conn, p, "t")  # stores the indicators: no station yet
    conn.execute(
        text("""
        INSERT INTO context_feature (kind, name, source, geom)
        VALUES ('bahnhof', 'Test Hbf', 'test', ST_SetSRID(ST_MakePoint(:x, :y), 25832))
    """),
        {"x": X0 + 100 + 1000, "y": Y0 + 50},
    )  # the stored indicators are stale now
    stored = indicator_rows(conn)
    result = explain(conn, parcels["A"], current_profile(conn, "test"))
    assert indicator_rows(conn) == stored  # nothing written
    station = next(c for c in result["criteria"] if c["key"] == "rail_station")
    assert station["raw"] == pytest.approx(1000.0) and result["coverage"] == 1.0  # computed for the read

    rescore(conn, list(parcels.values()))  # an edit or a scoring run stores them: the same explanation
    again = explain(conn, parcels["A"], current_profile(conn, "test"))
    assert (again["stored_score"], again["stored_score_stale"]) == (again["score"], False)
    assert {k: v for k, v in again.items() if not k.startswith("stored")} == {
        k: v for k, v in result.items() if not k.startswith("stored")
    }


def test_criteria_and_exclusions_name_the_field_they_are_built_on():
    confidential = {f.name for f in fields.confidential()}
    for key, criterion in CATALOGUE.items():
        assert criterion.layer or criterion.source_field, key
        assert criterion.confidential == (criterion.source_field in confidential), key
    assert {k for k, c in CATALOGUE.items() if c.confidential} == {"contamination", "owner_willing"}
    assert {k for k, e in EXCLUSIONS.items() if e.confidential} == {"owner_objection"}


def test_an_explanation_withholds_confidential_criteria_from_views_that_may_not_see_them(conn, session, parcels):
    update_parcel(session, parcels["B"], "t", owner_willing="nein", contamination="verdacht", publication_allowed=True)
    p = profile(conn, {**THREE, "contamination": 0.2, "owner_willing": 0.2}, exclusions=["owner_objection"])
    full = explanation(conn, FULL, parcels["B"], p, "en")
    assert full["excluded_by"] == ["owner_objection"] and full["withheld"] == []
    assert {c["key"]: c["raw"] for c in full["criteria"]}["owner_willing"] == "nein"
    own = explanation(conn, View("planner", ("05913000",)), parcels["B"], p, "en")
    assert own == full
    for view in (PUBLIC, View("planner", ("05113000",))):  # the public; a planner of Essen
        shown = explanation(conn, view, parcels["B"], p, "en")
        assert shown["excluded_by"] == [] and shown["withheld"] == ["contamination", "owner_willing", "owner_objection"]
        for c in shown["criteria"]:
            if c["key"] in ("contamination", "owner_willing"):
                assert c["withheld"] == "confidential"
                assert [c[k] for k in ("raw", "normalised", "contribution", "available", "gain_if_best")] == [None] * 5
            else:
                same = next(f for f in full["criteria"] if f["key"] == c["key"])
                assert c["withheld"] is None and (c["raw"], c["normalised"]) == (same["raw"], same["normalised"])
        # the score shown is the public variant's: its contributions add up to it, none from a withheld criterion
        assert shown["variant"] and shown["score"] == pytest.approx(
            sum(c["contribution"] or 0 for c in shown["criteria"]), abs=0.05
        )
        assert {h["criterion"] for h in shown["would_help_most"]} <= {"availability", "restriction_class", "size"}
    with pytest.raises(NotFound):  # A is not published: the public does not see it at all
        explanation(conn, PUBLIC, parcels["A"], p)


def test_rankings_cover_what_the_view_may_see(conn, session, parcels):
    update_parcel(session, parcels["B"], "t", publication_allowed=True)
    p = profile(conn, THREE)
    score_profile(conn, p, "t")
    assert [r["local_ref"] for r in ranking(conn, p, view=PUBLIC)] == ["B"]
    assert [r["rank"] for r in ranking(conn, p, view=PUBLIC)] == [1]  # ranked among what the view sees
    assert [r["local_ref"] for r in ranking(conn, p, view=View("planner", ("05113000",)))] == ["B"]
    assert [r["local_ref"] for r in ranking(conn, p, view=View("planner", ("05913000",)))] == ["A", "B", "C"]
    assert [r["local_ref"] for r in ranking(conn, p, ags="05913000", limit=2, offset=1)] == ["B", "C"]


def test_the_public_score_does_not_depend_on_a_confidential_value(conn, session, parcels):
    """Whatever the contamination and the owner's willingness, the public sees the same score (and a
    score at all: an owner objection excludes the parcel only from the full ranking)."""
    from landreg.scoring.visible import SCORE

    update_parcel(session, parcels["B"], "t", publication_allowed=True)
    p = profile(conn, {**THREE, "contamination": 0.3, "owner_willing": 0.3}, exclusions=["owner_objection"])
    seen = set()
    for contamination, willing in (("keine_bekannt", "ja"), ("verdacht", "nein"), ("saniert", "unbekannt")):
        update_parcel(session, parcels["B"], "t", contamination=contamination, owner_willing=willing)
        score_profile(conn, p, "t")
        full, public = conn.execute(
            select(SCORE.latest.c.score, SCORE.latest.c.public_score).where(
                SCORE.latest.c.parcel_id == parcels["B"], SCORE.latest.c.profile_id == p.id
            )
        ).one()
        assert (full is None) == (willing == "nein")  # the full ranking excludes an objection
        seen.add(round(public, 6))
        shown = explanation(conn, PUBLIC, parcels["B"], p)
        assert shown["score"] == pytest.approx(public, abs=0.01) and shown["excluded_by"] == []
        assert [r["score"] for r in ranking(conn, p, view=PUBLIC)] == [pytest.approx(public)]
    assert len(seen) == 1
