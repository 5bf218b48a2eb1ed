"""Flächensicherung: recorded plan checks.

* ``plan_check`` / ``plan_check_parcel``: every planning check that was recorded, with the
  parcels it touches, so that the watch list can show them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE plan_check (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        checked_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor         text NOT NULL,
        name          text NOT NULL,
        intended_use  text NOT NULL,
        conflict      boolean NOT NULL,
        result        jsonb NOT NULL,
        geom          geometry(MultiPolygon, 25832) NOT NULL
    );
    CREATE TABLE plan_check_parcel (
        plan_check_id bigint NOT NULL REFERENCES plan_check (id) ON DELETE CASCADE,
        parcel_id     uuid NOT NULL REFERENCES parcel (id),
        affected_m2   double precision NOT NULL,
        distance_m    double precision,
        conflict      text NOT NULL CONSTRAINT plan_check_parcel_conflict CHECK (conflict IN ('flaechensicherung', 'abstandserlass', 'keiner')
        ),
        PRIMARY KEY (plan_check_id, parcel_id)
    );
    CREATE INDEX plan_check_parcel_parcel_idx ON plan_check_parcel (parcel_id);
    COMMENT ON TABLE plan_check IS 'recorded planning checks (Flächensicherung, Abstandserlass)';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE plan_check_parcel; DROP TABLE plan_check")
