"""Migrations: an empty database is brought to head, an existing one upgraded, and back down."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from landreg import migrate
from landreg.seed import load_municipalities

CORE_TABLES = {"municipality", "parcel", "parcel_version", "context_feature"}


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
