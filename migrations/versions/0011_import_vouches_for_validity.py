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

import importlib.util
from pathlib import Path

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location("m0004", Path(__file__).with_name("0004_fast_location_and_history.py"))
_m0004 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0004)

BEFORE = _m0004._before_write(_m0004.LOCATION_CHECK)
VALIDITY = """
        IF ST_IsEmpty(NEW.geom) THEN"""
VOUCHED = """
        IF NEW.ags IS NOT NULL AND current_setting('landreg.locations_checked', true) = 'on' THEN
            RETURN NEW;  -- the importer has checked validity and location (the CHECK constraint still guards)
        END IF;
        IF ST_IsEmpty(NEW.geom) THEN"""
assert BEFORE.count(VALIDITY) == 1


def upgrade() -> None:
    op.execute(BEFORE.replace(VALIDITY, VOUCHED))


def downgrade() -> None:
    op.execute(BEFORE)
