"""Each stored indicator row records the definition that computed it.

``parcel_indicator.definition`` holds a fingerprint of the indicators' SQL
(:data:`landreg.scoring.indicators.DEFINITION`). A row computed by another definition counts as
stale, like one older than its parcel or than a change of a context layer, so that a full scoring
run keeps current rows and computes only the others (``landreg score --all-indicators`` computes
every row again).

The rows stored before this revision were computed by some earlier release, which one is not
recorded: they are left without a fingerprint and count as stale. The first ``landreg score`` after
the upgrade computes them all again, as every full run did before (at 1M parcels a little over a
minute on two cores). Run it soon after upgrading (with the servers of the older release stopped:
they would write rows without a fingerprint). Until then every parcel's indicators count as stale:
a saved profile computes them all first, on one connection; an explanation computes its parcel's
in the query; the profile preview reads the stored values and says that they are stale; a change
of a context layer computes and re-scores every parcel in its area, not only those whose values
change.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE parcel_indicator ADD COLUMN definition text;
        COMMENT ON COLUMN parcel_indicator.definition IS
            'fingerprint of the indicators'' definition that computed the row; another (or none): stale';
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE parcel_indicator DROP COLUMN definition")
