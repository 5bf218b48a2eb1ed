"""Storing a profile's scores: replaced in place, the same rows as deleting all and inserting anew."""

from __future__ import annotations

import dataclasses
import math
import time
import uuid

import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from landreg.parcels import create_parcel, update_parcel
from landreg.scoring import indicators
from landreg.scoring.criteria import normalise
from landreg.scoring.engine import Evaluation, PublicVariant, _normalised, _replace, _store, score_profile
from landreg.scoring.profiles import save_profile
from tests.helpers import DORTMUND_REINOLDIKIRCHE, squares_in_dortmund, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


def test_a_table_is_normalised_once_per_code_with_the_values_of_each_one():
    spec = {"type": "table", "values": {"0": 1.0, "1": 0.6, "2": 0.0, "kurzfristig": 1.0}}
    raw = np.array([0, 1.0, "2", None, math.nan, 2, "kurzfristig", "x", np.int64(1), 2.0, None], dtype=object)
    assert np.array_equal(_normalised(spec, raw), normalise(spec, raw), equal_nan=True)
    assert _normalised(spec, np.array([], dtype=object)).shape == (0,)
    linear = {"type": "linear", "worst": 0.0, "best": 10.0}
    values = np.array([0.0, 5.0, math.nan, 12.0])
    assert np.array_equal(_normalised(linear, values), normalise(linear, values), equal_nan=True)


def rows(conn, profile_id) -> dict:
    result = conn.execute(
        text("""
        SELECT p.local_ref, s.parcel_version, s.score, s.coverage, s.excluded_by, s.public_score,
               s.public_excluded_by, s.computed_at
          FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id WHERE s.profile_id = :p
    """),
        {"p": profile_id},
    )
    return {r[0]: tuple(r[1:]) for r in result}


def test_a_full_run_replaces_the_profiles_scores(conn, session):
    ids = {}
    for n, (availability, restriction) in enumerate([("kurzfristig", 0), ("mittelfristig", 1), ("langfristig", 2)]):
        geom = shapely.box(X0 + 300 * n, Y0, X0 + 300 * n + 100 + 50 * n, Y0 + 100)
        created = create_parcel(
            session, "t", local_ref=f"S{n}", category="gewerbeflaeche", geom=geom,
            availability=availability, restriction_class=restriction,
        )  # fmt: skip
        ids[f"S{n}"] = created.id
    session.flush()
    criteria = {"availability": 0.5, "restriction_class": 0.3, "size": 0.2}
    profile, _ = save_profile(
        conn, "store", "Store", "t", {"criteria": criteria, "categories": ["gewerbeflaeche"]}, "t"
    )
    first = score_profile(conn, profile, "t")
    before = rows(conn, profile.id)
    assert set(before) == {"S0", "S1", "S2"}
    expected = dict(zip(first.frame["parcel_id"].astype(str), np.round(first.scores, 6), strict=True))
    assert {ref: before[ref][1] for ref in before} == pytest.approx({r: expected[str(ids[r])] for r in before})

    # S2 leaves the profile's categories, S1 changes, S3 is new: removed, updated, added
    update_parcel(session, ids["S2"], "t", category="bauluecke")
    update_parcel(session, ids["S1"], "t", availability="kurzfristig")
    create_parcel(
        session, "t", local_ref="S3", category="gewerbeflaeche", geom=shapely.box(X0, Y0 + 500, X0 + 80, Y0 + 580),
        availability="kurzfristig", restriction_class=0,
    )  # fmt: skip
    session.flush()
    second = score_profile(conn, profile, "t")
    after = rows(conn, profile.id)
    assert set(after) == {"S0", "S1", "S3"}
    assert after["S1"][0] == before["S1"][0] + 1 and after["S1"][1] > before["S1"][1]  # the new version, better
    assert after["S0"][6] > before["S0"][6]  # rewritten: computed now
    by_id = dict(zip(second.frame["parcel_id"].astype(str), np.round(second.scores, 6), strict=True))
    refs = {str(v): k for k, v in ids.items()}
    assert {refs.get(pid, "S3"): score for pid, score in by_id.items()} == pytest.approx(
        {ref: after[ref][1] for ref in after}
    )
    # the same rows as a fresh start: delete all, score again
    conn.execute(text("DELETE FROM parcel_score WHERE profile_id = :p"), {"p": profile.id})
    score_profile(conn, profile, "t")
    fresh = rows(conn, profile.id)
    assert {k: v[:6] for k, v in fresh.items()} == {k: v[:6] for k, v in after.items()}


def test_a_score_names_a_profile_that_exists_and_profile_versions_stay(conn):
    """What the foreign key to the profiles guaranteed, checked once per statement (migration 0035):
    no score of an unknown profile, by INSERT, COPY or UPDATE; no profile version deleted or renumbered."""
    profile, _ = save_profile(conn, "kept", "Kept", "t", {"criteria": {"size": 1.0}}, "t")
    unknown = profile.id + 1000
    parcel = uuid.uuid4()

    def refused(sql: str, **params) -> str:
        with pytest.raises(DBAPIError) as caught, conn.begin_nested():
            conn.execute(text(sql), params)
        return caught.value.orig.sqlstate

    insert = "INSERT INTO parcel_score (parcel_id, profile_id, parcel_version, coverage) VALUES (:id, :p, 1, 1)"
    assert refused(insert, id=parcel, p=unknown) == "23503"  # foreign_key_violation, as the key said
    evaluation = _evaluation(profile, [parcel], 50.0)
    evaluation.profile = dataclasses.replace(profile, id=unknown)
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match=f"scoring profile {unknown}"), conn.begin_nested():
        _store(conn, evaluation)  # COPY, a full run's way
    conn.execute(text(insert), {"id": parcel, "p": profile.id})  # a known one is written
    assert refused("UPDATE parcel_score SET profile_id = :p WHERE parcel_id = :id", id=parcel, p=unknown) == "23503"
    conn.execute(
        text("UPDATE parcel_score SET score = 40 WHERE parcel_id = :id"), {"id": parcel}
    )  # other columns: free
    assert refused("DELETE FROM scoring_profile WHERE id = :p", p=profile.id) == "23001"  # restrict_violation
    assert refused("UPDATE scoring_profile SET id = DEFAULT WHERE id = :p", p=profile.id) == "23001"
    assert conn.execute(text("SELECT score FROM parcel_score WHERE parcel_id = :id"), {"id": parcel}).scalar_one() == 40


def test_a_truncate_of_the_profiles_takes_their_scores_along(committed_db):
    with committed_db.begin() as conn:
        profile, _ = save_profile(conn, "gone", "Gone", "t", {"criteria": {"size": 1.0}}, "t")
        conn.execute(
            text("INSERT INTO parcel_score (parcel_id, profile_id, parcel_version, coverage) VALUES (:id, :p, 1, 1)"),
            {"id": uuid.uuid4(), "p": profile.id},
        )
    with committed_db.begin() as conn:
        conn.execute(text("TRUNCATE scoring_profile CASCADE"))
        assert conn.execute(text("SELECT count(*) FROM parcel_score")).scalar_one() == 0


def _evaluation(profile, parcel_ids: list, score: float) -> Evaluation:
    """Scores of these (made-up) parcels under the profile: all ``score``, none excluded."""
    n = len(parcel_ids)
    frame = pd.DataFrame({"parcel_id": parcel_ids, "parcel_version": np.ones(n, dtype=int)})
    scores, nothing = np.full(n, score), [[] for _ in range(n)]
    empty = np.empty((n, 0))
    return Evaluation(profile, frame, [], empty, np.array([]), scores, np.ones(n), nothing,
                      public=PublicVariant(scores, nothing, np.ones(n)))  # fmt: skip


def test_scores_replace_in_linear_time_whatever_the_statistics_say(committed_db):
    """After the scores were emptied and the table vacuumed, the planner takes ``parcel_score`` for
    empty: probed once per staged row, scanning all rows added so far, 60,000 scores ran into the
    20 s timeout (1M: not done after 14 minutes). Staged and merged again before any ANALYZE, the
    stored ones are then there but not counted."""
    with committed_db.begin() as conn:
        profile, _ = save_profile(conn, "linear", "Linear", "t", {"criteria": {"size": 1.0}}, "t")
    with committed_db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DELETE FROM parcel_score"))
        conn.execute(text("VACUUM ANALYZE parcel_score"))
        # autovacuum must not analyse the first round's rows before the second round
        conn.execute(text("ALTER TABLE parcel_score SET (autovacuum_enabled = false)"))
    first = [str(uuid.uuid4()) for _ in range(60_000)]
    second = first[20_000:] + [str(uuid.uuid4()) for _ in range(20_000)]  # 20,000 gone, 40,000 kept, 20,000 new
    try:
        for ids, score in ((first, 10.0), (second, 20.0)):
            with committed_db.begin() as conn:
                conn.execute(text("SET LOCAL statement_timeout = '20s'"))  # several minutes with the probing plan
                started = time.perf_counter()
                _replace(conn, _evaluation(profile, ids, score))
                elapsed = time.perf_counter() - started
            with committed_db.connect() as conn:
                stored = dict(
                    conn.execute(
                        text("SELECT parcel_id::text, score FROM parcel_score WHERE profile_id = :p"),
                        {"p": profile.id},
                    ).all()
                )
            assert stored == dict.fromkeys(ids, score)
            assert elapsed < 20
    finally:
        with committed_db.begin() as conn:
            conn.execute(text("ALTER TABLE parcel_score RESET (autovacuum_enabled)"))


def test_stored_scores_are_the_computed_ones_rounded_to_six_places_and_missing_ones_null(conn):
    profile, _ = save_profile(conn, "exact", "Exact", "t", {"criteria": {"size": 1.0}}, "t")
    ids = [str(uuid.uuid4()) for _ in range(5)]
    scores = np.array([12.345678949, math.nan, 1e-7, 100.0, 2 / 3])
    excluded = [[], ["owner_objection"], [], ["flood_zone", "protected_area"], []]
    public = np.array([12.3456784, math.nan, math.nan, 0.0, 1 / 3])
    frame = pd.DataFrame({"parcel_id": [uuid.UUID(i) for i in ids], "parcel_version": [1, 2, 3, 4, 5]})
    evaluation = Evaluation(
        profile, frame, [], np.empty((5, 0)), np.array([]), scores, np.array([1.0, 0.5, 0.25, 1.0, 0.75]), excluded,
        public=PublicVariant(public, [[], [], ["owner_objection"], [], []], np.array([0.5, 0.5, 0.25, 1.0, 0.5])),
    )  # fmt: skip
    conn.execute(text("CREATE TEMP TABLE stored (LIKE parcel_score INCLUDING DEFAULTS)"))
    _store(conn, evaluation, "stored")
    rows = conn.execute(
        text("""SELECT parcel_id::text, profile_id, parcel_version, score, coverage, excluded_by, public_score,
                       public_excluded_by, public_coverage FROM stored""")
    ).all()
    expected = {
        ids[0]: (profile.id, 1, 12.345679, 1.0, [], 12.345678, [], 0.5),
        ids[1]: (profile.id, 2, None, 0.5, ["owner_objection"], None, [], 0.5),
        ids[2]: (profile.id, 3, 0.0, 0.25, [], None, ["owner_objection"], 0.25),
        ids[3]: (profile.id, 4, 100.0, 1.0, ["flood_zone", "protected_area"], 0.0, [], 1.0),
        ids[4]: (profile.id, 5, 0.666667, 0.75, [], 0.333333, [], 0.5),
    }
    assert {r[0]: tuple(r[1:]) for r in rows} == expected


def test_a_full_run_writes_the_new_indicators_and_scores_beside_the_old_ones(conn):
    """A full run rewrites every indicator and score. Their tables keep room on each page (fill
    factor 50, migration 0038), so the new version of a row goes on the old one's page without a
    new index entry (a HOT update): on the 1M bench register a run computing every indicator again
    took 60.5 s instead of 67.6 s. Packed pages (PostgreSQL's default) moved nearly every row."""
    squares_in_dortmund(conn, 2_000, "F-", (X0 - 2_000, Y0 - 2_000))
    profile, _ = save_profile(conn, "beside", "Beside", "t", {"criteria": {"size": 1.0}}, "t")

    def updates() -> dict[str, np.ndarray]:
        """Rows updated, and of them HOT, per table (counted by the backend, this transaction's included)."""
        counted = conn.execute(
            text("""SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables
                     WHERE relname IN ('parcel_indicator', 'parcel_score')""")
        )
        return {name: np.array([updated, hot]) for name, updated, hot in counted}

    indicators.compute(conn)  # the first run adds the rows
    score_profile(conn, profile, "t")
    before = updates()
    indicators.compute(conn)  # the second rewrites them
    score_profile(conn, profile, "t")
    after = updates()
    parcels = conn.execute(text("SELECT count(*) FROM parcel WHERE retired_at IS NULL")).scalar_one()
    assert {name: list(after[name] - before[name]) for name in after} == {
        "parcel_indicator": [parcels, parcels],
        "parcel_score": [parcels, parcels],
    }
