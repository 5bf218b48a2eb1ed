"""User accounts for the web workspace: people sign in with a password; API tokens stay for machines.

* ``app_user``: a person with a role (planner of municipalities, reviewer, ministry, admin) and an
  Argon2id password hash (``landreg.users``); disabled, never deleted. Its ``username`` is the name
  under which changes, reviews and the inbox know the person, as a token's ``owner`` is.
* ``web_session``: a server-side session (the browser holds a random id, the database its SHA-256),
  expiring, revocable, with the CSRF token of its forms.
* ``login_failure``: failed sign-ins, by user name and by client address, for throttling.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE app_user (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username      text NOT NULL CONSTRAINT app_user_username_form CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,62}$'),
        display_name  text,
        role          text NOT NULL CONSTRAINT app_user_role CHECK (role IN ('planner', 'reviewer', 'ministry', 'admin')),
        ags           char(8)[] NOT NULL DEFAULT '{}',
        email         text CONSTRAINT app_user_email CHECK (email ~ '^[^@\\s]+@[^@\\s]+$'),
        password_hash text NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        password_changed_at timestamptz NOT NULL DEFAULT now(),
        disabled_at   timestamptz,
        CONSTRAINT app_user_planner_has_municipality CHECK (role <> 'planner' OR cardinality(ags) > 0)
    );
    CREATE UNIQUE INDEX app_user_username_idx ON app_user (lower(username));
    COMMENT ON TABLE app_user IS 'people who sign in to the workspace (landreg user create); disabled, never deleted';

    CREATE TABLE web_session (
        id_sha256   char(64) PRIMARY KEY,
        user_id     bigint NOT NULL REFERENCES app_user (id),
        csrf_token  text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL,
        revoked_at  timestamptz,
        client      text
    );
    CREATE INDEX web_session_user_idx ON web_session (user_id) WHERE revoked_at IS NULL;
    COMMENT ON TABLE web_session IS 'server-side sign-in sessions: the browser holds the id, the database its hash';

    CREATE TABLE login_failure (
        id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username  text NOT NULL,
        client    text,
        at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_failure_user_idx ON login_failure (lower(username), at);
    CREATE INDEX login_failure_client_idx ON login_failure (client, at);
    COMMENT ON TABLE login_failure IS 'failed sign-ins, for throttling (landreg.users.THROTTLE)';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE login_failure; DROP TABLE web_session; DROP TABLE app_user;")
