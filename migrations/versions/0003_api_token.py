"""API tokens: who may write what. Stored as SHA-256 hashes; revocable.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE api_token (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        owner        text NOT NULL CONSTRAINT api_token_owner_not_blank CHECK (btrim(owner) <> ''),
        role         text NOT NULL CONSTRAINT api_token_role CHECK (role IN ('planner', 'ministry', 'admin')),
        ags          char(8)[] NOT NULL DEFAULT '{}',
        token_sha256 char(64) NOT NULL UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        revoked_at   timestamptz,
        last_used_at timestamptz,
        CONSTRAINT api_token_planner_has_municipality CHECK (role <> 'planner' OR cardinality(ags) > 0)
    );
    COMMENT ON TABLE api_token IS 'bearer tokens of the API; planners are bound to their municipalities (AGS)';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE api_token")
