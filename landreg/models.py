"""The registry's tables as SQLAlchemy models. The schema itself is owned by the migrations.

Columns the database fills in (derived AGS, area, version, timestamps) are marked as fetched,
so the ORM reads them back after a write instead of guessing them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from geoalchemy2 import Geometry
from sqlalchemy import Computed, DateTime, FetchedValue, ForeignKey, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from landreg import STORAGE_SRID, fields


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


class Municipality(Base):
    __tablename__ = "municipality"

    ags: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str]
    district_ags: Mapped[str] = mapped_column(String(5))
    district_name: Mapped[str | None]
    region: Mapped[str | None]
    data_date: Mapped[dt.date | None]
    source: Mapped[str | None]
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False)


def _attribute_column(f: fields.Field):
    default = {"server_default": text(f.default)} if f.default is not None else {}
    return mapped_column(f.sqlalchemy_type, nullable=not f.not_null, **default)


#: Columns a parcel and each of its versions share: one per attribute of the field registry.
_ParcelAttributes = type(
    "_ParcelAttributes",
    (),
    {
        "__doc__": "Columns a parcel and each of its versions share.",
        **{f.name: _attribute_column(f) for f in fields.ATTRIBUTES},
    },
)


class Parcel(_ParcelAttributes, Base):
    __tablename__ = "parcel"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, server_default=text("gen_random_uuid()"))
    ags: Mapped[str] = mapped_column(  # derived from the geometry when not given
        String(8), ForeignKey("municipality.ags"), server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False)
    area_m2: Mapped[float] = mapped_column(Computed("ST_Area(geom)"))
    version: Mapped[int] = mapped_column(server_default=FetchedValue(), server_onupdate=FetchedValue())
    created_at: Mapped[dt.datetime] = mapped_column(server_default=FetchedValue())
    created_by: Mapped[str]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=FetchedValue(), server_onupdate=FetchedValue())
    updated_by: Mapped[str]
    retired_at: Mapped[dt.datetime | None] = mapped_column(server_onupdate=FetchedValue())
    retired_by: Mapped[str | None]
    retire_reason: Mapped[str | None]  # why (landreg.vocab.RETIRE_REASON; migration 0019)
    retire_comment: Mapped[str | None]  # confidential, like internal_notes
    #: derived by the database from notices and objections (landreg.publication); not versioned
    public_since: Mapped[dt.date | None] = mapped_column(server_default=FetchedValue(), server_onupdate=FetchedValue())


class ParcelVersion(_ParcelAttributes, Base):
    """One state of a parcel, valid in ``[valid_from, valid_to)``; written by the database.

    ``parcel_version`` is a view: the ended versions (table ``parcel_past_version``) and the
    current row of each parcel that is not retired (open ended).
    """

    __tablename__ = "parcel_version"

    parcel_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("parcel.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime | None]
    actor: Mapped[str]
    ags: Mapped[str] = mapped_column(String(8))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False)
    area_m2: Mapped[float]


class ParcelPastVersion(_ParcelAttributes, Base):
    """An ended version of a parcel (the table behind the past part of ``parcel_version``); read
    directly where a parcel's latest approved version is wanted (:func:`landreg.access.visible_rows`)."""

    __tablename__ = "parcel_past_version"

    parcel_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("parcel.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime]
    actor: Mapped[str]
    ags: Mapped[str] = mapped_column(String(8))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=STORAGE_SRID, spatial_index=False), nullable=False)
    area_m2: Mapped[float]


class ContextFeature(Base):
    __tablename__ = "context_feature"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str]
    name: Mapped[str | None]
    attributes: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    source: Mapped[str]
    geom = mapped_column(Geometry("GEOMETRY", srid=STORAGE_SRID, spatial_index=False), nullable=False)
    loaded_at: Mapped[dt.datetime] = mapped_column(server_default=FetchedValue())
