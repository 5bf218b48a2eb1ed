"""Leaner scores for full runs over a million parcels.

Rankings rank every score of a profile anyway, and the primary key (profile, parcel) serves
every lookup: the two extra indexes only slowed writing. The foreign key to ``parcel`` is
dropped too (its per-row check was a third of the write time): parcels are never deleted
(a trigger refuses it), so a score cannot lose its parcel.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    DROP INDEX parcel_score_rank_idx;
    DROP INDEX parcel_score_parcel_idx;
    ALTER TABLE parcel_score DROP CONSTRAINT parcel_score_parcel_id_fkey;
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE parcel_score ADD CONSTRAINT parcel_score_parcel_id_fkey FOREIGN KEY (parcel_id) REFERENCES parcel (id);
    CREATE INDEX parcel_score_rank_idx ON parcel_score (profile_id, score DESC NULLS LAST);
    CREATE INDEX parcel_score_parcel_idx ON parcel_score (parcel_id);
    """)
