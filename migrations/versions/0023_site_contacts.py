"""Economic development contacts per municipality for the site exposé (placeholder).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
