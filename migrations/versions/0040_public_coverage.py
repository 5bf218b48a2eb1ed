"""The coverage of each stored score's public variant (``parcel_score.public_coverage``).

A ranking showed every caller the coverage of the full score, which counts the weights of the
criteria built on a confidential field whenever their value is known: the public could tell a
parcel without a contamination record from one recorded as free of contamination (found in review).
The public variant's coverage counts only the criteria it is computed from. Existing rows get theirs
from the next scoring run (``landreg score``); until then a caller who sees public scores is given no
coverage, for every parcel alike.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-05
"""

from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE parcel_score ADD COLUMN public_coverage double precision;
        COMMENT ON COLUMN parcel_score.public_coverage IS
            'share of the weights the public variant had values for (no confidential criterion); NULL: not computed yet';
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE parcel_score DROP COLUMN public_coverage")
