"""The API's statements are prepared on each connection and kept, also past a rolled-back read."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from landreg import tiles
from landreg.db import PREPARE_THRESHOLD, make_engine, plan_each_time
from tests.helpers import database_url

_BY_ID = text("SELECT count(*) FROM parcel WHERE id = :id")
_PREPARED = text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")


def _read_in_a_transaction(engine) -> None:
    """A read that leaves its transaction open: the pool rolls it back as the connection returns."""
    with engine.connect() as conn:
        conn.execute(_BY_ID, {"id": uuid.uuid4()})


def test_a_repeated_statement_is_prepared_planned_generically_and_kept_past_rollbacks(committed_db):
    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        for _ in range(PREPARE_THRESHOLD + 8):
            _read_in_a_transaction(engine)
        with engine.connect() as conn:
            prepared = {row.statement: row for row in conn.execute(_PREPARED)}
    finally:
        engine.dispose()
    (by_id,) = [row for statement, row in prepared.items() if "FROM parcel WHERE id = $1" in statement]
    # prepared on the sixth run, and still there after the rollback of each of the next eight
    assert by_id.generic_plans + by_id.custom_plans == 8
    assert by_id.generic_plans > 0  # PostgreSQL's choice for a lookup by key


def test_the_rollback_that_keeps_them_still_undoes_the_transaction(committed_db):
    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TEMP TABLE probe (x int)"))  # of this session: the one connection
            conn.commit()
        for _ in range(PREPARE_THRESHOLD + 2):
            with engine.connect() as conn:
                conn.execute(text("INSERT INTO probe VALUES (1)"))  # not committed: rolled back at checkin
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM probe")).scalar_one() == 0
            statements = conn.execute(_PREPARED).scalars().all()
    finally:
        engine.dispose()
    assert [s for s in statements if s.startswith("INSERT INTO probe")]


def test_nothing_is_prepared_when_turned_off(committed_db, settings):
    settings(DB_PREPARED_STATEMENTS="false")
    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        for _ in range(PREPARE_THRESHOLD + 3):
            _read_in_a_transaction(engine)
        with engine.connect() as conn:
            assert conn.execute(_PREPARED).all() == []
    finally:
        engine.dispose()


def test_the_command_line_prepares_nothing(committed_db):
    """Imports and scoring run large statements once each: planned for their values every time."""
    engine = make_engine(database_url(committed_db), pool_size=1, max_overflow=0)
    try:
        for _ in range(PREPARE_THRESHOLD + 3):
            _read_in_a_transaction(engine)
        with engine.connect() as conn:
            assert conn.execute(_PREPARED).all() == []
            assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
    finally:
        engine.dispose()


def _tile_statements_prepared(engine, z: int, runs: int) -> list[str]:
    from landreg.access import PUBLIC
    from landreg.db import single_statements
    from landreg.features import COLLECTIONS

    for _ in range(runs):
        with engine.connect() as conn:
            essen = tiles.TMS.tile(7.012, 51.455, z)
            request = tiles.TileRequest(z, essen.x, essen.y)
            statement, params = tiles.tile_query(COLLECTIONS["parcels"], PUBLIC, request)
            if z >= tiles.DETAIL_ZOOM:
                single_statements(conn)
            tiles.render_tile(conn, statement, params)
    with engine.connect() as conn:
        return [s for s in conn.execute(_PREPARED).scalars() if "st_asmvt" in s.lower()]


def test_aggregated_tiles_are_planned_each_time_detailed_ones_prepared(committed_db):
    """A low-zoom tile aggregates a share of the register that depends on where it lies, with
    settings of its transaction (work_mem): a generic plan would know neither (plan_each_time)."""
    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        assert _tile_statements_prepared(engine, 10, PREPARE_THRESHOLD + 3) == []
        assert len(_tile_statements_prepared(engine, 16, PREPARE_THRESHOLD + 3)) == 1
    finally:
        engine.dispose()


def _prepared_after_runs(committed_db, work) -> list[str]:
    """The statements prepared on the one connection after ``work(conn)`` ran on it eight times."""
    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        for _ in range(PREPARE_THRESHOLD + 3):
            with engine.connect() as conn:
                work(conn)
        with engine.connect() as conn:
            return conn.execute(_PREPARED).scalars().all()
    finally:
        engine.dispose()


def test_plan_each_time_lasts_for_the_connection_it_is_given(committed_db):
    assert (
        _prepared_after_runs(committed_db, lambda conn: plan_each_time(conn).execute(_BY_ID, {"id": uuid.uuid4()}))
        == []
    )


def test_a_statement_a_migration_changed_under_it_fails_once_then_answers(committed_db):
    """A column added to a table a prepared ``t.*`` reads (a migration while the API runs): the next
    run fails as a lost connection (503 in the API), the pool renews, and the run after it answers
    with the new column; without that, every later run on the connection failed."""
    from sqlalchemy.exc import DBAPIError

    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    read = text("SELECT t.* FROM migration_probe t WHERE t.id = :id")
    try:
        with committed_db.begin() as conn:
            conn.execute(text("CREATE TABLE migration_probe (id int, name text)"))
            conn.execute(text("INSERT INTO migration_probe VALUES (1, 'Zeche')"))
        for _ in range(PREPARE_THRESHOLD + 2):
            with engine.connect() as conn:
                assert conn.execute(read, {"id": 1}).all() == [(1, "Zeche")]
        with committed_db.begin() as conn:
            conn.execute(text("ALTER TABLE migration_probe ADD COLUMN area_m2 int"))
        with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                conn.execute(read, {"id": 1})
        assert failed.value.connection_invalidated
        assert "cached plan must not change result type" in str(failed.value)
        for _ in range(PREPARE_THRESHOLD + 2):
            with engine.connect() as conn:
                assert conn.execute(read, {"id": 1}).all() == [(1, "Zeche", None)]
    finally:
        engine.dispose()
        with committed_db.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS migration_probe"))


def test_another_unsupported_feature_is_an_error_not_a_lost_connection(committed_db):
    """SQLSTATE 0A000 is shared by other unsupported features: only the stale plan drops a connection."""
    from sqlalchemy.exc import DBAPIError

    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                conn.execute(text("SELECT count(*) FROM parcel FOR UPDATE"))
        assert failed.value.orig.sqlstate == "0A000"
        assert not failed.value.connection_invalidated
    finally:
        engine.dispose()


def test_after_a_failed_transaction_the_connection_prepares_afresh(committed_db):
    """A failed transaction is rolled back by psycopg itself, which forgets the prepared statements
    (its record may be out of step after a failure): the next runs prepare them again and answer."""
    engine = make_engine(database_url(committed_db), serving=True, pool_size=1, max_overflow=0)
    try:
        for _ in range(PREPARE_THRESHOLD + 2):
            _read_in_a_transaction(engine)
        with engine.connect() as conn:
            with pytest.raises(Exception, match="division by zero"):
                conn.execute(text("SELECT 1 / 0"))
        with engine.connect() as conn:
            assert [s for s in conn.execute(_PREPARED).scalars() if "FROM parcel WHERE id" in s] == []
        for _ in range(PREPARE_THRESHOLD + 2):
            _read_in_a_transaction(engine)
        with engine.connect() as conn:
            assert [s for s in conn.execute(_PREPARED).scalars() if "FROM parcel WHERE id" in s]
    finally:
        engine.dispose()


def test_the_whole_register_aggregations_are_planned_each_time(committed_db):
    """Their SQL serves all municipalities or some (``:ags IS NULL OR …``): a generic plan could not
    use the index for one municipality after serving all."""
    import datetime as dt

    from landreg import summary
    from landreg.access import FULL
    from landreg.quality import quality_by_municipality
    from landreg.safeguarding import balance, watch_list

    aggregations = {  # each on its own connection: plan_each_time lasts for the connection
        "by_group": lambda conn: summary.by_group(conn, ["municipality"], FULL),
        "quality": lambda conn: quality_by_municipality(conn, FULL),
        "balance": lambda conn: balance(conn, [dt.datetime.now(dt.UTC)], window_years=1),
        "watch_list": watch_list,
    }
    assert {name: _prepared_after_runs(committed_db, work) for name, work in aggregations.items()} == {
        name: [] for name in aggregations
    }
