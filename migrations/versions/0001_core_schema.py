"""Core schema: municipalities, parcels with their full history, context layers.

All geometries in EPSG:25832. The rules that protect the data live in the database, so that no
client (CLI, API, psql, QGIS) can bypass them:

* a parcel's geometry is a valid, non-empty 2D MultiPolygon; its area is derived from it;
* its AGS is derived spatially (the municipality holding the largest share of it) and a claimed
  AGS must be that municipality;
* every state a parcel ever had is written to ``parcel_version`` in the same transaction;
  a change that changes nothing writes nothing; a parcel is retired (end-dated), never deleted.

Code lists are frozen here as they were at this revision; later revisions change them.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CODES = {
    "category": ["brachflaeche", "bauluecke", "gewerbeflaeche", "industrieflaeche"],
    "status": ["potenzial", "verfuegbar", "reserviert", "in_entwicklung", "genutzt", "andere_nutzung"],
    "designation": ["GI", "GE", "GIB", "G", "SO", "MI", "MU", "MK", "WA", "WR", "W", "ASB", "F"],
    "planning_status": ["bplan_rechtskraeftig", "bplan_in_aufstellung", "fnp", "paragraph_34", "keine"],
    "contamination": ["keine_bekannt", "saniert", "untersucht", "verdacht"],
    "availability": ["kurzfristig", "mittelfristig", "langfristig", "nicht_verfuegbar"],
    "ownership": ["oeffentlich", "privat_einzeln", "privat_mehrere"],
    "owner_willing": ["ja", "nein", "unbekannt"],
    "servicing": ["erschlossen", "teilweise", "unerschlossen"],
}
CONTEXT_KINDS = [
    "bahnhof",
    "haltestelle",
    "autobahnanschluss",
    "hafen",
    "wohngebiet",
    "ueberschwemmungsgebiet",
    "schutzgebiet",
]

# The parcel's attributes, copied into every version row.
VERSIONED = [
    ("ags", "char(8) NOT NULL"),
    ("local_ref", "text NOT NULL"),
    ("name", "text"),
    ("category", "text NOT NULL"),
    ("status", "text NOT NULL"),
    ("designation", "text"),
    ("planning_status", "text"),
    ("previous_use", "text"),
    ("contamination", "text"),
    ("restriction_class", "smallint"),
    ("availability", "text"),
    ("ownership", "text"),
    ("owner_willing", "text NOT NULL"),
    ("servicing", "text"),
    ("owner_contact", "text"),
    ("internal_notes", "text"),
    ("publication_allowed", "boolean NOT NULL"),
    ("data_date", "date"),
    ("is_sample", "boolean NOT NULL"),
    ("geom", "geometry(MultiPolygon, 25832) NOT NULL"),
    ("area_m2", "double precision NOT NULL"),
]


def _in_list(column: str, codes: list[str]) -> str:
    values = ", ".join(f"'{c}'" for c in codes)
    return f"CONSTRAINT parcel_{column}_code CHECK ({column} IN ({values}))"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.execute("""
    CREATE TABLE municipality (
        ags           char(8) PRIMARY KEY CONSTRAINT municipality_ags_format CHECK (ags ~ '^[0-9]{8}$'),
        name          text NOT NULL,
        district_ags  char(5) NOT NULL CONSTRAINT municipality_district_format CHECK (district_ags ~ '^[0-9]{5}$'),
        district_name text,
        region        text,
        data_date     date,
        source        text,
        geom          geometry(MultiPolygon, 25832) NOT NULL
    );
    CREATE INDEX municipality_geom_idx ON municipality USING gist (geom);
    COMMENT ON TABLE municipality IS 'Gemeinden (AGS = Amtlicher Gemeindeschlüssel), EPSG:25832';
    COMMENT ON COLUMN municipality.region IS 'RVR for the 53 municipalities of the Regionalverband Ruhr';
    """)

    code_checks = ",\n        ".join(_in_list(col, codes) for col, codes in CODES.items())
    op.execute(f"""
    CREATE TABLE parcel (
        id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        ags                 char(8) NOT NULL REFERENCES municipality (ags),
        local_ref           text NOT NULL CONSTRAINT parcel_local_ref_not_blank CHECK (btrim(local_ref) <> ''),
        name                text,
        category            text NOT NULL,
        status              text NOT NULL DEFAULT 'potenzial',
        designation         text,
        planning_status     text,
        previous_use        text,
        contamination       text,
        restriction_class   smallint CONSTRAINT parcel_restriction_class_code CHECK (restriction_class IN (0, 1, 2)),
        availability        text,
        ownership           text,
        owner_willing       text NOT NULL DEFAULT 'unbekannt',
        servicing           text,
        owner_contact       text,
        internal_notes      text,
        publication_allowed boolean NOT NULL DEFAULT false,
        data_date           date,
        is_sample           boolean NOT NULL DEFAULT false,
        geom                geometry(MultiPolygon, 25832) NOT NULL
                            CONSTRAINT parcel_geom_valid CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
        area_m2             double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
        version             integer NOT NULL DEFAULT 1,
        created_at          timestamptz NOT NULL DEFAULT now(),
        created_by          text NOT NULL,
        updated_at          timestamptz NOT NULL DEFAULT now(),
        updated_by          text NOT NULL,
        retired_at          timestamptz,
        retired_by          text,
        CONSTRAINT parcel_local_ref_unique UNIQUE (ags, local_ref),
        {code_checks}
    );
    CREATE INDEX parcel_geom_idx ON parcel USING gist (geom);
    CREATE INDEX parcel_category_status_idx ON parcel (category, status) WHERE retired_at IS NULL;
    COMMENT ON TABLE parcel IS 'Flächen des Registers (current state); history in parcel_version';
    COMMENT ON COLUMN parcel.local_ref IS 'the municipality''s own reference, unique per AGS';
    COMMENT ON COLUMN parcel.owner_contact IS 'confidential';
    COMMENT ON COLUMN parcel.internal_notes IS 'confidential';
    COMMENT ON COLUMN parcel.publication_allowed IS 'false when the owner objected (§ 200 (3) BauGB) or not yet cleared';
    COMMENT ON COLUMN parcel.data_date IS 'Stand: the date the facts were surveyed';
    COMMENT ON COLUMN parcel.is_sample IS 'true for generated sample data (Beispieldaten)';
    """)

    columns = ",\n        ".join(f"{name} {kind}" for name, kind in VERSIONED)
    op.execute(f"""
    CREATE TABLE parcel_version (
        parcel_id  uuid NOT NULL REFERENCES parcel (id),
        version    integer NOT NULL,
        valid_from timestamptz NOT NULL,
        valid_to   timestamptz,
        actor      text NOT NULL,
        {columns},
        PRIMARY KEY (parcel_id, version),
        CONSTRAINT parcel_version_period CHECK (valid_to IS NULL OR valid_to >= valid_from)
    );
    CREATE INDEX parcel_version_period_idx ON parcel_version (valid_from, valid_to);
    CREATE UNIQUE INDEX parcel_version_one_open_idx ON parcel_version (parcel_id) WHERE valid_to IS NULL;
    COMMENT ON TABLE parcel_version IS 'every state a parcel ever had, valid in [valid_from, valid_to)';
    """)

    op.execute(f"""
    CREATE FUNCTION parcel_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
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

        IF TG_OP = 'UPDATE' AND NEW.geom = OLD.geom AND NEW.ags IS NOT DISTINCT FROM OLD.ags THEN
            RETURN NEW;
        END IF;
        -- The municipality holding the largest share of the parcel (boundaries are generalised,
        -- so a parcel on the border may overlap its neighbour a little).
        SELECT m.ags, m.name,
               CASE WHEN ST_Covers(m.geom, NEW.geom) THEN 1.0
                    ELSE ST_Area(ST_Intersection(m.geom, NEW.geom)) / ST_Area(NEW.geom) END AS share
          INTO best
          FROM municipality m
         WHERE ST_Intersects(m.geom, NEW.geom)
         ORDER BY share DESC
         LIMIT 1;
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

    CREATE FUNCTION parcel_after_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.version = OLD.version AND NEW.retired_at IS NOT DISTINCT FROM OLD.retired_at THEN
                RETURN NULL;  -- an update that changed nothing
            END IF;
            UPDATE parcel_version SET valid_to = coalesce(NEW.retired_at, NEW.updated_at)
             WHERE parcel_id = NEW.id AND valid_to IS NULL;
            IF NEW.retired_at IS NOT NULL THEN
                RETURN NULL;
            END IF;
        END IF;
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {", ".join(n for n, _ in VERSIONED)})
        VALUES (NEW.id, NEW.version, NEW.updated_at, NEW.updated_by, {", ".join("NEW." + n for n, _ in VERSIONED)});
        RETURN NULL;
    END $$;

    CREATE FUNCTION parcel_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'parcel % of municipality % cannot be deleted; retire it instead', OLD.local_ref, OLD.ags
            USING ERRCODE = 'restrict_violation', CONSTRAINT = 'parcel_never_deleted';
    END $$;

    CREATE TRIGGER parcel_before_write BEFORE INSERT OR UPDATE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_before_write();
    CREATE TRIGGER parcel_after_write AFTER INSERT OR UPDATE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_after_write();
    CREATE TRIGGER parcel_refuse_delete BEFORE DELETE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_refuse_delete();
    """)

    kinds = ", ".join(f"'{k}'" for k in CONTEXT_KINDS)
    op.execute(f"""
    CREATE TABLE context_feature (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind       text NOT NULL CONSTRAINT context_feature_kind_code CHECK (kind IN ({kinds})),
        name       text,
        attributes jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        source     text NOT NULL,
        geom       geometry(Geometry, 25832) NOT NULL
                   CONSTRAINT context_feature_geom_valid CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
        loaded_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX context_feature_geom_idx ON context_feature USING gist (geom);
    CREATE INDEX context_feature_kind_idx ON context_feature (kind);
    COMMENT ON TABLE context_feature IS 'context layers for scoring (stations, stops, junctions, ports, residential areas, flood zones, protected areas)';
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE context_feature;
    DROP TRIGGER parcel_refuse_delete ON parcel;
    DROP TRIGGER parcel_after_write ON parcel;
    DROP TRIGGER parcel_before_write ON parcel;
    DROP TABLE parcel_version;
    DROP TABLE parcel;
    DROP FUNCTION parcel_refuse_delete();
    DROP FUNCTION parcel_after_write();
    DROP FUNCTION parcel_before_write();
    DROP TABLE municipality;
    """)
