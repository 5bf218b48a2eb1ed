"""The municipality check of a parcel's geometry knows the import's border tolerance.

An import takes a parcel's claimed municipality when all of the parcel lies within
``LANDREG_BORDER_TOLERANCE_M`` (25 m) of it, even where a neighbour holds the larger share of its
area: municipal boundaries in the register are generalised (``landreg.importer.places``). The row
trigger checked later writes more strictly (largest share only), so the first geometry edit of
such a parcel was refused although the parcel had not moved.

Now the trigger accepts the claim by the same rule, ``parcel_near_claim(geom, ags)``: the
claimed municipality's pieces near the parcel, grown by the tolerance, cover it. The tolerance
comes from the session (``landreg.border_tolerance_m``, set by ``landreg.db.make_engine`` from
the setting, so there is one definition of it); a session without it checks strictly.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location("m0019", Path(__file__).with_name("0019_retire_reason.py"))
_m0019 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0019)

_STRICT = "ELSIF NEW.ags <> best.ags THEN"
_TOLERANT = "ELSIF NEW.ags <> best.ags AND NOT parcel_near_claim(NEW.geom, NEW.ags) THEN"
# the refusal says how far is too far, as the import's does (landreg.importer.load)
_MESSAGE = (
    "not in the municipality it claims: % %',",
    "not in the municipality it claims: % % (parts of it lie more than % m from there)',",
)
_ARGUMENTS = (
    "NEW.ags, coalesce(claimed_name, '(unknown AGS)')",
    "NEW.ags, coalesce(claimed_name, '(unknown AGS)'),\n"
    "                    coalesce(nullif(current_setting('landreg.border_tolerance_m', true), ''), '0')",
)

NEAR_CLAIM = """
CREATE FUNCTION parcel_near_claim(g geometry, claimed text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    -- = landreg.importer.places.Municipalities.near_claims: the claimed municipality's pieces
    -- within the tolerance of the parcel, cut to its box grown by the tolerance, grown by it, cover it
    WITH tolerance AS (
        SELECT coalesce(nullif(current_setting('landreg.border_tolerance_m', true), '')::float8, 0) AS m
    )
    SELECT t.m > 0 AND coalesce(
               ST_Covers(ST_Buffer(ST_Union(ST_Intersection(p.geom, ST_Expand(g, t.m))), t.m), g), false)
      FROM tolerance t
      LEFT JOIN municipality_part p ON p.ags = claimed AND ST_DWithin(p.geom, g, t.m)
     GROUP BY t.m
$$;
COMMENT ON FUNCTION parcel_near_claim(geometry, text) IS
    'all of the geometry lies within landreg.border_tolerance_m (the session''s; none: 0) of the claimed municipality';
"""


def _before_write_tolerant() -> str:
    text = _m0019._before_write_with_reason()
    for old, new in ((_STRICT, _TOLERANT), _MESSAGE, _ARGUMENTS):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    op.execute(NEAR_CLAIM)
    op.execute(_before_write_tolerant())


def downgrade() -> None:
    op.execute(_m0019._before_write_with_reason())
    op.execute("DROP FUNCTION parcel_near_claim(geometry, text)")
