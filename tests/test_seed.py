"""Loading the bundled data: correct transformations, derived AGS, and no duplicates on a rerun."""

from __future__ import annotations

import json

import pytest
from pyproj import Transformer
from sqlalchemy import text

from landreg.seed import seed

COUNT = 250


@pytest.fixture
def report(conn):
    return seed(conn, sample_count=COUNT, sample_seed=11)


def test_seed_loads_municipalities_layers_and_sample_parcels(conn, report):
    assert report.loaded["municipalities (NRW, upserted)"] == 396
    assert report.loaded["railway stations"] == 197
    assert report.loaded["transit stops"] == 14567
    assert report.loaded["sample parcels (Beispieldaten)"] == COUNT
    assert report.loaded["sample submissions for review (Prüfung, Beispieldaten)"] == 5
    states = dict(conn.execute(text("SELECT state, count(*) FROM submission GROUP BY state")).all())
    assert states == {"freigegeben": 1, "abgelehnt": 1, "wartend": 3}
    regions = dict(conn.execute(text("SELECT coalesce(region, '-'), count(*) FROM municipality GROUP BY 1")).all())
    assert regions == {"RVR": 53, "-": 343}  # outside the RVR: no region (not a 'NaN' text)
    dortmund = conn.execute(text("SELECT name, district_ags FROM municipality WHERE ags = '05913000'")).one()
    assert tuple(dortmund) == ("Dortmund", "05913")


def test_seeding_again_loads_nothing_twice(conn, report):
    again = seed(conn, sample_count=COUNT, sample_seed=11)
    recorded = COUNT + 1  # and the one Essen's planner recorded in the sample review (waiting)
    layers = {"railway stations": 197, "transit stops": 14567, "inland ports (Eurostat GISCO)": 25,
              "port areas (Eurostat GISCO)": 15, "Rhine active floodplain (BfG hydflood)": 25}  # fmt: skip
    assert again.kept == layers | {"sample parcels (Beispieldaten)": recorded}
    counts = conn.execute(
        text("""
        SELECT (SELECT count(*) FROM parcel), (SELECT count(*) FROM context_feature),
               (SELECT count(*) FROM municipality)
    """)
    ).one()
    assert tuple(counts) == (recorded, sum(layers.values()), 396)


def test_stations_are_transformed_to_utm(conn, report):
    row = conn.execute(
        text("""
        SELECT attributes, ST_X(geom), ST_Y(geom) FROM context_feature
         WHERE kind = 'bahnhof' AND name = 'Dortmund Hbf'
    """)
    ).one()
    attributes = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    x, y = Transformer.from_crs(4326, 25832, always_xy=True).transform(attributes["lon"], attributes["lat"])
    assert (row[1], row[2]) == (pytest.approx(x, abs=0.01), pytest.approx(y, abs=0.01))


def test_every_sample_parcel_lies_in_the_municipality_it_was_stored_with(conn, report):
    outside = conn.execute(
        text("""
        SELECT count(*) FROM parcel p JOIN municipality m ON m.ags = p.ags
         WHERE p.is_sample AND NOT ST_Covers(m.geom, p.geom)
    """)
    ).scalar_one()
    assert outside == 0
