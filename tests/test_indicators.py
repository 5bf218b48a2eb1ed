"""Indicators: the batch route (stops' service once, the coverage grid) gives the values of the
per-parcel definition, and both agree with an independent computation in shapely."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from landreg import context
from landreg.parcels import create_parcel
from landreg.scoring import indicators, recompute
from landreg.scoring.engine import INDICATORS_COMPUTED, score_profile
from landreg.scoring.profiles import save_profile
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND = "05913000"
META = context.Metadata("Test, erfunden", "CC0 1.0")
PRODUCTS = ["bus", "bus,taxi", "", "tram", "subway", "regional", "taxi", "suburban,bus", "tram,bus", "ice"]


def service(products: str) -> float:
    """The service level as the module docstring states it (rail 1, subway/tram 0.8, bus 0.5, on demand 0.2)."""
    for pattern, level in (("regional|suburban|national|ice|ic", 1.0), ("subway|tram", 0.8), ("bus", 0.5)):
        if re.search(pattern, products):
            return level
    return 0.2 if "taxi" in products else 0.3


def load(conn, tmp_path, name, kind, geometries, **columns):
    import geopandas as gpd

    path = tmp_path / f"{name}.gpkg"
    gpd.GeoDataFrame(columns, geometry=list(geometries), crs=25832).to_file(path)
    coverage = context.Coverage(ags=(DORTMUND,))
    return context.load(conn, "test", name, context.read_features(path, kind), META, coverage)


@pytest.fixture
def region(conn, session, tmp_path):
    """Parcels in and around Dortmund (many near its edge), stations, stops and ports of Dortmund."""
    wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM municipality WHERE ags = :a"), {"a": DORTMUND})
    dortmund = shapely.from_wkb(bytes(wkb.scalar_one()))
    rng = np.random.default_rng(19)
    corners = [shapely.Point(X0 + dx, Y0 + dy) for dx, dy in rng.uniform(-11_000, 11_000, (140, 2))]
    # and along the edge: 40 points within 1.5 km of it, on either side
    edge = dortmund.boundary
    for f, off in zip(rng.uniform(0, 1, 40), rng.uniform(-1500, 1500, 40), strict=True):
        on = edge.interpolate(f, normalized=True)
        corners.append(shapely.Point(on.x + off * 0.7, on.y + off * 0.7))
    ids = []
    for n, corner in enumerate(corners):
        w, h = rng.uniform(20, 250, 2)
        parcel = shapely.box(corner.x, corner.y, corner.x + w, corner.y + h)
        try:
            with session.begin_nested():
                created = create_parcel(session, "t", local_ref=f"P{n}", category="gewerbeflaeche", geom=parcel)
                session.flush()
        except Exception:  # outside NRW's municipalities: not a parcel of the registry
            continue
        ids.append(str(created.id))
    inside = [p for p in (shapely.Point(X0 + dx, Y0 + dy) for dx, dy in rng.uniform(-9000, 9000, (200, 2)))
              if dortmund.contains(p)]  # fmt: skip
    load(conn, tmp_path, "bahnhoefe", "bahnhof", inside[:12])
    stops = inside[12:90]
    load(conn, tmp_path, "haltestellen", "haltestelle", stops, products=[PRODUCTS[i % 10] for i in range(len(stops))])
    load(conn, tmp_path, "haefen", "hafen", inside[90:98])
    load(conn, tmp_path, "aue", "ueberschwemmungsgebiet", [p.buffer(600) for p in inside[98:101]])
    return {"ids": ids, "dortmund": dortmund, "stops": stops, "stations": inside[:12]}


def stored(conn, ids) -> dict:
    rows = conn.execute(
        text(
            f"SELECT parcel_id::text, {', '.join(indicators.COLUMNS)} FROM parcel_indicator WHERE parcel_id = ANY(:ids)"
        ),
        {"ids": ids},
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def nearest_named_by_cell(conn, ids) -> dict:
    """{kind: parcels whose cell names their nearest feature} for the stations and ports, as the
    batch route decides it (its grid built again: cached, the same)."""
    joins, grid, _ = indicators._batch_tables(
        conn, indicators.loaded_layers(conn), "parcel p WHERE p.id = ANY(:ids)", {"ids": ids}
    )
    named = ", ".join(
        f"count(*) FILTER (WHERE cell_{k}.feature_max < cell_{k}.others_min - p.spread) AS {k}"
        for k in ("bahnhof", "hafen")
    )
    row = conn.execute(
        text(f"""SELECT {named} FROM (SELECT p.id, {indicators._PARCEL_CELL} FROM parcel p
                   CROSS JOIN LATERAL (SELECT ST_PointOnSurface(p.geom) AS pos) s WHERE p.id = ANY(:ids)) p {joins}"""),
        {"ids": ids} | grid,
    )
    return dict(row.mappings().one())


def test_the_batch_route_gives_the_values_of_the_definition(conn, region, monkeypatch):
    ids = region["ids"]
    assert len(ids) > 150
    monkeypatch.setattr(indicators, "BATCH", 10**9)  # the definition: every test on the layers, per parcel
    assert indicators.compute(conn, ids) == len(ids)
    by_definition = stored(conn, ids)
    named = {}
    for cells in (40_000, 50):  # a fine grid settles most parcels, a coarse one leaves many to the layers
        monkeypatch.setattr(indicators, "BATCH", 1)
        monkeypatch.setattr(indicators, "GRID_CELLS", cells)
        indicators._grid.cache_clear()
        conn.execute(
            text("UPDATE parcel_indicator SET dist_rail_station_m = -1, transit_access = -1, dist_port_m = -1")
        )
        assert indicators.compute(conn, ids) == len(ids)
        assert stored(conn, ids) == by_definition
        states = dict(conn.execute(text("SELECT coalesce(state, '?'), count(*) FROM indicator_cell GROUP BY 1")).all())
        assert states.get("in") and states.get("out") and states.get("?")  # all three ways were taken
        named[cells] = nearest_named_by_cell(conn, ids)
    # the fine grid names the nearest station and port of some parcels and leaves the others to the search
    assert all(0 < n < len(ids) for n in named[40_000].values()), named
    values = list(by_definition.values())
    for column in (0, 1, 3):  # stations, stops, ports: known and unknown values alike
        known = sum(v[column] is not None for v in values)
        assert 15 < known < len(values) - 15, (column, known, len(values))


def test_a_full_run_leaves_the_indicators_an_edit_stored_for_a_newer_version(conn, region, monkeypatch):
    """An edit that commits while a full run computes stores its parcel's indicators for the new
    version; the run, which read the parcel before, does not put its older values back. (The edit's
    row is made here by raising a stored row's version: the run reads the version it had.)"""
    ids = region["ids"]
    monkeypatch.setattr(indicators, "BATCH", 1)
    assert indicators.compute(conn, ids) == len(ids)
    edited, others = ids[0], ids[1:]
    conn.execute(
        text(
            "UPDATE parcel_indicator SET parcel_version = parcel_version + 1, dist_rail_station_m = -7 WHERE parcel_id = :id"
        ),
        {"id": edited},
    )
    before = stored(conn, others)
    conn.execute(text("UPDATE parcel_indicator SET dist_rail_station_m = -1 WHERE parcel_id <> :id"), {"id": edited})
    assert indicators.compute(conn, ids) == len(ids)
    assert stored(conn, others) == before  # computed again, and stored
    assert conn.execute(
        text(
            "SELECT i.parcel_version - p.version, i.dist_rail_station_m FROM parcel_indicator i JOIN parcel p ON p.id = i.parcel_id WHERE p.id = :id"
        ),
        {"id": edited},
    ).one() == (1, -7)


def test_the_values_agree_with_shapely(conn, region):
    ids, dortmund = region["ids"], region["dortmund"]
    indicators.compute(conn, shard=None, parcel_ids=None)  # a full run: the batch route
    values = stored(conn, ids)
    rows = conn.execute(text("SELECT id::text, ST_AsBinary(geom) FROM parcel WHERE id = ANY(:ids)"), {"ids": ids})
    geoms = {i: shapely.from_wkb(bytes(g)) for i, g in rows}
    stations, stops = shapely.MultiPoint(region["stations"]), np.array(region["stops"])
    levels = np.array([service(PRODUCTS[i % 10]) for i in range(len(stops))])
    checked = {"rail": 0, "transit": 0, "unknown": 0}
    for pid, geom in geoms.items():
        rail, transit = values[pid][0], values[pid][1]
        edge = dortmund.boundary.distance(geom)
        d = geom.distance(stations)
        if dortmund.contains(geom) and edge > d + 1:
            assert rail == pytest.approx(d, abs=1e-6)
            checked["rail"] += 1
        elif not dortmund.intersects(geom) or edge < d - 1:
            assert rail is None
            checked["unknown"] += 1
        if dortmund.contains(geom) and edge > indicators.TRANSIT_RADIUS_M + 1:
            dist = shapely.distance(geom, stops)
            near = np.argsort(dist)[: indicators.TRANSIT_CANDIDATES]
            best = np.max(levels[near] * np.maximum(0, 1 - dist[near] / indicators.TRANSIT_RADIUS_M))
            assert transit == pytest.approx(best, abs=1e-9)
            checked["transit"] += 1
    assert min(checked.values()) > 10, checked


def test_a_small_batch_takes_the_definition(conn, region, monkeypatch):
    """Re-scoring an edited parcel builds no batch tables (they would cost more than they save)."""
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.indicator_cell"))
    indicators.compute(conn, region["ids"][:3])
    assert conn.execute(text("SELECT to_regclass('pg_temp.indicator_cell')")).scalar() is None


def test_among_equally_near_stops_the_better_served_count(conn, session, tmp_path, monkeypatch):
    """Stops inside one parcel (all 0 m away): the eight that count are chosen by the rule (the
    better served first), not by the index's order, on both routes; only the rail stop gives 1.0."""
    parcel = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
    with session.begin_nested():
        created = create_parcel(session, "t", local_ref="T", category="gewerbeflaeche", geom=parcel)
        session.flush()
    points = [shapely.Point(X0 + 5 + 6 * (i % 30), Y0 + 5 + 6 * (i // 30)) for i in range(900)]
    products = ["bus"] * 899 + ["regional"]  # one rail stop among 900 bus stops, all 0 m away
    load(conn, tmp_path, "haltestellen", "haltestelle", points, products=products)
    for batch in (10**9, 1):
        monkeypatch.setattr(indicators, "BATCH", batch)
        indicators.compute(conn, [str(created.id)])
        value = conn.execute(
            text("SELECT transit_access FROM parcel_indicator WHERE parcel_id = :id"), {"id": created.id}
        ).scalar_one()
        assert value == pytest.approx(1.0), f"BATCH={batch}"


def test_a_run_for_stale_indicators_computes_those_and_keeps_current_ones(conn, region, monkeypatch):
    """A full scoring run computes only indicators that are not current: missing, of an older parcel
    version, from before a context layer changed, or by another definition. A current row is kept as
    stored (here a planted wrong value shows that it was not computed again)."""
    ids = region["ids"]
    indicators.compute(conn, ids)
    truth = stored(conn, ids)
    older_version, other_definition, before_change, missing, current = [i for i in ids if truth[i][0] is not None][:5]
    stale = {older_version, other_definition, before_change, missing}
    for batch in (10**9, 1):  # per parcel and the batch route
        monkeypatch.setattr(indicators, "BATCH", batch)
        planted = [older_version, other_definition, before_change, current]
        conn.execute(
            text("UPDATE parcel_indicator SET dist_rail_station_m = -1 WHERE parcel_id = ANY(:ids)"), {"ids": planted}
        )
        for sql, parcel in (
            ("UPDATE parcel_indicator SET parcel_version = parcel_version - 1 WHERE parcel_id = :id", older_version),
            ("UPDATE parcel_indicator SET definition = 'an older release' WHERE parcel_id = :id", other_definition),
            (
                """UPDATE parcel_indicator SET computed_at = (SELECT changed_at FROM context_state) - interval '1 s'
                    WHERE parcel_id = :id""",
                before_change,
            ),
            ("DELETE FROM parcel_indicator WHERE parcel_id = :id", missing),
        ):
            conn.execute(text(sql), {"id": parcel})
        assert {str(i) for i in indicators.stale_parcel_ids(conn, ids)} == stale
        assert indicators.compute(conn, ids, stale_only=True) == len(stale)
        again = stored(conn, ids)
        assert {i: again[i] for i in ids if i != current} == {i: truth[i] for i in ids if i != current}
        assert again[current][0] == -1  # kept as stored
        assert indicators.stale_parcel_ids(conn, ids) == []
        assert indicators.compute(conn, ids) == len(ids)  # every one: the planted value is gone
        assert stored(conn, ids) == truth
    # a row from before fingerprints were kept is stale too, also for a change of a context layer
    conn.execute(text("UPDATE parcel_indicator SET definition = NULL WHERE parcel_id = :id"), {"id": current})
    assert [str(i) for i in indicators.stale_parcel_ids(conn, ids)] == [current]
    since = conn.execute(text("SELECT changed_at FROM context_state")).scalar_one()
    assert [str(i) for i in indicators.differing(conn, ["bahnhof"], "true", since)] == [current]


def test_the_fingerprint_follows_the_definition(monkeypatch):
    """Another radius of the transit search (inside the SQL), another slack of the batch route's grid
    or another revision of its Python side is another definition; the same module gives the same
    fingerprint, in other processes too (another hash seed: no salt)."""
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", "from landreg.scoring.indicators import DEFINITION; print(DEFINITION)"],
            env=os.environ | {"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert other.stdout.strip() == indicators.DEFINITION == indicators.fingerprint()
    for name, value in (
        ("TRANSIT_RADIUS_M", indicators.TRANSIT_RADIUS_M + 1),
        ("GRID_SLACK", indicators.GRID_SLACK * 2),
        ("REVISION", indicators.REVISION + 1),
    ):
        with monkeypatch.context() as patched:
            patched.setattr(indicators, name, value)
            assert indicators.fingerprint() != indicators.DEFINITION, name


def test_a_full_run_scores_with_current_indicators_and_computes_only_the_others(committed_db, tmp_path):
    """``landreg score`` keeps the current indicators (and scores with them); with ``--all-indicators``
    (``all_indicators``) it computes every one again."""
    with Session(committed_db) as session:
        ids = [
            str(create_parcel(session, "t", local_ref=f"F{n}", category="gewerbeflaeche",
                              geom=shapely.box(X0 + 300 * n, Y0, X0 + 300 * n + 100, Y0 + 100)).id)
            for n in range(6)
        ]  # fmt: skip
        session.commit()
    with committed_db.begin() as conn:
        load(conn, tmp_path, "bahnhoefe", "bahnhof", [shapely.Point(X0 - 500, Y0 + 50)])
        rail = {"criteria": {"rail_station": 1.0}, "categories": ["gewerbeflaeche"]}
        profile, _ = save_profile(conn, "rail", "Rail", "t", rail, "t")

    def run(**options) -> tuple[list[str], dict, dict]:
        said: list[str] = []
        recompute(committed_db, "t", progress=said.append, **options)
        with committed_db.connect() as conn:
            distances = dict(
                conn.execute(text("SELECT parcel_id::text, dist_rail_station_m FROM parcel_indicator")).all()
            )
            scores = dict(
                conn.execute(
                    text("SELECT parcel_id::text, score FROM parcel_score WHERE profile_id = :p"), {"p": profile.id}
                ).all()
            )
        return [s for s in said if s.startswith(INDICATORS_COMPUTED)], distances, scores

    counted, truth, scores = run()
    assert counted == [f"{INDICATORS_COMPUTED} 0 of 6"]  # loading the layer computed them all
    assert all(truth[i] > 400 for i in ids) and len(set(scores.values())) == 6
    older, current = ids[0], ids[1]
    with committed_db.begin() as conn:
        conn.execute(
            text("UPDATE parcel_indicator SET dist_rail_station_m = 0 WHERE parcel_id = ANY(:ids)"),
            {"ids": [older, current]},
        )
        conn.execute(text("UPDATE parcel_indicator SET definition = 'older' WHERE parcel_id = :id"), {"id": older})
    counted, distances, planted = run()
    assert counted == [f"{INDICATORS_COMPUTED} 1 of 6"]
    assert distances == truth | {current: 0.0}  # the older one computed again, the current one kept
    assert planted[current] > scores[current] and planted[older] == scores[older]  # scored as stored
    counted, distances, again = run(all_indicators=True)
    assert counted == [f"{INDICATORS_COMPUTED} 6 of 6"]
    assert (distances, again) == (truth, scores)


def test_a_change_of_a_context_layer_waits_for_a_full_run_and_for_computations_under_way(committed_db, tmp_path):
    """A change begun while indicators are computed would otherwise be missed by them: computed from
    the layers as they were, they are stored after the change and count as current."""
    with Session(committed_db) as session:
        parcel = str(create_parcel(session, "t", local_ref="W", category="gewerbeflaeche",
                                   geom=shapely.box(X0, Y0, X0 + 100, Y0 + 100)).id)  # fmt: skip
        session.commit()
    with committed_db.begin() as conn:
        rail, _ = save_profile(conn, "rail", "Rail", "t", {"criteria": {"rail_station": 1.0}}, "t")
        load(conn, tmp_path, "bahnhoefe-0", "bahnhof", [shapely.Point(X0 - 500, Y0)])
    # each change: a layer with a station farther away, which changes no value (and locks no row)
    stations = iter((f"bahnhoefe-{n}", shapely.Point(X0 - 2000 - 500 * n, Y0)) for n in range(1, 9))

    def change_waits() -> bool:
        """Whether loading a station layer (a change) has to wait: it is given 0.3 s."""
        try:
            with committed_db.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '300ms'"))
                name, station = next(stations)
                load(conn, tmp_path, name, "bahnhof", [station])
        except OperationalError as exc:
            assert "lock timeout" in str(exc)
            return True
        return False

    with committed_db.begin() as conn:  # an edit or import computing its parcels' indicators
        indicators.compute(conn, [parcel])
        assert change_waits()
    waited = []

    def progress(step: str) -> None:  # between the run's indicators and its scores
        if step == "reading parcels":
            waited.append(change_waits())

    recompute(committed_db, "t", progress=progress)
    assert waited == [True]
    assert not change_waits()  # nothing under way

    with committed_db.begin() as change:  # and a computation waits for a change under way
        indicators.hold_context(change, exclusive=True)
        with pytest.raises(OperationalError, match="lock timeout"), committed_db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '300ms'"))
            indicators.compute(conn, [parcel])
        with pytest.raises(OperationalError, match="lock timeout"), committed_db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '300ms'"))  # a saved profile's scoring, nothing stale
            score_profile(conn, rail, "t")


def test_a_change_asked_for_during_a_full_run_waits_for_it_and_the_run_goes_on(committed_db, tmp_path):
    """The run's connections must not queue behind the waiting change: the change waits for the run
    to end, and the run for them (the server sees no deadlock, the client waits for ever)."""
    with Session(committed_db) as session:
        create_parcel(
            session, "t", local_ref="Q", category="gewerbeflaeche", geom=shapely.box(X0, Y0, X0 + 90, Y0 + 90)
        )
        session.commit()
    with committed_db.begin() as conn:
        save_profile(conn, "rail", "Rail", "t", {"criteria": {"rail_station": 1.0}}, "t")
    outcome: list = []

    def change() -> None:
        try:
            with committed_db.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                load(conn, tmp_path, "bahnhoefe", "bahnhof", [shapely.Point(X0 - 700, Y0)])
            outcome.append("loaded")
        except OperationalError as exc:
            outcome.append(str(exc))

    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND NOT granted"
    changer = threading.Thread(target=change)

    def progress(step: str) -> None:
        if step == "indicators":  # before the shards: the change queues for the lock the run holds
            changer.start()
            deadline = time.monotonic() + 10
            with committed_db.connect() as conn:
                while not conn.execute(text(waiting), {"key": indicators.CONTEXT_LOCK}).scalar_one():
                    assert time.monotonic() < deadline, "the change never waited for the run"
                    time.sleep(0.02)

    started = time.monotonic()
    recompute(committed_db, "t", progress=progress)
    took = time.monotonic() - started
    changer.join(30)
    assert outcome == ["loaded"] and took < 15, (outcome, took)
