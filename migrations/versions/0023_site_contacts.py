"""Economic development contacts per municipality for the site exposé (Wirtschaftsförderung).

One row per municipality (AGS): the office's name, e-mail and phone, optionally a web address.
Public data by nature (an office's published contact, not a person's private one): the exposé
shows it to anyone. The same checks as :mod:`landreg.sites.contacts` guard the table, so that a
row written in SQL cannot break a page either.

And the index of the public site search (:mod:`landreg.sites.search`): the current parcels offered
to investors (:func:`landreg.rules.is_offered`), by category and availability, with every column
the search filters, sorts and joins by, so that it reads this index alone instead of the parcels'
wide rows (an index-only scan); and the public scores of one profile, read the same way.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE site_contact (
        ags character(8) PRIMARY KEY REFERENCES municipality (ags) ON DELETE CASCADE,
        name text NOT NULL,
        email text NOT NULL,
        phone text NOT NULL,
        url text,
        updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_by text NOT NULL,
        CONSTRAINT site_contact_name_length CHECK (length(name) BETWEEN 2 AND 200),
        CONSTRAINT site_contact_email_form CHECK (
            length(email) <= 254 AND email ~ '^[^@\\s<>"'',;]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$'),
        CONSTRAINT site_contact_phone_form CHECK (phone ~ '^\\+?[0-9 ()/.-]{5,40}$'),
        CONSTRAINT site_contact_url_form CHECK (url IS NULL OR (length(url) <= 500 AND url ~ '^https?://[^\\s<>"]+$'))
    );
    COMMENT ON TABLE site_contact IS
        'the economic development office of each municipality (Wirtschaftsförderung): shown in site exposés; public';
    CREATE INDEX parcel_offered_idx ON parcel (category, availability)
        INCLUDE (area_m2, servicing, designation, ags, status, public_since, version, id)
        WHERE retired_at IS NULL AND status IN ('potenzial', 'verfuegbar')
          AND availability IN ('kurzfristig', 'mittelfristig', 'langfristig');
    CREATE INDEX parcel_score_public_idx ON parcel_score (profile_id, parcel_id) INCLUDE (parcel_version, public_score);
    """)


def downgrade() -> None:
    op.execute("DROP INDEX parcel_score_public_idx; DROP INDEX parcel_offered_idx; DROP TABLE site_contact")
