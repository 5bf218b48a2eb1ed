"""Faster writes at state scale: subdivided municipalities, set-based history.

* ``municipality_part``: each municipality cut into pieces of at most 256 vertices
  (ST_Subdivide), kept in step by a trigger. Checking a parcel against a few small pieces is far
  cheaper than against a whole municipal boundary of thousands of vertices that must be
  de-TOASTed for every row.
* The parcel's history is written by statement-level triggers with transition tables: one
  INSERT ... SELECT per statement instead of one per row. Same rows, same transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op
from schema_history import row_history_function, statement_history_functions
from schema_triggers import LOCATION_BY_MUNICIPALITY, LOCATION_CHECK, before_write

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERSIONED = [
    "ags",
    "local_ref",
    "name",
    "category",
    "status",
    "designation",
    "planning_status",
    "previous_use",
    "contamination",
    "restriction_class",
    "availability",
    "ownership",
    "owner_willing",
    "servicing",
    "owner_contact",
    "internal_notes",
    "publication_allowed",
    "data_date",
    "is_sample",
    "geom",
    "area_m2",
]


def upgrade() -> None:
    op.execute("""
    CREATE TABLE municipality_part (
        ags  char(8) NOT NULL REFERENCES municipality (ags) ON DELETE CASCADE,
        geom geometry(Polygon, 25832) NOT NULL
    );
    CREATE INDEX municipality_part_geom_idx ON municipality_part USING gist (geom);
    CREATE INDEX municipality_part_ags_idx ON municipality_part (ags);
    COMMENT ON TABLE municipality_part IS 'municipalities cut into pieces of <= 256 vertices for fast point-in-area checks';
    INSERT INTO municipality_part (ags, geom) SELECT ags, ST_Subdivide(geom, 256) FROM municipality;

    CREATE FUNCTION municipality_subdivide() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            DELETE FROM municipality_part WHERE ags = OLD.ags;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO municipality_part (ags, geom) SELECT NEW.ags, ST_Subdivide(NEW.geom, 256);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER municipality_subdivide AFTER INSERT OR UPDATE OF geom, ags OR DELETE ON municipality
        FOR EACH ROW EXECUTE FUNCTION municipality_subdivide();
    """)
    op.execute(before_write(LOCATION_CHECK))

    op.execute("""
    DROP TRIGGER parcel_after_write ON parcel;
    DROP FUNCTION parcel_after_write();
    """)
    op.execute(statement_history_functions(VERSIONED))
    op.execute("""
    CREATE TRIGGER parcel_history_after_insert AFTER INSERT ON parcel
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION parcel_history_after_insert();
    CREATE TRIGGER parcel_history_after_update AFTER UPDATE ON parcel
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION parcel_history_after_update();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER parcel_history_after_update ON parcel;
    DROP TRIGGER parcel_history_after_insert ON parcel;
    DROP FUNCTION parcel_history_after_update();
    DROP FUNCTION parcel_history_after_insert();

    """)
    op.execute(row_history_function(VERSIONED))
    op.execute("""
    CREATE TRIGGER parcel_after_write AFTER INSERT OR UPDATE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_after_write();
    """)
    op.execute(before_write(LOCATION_BY_MUNICIPALITY))
    op.execute("""
    DROP TRIGGER municipality_subdivide ON municipality;
    DROP FUNCTION municipality_subdivide();
    DROP TABLE municipality_part;
    """)
