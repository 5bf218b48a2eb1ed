"""A score's profile is checked once per statement, not once per row; profile versions are never deleted.

The foreign key ``parcel_score.profile_id → scoring_profile`` checked every inserted score by
looking up and locking its profile (``FOR KEY SHARE``): a full run into a fresh register inserts
a million scores of three profiles, and the check was a third of that write (550,329 scores:
3.1 of 10.3 s; the bench register, 2026-12-04). The rows of one statement name one profile or a
few, so a statement-level trigger checks those few, against the same table, with the same error
(``foreign_key_violation``). An update that changes a score's profile (nothing does) is checked per row.

What the key also did: no profile could go while scores named it. Profile versions record how
scores came about (each ``scoring_run`` names its version already, by a key): they are never
deleted now (``refuse_delete``), their id never changes, and a TRUNCATE of the profiles takes the
scores along (as a TRUNCATE of the parcels does, 0033).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04
"""

from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE parcel_score DROP CONSTRAINT parcel_score_profile_id_fkey;

    CREATE FUNCTION parcel_score_profile_known() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unknown bigint;
    BEGIN
        IF TG_LEVEL = 'ROW' THEN
            unknown := CASE WHEN NOT EXISTS (SELECT FROM scoring_profile p WHERE p.id = NEW.profile_id)
                            THEN NEW.profile_id END;
        ELSE
            SELECT n.profile_id INTO unknown FROM (SELECT DISTINCT profile_id FROM new_rows) n
             WHERE NOT EXISTS (SELECT FROM scoring_profile p WHERE p.id = n.profile_id) LIMIT 1;
        END IF;
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION 'parcel_score names scoring profile %, which does not exist', unknown
                USING ERRCODE = 'foreign_key_violation', TABLE = 'parcel_score', COLUMN = 'profile_id';
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER parcel_score_profile_known AFTER INSERT ON parcel_score
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION parcel_score_profile_known();
    CREATE TRIGGER parcel_score_profile_changed AFTER UPDATE OF profile_id ON parcel_score
        FOR EACH ROW WHEN (OLD.profile_id IS DISTINCT FROM NEW.profile_id)
        EXECUTE FUNCTION parcel_score_profile_known();

    CREATE TRIGGER scoring_profile_never_deleted BEFORE DELETE ON scoring_profile
        FOR EACH ROW EXECUTE FUNCTION refuse_delete();
    CREATE FUNCTION scoring_profile_id_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'a scoring profile version keeps its id (%): save a new version instead', OLD.id
            USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER scoring_profile_id_kept BEFORE UPDATE OF id ON scoring_profile
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION scoring_profile_id_kept();
    CREATE FUNCTION scoring_profile_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM parcel_score;  -- DELETE: a TRUNCATE … CASCADE may hold the table open (0033)
        RETURN NULL;
    END $$;
    CREATE TRIGGER scoring_profile_scores_truncate AFTER TRUNCATE ON scoring_profile
        FOR EACH STATEMENT EXECUTE FUNCTION scoring_profile_truncated();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER scoring_profile_scores_truncate ON scoring_profile;
    DROP FUNCTION scoring_profile_truncated();
    DROP TRIGGER scoring_profile_id_kept ON scoring_profile;
    DROP FUNCTION scoring_profile_id_kept();
    DROP TRIGGER scoring_profile_never_deleted ON scoring_profile;
    DROP TRIGGER parcel_score_profile_changed ON parcel_score;
    DROP TRIGGER parcel_score_profile_known ON parcel_score;
    DROP FUNCTION parcel_score_profile_known();
    DELETE FROM parcel_score s WHERE NOT EXISTS (SELECT FROM scoring_profile p WHERE p.id = s.profile_id);
    ALTER TABLE parcel_score ADD CONSTRAINT parcel_score_profile_id_fkey
        FOREIGN KEY (profile_id) REFERENCES scoring_profile (id);
    """)
