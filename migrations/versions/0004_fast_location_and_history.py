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
_COLUMNS = ", ".join(VERSIONED)
_NEW_COLUMNS = ", ".join(f"n.{c}" for c in VERSIONED)

# The location rules of 0001, unchanged in meaning, now looked up in municipality_part.
# The bulk importer checks locations set-wise for all rows before it writes them and then says
# so with SET LOCAL landreg.locations_checked = 'on', which spares the per-row repetition. This is
# a data-quality guard, not a security boundary: any role that may write parcels may as well
# write them through the importer.
LOCATION_CHECK = """
        IF TG_OP = 'UPDATE' AND NEW.geom = OLD.geom AND NEW.ags IS NOT DISTINCT FROM OLD.ags THEN
            RETURN NEW;
        END IF;
        IF NEW.ags IS NOT NULL AND current_setting('landreg.locations_checked', true) = 'on' THEN
            RETURN NEW;
        END IF;
        IF NEW.ags IS NULL THEN  -- wholly inside one piece of a municipality: that is the one
            SELECT p.ags INTO NEW.ags FROM municipality_part p WHERE ST_Covers(p.geom, NEW.geom) LIMIT 1;
            IF NEW.ags IS NOT NULL THEN
                RETURN NEW;
            END IF;
        ELSIF EXISTS (SELECT FROM municipality_part p WHERE p.ags = NEW.ags AND ST_Covers(p.geom, NEW.geom)) THEN
            RETURN NEW;  -- wholly inside one piece of the municipality it claims
        END IF;
        -- The municipality holding the largest share of the parcel (boundaries are generalised,
        -- so a parcel on the border may overlap its neighbour a little).
        SELECT p.ags, m.name, sum(ST_Area(ST_Intersection(p.geom, NEW.geom))) / ST_Area(NEW.geom) AS share
          INTO best
          FROM municipality_part p JOIN municipality m ON m.ags = p.ags
         WHERE ST_Intersects(p.geom, NEW.geom)
         GROUP BY p.ags, m.name
         ORDER BY share DESC
         LIMIT 1;
"""


def _before_write(location_sql: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION parcel_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unchanged_keys text[] := ARRAY['version', 'area_m2', 'created_at', 'created_by', 'updated_at', 'updated_by'];
        best record;
        claimed_name text;
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF OLD.retired_at IS NOT NULL THEN
                RAISE EXCEPTION 'parcel % of municipality % is retired and cannot be changed', OLD.local_ref, OLD.ags
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'parcel_retired_read_only';
            END IF;
            IF (to_jsonb(NEW) - unchanged_keys) = (to_jsonb(OLD) - unchanged_keys) THEN
                RETURN OLD;  -- nothing changed: the row stays as it was, no new version
            END IF;
            NEW.id := OLD.id;
            NEW.created_at := OLD.created_at;
            NEW.created_by := OLD.created_by;
            NEW.updated_at := clock_timestamp();
            IF NEW.retired_at IS NOT NULL THEN
                IF (to_jsonb(NEW) - unchanged_keys - ARRAY['retired_at', 'retired_by'])
                   <> (to_jsonb(OLD) - unchanged_keys - ARRAY['retired_at', 'retired_by']) THEN
                    RAISE EXCEPTION 'parcel % of municipality %: retiring a parcel cannot change it at the same time', OLD.local_ref, OLD.ags
                        USING ERRCODE = 'check_violation', CONSTRAINT = 'parcel_retired_read_only';
                END IF;
                NEW.retired_at := NEW.updated_at;
                NEW.updated_by := coalesce(NEW.retired_by, NEW.updated_by);
                NEW.retired_by := NEW.updated_by;
                NEW.version := OLD.version;
                RETURN NEW;
            END IF;
            NEW.version := OLD.version + 1;
        ELSE
            NEW.created_at := clock_timestamp();
            NEW.updated_at := NEW.created_at;
            NEW.updated_by := coalesce(NEW.updated_by, NEW.created_by);
            NEW.version := 1;
            NEW.retired_at := NULL;
            NEW.retired_by := NULL;
        END IF;

        IF ST_IsEmpty(NEW.geom) THEN
            RAISE EXCEPTION 'geometry is empty'
                USING ERRCODE = 'check_violation', COLUMN = 'geom', CONSTRAINT = 'parcel_geom_valid';
        END IF;
        IF NOT ST_IsValid(NEW.geom) THEN
            RAISE EXCEPTION 'geometry is not valid: %', ST_IsValidReason(NEW.geom)
                USING ERRCODE = 'check_violation', COLUMN = 'geom', CONSTRAINT = 'parcel_geom_valid';
        END IF;
{location_sql}
        IF best.ags IS NULL THEN
            RAISE EXCEPTION 'parcel % lies outside every municipality in the registry', NEW.local_ref
                USING ERRCODE = 'check_violation', COLUMN = 'geom', CONSTRAINT = 'parcel_in_municipality';
        END IF;
        IF NEW.ags IS NULL THEN
            NEW.ags := best.ags;
        ELSIF NEW.ags <> best.ags THEN
            SELECT name INTO claimed_name FROM municipality WHERE ags = NEW.ags;
            RAISE EXCEPTION 'parcel % lies in % % (% %% of its area), not in the municipality it claims: % %',
                    NEW.local_ref, best.ags, best.name, round(best.share * 100),
                    NEW.ags, coalesce(claimed_name, '(unknown AGS)')
                USING ERRCODE = 'check_violation', COLUMN = 'ags', CONSTRAINT = 'parcel_in_municipality';
        END IF;
        RETURN NEW;
    END $$;
    """


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
    op.execute(_before_write(LOCATION_CHECK))

    op.execute(f"""
    DROP TRIGGER parcel_after_write ON parcel;
    DROP FUNCTION parcel_after_write();

    CREATE FUNCTION parcel_history_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {_COLUMNS})
        SELECT n.id, n.version, n.updated_at, n.updated_by, {_NEW_COLUMNS} FROM new_rows n;
        RETURN NULL;
    END $$;

    CREATE FUNCTION parcel_history_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE parcel_version v SET valid_to = coalesce(n.retired_at, n.updated_at)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE v.parcel_id = n.id AND v.valid_to IS NULL
           AND (n.version <> o.version OR n.retired_at IS DISTINCT FROM o.retired_at);
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {_COLUMNS})
        SELECT n.id, n.version, n.updated_at, n.updated_by, {_NEW_COLUMNS}
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.version <> o.version AND n.retired_at IS NULL;
        RETURN NULL;
    END $$;

    CREATE TRIGGER parcel_history_after_insert AFTER INSERT ON parcel
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION parcel_history_after_insert();
    CREATE TRIGGER parcel_history_after_update AFTER UPDATE ON parcel
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION parcel_history_after_update();
    """)


def downgrade() -> None:
    op.execute(f"""
    DROP TRIGGER parcel_history_after_update ON parcel;
    DROP TRIGGER parcel_history_after_insert ON parcel;
    DROP FUNCTION parcel_history_after_update();
    DROP FUNCTION parcel_history_after_insert();

    CREATE FUNCTION parcel_after_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.version = OLD.version AND NEW.retired_at IS NOT DISTINCT FROM OLD.retired_at THEN
                RETURN NULL;
            END IF;
            UPDATE parcel_version SET valid_to = coalesce(NEW.retired_at, NEW.updated_at)
             WHERE parcel_id = NEW.id AND valid_to IS NULL;
            IF NEW.retired_at IS NOT NULL THEN
                RETURN NULL;
            END IF;
        END IF;
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {_COLUMNS})
        VALUES (NEW.id, NEW.version, NEW.updated_at, NEW.updated_by, {", ".join("NEW." + c for c in VERSIONED)});
        RETURN NULL;
    END $$;
    CREATE TRIGGER parcel_after_write AFTER INSERT OR UPDATE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_after_write();
    """)
    op.execute(
        _before_write("""
        IF TG_OP = 'UPDATE' AND NEW.geom = OLD.geom AND NEW.ags IS NOT DISTINCT FROM OLD.ags THEN
            RETURN NEW;
        END IF;
        SELECT m.ags, m.name,
               CASE WHEN ST_Covers(m.geom, NEW.geom) THEN 1.0
                    ELSE ST_Area(ST_Intersection(m.geom, NEW.geom)) / ST_Area(NEW.geom) END AS share
          INTO best
          FROM municipality m
         WHERE ST_Intersects(m.geom, NEW.geom)
         ORDER BY share DESC
         LIMIT 1;
""")
    )
    op.execute("""
    DROP TRIGGER municipality_subdivide ON municipality;
    DROP FUNCTION municipality_subdivide();
    DROP TABLE municipality_part;
    """)
