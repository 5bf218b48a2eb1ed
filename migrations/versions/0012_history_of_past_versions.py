"""History as in SQL:2011 system versioning: past versions in a table, the current one in ``parcel``.

Until now every version, the current one included, was copied into ``parcel_version``: each new
parcel was written twice (its geometry too), which cost an import a quarter of its write time and
doubled the storage of the register. Now

* ``parcel_past_version`` holds the versions that have ended (``valid_to`` always set), written
  when an update creates a new version or retires the parcel: the old row, valid until then;
* ``parcel_version`` is a view of every version: the past ones and, for each parcel that is not
  retired, its current row from ``parcel`` (valid from ``updated_at``, open ended).

Readers see the same rows as before; inserting a parcel writes no history row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""

import importlib.util
from pathlib import Path

from alembic import op
from schema_history import history_sql, statement_history_functions

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location("m0009", Path(__file__).with_name("0009_abstand_class.py"))
_m0009 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0009)

VERSIONED = [*_m0009.VERSIONED, "abstand_class"]
_COLUMNS = ", ".join(VERSIONED)


def upgrade() -> None:
    op.execute("""
    DROP TRIGGER parcel_history_after_insert ON parcel;
    DROP FUNCTION parcel_history_after_insert();

    -- the open versions are the parcels' current rows, which the view shows from now on
    DELETE FROM parcel_version v USING parcel p
     WHERE v.valid_to IS NULL AND p.id = v.parcel_id AND p.version = v.version AND p.retired_at IS NULL;
    DO $$ BEGIN
        IF EXISTS (SELECT FROM parcel_version WHERE valid_to IS NULL) THEN
            RAISE EXCEPTION 'parcel_version has open versions that are not the current state of their parcel';
        END IF;
    END $$;
    DROP INDEX parcel_version_one_open_idx;
    ALTER TABLE parcel_version RENAME TO parcel_past_version;
    ALTER TABLE parcel_past_version ALTER COLUMN valid_to SET NOT NULL;
    ALTER TABLE parcel_past_version RENAME CONSTRAINT parcel_version_pkey TO parcel_past_version_pkey;
    ALTER TABLE parcel_past_version RENAME CONSTRAINT parcel_version_parcel_id_fkey TO parcel_past_version_parcel_id_fkey;
    ALTER INDEX parcel_version_period_idx RENAME TO parcel_past_version_period_idx;
    COMMENT ON TABLE parcel_past_version IS 'the ended versions of parcels, each valid in [valid_from, valid_to)';

    """)
    op.execute(history_sql(VERSIONED, planned_each_time=False))


def downgrade() -> None:
    op.execute(f"""
    DROP VIEW parcel_version;
    ALTER TABLE parcel_past_version RENAME TO parcel_version;
    ALTER TABLE parcel_version ALTER COLUMN valid_to DROP NOT NULL;
    ALTER TABLE parcel_version RENAME CONSTRAINT parcel_past_version_pkey TO parcel_version_pkey;
    ALTER TABLE parcel_version RENAME CONSTRAINT parcel_past_version_parcel_id_fkey TO parcel_version_parcel_id_fkey;
    ALTER INDEX parcel_past_version_period_idx RENAME TO parcel_version_period_idx;
    COMMENT ON TABLE parcel_version IS 'every state a parcel ever had, valid in [valid_from, valid_to)';
    INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {_COLUMNS})
    SELECT id, version, updated_at, updated_by, {_COLUMNS} FROM parcel WHERE retired_at IS NULL;
    CREATE UNIQUE INDEX parcel_version_one_open_idx ON parcel_version (parcel_id) WHERE valid_to IS NULL;

    CREATE FUNCTION parcel_history_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
    CREATE TRIGGER parcel_history_after_insert AFTER INSERT ON parcel
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION parcel_history_after_insert();
    """)
    op.execute(statement_history_functions(VERSIONED))
