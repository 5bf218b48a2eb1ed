"""Indicators computed by a second process during a large import (:mod:`landreg.scoring.ahead`): the
values a full run would compute, adopted only for parcels whose geometry they were computed from,
under the context lock from the first computation to the adoption."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity
from sqlalchemy import text
from typer.testing import CliRunner

from landreg.importer import ImportOptions, import_file
from landreg.scoring import ensure_default_profiles, indicators, recompute
from landreg.scoring.ahead import IndicatorsAhead
from landreg.scoring.engine import INDICATORS_COMPUTED
from tests.helpers import database_url
from tests.test_indicators import PRODUCTS, X0, Y0, load

N = 60
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry(committed_db, tmp_path):
    """Dortmund's stations, stops, a port and a flood zone (committed: the second process sees them)."""
    rng = np.random.default_rng(7)
    points = [shapely.Point(X0 + dx, Y0 + dy) for dx, dy in rng.uniform(-3000, 3000, (60, 2))]
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
        load(conn, tmp_path, "bahnhoefe", "bahnhof", points[:5])
        load(
            conn, tmp_path, "haltestellen", "haltestelle", points[5:50], products=[PRODUCTS[i % 10] for i in range(45)]
        )
        load(conn, tmp_path, "haefen", "hafen", points[50:52])
        load(conn, tmp_path, "aue", "ueberschwemmungsgebiet", [p.buffer(700) for p in points[52:54]])
    return committed_db


def parcel_file(tmp_path, n: int = N):
    rng = np.random.default_rng(11)
    corners = rng.uniform(-2500, 2500, (n, 2))
    frame = gpd.GeoDataFrame(
        {"ref": [f"V-{i}" for i in range(n)], "category": ["gewerbeflaeche"] * n},
        geometry=[shapely.box(X0 + x, Y0 + y, X0 + x + 40 + i % 7, Y0 + y + 30) for i, (x, y) in enumerate(corners)],
        crs=25832,
    )
    path = tmp_path / "gewerbe.gpkg"
    frame.to_file(path)
    return path


def stored(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"""SELECT p.local_ref, i.parcel_version = p.version, {", ".join(f"i.{c}" for c in indicators.COLUMNS)}
                       FROM parcel p JOIN parcel_indicator i ON i.parcel_id = p.id""")
        )
        return {r[0]: tuple(r[1:]) for r in rows}


def by_definition(engine, monkeypatch) -> dict:
    """Every parcel's indicators computed again by the per-parcel definition (rolled back)."""
    monkeypatch.setattr(indicators, "BATCH", 10**9)
    with engine.connect() as conn, conn.begin() as transaction:
        ids = conn.execute(text("SELECT id FROM parcel")).scalars().all()
        indicators.compute(conn, ids)
        rows = conn.execute(
            text(f"""SELECT p.local_ref, i.parcel_version = p.version, {", ".join(f"i.{c}" for c in indicators.COLUMNS)}
                       FROM parcel p JOIN parcel_indicator i ON i.parcel_id = p.id""")
        )
        values = {r[0]: tuple(r[1:]) for r in rows}
        transaction.rollback()
    return values


def test_a_large_import_adopts_the_values_a_full_run_computes(registry, tmp_path, monkeypatch):
    """Streamed in batches of 7, computed in chunks of 15 (a grid each), adopted after the commit:
    every parcel has the values of the definition, as current ones, and the full run computes none."""
    ahead = IndicatorsAhead(registry, start_after=10, chunk=15)
    options = ImportOptions(actor="t", score_max=10, batch_size=7, ahead=ahead)
    with ahead:
        with registry.begin() as conn:
            report = import_file(conn, parcel_file(tmp_path), options)
        assert (report.inserted, report.unscored) == (N, N)
        assert ahead.adopt() == N, ahead.failure
    adopted = stored(registry)
    assert len(adopted) == N and all(row[0] for row in adopted.values())  # of the parcels' versions
    assert adopted == by_definition(registry, monkeypatch)
    values = np.array([row[1:] for row in adopted.values()], dtype=object)
    assert all(any(v is not None for v in column) for column in values.T[[0, 1, 3]])  # stations, stops, ports
    with registry.connect() as conn:
        assert indicators.stale_parcel_ids(conn) == []
    said = []
    recompute(registry, "t", progress=said.append)
    assert f"{INDICATORS_COMPUTED} 0 of {N}" in said


def test_only_a_parcel_with_the_same_geometry_takes_the_values(registry, tmp_path):
    """A geometry moved by a millimetre is another geometry, and a reference of no parcel adopts nothing."""
    fed = fed_rows(registry, tmp_path, 12)
    moved = shapely.set_srid(shapely.affinity.translate(shapely.from_wkb(fed[0][2]), 0.001, 0), 25832)
    fed[0] = (fed[0][0], fed[0][1], shapely.to_wkb(moved, include_srid=True))
    fed.append((fed[1][0], "nicht-im-register", fed[1][2]))
    with IndicatorsAhead(registry, start_after=0, chunk=5) as ahead:
        ahead.feed(fed)
        assert ahead.adopt() == 11, ahead.failure
    adopted = stored(registry)
    assert set(adopted) == {ref for _, ref, _ in fed[1:12]} and fed[0][1] not in adopted


def test_a_process_that_cannot_start_costs_the_import_nothing(registry, tmp_path, monkeypatch):
    """The second process cannot be started (no memory, no processes left): the import commits, the
    indicators are left to the full run, and why is kept."""

    def refused(self):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", refused)
    ahead = IndicatorsAhead(registry, start_after=10, chunk=15)
    with ahead:
        with registry.begin() as conn:
            report = import_file(
                conn, parcel_file(tmp_path), ImportOptions(actor="t", score_max=10, batch_size=7, ahead=ahead)
            )
        assert (report.status, report.inserted, report.unscored) == ("committed", N, N)
        assert ahead.stopped and "Resource temporarily unavailable" in ahead.failure
        assert ahead.adopt() == 0
    assert stored(registry) == {}
    said = []
    recompute(registry, "t", progress=said.append)
    assert f"{INDICATORS_COMPUTED} {N} of {N}" in said


def exclusive_free(engine) -> bool:
    """Whether a change of a context layer could take its lock now."""
    with engine.connect() as conn:
        free = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": indicators.CONTEXT_LOCK}).scalar_one()
        if free:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": indicators.CONTEXT_LOCK})
        return free


def waits_for(engine, free: bool) -> bool:
    deadline = time.monotonic() + 60
    while exclusive_free(engine) != free:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def fed_rows(engine, tmp_path, n: int = 5) -> list[tuple]:
    with engine.begin() as conn:
        import_file(conn, parcel_file(tmp_path, n), ImportOptions(actor="t", score=False))
        rows = conn.execute(text("SELECT ags, local_ref, ST_AsEWKB(geom) FROM parcel")).all()
    return [(a, r, bytes(g)) for a, r, g in rows]


def test_the_context_lock_is_held_from_the_start_to_the_adoption(registry, tmp_path):
    """While the process computes and until it has adopted, a change of a context layer waits (it
    would make the values stale between computation and adoption); then, or when discarded, it may."""
    rows = fed_rows(registry, tmp_path)
    with IndicatorsAhead(registry, start_after=0, chunk=2) as ahead:
        ahead.feed(rows)
        ahead.finish()
        assert waits_for(registry, free=False)  # the process took the lock (shared): an exclusive one waits
        assert ahead.adopt() == 5, ahead.failure
        assert waits_for(registry, free=True)
    with IndicatorsAhead(registry, start_after=0) as ahead:
        ahead.feed(rows)
        assert waits_for(registry, free=False)
        ahead.discard()
        assert waits_for(registry, free=True)


ORPHAN = """
import sys, time
from landreg.db import make_engine
from landreg.scoring.ahead import IndicatorsAhead

if __name__ == "__main__":
    ahead = IndicatorsAhead(make_engine(sys.argv[1]), start_after=0)
    ahead.feed([(ags, ref, bytes.fromhex(wkb)) for ags, ref, wkb in (line.split() for line in sys.stdin)])
    time.sleep(600)
"""


def test_a_killed_importer_leaves_no_process_holding_the_lock(registry, tmp_path):
    """An importer killed outright (SIGKILL, the OOM killer) cleans nothing up: its second process
    notices within seconds and ends, and its session, lock and tables with it."""
    rows = fed_rows(registry, tmp_path)
    script = tmp_path / "importer.py"
    script.write_text(ORPHAN)
    importer = subprocess.Popen(
        [sys.executable, str(script), database_url(registry)], stdin=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        importer.stdin.write("".join(f"{a} {r} {g.hex()}\n" for a, r, g in rows))
        importer.stdin.close()
        assert waits_for(registry, free=False)
    finally:
        importer.kill()
        importer.wait()
    assert waits_for(registry, free=True)
    with registry.connect() as conn:
        left = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'landreg-indicators-ahead'"
        deadline = time.monotonic() + 30
        while conn.execute(text(left)).scalar_one() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert conn.execute(text(left)).scalar_one() == 0


def test_the_command_line_says_what_it_adopted_and_scores_everything(registry, tmp_path, monkeypatch):
    from landreg import cli
    from landreg.settings import get_settings

    monkeypatch.setattr(cli, "SCORE_IN_IMPORT_MAX", 5)
    monkeypatch.setenv("LANDREG_DATABASE_URL", database_url(registry))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.commands(), ["import", str(parcel_file(tmp_path, 20)), "--actor", "t"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "indicators of 20 parcels computed during the import" in result.output
    with registry.connect() as conn:
        unscored = conn.execute(
            text("""SELECT count(*) FROM parcel p WHERE NOT EXISTS (
                      SELECT FROM parcel_score s WHERE s.parcel_id = p.id AND s.parcel_version = p.version)""")
        ).scalar_one()
    assert unscored == 0
