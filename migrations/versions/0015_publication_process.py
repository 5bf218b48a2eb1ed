"""Publication under § 200 (3) BauGB as a process: notices, objections, and "public" derived.

* ``publication_notice``: a municipality's public announcement that it will publish its
  Baulandkataster (all parcels of some categories, or only those selected for publication), the
  day it was announced and the end of the objection period (a month later, by §§ 187 ff., 193 BGB,
  or longer); withdrawn, not deleted. ``kind = 'uebernommen'``: the state before this migration.
* ``objection``: an owner's objection to the publication of a parcel: received, withdrawn, note
  (confidential); never deleted.
* ``parcel.public_since``: from which day the parcel is public (NULL: not public), derived by the
  database from the two tables (and the parcel's category, selection and retirement) whenever any of
  them changes; a change of it alone makes no new version of the parcel.

``publication_allowed`` keeps its column and now means "selected for publication"; parcels
published by it so far keep their state: each municipality with such parcels gets a notice of kind
'uebernommen' whose period ended yesterday, covering the selected parcels.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from alembic import op
from schema_triggers import PUBLICATION_CHANGED_0015, PUBLICATION_STATE_0015, vouched_before_write

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

DERIVED = ("public_since",)


def upgrade() -> None:
    op.execute(
        """
    CREATE TABLE publication_notice (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ags             char(8) NOT NULL REFERENCES municipality (ags),
        kind            text NOT NULL CONSTRAINT publication_notice_kind CHECK (kind IN ('bekanntmachung', 'uebernommen')),
        announced_on    date NOT NULL,
        objection_until date NOT NULL CONSTRAINT publication_notice_period CHECK (objection_until >= announced_on),
        categories      text[],   -- NULL: every category
        selected_only   boolean NOT NULL DEFAULT true,  -- only parcels selected for publication
        reference       text,     -- e.g. the Amtsblatt in which it was announced
        recorded_by     text NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        withdrawn_at    timestamptz,
        withdrawn_by    text
    );
    CREATE INDEX publication_notice_ags_idx ON publication_notice (ags) WHERE withdrawn_at IS NULL;
    COMMENT ON TABLE publication_notice IS
        'announcements under § 200 (3) BauGB: which parcels a municipality publishes after the objection period';

    CREATE TABLE objection (
        id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        parcel_id              uuid NOT NULL REFERENCES parcel (id),
        received_on            date NOT NULL,
        withdrawn_on           date CONSTRAINT objection_withdrawn_after_received CHECK (withdrawn_on >= received_on),
        note                   text,
        recorded_by            text NOT NULL,
        recorded_at            timestamptz NOT NULL DEFAULT now(),
        withdrawal_recorded_by text,
        withdrawal_recorded_at timestamptz
    );
    CREATE INDEX objection_active_idx ON objection (parcel_id) WHERE withdrawn_on IS NULL;
    COMMENT ON TABLE objection IS 'owners'' objections to publication (confidential); withdrawn, never deleted';

    ALTER TABLE parcel ADD COLUMN public_since date;
    COMMENT ON COLUMN parcel.public_since IS
        'derived: the day from which the parcel is public (a notice''s period ended, no active objection); NULL: not public';

    CREATE FUNCTION parcel_public_since(p_id uuid, p_ags text, p_category text, p_selected boolean)
        RETURNS date LANGUAGE sql STABLE AS $$
        SELECT CASE WHEN EXISTS (SELECT FROM objection o WHERE o.parcel_id = p_id AND o.withdrawn_on IS NULL)
                    THEN NULL
                    ELSE (SELECT min(n.objection_until) + 1 FROM publication_notice n
                           WHERE n.ags = p_ags AND n.withdrawn_at IS NULL
                             AND (n.categories IS NULL OR p_category = ANY (n.categories))
                             AND (NOT n.selected_only OR p_selected))
               END
    $$;

    -- a parcel's own changes (new, category, selection, municipality, retirement) derive it again
    """
        + "CREATE"
        + PUBLICATION_STATE_0015
        + """
    -- after parcel_before_write (triggers fire in name order), which derives the AGS
    CREATE TRIGGER parcel_publication_state BEFORE INSERT OR UPDATE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_publication_state();

    -- a notice or an objection that is recorded or changes derives it again for the parcels concerned
    """
        + "CREATE"
        + PUBLICATION_CHANGED_0015
        + """
    CREATE TRIGGER publication_notice_inserted AFTER INSERT ON publication_notice
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION publication_changed();
    CREATE TRIGGER publication_notice_updated AFTER UPDATE ON publication_notice
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION publication_changed();
    CREATE TRIGGER objection_inserted AFTER INSERT ON objection
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION publication_changed();
    CREATE TRIGGER objection_updated AFTER UPDATE ON objection
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION publication_changed();

    CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% rows are never deleted; withdraw them instead', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER publication_notice_never_deleted BEFORE DELETE ON publication_notice
        FOR EACH ROW EXECUTE FUNCTION refuse_delete();
    CREATE TRIGGER objection_never_deleted BEFORE DELETE ON objection
        FOR EACH ROW EXECUTE FUNCTION refuse_delete();
    """
    )
    op.execute(vouched_before_write(DERIVED))
    # what publication_allowed published so far stays published: 'uebernommen', period ended yesterday
    op.execute("""
    INSERT INTO publication_notice (ags, kind, announced_on, objection_until, selected_only, reference, recorded_by)
    SELECT DISTINCT ags, 'uebernommen', current_date - 1, current_date - 1, true,
           'publication_allowed vor Einführung des Verfahrens (Migration 0015)', 'migration-0015'
      FROM parcel WHERE publication_allowed AND retired_at IS NULL;
    """)


def downgrade() -> None:
    op.execute(vouched_before_write())
    op.execute("""
    DROP TRIGGER parcel_publication_state ON parcel;
    DROP FUNCTION parcel_publication_state();
    ALTER TABLE parcel DROP COLUMN public_since;
    DROP TABLE objection;
    DROP TABLE publication_notice;
    DROP FUNCTION publication_changed();
    DROP FUNCTION refuse_delete();
    DROP FUNCTION parcel_public_since(uuid, text, text, boolean);
    """)
