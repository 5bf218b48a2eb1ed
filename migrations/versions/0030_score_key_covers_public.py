"""The primary key of ``parcel_score`` carries the public score; its copy of an index goes.

``parcel_score_public_idx`` (0023) had the key's columns and the public score with the parcel
version, so that the site search reads public scores from an index alone. Every written score then
went into two B-trees with the same keys. The primary key now carries those columns itself
(``INCLUDE``), the same reads come from it, and a full rescoring writes one index entry a score
instead of two: updating 550,329 scores took 5.9–6.1 s instead of 9.0–9.3 s (1M register).

The new key is built while ``parcel_score`` is locked: 2.2 s for 1.2M scores on this machine, so
seconds in which site searches and score tiles wait. At state scale, upgrade at a quiet hour.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE parcel_score DROP CONSTRAINT parcel_score_pkey,
            ADD CONSTRAINT parcel_score_pkey PRIMARY KEY (profile_id, parcel_id) INCLUDE (parcel_version, public_score);
        DROP INDEX parcel_score_public_idx;
    """)


def downgrade() -> None:
    op.execute("""
        CREATE INDEX parcel_score_public_idx ON parcel_score (profile_id, parcel_id) INCLUDE (parcel_version, public_score);
        ALTER TABLE parcel_score DROP CONSTRAINT parcel_score_pkey,
            ADD CONSTRAINT parcel_score_pkey PRIMARY KEY (profile_id, parcel_id);
    """)
