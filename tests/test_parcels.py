"""Recording parcels: the rules the registry enforces and the history it keeps."""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from landreg.fields import CODE_FIELDS
from landreg.parcels import ParcelError, create_parcel, history, retire_parcel, update_parcel
from tests.helpers import BERLIN_ALEXANDERPLATZ, DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, square_at, squares_in_dortmund, utm


def new(session, ref="T-1", at=DORTMUND_REINOLDIKIRCHE, actor="planer.dortmund", **attrs):
    attrs.setdefault("category", "brachflaeche")
    attrs.setdefault("geom", square_at(at, 100, 50))
    return create_parcel(session, actor, local_ref=ref, **attrs)


def test_ags_is_derived_from_the_real_boundaries(session):
    assert new(session, "DO-1").ags == "05913000"
    assert new(session, "E-1", at=ESSEN_HBF).ags == "05113000"


def test_area_is_derived_from_the_geometry(session):
    assert new(session, "R").area_m2 == pytest.approx(100 * 50, abs=1e-6)
    # An L-shape with a courtyard: 200 x 100, minus a 50 x 40 corner, minus a 20 x 10 hole.
    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    outer = [(x, y), (x + 200, y), (x + 200, y + 60), (x + 150, y + 60), (x + 150, y + 100), (x, y + 100)]
    hole = [(x + 10, y + 10), (x + 30, y + 10), (x + 30, y + 20), (x + 10, y + 20)]
    parcel = new(session, "L", geom=shapely.Polygon(outer, [hole]))
    assert parcel.area_m2 == pytest.approx(200 * 100 - 50 * 40 - 20 * 10, abs=1e-6)


def test_claiming_the_wrong_municipality_is_refused(session):
    with pytest.raises(ParcelError) as err:
        new(session, "X", ags="05113000")  # claims Essen, lies in Dortmund
    assert err.value.field == "ags"
    assert "05913000 Dortmund" in err.value.reason and "05113000 Essen" in err.value.reason


def test_a_parcel_outside_every_municipality_is_refused(session):
    with pytest.raises(ParcelError) as err:
        new(session, "B", at=BERLIN_ALEXANDERPLATZ)
    assert err.value.field == "geom"
    assert "outside every municipality" in err.value.reason


def test_invalid_geometry_is_refused_with_the_reason(session):
    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    bowtie = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
    with pytest.raises(ParcelError) as err:
        new(session, "BOW", geom=bowtie)
    assert err.value.field == "geom"
    assert "Self-intersection" in err.value.reason
    assert err.value.ref == "BOW"


@pytest.mark.parametrize(
    "geom, reason",
    [
        (shapely.Point(390000, 5710000), "Polygon or MultiPolygon"),
        (shapely.Polygon(), "empty"),
        (shapely.Polygon([(390000, 5710000, 1), (390100, 5710000, 1), (390100, 5710100, 1)]), "2D"),
    ],
)
def test_non_polygonal_empty_and_3d_geometries_are_refused(session, geom, reason):
    with pytest.raises(ParcelError) as err:
        new(session, "G", geom=geom)
    assert err.value.field == "geom" and reason in err.value.reason


def test_the_database_itself_refuses_invalid_geometry(conn):
    """Clients that bypass the core (psql, QGIS) meet the same rule."""
    with pytest.raises(DBAPIError, match="Self-intersection"):
        conn.execute(
            text("""
            INSERT INTO parcel (local_ref, category, created_by, updated_by, geom)
            VALUES ('SQL-1', 'bauluecke', 'psql', 'psql',
                    ST_GeomFromText('MULTIPOLYGON(((390000 5710000, 390100 5710100, 390100 5710000,
                                                     390000 5710100, 390000 5710000)))', 25832))
        """)
        )


def test_duplicate_reference_within_a_municipality_is_refused(session):
    new(session, "DUP")
    with pytest.raises(ParcelError) as err:
        new(session, "DUP", geom=square_at((7.47, 51.52), 10))
    assert err.value.field == "local_ref"
    assert "already used" in err.value.reason
    # the same reference in another municipality is fine
    assert new(session, "DUP", at=ESSEN_HBF).ags == "05113000"


def test_unknown_code_is_refused_with_the_allowed_values(session):
    with pytest.raises(ParcelError) as err:
        new(session, "C", category="wiese")
    assert err.value.field == "category"
    assert "bauluecke" in err.value.reason


@pytest.mark.parametrize("field", sorted(CODE_FIELDS))
def test_database_accepts_every_code_of_the_core_and_nothing_else(session, conn, field):
    parcel = new(session, f"V-{field}")
    for code in CODE_FIELDS[field].codes:
        update_parcel(session, parcel.id, "tester", **{field: code})
    with pytest.raises(DBAPIError, match=f"parcel_{field}_code"):
        with conn.begin_nested():
            conn.execute(text(f"UPDATE parcel SET {field} = 'bogus' WHERE id = :id"), {"id": parcel.id})


def test_an_update_keeps_the_previous_state_in_the_history(session):
    parcel = new(session, "H", status="potenzial", actor="anna")
    first_area = parcel.area_m2
    update_parcel(session, parcel.id, "ben", status="verfuegbar", geom=square_at(DORTMUND_REINOLDIKIRCHE, 120, 50))
    assert parcel.version == 2 and parcel.updated_by == "ben" and parcel.created_by == "anna"

    v1, v2 = history(session, parcel.id)
    assert (v1.version, v1.status, v1.actor, v1.area_m2) == (1, "potenzial", "anna", pytest.approx(first_area))
    assert (v2.version, v2.status, v2.actor, v2.area_m2) == (2, "verfuegbar", "ben", pytest.approx(6000))
    assert v1.valid_to == v2.valid_from and v2.valid_to is None


def test_an_update_that_changes_nothing_writes_no_version(session):
    parcel = new(session, "N", status="verfuegbar")
    update_parcel(session, parcel.id, "someone", status="verfuegbar")
    assert parcel.version == 1 and parcel.updated_by == "planer.dortmund"
    assert len(history(session, parcel.id)) == 1


def test_retiring_end_dates_the_parcel_and_keeps_it(session, conn):
    parcel = new(session, "RET")
    update_parcel(session, parcel.id, "anna", status="genutzt")
    retire_parcel(session, parcel.id, "ben", "bebaut")
    assert parcel.retired_at is not None and parcel.retired_by == "ben"

    versions = history(session, parcel.id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[-1].valid_to == parcel.retired_at

    with pytest.raises(ParcelError, match="retired"):
        update_parcel(session, parcel.id, "carl", status="verfuegbar")
    with pytest.raises(ParcelError, match="already retired"):
        retire_parcel(session, parcel.id, "carl", "bebaut")


def test_parcels_are_never_deleted(session, conn):
    parcel = new(session, "DEL")
    with pytest.raises(DBAPIError, match="retire it instead"):
        with conn.begin_nested():
            conn.execute(text("DELETE FROM parcel WHERE id = :id"), {"id": parcel.id})
    assert conn.execute(text("SELECT count(*) FROM parcel WHERE id = :id"), {"id": parcel.id}).scalar_one() == 1


def test_moving_a_parcel_into_another_municipality_needs_the_new_ags(session):
    parcel = new(session, "MOVE")
    with pytest.raises(ParcelError) as err:
        update_parcel(session, parcel.id, "anna", geom=square_at(ESSEN_HBF, 100, 50))
    assert err.value.field == "ags"
    update_parcel(session, parcel.id, "anna", geom=square_at(ESSEN_HBF, 100, 50), ags="05113000")
    assert parcel.ags == "05113000" and parcel.version == 2


def test_fields_owned_by_the_registry_cannot_be_set(session):
    with pytest.raises(ParcelError) as err:
        new(session, "F", area_m2=1.0)
    assert err.value.field == "area_m2"


def test_a_large_update_after_a_small_one_ends_in_seconds(engine):
    """The history trigger joins an UPDATE's old and new rows. As plain SQL in its function it was
    planned once per session, for the rows of the session's first update: after one edit a nested
    loop compared every old row of a later large update with every new one (10,000 parcels: 31.8 s
    instead of 2.4 s; here, with the plan of before, cancelled after 60 s). The tile trigger's own
    nested loop (its count stops at 1,001) appeared from about 30,000 rows on, where this test would
    take minutes to show it: tests/test_tile_cache.py checks how it plans."""
    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    with engine.connect() as conn:
        conn.execute(text("SELECT set_config('statement_timeout', '60s', true)"))
        squares_in_dortmund(conn, 20_000, "L-", (x - 1900, y - 1700), per_row=150)
        conn.execute(text("DISCARD PLANS"))  # a pooled connection: plan as a new session would
        conn.execute(text("UPDATE parcel SET name = 'eins' WHERE local_ref = 'L-1'"))  # its first update
        assert conn.execute(text("UPDATE parcel SET name = name WHERE local_ref LIKE 'L-%'")).rowcount == 20_000
        assert (
            conn.execute(text("UPDATE parcel SET status = 'reserviert' WHERE local_ref LIKE 'L-%'")).rowcount == 20_000
        )
        versions = conn.execute(
            text(
                "SELECT count(*) FROM parcel_past_version v JOIN parcel p ON p.id = v.parcel_id WHERE p.local_ref LIKE 'L-%'"
            )
        ).scalar_one()
        assert versions == 20_001  # the edit's, and one for each parcel whose status changed
        conn.rollback()
