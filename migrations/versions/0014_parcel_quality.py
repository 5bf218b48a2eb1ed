"""Data quality per record (Datenqualität): one row per parcel, written by ``landreg.quality``.

* ``parcel_quality``: for the parcel version ``parcel_version`` the ``completeness`` (share of the
  fields its category needs that are filled, 0..1), the plausibility and currency ``findings``
  (stable codes such as ``bauluecke_ueber_1ha``, ``doppelte_geometrie``,
  ``stand_aelter_12_monate``) and the ``score`` 0..100 derived from both. Recomputed for the
  parcels an edit or an import writes (and their overlapping neighbours); ``landreg quality
  --all`` recomputes every row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE parcel_quality (
        parcel_id uuid PRIMARY KEY REFERENCES parcel (id),
        parcel_version integer NOT NULL,
        score smallint NOT NULL CONSTRAINT parcel_quality_score_range CHECK (score BETWEEN 0 AND 100),
        completeness real NOT NULL CONSTRAINT parcel_quality_completeness_range CHECK (completeness BETWEEN 0 AND 1),
        findings text[] NOT NULL DEFAULT '{}',
        computed_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX parcel_quality_score_idx ON parcel_quality (score);
    COMMENT ON TABLE parcel_quality IS 'data quality of a parcel version: completeness, findings, score (landreg.quality)';
    COMMENT ON COLUMN parcel_quality.completeness IS 'share of the fields the parcel''s category needs that are filled';
    COMMENT ON COLUMN parcel_quality.findings IS 'plausibility and currency findings, stable codes (landreg.quality.FINDINGS)';
    COMMENT ON COLUMN parcel_quality.score IS '0..100 from completeness and findings (formula in landreg.quality)';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE parcel_quality")
