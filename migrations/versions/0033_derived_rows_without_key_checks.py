"""Derived per-parcel rows are written without a foreign-key check; a TRUNCATE of ``parcel`` takes them along.

``parcel_quality`` and ``parcel_indicator`` hold what the register computes from a parcel: its data
quality and its indicators, written set-wise for every parcel an import or a full run touches. Their
foreign key to ``parcel`` checked each row by locking its parcel (``FOR KEY SHARE``): writing the
data quality of 1M parcels took 12.2 s with the key and 2.8 s without (INSERT … ON CONFLICT: 9.6 s
and 4.2 s; the bench register, 2026-12-04). The rows are computed from the parcel table itself, and parcels are
never deleted (a trigger refuses it), so a row cannot lose its parcel; ``parcel_score`` dropped its
key for the same reason (0006).

TRUNCATE is the one way parcels go (a test, an operator starting over). It used to reach these tables
through the keys (``TRUNCATE parcel CASCADE``); now a trigger empties them, and the scores, after it.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE parcel_quality DROP CONSTRAINT parcel_quality_parcel_id_fkey;
    ALTER TABLE parcel_indicator DROP CONSTRAINT parcel_indicator_parcel_id_fkey;

    CREATE FUNCTION parcel_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- DELETE, not TRUNCATE: a TRUNCATE … CASCADE that reaches a table by its own keys (the
        -- scores, from their profiles) holds it open, and a TRUNCATE of it here would be refused
        DELETE FROM parcel_quality;
        DELETE FROM parcel_indicator;
        DELETE FROM parcel_score;
        RETURN NULL;
    END $$;
    CREATE TRIGGER parcel_derived_truncate AFTER TRUNCATE ON parcel
        FOR EACH STATEMENT EXECUTE FUNCTION parcel_truncated();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER parcel_derived_truncate ON parcel;
    DROP FUNCTION parcel_truncated();
    DELETE FROM parcel_quality q WHERE NOT EXISTS (SELECT FROM parcel p WHERE p.id = q.parcel_id);
    DELETE FROM parcel_indicator i WHERE NOT EXISTS (SELECT FROM parcel p WHERE p.id = i.parcel_id);
    ALTER TABLE parcel_quality ADD CONSTRAINT parcel_quality_parcel_id_fkey FOREIGN KEY (parcel_id) REFERENCES parcel (id);
    ALTER TABLE parcel_indicator ADD CONSTRAINT parcel_indicator_parcel_id_fkey
        FOREIGN KEY (parcel_id) REFERENCES parcel (id);
    """)
