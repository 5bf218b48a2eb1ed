"""Beispieldaten: reproducible, inside the real boundaries, without overlaps, realistic sizes."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from landreg import sample
from landreg.geodata import read_rvr_municipalities
from landreg.seed import load_sample_parcels, repair_sample_nan


@pytest.fixture(scope="module")
def parcels():
    return sample.generate(count=600, seed=7)


def test_same_seed_same_parcels(parcels):
    again = sample.generate(count=600, seed=7)
    assert list(again["local_ref"]) == list(parcels["local_ref"])
    assert all(a.equals_exact(b, 0) for a, b in zip(again.geometry, parcels.geometry))
    assert again.drop(columns="geom").equals(parcels.drop(columns="geom"))


def test_another_seed_other_parcels(parcels):
    other = sample.generate(count=600, seed=8)
    assert not other.geometry.iloc[0].equals(parcels.geometry.iloc[0])


def test_all_parcels_lie_in_the_municipality_they_name(parcels):
    boundaries = read_rvr_municipalities().set_index("ags").geometry
    inside = [boundaries[ags].contains(geom) for ags, geom in zip(parcels["ags"], parcels.geometry)]
    assert all(inside)
    assert parcels["ags"].nunique() == 53


def test_parcels_do_not_overlap(parcels):
    geoms = parcels.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    assert np.all(left == right)


def test_sizes_and_mix_are_realistic(parcels):
    area = parcels.geometry.area
    bauluecken = area[parcels["category"] == "bauluecke"]
    assert bauluecken.between(300 * 0.999, 3000 * 1.001).all()
    assert area[parcels["category"] == "brachflaeche"].max() <= 1_000_000 * 1.001
    share = parcels["category"].value_counts(normalize=True)
    assert set(share.index) == set(sample.CATEGORIES)
    assert 0.35 < share["bauluecke"] < 0.55


def test_every_parcel_says_it_is_sample_data(parcels):
    assert parcels["is_sample"].all()
    assert parcels["name"].str.startswith("Beispiel-").all()


def test_an_unknown_previous_use_is_missing_not_the_text_nan(parcels):
    """pandas keeps a missing text as NaN, which was stored as the text 'NaN' (1,441 parcels)."""
    uses = parcels["previous_use"].tolist()
    assert None in uses and "NaN" not in uses
    assert all(use is None or (isinstance(use, str) and use) for use in uses)


def test_the_loader_writes_no_nan_and_seed_repairs_what_earlier_versions_wrote(conn):
    def nan_count(table: str) -> int:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE previous_use = 'NaN'")).scalar_one()

    assert load_sample_parcels(conn, 60, 7) > 0
    assert conn.execute(text("SELECT count(*) FROM parcel WHERE previous_use IS NULL")).scalar_one() > 0
    assert nan_count("parcel") == 0
    # what earlier versions wrote: the text 'NaN', in the current row and in an ended version
    conn.execute(text("UPDATE parcel SET previous_use = 'NaN', status = 'reserviert' WHERE local_ref LIKE 'BL-%'"))
    conn.execute(text("UPDATE parcel SET status = 'verfuegbar' WHERE local_ref LIKE 'BL-%'"))
    broken = nan_count("parcel")
    assert broken > 0 and nan_count("parcel_past_version") > 0
    assert repair_sample_nan(conn) == broken
    assert nan_count("parcel_version") == 0
    assert repair_sample_nan(conn) == 0  # idempotent
