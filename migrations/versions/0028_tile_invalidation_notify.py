"""Tell the serving processes of each committed tile invalidation: ``NOTIFY landreg_tiles``.

A statement-level trigger on ``tile_invalidation`` sends the writing transaction's id as the
payload; PostgreSQL delivers it at commit (not at all on rollback) and sends one notification per
transaction however many rows it wrote. A process listening on the primary (``landreg.tilecache``)
then knows that its cached tiles need a sync, and needs no round trip to the database for a
cache hit while nothing was committed.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION tile_invalidation_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('landreg_tiles', txid_current()::text);
                RETURN NULL;
            END $$;
        CREATE TRIGGER tile_invalidation_notify AFTER INSERT ON tile_invalidation
            FOR EACH STATEMENT EXECUTE FUNCTION tile_invalidation_notify();
    """)


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER tile_invalidation_notify ON tile_invalidation;
        DROP FUNCTION tile_invalidation_notify();
    """)
