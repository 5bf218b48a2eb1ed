"""The bundled transit stops' attribution without a semicolon.

GDAL (and so geopandas and the OGC test suite, which read features from JSON strings) fails on a
GeoJSON string whose values contain "; " - the attribution now separates its parts with " / ".

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD = "DB InfraGO AG, HAFAS-Haltestellen, CC BY 4.0; © OpenStreetMap contributors, ODbL"
NEW = "DB InfraGO AG, HAFAS-Haltestellen, CC BY 4.0 / © OpenStreetMap contributors, ODbL"


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "UPDATE context_feature SET source = %(new)s WHERE source = %(old)s", {"new": NEW, "old": OLD}
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "UPDATE context_feature SET source = %(old)s WHERE source = %(new)s", {"new": NEW, "old": OLD}
    )
