"""Record of every import: who, when, which file (name and checksum), what landed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE import_run (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at  timestamptz NOT NULL,
        finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor       text NOT NULL,
        file_name   text NOT NULL,
        sha256      char(64) NOT NULL,
        layer       text,
        mode        text NOT NULL CONSTRAINT import_run_mode CHECK (mode IN ('all-or-nothing', 'keep-valid')),
        status      text NOT NULL CONSTRAINT import_run_status CHECK (status IN ('committed', 'rejected')),
        rows_read   integer NOT NULL,
        inserted    integer NOT NULL,
        changed     integer NOT NULL,
        unchanged   integer NOT NULL,
        rejected    integer NOT NULL,
        retired     integer NOT NULL,
        report      jsonb NOT NULL
    );
    CREATE INDEX import_run_started_idx ON import_run (started_at DESC);
    COMMENT ON TABLE import_run IS 'every import attempt that was not a dry run, with its report';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE import_run")
