"""Flurstückskennzeichen of parcels from ALKIS, and a table of loaded Flurstücke.

* ``parcel.flurstueckskennzeichen``: the ALKIS Flurstücke a parcel covers, their 20-character keys
  sorted and comma-separated (``landreg.flurstueck``); a versioned attribute like every other
  (``parcel_past_version`` and the history view list it). Any other form is refused by a trigger
  whose message names the column and the expected form (``parcel_flurstueckskennzeichen_format``);
  it fires only when the value does not fit, so a write costs one regular expression at most.
* ``alkis_flurstueck``: Flurstücke loaded from a NAS or "ALKIS vereinfacht" file
  (``landreg alkis load``), from which a planner composes a parcel (``landreg.alkis``).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path

from alembic import op
from schema_history import history_sql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location("m0012", Path(__file__).with_name("0012_history_of_past_versions.py"))
_m0012 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0012)

VERSIONED = [*_m0012.VERSIONED, "flurstueckskennzeichen"]  # a view's columns can only be appended
_KEY = "[0-9]{14}[0-9_]{6}"
KEYS_PATTERN = f"^{_KEY}(,{_KEY})*$"  # = landreg.flurstueck.KEYS_PATTERN, as of this migration


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE parcel ADD COLUMN flurstueckskennzeichen text;
    ALTER TABLE parcel_past_version ADD COLUMN flurstueckskennzeichen text;
    COMMENT ON COLUMN parcel.flurstueckskennzeichen IS
        'the ALKIS Flurstücke the parcel covers: 20-character keys, sorted, comma-separated';

    CREATE FUNCTION parcel_refuse_flurstueckskennzeichen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is not a list of Flurstückskennzeichen: each key has the 20 characters ALKIS writes '
                        '(e.g. 05329001100085______ for Land 05, Gemarkung 3290, Flur 011, Flurstück 85), '
                        'several are separated by commas', quote_literal(left(NEW.flurstueckskennzeichen, 60))
            USING ERRCODE = 'check_violation', COLUMN = 'flurstueckskennzeichen',
                  CONSTRAINT = 'parcel_flurstueckskennzeichen_format';
    END $$;
    CREATE TRIGGER parcel_flurstueckskennzeichen_format
        BEFORE INSERT OR UPDATE OF flurstueckskennzeichen ON parcel
        FOR EACH ROW WHEN (NEW.flurstueckskennzeichen !~ '{KEYS_PATTERN}')
        EXECUTE FUNCTION parcel_refuse_flurstueckskennzeichen();

    CREATE TABLE alkis_flurstueck (
        kennzeichen      text PRIMARY KEY CONSTRAINT alkis_flurstueck_kennzeichen_format CHECK (kennzeichen ~ '^{_KEY}$'),
        ags              char(8) CONSTRAINT alkis_flurstueck_ags_format CHECK (ags ~ '^[0-9]{{8}}$'),
        amtliche_flaeche double precision CONSTRAINT alkis_flurstueck_amtliche_flaeche_positive
                             CHECK (amtliche_flaeche > 0),
        geom             geometry(MultiPolygon, 25832) NOT NULL,
        source           text NOT NULL,
        loaded_at        timestamptz NOT NULL DEFAULT now(),
        loaded_by        text NOT NULL
    );
    CREATE INDEX alkis_flurstueck_geom_idx ON alkis_flurstueck USING gist (geom);
    CREATE INDEX alkis_flurstueck_ags_idx ON alkis_flurstueck (ags);
    COMMENT ON TABLE alkis_flurstueck IS
        'ALKIS Flurstücke loaded from NAS or ALKIS vereinfacht files (landreg alkis load), to compose parcels of';
    COMMENT ON COLUMN alkis_flurstueck.ags IS 'AGS of the gemeindezugehoerigkeit (NAS) or gmdschl (ALKIS vereinfacht)';
    COMMENT ON COLUMN alkis_flurstueck.amtliche_flaeche IS 'the amtliche Fläche in m² as ALKIS states it';
    COMMENT ON COLUMN alkis_flurstueck.source IS 'the file it was loaded from (its name)';
    """)
    op.execute(history_sql(VERSIONED, planned_each_time=False))


def downgrade() -> None:
    op.execute("""
    DROP TABLE alkis_flurstueck;
    DROP TRIGGER parcel_flurstueckskennzeichen_format ON parcel;
    DROP FUNCTION parcel_refuse_flurstueckskennzeichen();
    DROP VIEW parcel_version;
    """)
    op.execute(history_sql(_m0012.VERSIONED, planned_each_time=False))
    op.execute("""
    ALTER TABLE parcel_past_version DROP COLUMN flurstueckskennzeichen;
    ALTER TABLE parcel DROP COLUMN flurstueckskennzeichen;
    """)
