"""What the JSON routes answer, as pydantic models: the OpenAPI document declares each answer's
shape (so that schemathesis' response-schema check means something) and FastAPI validates every
answer against it before sending it.

The models describe the answers as they were before they were declared: same keys, same values.
Keys that some answers leave out (a link's ``title``, a collection's ``extent``, a version's
``actor``) are optional fields, and their routes answer with ``response_model_exclude_unset`` so
that a key absent before stays absent (and a key that was ``null`` stays ``null``).
GeoJSON and HTML answers are not modelled here; their routes return them as they are.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, create_model

from landreg import fields
from landreg.importer import report
from landreg.register import HISTORY_FIELDS

#: A timestamp written as Python's isoformat ("+00:00", not pydantic's "Z"), as these answers always were.
IsoDatetime = Annotated[dt.datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- OGC API – Features and Tiles ------------------------------------------------------------
class Link(_Model):
    rel: str
    href: str
    type: str | None = None
    title: str | None = None
    templated: bool | None = None


class LandingPage(_Model):
    title: str
    description: str
    links: list[Link]


class Conformance(_Model):
    conformsTo: list[str]  # noqa: N815 - the OGC name


class SpatialExtent(_Model):
    bbox: list[list[float]]
    crs: str


class TemporalExtent(_Model):
    interval: list[list[str | None]]  # ISO 8601 instants; null: open


class Extent(_Model):
    spatial: SpatialExtent | None = None
    temporal: TemporalExtent | None = None


class CollectionInfo(_Model):
    id: str
    title: str
    description: str
    itemType: str  # noqa: N815
    crs: list[str]
    storageCrs: str  # noqa: N815
    links: list[Link]
    extent: Extent | None = None


class Collections(_Model):
    collections: list[CollectionInfo]
    links: list[Link]


def _history_field(name: str) -> tuple[Any, None]:
    """A version's field as the field registry declares it (any may be empty in an old version)."""
    return (fields.field(name).python_type | None, None)


class ReviewStep(_Model):
    """The review of the change that made a version (or retired the parcel): ``landreg.review``."""

    submission: int
    state: str
    submitted_by: str
    submitted_at: IsoDatetime
    reviewed_by: str | None
    reviewed_at: IsoDatetime | None
    comment: str | None


class VersionReview(_Model):
    change: ReviewStep | None = None
    retirement: ReviewStep | None = None


class Retirement(_Model):
    """How and why a parcel was retired, on the version it ended: ``landreg.versions.retirement``."""

    retired_at: IsoDatetime
    retired_by: str | None
    reason: str | None  # landreg.vocab.RETIRE_REASON; null: recorded before reasons were ("nicht erfasst")
    comment: str | None


#: One version of a parcel: its number, who made it, its review and (on the last version of a retired
#: parcel) its retirement (only for those who may see the parcel's confidential facts), its validity
#: and the fields the history lists (``landreg.register.HISTORY_FIELDS``).
ParcelVersionInfo = create_model(
    "ParcelVersionInfo",
    __base__=_Model,
    version=(int | None, None),
    valid_from=(IsoDatetime, ...),
    valid_to=(IsoDatetime | None, ...),
    actor=(str | None, None),
    review=(VersionReview | None, None),
    retirement=(Retirement | None, None),
    **{name: _history_field(name) for name in HISTORY_FIELDS},
)


class ParcelHistory(_Model):
    id: str
    versions: list[ParcelVersionInfo]  # type: ignore[valid-type]


class TileMatrixSetLink(_Model):
    id: str
    title: str
    uri: str
    links: list[Link]


class TileMatrixSets(_Model):
    tileMatrixSets: list[TileMatrixSetLink]  # noqa: N815


class TilesetLink(_Model):
    """A link of a tileset (its keys in the order ``landreg.tiles.tileset_metadata`` writes them)."""

    rel: str
    type: str
    templated: bool | None = None
    href: str


class TilesetLayer(_Model):
    id: str
    title: str
    dataType: str  # noqa: N815
    minTileMatrix: str  # noqa: N815
    maxTileMatrix: str  # noqa: N815


class TilesetSummary(_Model):
    title: str
    dataType: str  # noqa: N815
    crs: str
    tileMatrixSetURI: str  # noqa: N815
    links: list[TilesetLink]


class Tileset(TilesetSummary):
    layers: list[TilesetLayer]


class Tilesets(_Model):
    tilesets: list[TilesetSummary]
    links: list[Link]


# -- scoring -------------------------------------------------------------------------------
class ScoringProfile(_Model):
    name: str
    version: int
    title: str
    purpose: str
    method: str
    categories: list[str]
    weights: dict[str, float]
    value_functions: dict[str, dict[str, Any]]
    exclusions: list[str]
    abstand_class: str


class ProfileVersion(_Model):
    version: int
    created_at: dt.datetime
    created_by: str


class SavedProfile(_Model):
    profile: ScoringProfile
    notes: list[str]


class RankedParcel(_Model):
    parcel_id: str
    score: float
    coverage: float | None  # of the score shown (the public variant's: none until its first scoring run)
    stale: bool
    ags: str
    local_ref: str
    name: str | None
    category: str
    area_m2: float
    is_sample: bool
    rank: int
    rank_in_municipality: int
    rank_in_category: int


class Ranking(_Model):
    profile: str
    version: int
    parcels: list[RankedParcel]
    note: str | None


class CriterionExplanation(_Model):
    key: str
    label: str
    unit: str
    raw: str | int | float | None
    normalised: float | None
    weight: float
    contribution: float | None
    available: bool | None  # None where withheld
    gain_if_best: float | None
    withheld: str | None  # "vertraulich" / "confidential": built on a confidential field, values left out
    note: str | None = None  # why the value is unknown: outside the coverage of its context layers


class Lever(_Model):
    criterion: str
    label: str
    gain: float


class Explanation(_Model):
    parcel_id: str
    profile: str
    profile_version: int
    method: str
    variant: str | None  # set where the score is the public variant's (no confidential criteria)
    score: float | None
    stored_score: float | None
    stored_score_stale: bool | None
    coverage: float
    excluded_by: list[str]
    not_available: list[str]
    criteria: list[CriterionExplanation]
    would_help_most: list[Lever]
    exclusions_unknown: dict[str, str] = {}  # exclusion -> why it could not be checked (outside a layer's coverage)
    withheld: list[str]  # criteria and exclusions the caller may not see the values of


class WeightVariation(_Model):
    criterion: str
    change: float
    top_n_kept: float
    kendall_tau_top_n: float | None


class Sensitivity(_Model):
    profile: str
    profile_version: int
    parcels: int
    top_n: int
    change: float
    min_top_n_kept: float
    min_kendall_tau: float
    variations: list[WeightVariation]


# -- imports -------------------------------------------------------------------------------
class ImportSummary(_Model):
    id: int
    started_at: dt.datetime
    actor: str
    file_name: str
    sha256: str
    status: str
    rows_read: int
    inserted: int
    changed: int
    unchanged: int
    rejected: int
    retired: int


def _import_report_model() -> type[BaseModel]:
    """The report's fields as :class:`landreg.importer.report.ImportReport` declares them, plus what
    ``to_dict`` adds; ``rejected_file`` (a server path) only in the stored report."""
    hints = typing.get_type_hints(report.ImportReport)
    declared: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(report.ImportReport)}
    return create_model(
        "ImportReport",
        __base__=_Model,
        __doc__="What an import did, row by row (the answer of an upload).",
        **declared
        | {
            "missing": (list[list[str]], ...),  # (AGS, reference) pairs
            "rejected_file": (str | None, None),
            "rejected": (int, ...),
            "truncated": (bool, ...),
        },
    )


ImportReport = _import_report_model()


# -- data quality ----------------------------------------------------------------------------
class QualityFindingInfo(_Model):
    """A finding of :mod:`landreg.quality`: its stable code, labels and the points it costs."""

    code: str
    label_de: str
    label_en: str
    penalty: int


class MunicipalityQuality(_Model):
    """The data quality of a municipality's current parcels."""

    ags: str
    name: str
    parcels: int  # current parcels
    checked: int  # of them with a quality of their current version
    current_share: float  # Stand at most 12 months old
    complete_share: float  # completeness 1: every field the category needs is filled
    reviewed_share: float  # latest state approved by a reviewer (nothing waiting, nothing rejected)
    mean_score: float | None  # of the checked parcels
    findings: dict[str, int]  # parcels with each finding, by code (0 included)


class QualityReport(_Model):
    """Data quality per municipality (``GET /quality``)."""

    formula: str  # of the score per parcel
    findings: list[QualityFindingInfo]
    municipalities: list[MunicipalityQuality]
