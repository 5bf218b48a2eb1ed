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
from schema_history import row_history_function
from schema_triggers import LOCATION_BY_MUNICIPALITY, before_write

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

    op.execute(before_write(LOCATION_BY_MUNICIPALITY))
    op.execute(row_history_function([n for n, _ in VERSIONED]))
    op.execute("""

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
