"""Migrations: an empty database is brought to head, an existing one upgraded, and back down."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from landreg import migrate
from landreg.seed import load_municipalities

CORE_TABLES = {"municipality", "parcel", "parcel_past_version", "context_feature"}


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) & CORE_TABLES


def test_upgrade_downgrade_and_upgrade_again(make_database):
    engine = create_engine(make_database("landreg_migrations"))
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert _tables(engine) == CORE_TABLES

        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert _tables(engine) == set()
        with engine.connect() as conn:
            functions = conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'parcel\\_%'")).scalar_one()
        assert functions == 0

        migrate.upgrade(engine)
        assert _tables(engine) == CORE_TABLES
    finally:
        engine.dispose()


def test_upgrading_an_existing_database_keeps_its_data(make_database):
    engine = create_engine(make_database("landreg_existing"))
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            load_municipalities(conn)
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM municipality")).scalar_one() == 396
    finally:
        engine.dispose()


def test_spatial_indexes_exist_where_queries_need_them(engine):
    with engine.connect() as conn:
        gist = set(
            conn.execute(text("SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist (geom)%'")).scalars()
        )
    assert {"municipality", "parcel", "context_feature"} <= gist


_HISTORY = "SELECT parcel_id, version, valid_from, valid_to, actor, status, ST_AsEWKB(geom) FROM parcel_version"


def test_moving_the_current_versions_out_of_the_history_table_keeps_every_version(make_database):
    """0012 keeps only ended versions in a table; the view shows the same versions as before."""
    engine = create_engine(make_database("landreg_history"))
    try:
        migrate.upgrade(engine, "0011")
        with engine.begin() as conn:
            load_municipalities(conn)
            square = "ST_Multi(ST_Buffer(ST_Transform(ST_SetSRID(ST_Point(7.466, 51.5138), 4326), 25832), :r, 1))"
            for ref, r in (("kept", 30), ("changed", 40), ("retired", 50)):
                conn.execute(
                    text(
                        f"INSERT INTO parcel (local_ref, category, geom, created_by) VALUES (:ref, 'bauluecke', {square}, 'a')"
                    ),
                    {"ref": ref, "r": r},
                )
            conn.execute(text("UPDATE parcel SET status = 'verfuegbar', updated_by = 'b' WHERE local_ref <> 'kept'"))
            conn.execute(text("UPDATE parcel SET retired_at = now(), retired_by = 'c' WHERE local_ref = 'retired'"))
            before = conn.execute(text(f"{_HISTORY} ORDER BY 1, 2")).all()
        assert len(before) == 5 and sum(v.valid_to is None for v in before) == 2

        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text(f"{_HISTORY} ORDER BY 1, 2")).all() == before
            past = conn.execute(text("SELECT count(*) FROM parcel_past_version")).scalar_one()
        assert past == 3  # version 1 of "changed" and of "retired", version 2 of "retired"

        migrate.downgrade(engine, "0011")
        with engine.connect() as conn:
            assert conn.execute(text(f"{_HISTORY} ORDER BY 1, 2")).all() == before
    finally:
        engine.dispose()


def test_parcels_published_by_the_flag_stay_published_through_the_publication_process(make_database):
    """0015 derives "public" from notices and objections; what publication_allowed published before
    stays published (a notice of kind 'uebernommen'), nothing else is published, no version is made."""
    engine = create_engine(make_database("landreg_publication"))
    try:
        migrate.upgrade(engine, "0014")
        with engine.begin() as conn:
            load_municipalities(conn)
            square = "ST_Multi(ST_Buffer(ST_Transform(ST_SetSRID(ST_Point(:x, 51.5138), 4326), 25832), 30, 1))"
            for ref, x, published in (("public", 7.466, True), ("internal", 7.470, False)):
                conn.execute(
                    text(
                        f"INSERT INTO parcel (local_ref, category, geom, publication_allowed, created_by) "
                        f"VALUES (:ref, 'bauluecke', {square}, :published, 'a')"
                    ),
                    {"ref": ref, "x": x, "published": published},
                )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            states = dict(conn.execute(text("SELECT local_ref, public_since <= current_date FROM parcel")).all())
            versions = set(conn.execute(text("SELECT version FROM parcel")).scalars())
            notices = conn.execute(text("SELECT ags, kind, selected_only FROM publication_notice")).all()
        assert states == {"public": True, "internal": None} and versions == {1}
        assert notices == [("05913000", "uebernommen", True)]
        migrate.downgrade(engine, "0014")
    finally:
        engine.dispose()
