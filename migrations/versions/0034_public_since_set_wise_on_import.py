"""A new parcel's ``public_since`` is derived in the statement that writes it, not by a function call per row.

``parcel_publication_state`` ran before every insert and update of a parcel and called
``parcel_public_since`` for each new row: a SQL function with sub-selects, which PostgreSQL
cannot inline, so each call started an executor of its own. That was a quarter of the time an
import took to write its parcels (the bench register, 200,000 new parcels: 17.4 s with the
trigger, 12.8 s without; 2026-12-04).

* ``parcel_notice_since(ags, category, selected)``: the one rule of which unwithdrawn notices
  publish a parcel, as a table function PostgreSQL inlines into the query that uses it (an index
  look-up per parcel, about a fifth of a function call's time);
  ``parcel_public_since`` uses it, with the objection check as before.
* The trigger fires on INSERT unless the writing statement derived ``public_since`` itself with
  ``parcel_notice_since`` (an import's INSERT … SELECT, :func:`landreg.importer.load.apply`, which
  says so with the transaction-local setting ``landreg.public_since_derived``; a new parcel has no
  objection); on UPDATE only when the category, the municipality or the selection for publication
  changes (the function checked that itself, after being called for every row).

Like ``landreg.locations_checked`` this is a guard of the data, not a boundary of access: a role that
may write parcels may set ``public_since`` on an update anyway; only the registry's own code writes them.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04
"""

from alembic import op
from schema_triggers import PUBLICATION_STATE_0016

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION parcel_notice_since(p_ags text, p_category text, p_selected boolean)
        RETURNS TABLE (since date) LANGUAGE sql STABLE AS $$
        SELECT min(n.objection_until) + 1 FROM publication_notice n
         WHERE n.ags = CAST(p_ags AS char(8)) AND n.withdrawn_at IS NULL
           AND (n.categories IS NULL OR p_category = ANY (n.categories))
           AND (NOT n.selected_only OR p_selected)
    $$;
    COMMENT ON FUNCTION parcel_notice_since(text, text, boolean) IS
        'the day from which the unwithdrawn notices of its municipality publish a parcel of this category '
        'and selection (NULL: none does); one row, for a LATERAL join, which PostgreSQL inlines';

    CREATE OR REPLACE FUNCTION parcel_public_since(p_id uuid, p_ags text, p_category text, p_selected boolean)
        RETURNS date LANGUAGE sql STABLE AS $$
        SELECT CASE WHEN EXISTS (SELECT FROM objection o WHERE o.parcel_id = p_id AND o.withdrawn_on IS NULL)
                    THEN NULL
                    ELSE (SELECT since FROM parcel_notice_since(p_ags, p_category, p_selected))
               END
    $$;

    CREATE OR REPLACE FUNCTION parcel_publication_state() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- when: the triggers' conditions (a new parcel, or one whose category, municipality or
        -- selection for publication changed)
        NEW.public_since := parcel_public_since(NEW.id, NEW.ags, NEW.category, NEW.publication_allowed);
        RETURN NEW;
    END $$;
    DROP TRIGGER parcel_publication_state ON parcel;
    CREATE TRIGGER parcel_publication_state_insert BEFORE INSERT ON parcel FOR EACH ROW
        WHEN (current_setting('landreg.public_since_derived', true) IS DISTINCT FROM 'on')
        EXECUTE FUNCTION parcel_publication_state();
    CREATE TRIGGER parcel_publication_state_update BEFORE UPDATE ON parcel FOR EACH ROW
        WHEN (NEW.category IS DISTINCT FROM OLD.category OR NEW.ags IS DISTINCT FROM OLD.ags
              OR NEW.publication_allowed IS DISTINCT FROM OLD.publication_allowed)
        EXECUTE FUNCTION parcel_publication_state();
    """)


def downgrade() -> None:
    op.execute(f"""
    DROP TRIGGER parcel_publication_state_insert ON parcel;
    DROP TRIGGER parcel_publication_state_update ON parcel;
    CREATE OR REPLACE {PUBLICATION_STATE_0016}
    CREATE TRIGGER parcel_publication_state BEFORE INSERT OR UPDATE ON parcel
        FOR EACH ROW EXECUTE FUNCTION parcel_publication_state();
    CREATE OR REPLACE FUNCTION parcel_public_since(p_id uuid, p_ags text, p_category text, p_selected boolean)
        RETURNS date LANGUAGE sql STABLE AS $$
        SELECT CASE WHEN EXISTS (SELECT FROM objection o WHERE o.parcel_id = p_id AND o.withdrawn_on IS NULL)
                    THEN NULL
                    ELSE (SELECT min(n.objection_until) + 1 FROM publication_notice n
                           WHERE n.ags = CAST(p_ags AS char(8)) AND n.withdrawn_at IS NULL
                             AND (n.categories IS NULL OR p_category = ANY (n.categories))
                             AND (NOT n.selected_only OR p_selected))
               END
    $$;
    DROP FUNCTION parcel_notice_since(text, text, boolean);
    """)
