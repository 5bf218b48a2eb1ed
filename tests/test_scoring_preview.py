"""The profile editor's ranking preview: exactly the engine's ranking of the changed profile, read only.

Every comparison is with the engine itself: the changed profile saved and scored in the test's
transaction (``save_scored_profile``, as ``PUT /profiles/{name}`` does) and ranked by ``ranking``,
or ``evaluate`` on the same raw values.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg import review
from landreg.access import Principal
from landreg.errors import InvalidParameter
from landreg.parcels import create_parcel, retire_parcel, update_parcel
from landreg.scoring import indicators, ranking, recompute, save_profile
from landreg.scoring.engine import evaluate, load, save_scored_profile, score_profile
from landreg.scoring.preview import (
    MOVED_PLACES,
    changed_profile,
    definition_from_form,
    editor_fields,
    forget,
    preview,
    register,
    scores,
)
from landreg.scoring.profiles import current_profile, validate_definition
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm
from tests.web import people

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TABLES = ("parcel", "parcel_indicator", "parcel_score", "scoring_profile", "scoring_run", "context_state")

#: The profile of these tests: parcel attributes and context layers, both exclusion kinds.
DEFINITION = {
    "method": "weighted_sum",
    "categories": ["brachflaeche", "gewerbeflaeche"],
    "criteria": {
        "availability": 0.2,
        "restriction_class": 0.15,
        "contamination": 0.1,
        "size": 0.2,
        "rail_station": 0.1,
        "transit": 0.15,
        "owner_willing": 0.05,
        "abstand": 0.05,
    },
    "exclusions": ["flood_zone", "owner_objection"],
    "abstand_class": "V",
}


def build_register(session, n: int = 60, seed: int = 17, x: float = X0, features: bool = True) -> list:
    """``n`` parcels in a row eastwards from ``x`` (default: Dortmund's Reinoldikirche) with varied
    attributes and sizes; with ``features`` a station, three stops, a residential area and a flood
    zone. Returns the parcel ids."""
    rng = np.random.default_rng(seed)
    layers = [
        ("bahnhof", "{}", shapely.Point(X0 + 1500, Y0 - 300)),
        ("haltestelle", '{"products": "bus"}', shapely.Point(X0 + 400, Y0 - 100)),
        ("haltestelle", '{"products": "tram"}', shapely.Point(X0 + 3000, Y0 - 100)),
        ("haltestelle", '{"products": "regional"}', shapely.Point(X0 + 6000, Y0 - 100)),
        ("wohngebiet", "{}", shapely.box(X0 - 600, Y0 - 600, X0 - 100, Y0 + 600)),
        ("ueberschwemmungsgebiet", "{}", shapely.box(X0 + 2000, Y0 - 50, X0 + 2600, Y0 + 400)),
    ]
    for kind, attributes, geom in layers if features else []:
        session.execute(
            text("""INSERT INTO context_feature (kind, attributes, source, geom)
                    VALUES (:kind, CAST(:a AS jsonb), 'test', ST_GeomFromText(:wkt, 25832))"""),
            {"kind": kind, "a": attributes, "wkt": geom.wkt},
        )
    for i in range(n):
        side = float(rng.choice([40, 80, 120, 180, 250, 320]))
        create_parcel(
            session,
            "test",
            local_ref=f"P{seed:02d}-{i:03d}",
            name=f"Fläche {i}",
            category=str(rng.choice(["brachflaeche", "brachflaeche", "gewerbeflaeche", "bauluecke"])),
            geom=shapely.box(x, Y0, x + side, Y0 + side),
            availability=str(rng.choice(["kurzfristig", "mittelfristig", "langfristig", "nicht_verfuegbar"])),
            restriction_class=int(rng.integers(0, 3)),
            contamination=str(rng.choice(["keine_bekannt", "saniert", "untersucht", "verdacht"])),
            owner_willing=str(rng.choice(["ja", "unbekannt", "unbekannt", "nein"])),
        )
        x += side + 20
    session.flush()
    ids = [str(i) for i in session.execute(text("SELECT id FROM parcel ORDER BY local_ref")).scalars()]
    return ids


@pytest.fixture
def world(conn, session):
    build_register(session)
    profile, _ = save_profile(conn, "test", "Test", "tests", DEFINITION, "t")
    score_profile(conn, profile, "t")
    return profile


def ranks_of(conn, profile) -> dict[str, int]:
    return {str(r["parcel_id"]): r["rank"] for r in ranking(conn, profile, limit=1000)}


def listed(conn, profile, n: int) -> list[tuple[str, int]]:
    """The first n of ``ranking``, in its order (rank, then local reference)."""
    return [(str(r["parcel_id"]), r["rank"]) for r in ranking(conn, profile, limit=n)]


def saved(conn, profile, draft):
    """The changed profile saved and scored as PUT /profiles does."""
    return save_scored_profile(conn, profile.name, draft.title, draft.purpose, draft.definition, "t")[0]


@pytest.mark.parametrize(
    "form",
    [
        {"weight.size": "60"},  # one weight up: the rest are rescaled
        {"weight.availability": "0", "weight.transit": "40"},
        {"fn.size.best": "2", "fn.availability.value.mittelfristig": "0.9"},
        {"weight.motorway": "25", "fn.rail_station.worst": "2500"},  # a criterion joins the profile
    ],
)
def test_the_preview_is_the_engines_ranking_of_the_changed_profile(conn, world, form):
    before, top_before = ranks_of(conn, world), listed(conn, world, 15)
    draft = definition_from_form(world, form)
    shown = preview(conn, world, draft.profile, top=15, notes=draft.notes)
    new = saved(conn, world, draft)
    after = ranks_of(conn, new)
    assert new.version == world.version + 1 and after != before
    assert [(r.parcel_id, r.rank) for r in shown.after] == listed(conn, new, 15)
    assert [(r.parcel_id, r.rank) for r in shown.before] == top_before
    assert [r.other_rank for r in shown.after] == [before.get(r.parcel_id) for r in shown.after]
    assert {i: v for i, v in shown.ranks.items()} == {
        i: (before.get(i), after.get(i)) for i in set(before) | set(after)
    }
    both = set(before) & set(after)
    assert shown.moved == sum(abs(before[i] - after[i]) > MOVED_PLACES for i in both)
    assert shown.changed == sum(before[i] != after[i] for i in both)
    assert (shown.ranked_before, shown.ranked_after) == (len(before), len(after))
    assert shown.approximate == 0 and not shown.cached  # the transaction wrote: no cache


def test_the_listed_order_and_scores_are_the_rankings(conn, world):
    draft = definition_from_form(world, {"weight.size": "100", "weight.availability": "2.5"})
    shown = preview(conn, world, draft.profile, top=20)
    listed = ranking(conn, saved(conn, world, draft), limit=20)
    assert [(r.parcel_id, r.rank, r.local_ref, r.score) for r in shown.after] == [
        (str(r["parcel_id"]), r["rank"], r["local_ref"], r["score"]) for r in listed
    ]
    assert shown.moved > 0  # size now dominates: some parcels move far


@pytest.mark.parametrize("method", ["weighted_sum", "topsis"])
def test_scores_equal_evaluate_on_the_same_raw_values(conn, world, method):
    reg, _ = register(conn)
    frame = load(conn, None)
    for weights in ({"size": 0.5, "availability": 0.5}, DEFINITION["criteria"], {"transit": 0.3, "abstand": 0.7}):
        definition = dict(DEFINITION, method=method, criteria=weights)
        profile = changed_profile(world, validate_definition(definition)[0])
        rows, ours = scores(profile, reg)
        subset = frame[frame["category"].isin(profile.categories)].reset_index(drop=True)
        engine = evaluate(profile, subset, indicators.loaded_layers(conn))
        assert list(reg.ids[rows]) == list(subset["parcel_id"].astype(str))
        np.testing.assert_array_equal(ours, engine.scores)  # bit for bit, NaN where excluded


def test_topsis_profiles_preview_as_they_are_scored(conn, world):
    topsis, _ = save_profile(conn, "test", "Test", "tests", dict(DEFINITION, method="topsis"), "t")
    score_profile(conn, topsis, "t")
    draft = definition_from_form(topsis, {"weight.size": "5", "weight.transit": "50"})
    shown = preview(conn, topsis, draft.profile, top=10)
    before = ranks_of(conn, topsis)
    new = saved(conn, topsis, draft)
    after = ranks_of(conn, new)
    assert [(r.parcel_id, r.rank) for r in shown.after] == listed(conn, new, 10)
    assert shown.moved == sum(abs(before[i] - after[i]) > MOVED_PLACES for i in set(before) & set(after))


def test_stale_indicators_are_computed_as_the_engine_would(conn, world):
    # a second station near the middle of the row: every stored indicator is now older than the layers
    conn.execute(
        text("""INSERT INTO context_feature (kind, source, geom)
                VALUES ('bahnhof', 'test', ST_SetSRID(ST_MakePoint(:x, :y), 25832))"""),
        {"x": X0 + 4000, "y": Y0 + 500},
    )
    assert len(indicators.stale_parcel_ids(conn)) == 60
    draft = definition_from_form(world, {"weight.rail_station": "80"})
    shown = preview(conn, world, draft.profile, top=20)
    assert shown.approximate == 0
    assert len(indicators.stale_parcel_ids(conn)) == 60  # nothing refreshed by the preview
    new = saved(conn, world, draft)  # the engine refreshes them first
    assert [(r.parcel_id, r.rank) for r in shown.after] == listed(conn, new, 20)


@pytest.mark.parametrize("method", ["weighted_sum", "topsis"])
def test_parcels_waiting_for_review_are_ranked_in_their_approved_version_as_the_ranking_ranks_them(
    conn, session, world, method
):
    """The ranking shows the version a reviewer approved of a parcel whose change waits (with its
    scores: landreg.scoring.approved); the preview ranks the same versions: one whose availability
    changed, one moved next to the flood zone, one being retired."""
    if method != world.method:
        world, _ = save_scored_profile(
            conn, world.name, world.title, world.purpose, DEFINITION | {"method": method}, "t"
        )
    top = ranking(conn, world, limit=3)
    first, second, third = (r["parcel_id"] for r in top)
    planner = Principal(None, "planung.do", "planner", (top[0]["ags"],))
    changes = [
        update_parcel(session, first, "planung.do", availability="nicht_verfuegbar", name="neu"),
        update_parcel(session, second, "planung.do", geom=shapely.box(X0 + 2100, Y0, X0 + 2200, Y0 + 100)),
    ]
    session.flush()
    review.record(conn, planner, [review.Change(c.id, c.version, "aenderung") for c in changes])
    retired = retire_parcel(session, third, "planung.do", "bebaut")
    session.flush()
    review.record(conn, planner, [review.Change(retired.id, retired.version, "stilllegung")])
    assert listed(conn, world, 3) == [(str(r["parcel_id"]), r["rank"]) for r in top]  # as approved
    draft = definition_from_form(world, {"weight.size": "30"})
    shown = preview(conn, world, draft.profile, top=60)
    if method == "weighted_sum":  # TOPSIS: the stored scores measure against the ideals of the last run
        assert [(r.parcel_id, r.rank) for r in shown.before] == listed(conn, world, 60)
    assert {r.parcel_id: r.name for r in shown.before}[str(first)] == top[0]["name"]  # not "neu"
    assert [(r.parcel_id, r.rank) for r in shown.after] == listed(conn, saved(conn, world, draft), 60)


def test_an_untouched_form_changes_nothing(conn, world):
    form = {f.weight.name: f.weight.value for f in editor_fields(world)}
    form |= {g.name: g.value for f in editor_fields(world) for g in f.function}
    form |= {"title": world.title, "purpose": world.purpose}
    draft = definition_from_form(world, form)
    assert draft.profile == world and draft.notes == []
    shown = preview(conn, world, draft.profile)
    assert shown.moved == shown.changed == 0 and [r.parcel_id for r in shown.after] == [
        r.parcel_id for r in shown.before
    ]
    _, notes = save_scored_profile(conn, "test", draft.title, draft.purpose, draft.definition, "t")
    assert notes == ["unchanged: still version 1"]


@pytest.mark.parametrize(
    "form, field",
    [
        ({"weight.size": "-5"}, "weight.size"),
        ({"weight.size": "NaN"}, "weight.size"),
        ({"weight.size": "inf"}, "weight.size"),
        ({"weight.size": "12.345"}, "weight.size"),  # too many decimals
        ({"weight.size": "100.5"}, "weight.size"),  # too large
        ({"weight.size": "1e3"}, "weight.size"),
        ({"weight.transit": ""}, "weight.transit"),
        ({"weight.transit": "9" * 5000}, "weight.transit"),
        ({"fn.size.best": "0.2"}, "fn.size.best"),  # worst and best must differ
        ({"fn.availability.value.kurzfristig": "1.5"}, "fn.availability.value.kurzfristig"),
        ({"fn.rail_station.worst": "2000000"}, "fn.rail_station.worst"),
        ({"weight.size": "１２"}, "weight.size"),  # digits, but not ASCII ones
        ({"title": " "}, "title"),
        ({"title": "Revitalisierung\x00"}, "title"),
        ({"purpose": "x" * 1001}, "purpose"),
        ({f"weight.{k}": "0" for k in DEFINITION["criteria"]}, "weight.restriction_class"),  # the first in the editor
    ],
)
def test_invalid_input_names_the_field(world, form, field):
    with pytest.raises(InvalidParameter) as refused:
        definition_from_form(world, form)
    assert refused.value.field == field and refused.value.args[0].startswith(field)
    assert editor_fields(world)[0].key == "restriction_class"  # the catalogue's order


def test_weights_are_percent_points_normalised_and_new_criteria_join(world):
    draft = definition_from_form(world, {"weight.size": "40", "weight.port": "10,5"})
    weights = draft.profile.weights
    assert set(weights) == set(DEFINITION["criteria"]) | {"port"}
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["size"] / weights["port"] == pytest.approx(40 / 10.5)
    assert weights["availability"] / weights["transit"] == pytest.approx(0.2 / 0.15)
    assert "normalised" in draft.notes[0]


def test_the_preview_reads_only_and_works_in_a_read_only_transaction(committed_db):
    with Session(committed_db) as session:
        build_register(session, n=30)
        session.commit()
    with committed_db.begin() as conn:
        profile, _ = save_profile(conn, "test", "Test", "tests", DEFINITION, "t")
    recompute(committed_db, "t", "test")
    forget()
    counts = _counts(committed_db)
    with committed_db.connect() as conn:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        draft = definition_from_form(profile, {"weight.size": "90"})
        first = preview(conn, profile, draft.profile)
        again = preview(conn, profile, definition_from_form(profile, {"weight.size": "10"}).profile)
        conn.rollback()
    assert not first.cached and again.cached  # the second reads the columns kept from the first
    assert _counts(committed_db) == counts
    assert first.after and first.after != first.before


def test_kept_values_follow_every_committed_change(committed_db):
    with Session(committed_db) as session:
        build_register(session, n=20)
        session.commit()
    with committed_db.begin() as conn:
        profile, _ = save_profile(conn, "test", "Test", "tests", DEFINITION, "t")
    recompute(committed_db, "t", "test")
    forget()
    draft = definition_from_form(profile, {"weight.size": "80"})

    def shown(top: int = 60):
        with committed_db.connect() as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            return preview(conn, profile, draft.profile, top=top)

    def engine_top(n: int = 60) -> list[tuple[str, int]]:
        with committed_db.connect() as conn:  # saved and scored, then rolled back
            return listed(conn, saved(conn, profile, draft), n)

    first = shown()
    assert not first.cached and first.refreshed is None
    again = shown()
    # nothing written since: the kept values as they were (0 parcels read again when another
    # transaction, e.g. autovacuum's ANALYZE of a table the scoring filled, moved the snapshot on)
    assert again.cached and again.refreshed in (None, 0) and again.after == first.after
    top = first.after[0].parcel_id
    with Session(committed_db) as session:  # the first parcel is made unattractive: it drops
        update_parcel(session, top, "t", availability="nicht_verfuegbar", restriction_class=2)
        session.commit()
    changed = shown()
    assert changed.cached and changed.refreshed == 1 and changed.after[0].parcel_id != top
    assert [(r.parcel_id, r.rank) for r in changed.after] == engine_top()
    with Session(committed_db) as session:  # a new parcel, and one retired
        build_register(session, n=1, seed=99, x=X0 + 20_000, features=False)
        retire_parcel(session, changed.after[1].parcel_id, "t", "bebaut")
        session.commit()
    grown = shown()
    assert grown.cached and grown.refreshed == 2
    assert [(r.parcel_id, r.rank) for r in grown.after] == engine_top()
    people(committed_db, nobody=("ministry",))  # a write elsewhere: nothing to read again
    unrelated = shown()
    assert unrelated.cached and unrelated.refreshed == 0
    with committed_db.begin() as conn:  # context layers changed: every indicator is stale, all read again
        conn.execute(
            text("""INSERT INTO context_feature (kind, source, geom)
                    VALUES ('bahnhof', 'test', ST_SetSRID(ST_MakePoint(:x, :y), 25832))"""),
            {"x": X0 + 4000, "y": Y0 + 500},
        )
    moved = shown()
    assert not moved.cached and [(r.parcel_id, r.rank) for r in moved.after] == engine_top()
    with committed_db.begin() as conn:  # rows gone (only TRUNCATE removes them): all read again
        conn.execute(text("TRUNCATE parcel CASCADE"))
    empty = shown()
    assert not empty.cached and empty.after == [] and empty.ranked_before == 0


def test_top_is_bounded(conn, world):
    for top in (0, 101, "5", True):
        with pytest.raises(InvalidParameter) as refused:
            preview(conn, world, world, top=top)
        assert refused.value.field == "top"


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES} | {
            "scored_at": str(conn.execute(text("SELECT max(computed_at) FROM parcel_score")).scalar()),
            "indicators_at": str(conn.execute(text("SELECT max(computed_at) FROM parcel_indicator")).scalar()),
        }


def test_current_profile_is_unchanged_by_previews(conn, world):
    preview(conn, world, definition_from_form(world, {"weight.size": "70"}).profile)
    assert current_profile(conn, "test") == world
