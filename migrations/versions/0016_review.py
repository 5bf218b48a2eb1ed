"""Review of municipal changes (Prüfung), the reviewer role and an inbox per user.

* ``submission``: one change a planner made (a new parcel, a change, a retirement, or an import
  run with all its rows), waiting for review, approved or rejected by a reviewer with a comment;
  never deleted. ``submission_parcel``: the parcels of a submission, each with the version the
  change produced and its own state (an import's row that another change superseded meanwhile is
  ``ueberholt`` and needs the newer submission's review).
* ``parcel_pending``: the parcels whose latest state is not approved, with the latest approved
  version (NULL: none yet, a new parcel). Small by design: outside their own municipality, callers
  see the approved version of these parcels and the current row of every other one
  (:func:`landreg.access.visible_rows`).
* ``notification``: the in-app inbox of each user (token owner), optionally also sent by e-mail.
* ``api_token``: the role ``reviewer`` (regional body; sees everything, reviews, never edits) and an
  optional e-mail address for notifications.

A retirement waits for review too, so a retired parcel keeps its ``public_since`` (``is_published``
also asks for ``retired_at IS NULL``) and the derived columns of a retired parcel may still change
(an objection against a parcel whose retirement is not yet approved takes it off the public view).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from alembic import op
from schema_triggers import (
    PUBLICATION_CHANGED_0015,
    PUBLICATION_STATE_0015,
    PUBLICATION_STATE_0016,
    vouched_before_write,
)

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

DERIVED = ("public_since",)
STATES = "'wartend', 'freigegeben', 'abgelehnt', 'ueberholt'"


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE submission (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind          text NOT NULL CONSTRAINT submission_kind CHECK (kind IN ('anlage', 'aenderung', 'stilllegung', 'import')),
        ags           char(8)[] NOT NULL,
        actor         text NOT NULL,
        submitted_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
        import_run_id bigint REFERENCES import_run (id),
        state         text NOT NULL DEFAULT 'wartend' CONSTRAINT submission_state CHECK (state IN ({STATES})),
        reviewed_by   text,
        reviewed_at   timestamptz,
        comment       text CONSTRAINT submission_comment_length CHECK (length(comment) <= 5000),
        CONSTRAINT submission_reviewed CHECK ((state IN ('wartend', 'ueberholt')) = (reviewed_at IS NULL))
    );
    CREATE INDEX submission_waiting_idx ON submission (submitted_at) WHERE state = 'wartend';
    CREATE INDEX submission_ags_idx ON submission USING gin (ags);
    COMMENT ON TABLE submission IS 'a planner''s change for review: approved or rejected with a comment, never deleted';

    CREATE TABLE submission_parcel (
        submission_id bigint NOT NULL REFERENCES submission (id),
        parcel_id     uuid NOT NULL REFERENCES parcel (id),
        version       integer NOT NULL,
        retired       boolean NOT NULL DEFAULT false,
        base_version  integer,
        state         text NOT NULL DEFAULT 'wartend' CONSTRAINT submission_parcel_state CHECK (state IN ({STATES})),
        PRIMARY KEY (submission_id, parcel_id)
    );
    CREATE INDEX submission_parcel_parcel_idx ON submission_parcel (parcel_id, version);
    COMMENT ON COLUMN submission_parcel.version IS 'the version the change produced (a retirement: the version it ended)';
    COMMENT ON COLUMN submission_parcel.base_version IS 'the latest approved version when the change was made; NULL: none';

    CREATE TABLE parcel_pending (
        parcel_id        uuid PRIMARY KEY REFERENCES parcel (id),
        approved_version integer,
        since            timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    COMMENT ON TABLE parcel_pending IS
        'parcels whose latest state waits for review (or was rejected); others see approved_version (NULL: nothing)';

    CREATE TABLE notification (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        recipient  text NOT NULL,
        kind       text NOT NULL,
        subject    text NOT NULL,
        body       text NOT NULL,
        link       text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        read_at    timestamptz,
        emailed_at timestamptz
    );
    CREATE INDEX notification_recipient_idx ON notification (recipient, created_at DESC);
    CREATE INDEX notification_unsent_idx ON notification (id) WHERE emailed_at IS NULL;
    COMMENT ON TABLE notification IS 'the in-app inbox of each user (token owner); e-mailed too when SMTP is configured';

    ALTER TABLE api_token DROP CONSTRAINT api_token_role;
    ALTER TABLE api_token ADD CONSTRAINT api_token_role CHECK (role IN ('planner', 'reviewer', 'ministry', 'admin'));
    ALTER TABLE api_token ADD COLUMN email text CONSTRAINT api_token_email CHECK (email ~ '^[^@\\s]+@[^@\\s]+$');

    -- a retired parcel keeps the day it became public (its retirement may wait for review)
    CREATE OR REPLACE {PUBLICATION_STATE_0016}
    CREATE OR REPLACE FUNCTION publication_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        concerned uuid[];
    BEGIN
        IF TG_TABLE_NAME = 'objection' THEN
            concerned := ARRAY(SELECT parcel_id FROM new_rows);
        ELSE  -- publication_notice: every parcel of its municipality the public may still see
            concerned := ARRAY(SELECT id FROM parcel p WHERE ags IN (SELECT ags FROM new_rows)
                                 AND (retired_at IS NULL OR EXISTS (SELECT FROM parcel_pending pp WHERE pp.parcel_id = p.id)));
        END IF;
        UPDATE parcel p SET public_since = parcel_public_since(p.id, p.ags, p.category, p.publication_allowed)
         WHERE p.id = ANY (concerned)
           AND p.public_since IS DISTINCT FROM parcel_public_since(p.id, p.ags, p.category, p.publication_allowed);
        RETURN NULL;
    END $$;

    CREATE TRIGGER submission_never_deleted BEFORE DELETE ON submission
        FOR EACH ROW EXECUTE FUNCTION refuse_delete();
    CREATE TRIGGER submission_parcel_never_deleted BEFORE DELETE ON submission_parcel
        FOR EACH ROW EXECUTE FUNCTION refuse_delete();
    """)
    op.execute(vouched_before_write(DERIVED, derived_on_retired=True))


def downgrade() -> None:
    op.execute("UPDATE parcel SET public_since = NULL WHERE retired_at IS NOT NULL AND public_since IS NOT NULL")
    op.execute(vouched_before_write(DERIVED))
    op.execute(
        """
    DROP TABLE notification;
    DROP TABLE parcel_pending;
    DROP TABLE submission_parcel;
    DROP TABLE submission;
    ALTER TABLE api_token DROP COLUMN email;
    UPDATE api_token SET revoked_at = coalesce(revoked_at, now()), role = 'ministry' WHERE role = 'reviewer';
    ALTER TABLE api_token DROP CONSTRAINT api_token_role;
    ALTER TABLE api_token ADD CONSTRAINT api_token_role CHECK (role IN ('planner', 'ministry', 'admin'));

    """
        + "CREATE OR REPLACE"
        + PUBLICATION_STATE_0015
        + "CREATE OR REPLACE"
        + PUBLICATION_CHANGED_0015
    )
