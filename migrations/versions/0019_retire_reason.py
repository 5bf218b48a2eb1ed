"""The reason a parcel was retired (Stilllegung mit Grund).

A retirement records why the parcel left the register: a code of ``landreg.vocab.RETIRE_REASON``
(``retire_reason``) and, for ``sonstiges`` required, otherwise optional, a free-text comment
(``retire_comment``). Both sit on the parcel beside ``retired_at`` and ``retired_by``: a
retirement ends the parcel's last version without making a new one, so the retired row is that
version, and nothing can change it afterwards (``parcel_retired_read_only``).

* CHECK constraints: the code is one of the list; only a retired parcel has a reason or comment;
  ``sonstiges`` has a comment that is not blank.
* The row trigger lets a retirement set the two columns (it refused any other change made with
  a retirement) and refuses a retirement without a reason (``parcel_retire_reason_required``).
* Parcels retired before this migration keep an empty reason: "nicht erfasst" (not recorded).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from alembic import op
from schema_triggers import vouched_before_write

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

DERIVED = ("public_since",)
REASONS = "'bebaut', 'zusammengelegt', 'geteilt', 'aufgegeben', 'fehlerfassung', 'nicht_in_lieferung', 'sonstiges'"

_RETIRING = "ARRAY['retired_at', 'retired_by']"
_REASON_REQUIRED = """
                IF NEW.retire_reason IS NULL THEN
                    RAISE EXCEPTION 'parcel % of municipality %: a retirement needs a reason', OLD.local_ref, OLD.ags
                        USING ERRCODE = 'check_violation', COLUMN = 'retire_reason',
                              CONSTRAINT = 'parcel_retire_reason_required';
                END IF;
                NEW.retired_at := NEW.updated_at;"""
_NEW_ROW = """
            NEW.retired_by := NULL;"""


def _before_write_with_reason() -> str:
    """0016's row trigger, with a retirement that sets (and needs) its reason."""
    text = vouched_before_write(DERIVED, derived_on_retired=True)
    replacements = (
        (_RETIRING, "ARRAY['retired_at', 'retired_by', 'retire_reason', 'retire_comment']", 2),
        ("\n                NEW.retired_at := NEW.updated_at;", _REASON_REQUIRED, 1),
        (_NEW_ROW, _NEW_ROW + "\n            NEW.retire_reason := NULL;\n            NEW.retire_comment := NULL;", 1),
    )
    for old, new, count in replacements:
        assert text.count(old) == count, old
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE parcel ADD COLUMN retire_reason text, ADD COLUMN retire_comment text;
    ALTER TABLE parcel
        ADD CONSTRAINT parcel_retire_reason_code CHECK (retire_reason IN ({REASONS})),
        ADD CONSTRAINT parcel_retire_reason_of_retired
            CHECK (retired_at IS NOT NULL OR (retire_reason IS NULL AND retire_comment IS NULL)),
        ADD CONSTRAINT parcel_retire_comment_for_other
            CHECK (retire_reason IS DISTINCT FROM 'sonstiges' OR coalesce(btrim(retire_comment), '') <> '');
    COMMENT ON COLUMN parcel.retire_reason IS
        'why the parcel was retired (landreg.vocab.RETIRE_REASON); empty for retirements before 0019: not recorded';
    COMMENT ON COLUMN parcel.retire_comment IS
        'the retirement''s comment (required for sonstiges); confidential like internal_notes';
    """)
    op.execute(_before_write_with_reason())


def downgrade() -> None:
    op.execute(vouched_before_write(DERIVED, derived_on_retired=True))
    op.execute("ALTER TABLE parcel DROP COLUMN retire_comment, DROP COLUMN retire_reason")
