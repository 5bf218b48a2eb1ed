"""Each parcel's Abstandserlass class: the distance class (I strictest, 1500 m … VII, 100 m) the
industrial or commercial parcel is kept for. NULL: the plan check assumes its category's default.

The history triggers copy the new column into every version.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VERSIONED = [
    "ags", "local_ref", "name", "category", "status", "designation", "planning_status", "previous_use",
    "contamination", "restriction_class", "availability", "ownership", "owner_willing", "servicing",
    "owner_contact", "internal_notes", "publication_allowed", "data_date", "is_sample", "geom", "area_m2",
]  # fmt: skip


def _history_functions(columns: list[str]) -> str:
    """The statement-level history triggers of 0004, for the given versioned columns."""
    names = ", ".join(columns)
    new = ", ".join(f"n.{c}" for c in columns)
    return f"""
    CREATE OR REPLACE FUNCTION parcel_history_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {names})
        SELECT n.id, n.version, n.updated_at, n.updated_by, {new} FROM new_rows n;
        RETURN NULL;
    END $$;

    CREATE OR REPLACE FUNCTION parcel_history_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE parcel_version v SET valid_to = coalesce(n.retired_at, n.updated_at)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE v.parcel_id = n.id AND v.valid_to IS NULL
           AND (n.version <> o.version OR n.retired_at IS DISTINCT FROM o.retired_at);
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {names})
        SELECT n.id, n.version, n.updated_at, n.updated_by, {new}
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.version <> o.version AND n.retired_at IS NULL;
        RETURN NULL;
    END $$;
    """


def upgrade() -> None:
    op.execute("""
    ALTER TABLE parcel ADD COLUMN abstand_class text
        CONSTRAINT parcel_abstand_class_code CHECK (abstand_class IN ('I', 'II', 'III', 'IV', 'V', 'VI', 'VII'));
    ALTER TABLE parcel_version ADD COLUMN abstand_class text;
    COMMENT ON COLUMN parcel.abstand_class IS 'Abstandserlass class the parcel is kept for (I = 1500 m ... VII = 100 m)';
    """)
    op.execute(_history_functions([*VERSIONED, "abstand_class"]))


def downgrade() -> None:
    op.execute(_history_functions(VERSIONED))
    op.execute("ALTER TABLE parcel_version DROP COLUMN abstand_class; ALTER TABLE parcel DROP COLUMN abstand_class")
