"""Scoring benchmark: `landreg score` against a straightforward geopandas version of the same criteria.

Both score the same parcels (generated, tessellating the RVR) against the real stations and the
14,567 real transit stops, under the same three default profiles, and write the scores back to
PostGIS. landreg runs three times: the first scoring of a register imported without it (the
indicators and scores are all new rows, each checked against its foreign key); a full rescoring
(``landreg score``) that replaces every stored score and keeps the indicators, which are current;
and one that computes every indicator again too (``--all-indicators``, as after an upgrade that
changes their definition). #19's goal (< 60 s at 1M) is given for both rescorings. The peer runs
once (it computes its distances each time and writes a new table); every row compares with it.
Also measured: re-scoring one edited parcel (the core's edit path), target < 50 ms.

    python bench/scoring_bench.py --size 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from common import VENV_BIN, BenchDatabase, Report, load_parcels, markdown_table, run_measured, vacuum
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg.db import make_engine
from landreg.parcels import update_parcel
from landreg.scoring.criteria import CATALOGUE, normalise
from landreg.scoring.methods import weighted_sum
from landreg.scoring.profiles import current_profiles

PEER = """
import sys, time
import geopandas as gpd, numpy as np, pandas as pd
from sqlalchemy import create_engine, text
sys.path.insert(0, {bench!r}); sys.path.insert(0, {root!r})
from scoring_bench import peer_scores
engine = create_engine({url!r})
peer_scores(engine)
"""


def peer_scores(engine) -> None:
    """The geopandas way: read everything, sjoin_nearest / sjoin dwithin, pandas arithmetic, write back."""
    parcels = gpd.read_postgis(
        """SELECT id, category, restriction_class, availability, contamination, ownership,
                                         owner_willing, planning_status, servicing, area_m2 / 10000.0 AS area_ha, geom
                                    FROM parcel WHERE retired_at IS NULL""",
        engine,
        geom_col="geom",
    )
    context = gpd.read_postgis(
        "SELECT kind, attributes->>'products' AS products, geom FROM context_feature", engine, geom_col="geom"
    )
    stations = context[context["kind"] == "bahnhof"][["geom"]]
    stops = context[context["kind"] == "haltestelle"].copy()
    stops["service"] = np.select(
        [
            stops["products"].str.contains("regional|suburban|national|ice|ic", na=False),
            stops["products"].str.contains("subway|tram", na=False),
            stops["products"].str.contains("bus", na=False),
            stops["products"].str.contains("taxi", na=False),
        ],
        [1.0, 0.8, 0.5, 0.2],
        0.3,
    )
    near = gpd.sjoin_nearest(parcels[["id", "geom"]], stations, distance_col="dist_rail_station_m")
    parcels = parcels.merge(near.drop_duplicates("id")[["id", "dist_rail_station_m"]], on="id", how="left")
    pairs = gpd.sjoin(parcels[["id", "geom"]], stops[["service", "geom"]], predicate="dwithin", distance=1000)
    stop_points = gpd.GeoSeries(stops.geometry.loc[pairs["index_right"]].to_numpy(), index=pairs.index, crs=stops.crs)
    pairs["d"] = pairs.geometry.distance(stop_points)
    pairs["access"] = pairs["service"] * (1 - pairs["d"] / 1000).clip(lower=0)
    parcels = parcels.merge(pairs.groupby("id")["access"].max().rename("transit_access"), on="id", how="left")
    rows = []
    with engine.begin() as conn:
        for profile in current_profiles(conn):
            subset = parcels[parcels["category"].isin(profile.categories)] if profile.categories else parcels
            criteria = list(profile.weights)
            weights = np.array([profile.weights[c] for c in criteria])
            values = np.column_stack(
                [
                    np.full(len(subset), np.nan)
                    if CATALOGUE[c].column not in subset
                    else normalise(
                        profile.functions[c],
                        subset[CATALOGUE[c].column].to_numpy(
                            dtype=object if CATALOGUE[c].function["type"] == "table" else float
                        ),
                    )
                    for c in criteria
                ]
            )
            rows.append(
                pd.DataFrame(
                    {"parcel_id": subset["id"], "profile_id": profile.id, "score": weighted_sum(values, weights)}
                )
            )
        pd.concat(rows).to_sql("peer_score", conn, if_exists="replace", index=False, chunksize=50_000)


def edit_latency(url: str, edits: int = 30) -> list[float]:
    """Milliseconds per edit and its re-scoring, on the sessions the API and the commands use
    (``make_engine``: without JIT, which compiled the quality refresh's statement for 60 ms)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM parcel ORDER BY id LIMIT :n"), {"n": edits}).scalars())
    timings = []
    for i, parcel_id in enumerate(ids):
        with Session(engine) as session:
            started = time.perf_counter()
            update_parcel(
                session,
                parcel_id,
                "bench",
                availability="kurzfristig" if i % 2 else "langfristig",
                restriction_class=i % 3,
            )
            session.commit()
            timings.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return timings


def run(size: int, db: BenchDatabase | None = None, name: str = "bench_scoring") -> Report:
    """``db``: a cluster to leave the scored database ``name`` in, for the benchmarks after this one."""
    own = db is None
    db = db or BenchDatabase()
    try:
        url = load_parcels(db, name, size)
        env = {"LANDREG_DATABASE_URL": url}
        command = [str(VENV_BIN / "landreg"), "score", "--actor", "bench"]
        first = run_measured(command, env)
        vacuum(url)  # as autovacuum does after a million new rows: the rescoring finds them settled
        ours = run_measured(command, env)
        vacuum(url)  # the same for the run after it
        everything = run_measured([*command, "--all-indicators"], env)
        bench_dir = Path(__file__).resolve().parent
        peer = run_measured(
            [str(VENV_BIN / "python"), "-c", PEER.format(bench=str(bench_dir), root=str(bench_dir.parent), url=url)]
        )
        edits = edit_latency(url)
    finally:
        if own:
            db.close()
    edit_figure = (
        f"median {statistics.median(edits):.1f} ms, p95 {sorted(edits)[int(0.95 * (len(edits) - 1))]:.1f} ms, "
        f"max {max(edits):.1f} ms"
    )
    peer_figure = f"{peer.seconds:.1f} s, {peer.peak_rss_mb:,.0f} MB"
    initial = [
        f"first scoring (nothing stored yet), {size:,} parcels, 3 profiles",
        f"{first.seconds:.1f} s, {first.peak_rss_mb:,.0f} MB",
        peer_figure,
        f"{peer.seconds / first.seconds:.2f}",
    ]

    def rescoring(what: str, run) -> list[str]:
        goal = f"; goal < 60 s: {60 / run.seconds:.2f}" if size == 1_000_000 else ""
        return [
            f"{what}, {size:,} parcels, 3 profiles",
            f"{run.seconds:.1f} s, {run.peak_rss_mb:,.0f} MB",
            peer_figure,
            f"{peer.seconds / run.seconds:.2f}{goal}",
        ]

    full = rescoring("full rescoring (every stored score replaced, the current indicators kept)", ours)
    complete = rescoring("full rescoring with every indicator computed again (`--all-indicators`)", everything)
    table = markdown_table(
        ["what", "landreg", "peer: geopandas sjoin_nearest", "ratio (peer / landreg, >1: landreg faster)"],
        [initial, full, complete, ["one parcel edited and re-scored (30 edits)", edit_figure, "—", "target < 50 ms"]],
    )
    summary = [
        *([row[0], row[1], f"geopandas: {row[2]}", row[3]] for row in (initial, full, complete)),
        [f"one parcel edit re-scored ({size:,} parcels)", edit_figure, "— (target < 50 ms)", "—"],
    ]
    return Report(
        f"Scoring benchmark, {size:,} parcels", f"python bench/scoring_bench.py --size {size}", table, summary
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    report = run(parser.parse_args().size)
    print(report.table)
    print(f"written to {report.save('scoring')}", file=sys.stderr)


if __name__ == "__main__":
    main()
