"""Each parcel's Abstandserlass class: the distance class (I strictest, 1500 m … VII, 100 m) the
industrial or commercial parcel is kept for. NULL: the plan check assumes its category's default.

The history triggers copy the new column into every version.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from alembic import op
from schema_history import statement_history_functions

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VERSIONED = [
    "ags", "local_ref", "name", "category", "status", "designation", "planning_status", "previous_use",
    "contamination", "restriction_class", "availability", "ownership", "owner_willing", "servicing",
    "owner_contact", "internal_notes", "publication_allowed", "data_date", "is_sample", "geom", "area_m2",
]  # fmt: skip


def upgrade() -> None:
    op.execute("""
    ALTER TABLE parcel ADD COLUMN abstand_class text
        CONSTRAINT parcel_abstand_class_code CHECK (abstand_class IN ('I', 'II', 'III', 'IV', 'V', 'VI', 'VII'));
    ALTER TABLE parcel_version ADD COLUMN abstand_class text;
    COMMENT ON COLUMN parcel.abstand_class IS 'Abstandserlass class the parcel is kept for (I = 1500 m ... VII = 100 m)';
    """)
    op.execute(statement_history_functions([*VERSIONED, "abstand_class"]))


def downgrade() -> None:
    op.execute(statement_history_functions(VERSIONED))
    op.execute("ALTER TABLE parcel_version DROP COLUMN abstand_class; ALTER TABLE parcel DROP COLUMN abstand_class")
