"""Scores the public may see, and tokens that expire.

* ``parcel_score.public_score``: the score of the profile's public variant, computed from public
  facts only (criteria built on a confidential field left out with their weight, exclusions built
  on one not applied), so that neither a score nor its absence gives a confidential value away;
  ``public_excluded_by`` the public exclusions (flood zone, protected area) that removed it.
* ``api_token.expires_at``: when a token stops working (NULL: never, for tokens made so on
  purpose); tokens that exist get a year from now. ``replaces``: the token a rotation replaced.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE parcel_score
        ADD COLUMN public_score double precision
            CONSTRAINT parcel_score_public_range CHECK (public_score IS NULL OR public_score BETWEEN 0 AND 100),
        ADD COLUMN public_excluded_by text[] NOT NULL DEFAULT '{}';
    COMMENT ON COLUMN parcel_score.public_score IS
        'score of the public variant: criteria and exclusions built on confidential fields left out';
    COMMENT ON COLUMN parcel_score.public_excluded_by IS 'exclusion filters on public facts that remove the parcel';

    ALTER TABLE api_token
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN replaces bigint REFERENCES api_token (id);
    UPDATE api_token SET expires_at = now() + interval '1 year' WHERE revoked_at IS NULL;
    COMMENT ON COLUMN api_token.expires_at IS 'the token stops working then; NULL: never';
    COMMENT ON COLUMN api_token.replaces IS 'the token this one replaced (landreg token rotate)';
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE api_token DROP COLUMN replaces, DROP COLUMN expires_at;
    ALTER TABLE parcel_score DROP COLUMN public_excluded_by, DROP COLUMN public_score;
    """)
