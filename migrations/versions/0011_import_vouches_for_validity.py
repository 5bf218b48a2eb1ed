"""The parcel trigger trusts the importer's validity check, as it already trusts its locations.

The bulk importer checks every geometry (with bounded repair) and every location before it
writes, and says so with ``SET LOCAL landreg.locations_checked = 'on'``. The row trigger then
also skips its own ST_IsValid, which only served a readable error message: the CHECK constraint
``parcel_geom_valid`` still refuses an invalid geometry from any writer. Saves one validity test
per imported parcel (a third of a second per 100,000).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from alembic import op
from schema_triggers import LOCATION_CHECK, before_write, vouched_before_write

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(vouched_before_write())


def downgrade() -> None:
    op.execute(before_write(LOCATION_CHECK))
