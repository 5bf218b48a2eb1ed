"""The tile triggers plan their look-ups with nested loops, whatever the statement's session says.

A full scoring run merges each profile's staged scores with nested loops off (an emptied and
vacuumed ``parcel_score`` counts as empty, and a nested loop over it became quadratic). The
statement-level triggers those statements fire ran with the same setting, so the few scores a run
removes or adds were joined to ``parcel`` by reading all of it, up to twice per trigger. With the
setting on for the function itself they are looked up by key again; a large statement still plans
a hash join from the row counts of its transition tables.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER FUNCTION tile_changed() SET enable_nestloop = on")


def downgrade() -> None:
    op.execute("ALTER FUNCTION tile_changed() RESET enable_nestloop")
