"""Saved searches with Atom feeds, and enquiries to a municipality.

* ``saved_search``: a site search kept for its Atom feed (``landreg.alerts``): the search in
  canonical form, the SHA-256 of its unguessable token (the user keeps the token in the feed URL,
  the database only its hash, as with sessions), an optional e-mail address for alerts by e-mail
  (sent only once its owner confirmed it, double opt-in; ``emailed_state``: the sites and their
  ``updated`` of the last alert mail), and when the feed was last read (to retire searches nobody
  reads). Unsubscribing deletes it.
* ``enquiry``: a question of the public about a public site, for that municipality's planners only
  (``landreg.enquiries``); the enquirer's name and address are confidential.
* ``enquiry_attempt``: every enquiry sent, by client (the SHA-256 of its address), for the rate limit;
  kept for an hour.
* ``form_key``: the key that signs the tokens of the public's forms (no session to bind them to),
  drawn from the server's strong random source (``gen_random_uuid``) when the table is made.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE saved_search (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        token_sha256  char(64) NOT NULL UNIQUE,
        params        jsonb NOT NULL DEFAULT '{}',
        email         text CONSTRAINT saved_search_email CHECK (email ~ '^[^@\\s,<>]+@[^@\\s,<>]+$'),
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_read_at  timestamptz,
        confirmation_sent_at timestamptz,
        email_confirmed_at   timestamptz,
        emailed_at    timestamptz,
        emailed_state jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX saved_search_email_idx ON saved_search (id) WHERE email IS NOT NULL;
    COMMENT ON TABLE saved_search IS
        'site searches kept as Atom feeds (landreg.alerts); the token only as its hash; unsubscribing deletes';

    CREATE TABLE enquiry (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        parcel_id    uuid NOT NULL REFERENCES parcel (id),
        ags          char(8) NOT NULL REFERENCES municipality (ags),
        name         text NOT NULL CONSTRAINT enquiry_name CHECK (char_length(name) BETWEEN 1 AND 200),
        email        text NOT NULL CONSTRAINT enquiry_email CHECK (email ~ '^[^@\\s,<>]+@[^@\\s,<>]+$'),
        message      text NOT NULL CONSTRAINT enquiry_message CHECK (char_length(message) BETWEEN 1 AND 4000),
        received_at  timestamptz NOT NULL DEFAULT now(),
        handled_at   timestamptz,
        handled_by   text
    );
    CREATE INDEX enquiry_ags_idx ON enquiry (ags, received_at DESC);
    CREATE INDEX enquiry_parcel_idx ON enquiry (parcel_id);
    COMMENT ON TABLE enquiry IS
        'questions of the public about a public site, for its municipality''s planners only (confidential)';

    CREATE TABLE enquiry_attempt (
        client_sha256 char(64) NOT NULL,
        at            timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX enquiry_attempt_idx ON enquiry_attempt (client_sha256, at);
    COMMENT ON TABLE enquiry_attempt IS 'enquiries sent per client, for the rate limit (landreg.enquiries)';

    CREATE TABLE form_key (
        id  smallint PRIMARY KEY CONSTRAINT form_key_one CHECK (id = 1),
        key bytea NOT NULL
    );
    INSERT INTO form_key (id, key)
    VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
    COMMENT ON TABLE form_key IS 'signs the tokens of the public''s forms (landreg.enquiries.form_token)';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE form_key; DROP TABLE enquiry_attempt; DROP TABLE enquiry; DROP TABLE saved_search;")
