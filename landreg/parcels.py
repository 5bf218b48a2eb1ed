"""Recording parcels: create, change and retire them, with the actor, and read their history.

The database enforces the rules (see the core migration); this module checks what it can before
the round trip and turns the database's refusals into :class:`ParcelError` naming the field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from landreg import STORAGE_SRID, fields, quality, vocab
from landreg.errors import InvalidParameter
from landreg.fields import CODE_FIELDS, EDITABLE
from landreg.messages import Message, message
from landreg.models import Parcel, ParcelVersion
from landreg.settings import get_settings

# Database constraint -> the field it guards.
_CONSTRAINT_FIELDS = {
    "parcel_geom_valid": "geom",
    "parcel_in_municipality": "ags",
    "parcel_local_ref_unique": "local_ref",
    "parcel_local_ref_not_blank": "local_ref",
    "parcel_ags_fkey": "ags",
    "parcel_restriction_class_code": "restriction_class",
    "parcel_retired_read_only": "retired_at",
    "parcel_never_deleted": "retired_at",
    "parcel_retire_reason_code": "reason",
    "parcel_retire_reason_required": "reason",
    "parcel_retire_reason_of_retired": "reason",
    "parcel_retire_comment_for_other": "comment",
    **{f"parcel_{field}_code": field for field in CODE_FIELDS},
}


class ParcelError(ValueError):
    """A parcel was refused: ``field`` names what is wrong, ``reason`` says why in English (as the
    API and the command line say it) and :meth:`text` in a person's language
    (:mod:`landreg.messages`)."""

    def __init__(self, field: str, reason: str | Message, ref: str | None = None):
        self.field, self.ref = field, ref
        self.message = reason if isinstance(reason, Message) else None
        self.reason = str(reason)
        where = f"parcel {ref}: " if ref else ""
        super().__init__(f"{where}{field}: {self.reason}")

    def text(self, lang: str = "en") -> str:
        """Why, in ``lang``; a refusal the catalogue has no text for as the database worded it."""
        return self.message.text(lang) if self.message is not None else self.reason

    @classmethod
    def from_db(cls, exc: DBAPIError, ref: str | None = None) -> ParcelError:
        diag = getattr(exc.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        field = getattr(diag, "column_name", None) or _CONSTRAINT_FIELDS.get(constraint or "", "parcel")
        reason: str | Message = getattr(diag, "message_primary", None) or str(exc.orig)
        if constraint == "parcel_local_ref_unique":
            reason = message("parcel.local_ref_taken")
        elif constraint == "parcel_ags_fkey":
            reason = message("parcel.unknown_ags")
        elif constraint == "parcel_retire_reason_required":
            field, reason = "reason", _reason_missing()
        elif constraint in (None, "") and "violates not-null" in reason:
            field = getattr(diag, "column_name", field)
            reason = message("field.required")
        return cls(field, reason, ref)


#: Upper bound of the 2D WKB bytes a vertex takes with its share of ring and part headers
#: (16 for x and y; a ring of at least 4 vertices adds 4, a polygon 9; a point of a collection 5).
_WKB_BYTES_PER_VERTEX = 21


def oversized(geometries: Sequence[BaseGeometry | None] | np.ndarray) -> dict[int, str]:
    """Why each geometry too large to store is refused, by its position in ``geometries``.

    The one size check of parcels (API, command line, import) and plan areas: at most
    ``LANDREG_MAX_VERTICES`` vertices and ``LANDREG_MAX_GEOMETRY_BYTES`` as stored (2D WKB).
    Counting vertices is cheap; only a geometry whose count could exceed the byte limit is
    written as WKB to be measured.
    """
    settings = get_settings()
    geoms = np.asarray(geometries, dtype=object)
    vertices = shapely.get_num_coordinates(geoms)
    problems = {
        int(i): (
            f"has {vertices[i]:,} vertices, more than the {settings.max_vertices:,} a geometry may have "
            "(LANDREG_MAX_VERTICES): simplify the outline or split the area"
        )
        for i in np.flatnonzero(vertices > settings.max_vertices)
    }
    near = np.flatnonzero(
        (vertices <= settings.max_vertices) & (vertices * _WKB_BYTES_PER_VERTEX + 9 > settings.max_geometry_bytes)
    )
    for i in near:
        size = len(shapely.to_wkb(geoms[i], output_dimension=2))
        if size > settings.max_geometry_bytes:
            problems[int(i)] = (
                f"takes {size:,} bytes, more than the {settings.max_geometry_bytes:,} a geometry may take "
                "(LANDREG_MAX_GEOMETRY_BYTES): simplify the outline or split the area"
            )
    return problems


def size_problem(geometry: BaseGeometry | None) -> str | None:
    """Why one geometry is too large to store (see :func:`oversized`), or None."""
    return oversized([geometry]).get(0)


def to_multipolygon(geometry: BaseGeometry) -> BaseGeometry:
    """A 2D MultiPolygon from a Polygon or MultiPolygon within the size limits; anything else is refused."""
    if geometry is None or geometry.is_empty:
        raise ParcelError("geom", message("geom.empty"))
    if shapely.has_z(geometry):
        raise ParcelError("geom", message("geom.has_z"))
    problem = size_problem(geometry)
    if problem:
        raise ParcelError("geom", problem)
    if geometry.geom_type == "Polygon":
        return shapely.MultiPolygon([geometry])
    if geometry.geom_type == "MultiPolygon":
        return geometry
    raise ParcelError("geom", message("geom.kind", kind=geometry.geom_type))


def geometry_from_geojson(geometry: Any, srid: int = 4326, flip: bool = False) -> BaseGeometry:
    """A GeoJSON geometry (a dict) given in EPSG:``srid`` (latitude first when ``flip``) as a 2D
    geometry in the storage CRS (EPSG:25832; pyproj with x/y order): the one conversion of an
    outline a person or client sends (the API's bodies, the workspace's drawing). Refused as
    :class:`InvalidParameter` naming ``geometry``: what is no GeoJSON geometry, Z values (the third
    number may be a misplaced coordinate), more than the size limits (checked before the
    transformation), coordinates the transformation cannot place."""
    try:
        geom = shapely.geometry.shape(geometry)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidParameter(message("geojson.invalid", error=str(exc)[:200]), "geometry") from None
    if shapely.has_z(geom):  # refused, not dropped unseen: the third value may be a misplaced coordinate
        raise InvalidParameter(message("geojson.has_z"), "geometry")
    problem = size_problem(geom)  # before transforming it
    if problem:
        raise InvalidParameter(f"geometry {problem}", "geometry")
    if flip:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if srid != STORAGE_SRID:
        from landreg.importer.crs import degrees_like  # (the importer imports this module)

        xy = shapely.get_coordinates(geom)
        # every coordinate as far from 0 as projected metres of the region are (UTM, Gauß-Krüger)
        metres = len(xy) and np.all((np.abs(xy) >= 1e5) & (np.abs(xy) < 2e7)) and not degrees_like(xy[:, 0], xy[:, 1])
        if metres and _geographic(srid):  # pasted UTM: say so, not only that it cannot be placed
            raise InvalidParameter(message("geojson.metres", srid=str(srid)), "geometry")
        t = _to_storage(srid)
        geom = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        if not np.isfinite(shapely.get_coordinates(geom)).all():
            raise InvalidParameter(message("geojson.unplaceable", srid=str(srid)), "geometry")
    return geom


@lru_cache(maxsize=16)
def _geographic(srid: int) -> bool:
    return CRS.from_epsg(srid).is_geographic


@lru_cache(maxsize=16)
def _to_storage(srid: int) -> Transformer:
    return Transformer.from_crs(srid, STORAGE_SRID, always_xy=True)


#: The longest text a parcel field holds (a name, a contact, notes).
MAX_TEXT = 5_000
_KIND_NAMES = {
    bool: message("kind.bool"),
    int: message("kind.int"),
    str: message("kind.str"),
    dt.date: message("kind.date"),
    float: message("kind.float"),
}
#: How a person writes yes and no (a form's checkbox sends "true" or "false").
_TRUE, _FALSE = ("true", "ja", "on", "1"), ("false", "nein", "off", "0")
_INT_RANGE = (-(2**31), 2**31 - 1)


def _unknown_code(value: Any, codes: vocab.CodeList) -> Message:
    return message("field.unknown_code", value=value, allowed=", ".join(codes.codes))


def _check_text(name: str, value: str, ref: str | None) -> None:
    if len(value) > MAX_TEXT:
        raise ParcelError(name, message("field.too_long", length=len(value), limit=MAX_TEXT), ref)
    if "\x00" in value:
        raise ParcelError(name, message("field.nul"), ref)


def _check_type(declared: fields.Field, value: Any, ref: str | None) -> None:
    """A value of the field's type (as the registry declares it), before it reaches SQL."""
    expected = declared.python_type
    fits = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not fits:
        raise ParcelError(declared.name, message("field.wrong_kind", kind=_KIND_NAMES[expected], value=value), ref)
    if expected is str:
        _check_text(declared.name, value, ref)
    if expected is int and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        raise ParcelError(declared.name, message("field.out_of_range", value=value), ref)
    if expected is int and declared.codes is not None and str(value) not in declared.codes.codes:
        raise ParcelError(declared.name, _unknown_code(value, declared.codes), ref)


def value_from_text(name: str, text: str, ref: str | None = None) -> Any:
    """A field's value from what a person typed (a form field, ``FIELD=VALUE`` on the command
    line): empty is none; yes/no as ``true``/``ja``/``on``/``1`` or ``false``/``nein``/``off``/``0``;
    dates as YYYY-MM-DD. Refused with a :class:`ParcelError` naming the field and the kind of value it
    takes (the value's own rules, e.g. its code list, are checked with the change)."""
    declared = fields.field(name)
    kind = declared.python_type
    text = text.strip()
    if text == "":
        return None
    _check_text(name, text, ref)
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(text)
            return text.lower() in _TRUE
        if kind is int:
            return int(text)
        if kind is float:
            number = float(text)
            if not np.isfinite(number):
                raise ValueError(text)
            return number
        if kind is dt.date:
            return dt.date.fromisoformat(text)
        return text
    except ValueError:
        raise ParcelError(name, message("field.wrong_kind", kind=_KIND_NAMES[kind], value=text[:40]), ref) from None


def _check(attributes: dict[str, Any], ref: str | None) -> dict[str, Any]:
    unknown = set(attributes) - EDITABLE
    if unknown:
        raise ParcelError(sorted(unknown)[0], message("field.not_settable"), ref)
    values = dict(attributes)
    for name, value in values.items():
        if name != "geom" and value is not None:
            _check_type(fields.field(name), value, ref)
    for field, codes in CODE_FIELDS.items():
        value = values.get(field)
        if value is not None and value not in codes.codes:
            raise ParcelError(field, _unknown_code(value, codes), ref)
    if "geom" in values:
        values["geom"] = from_shape(to_multipolygon(values["geom"]), srid=STORAGE_SRID)
    return values


def _write(session: Session, parcel: Parcel, changes: dict[str, Any], actor: str) -> Parcel:
    """Apply ``changes`` inside a savepoint: on refusal the session is as it was before."""
    try:
        with session.begin_nested():
            session.add(parcel)
            for field, value in changes.items():
                setattr(parcel, field, value)
            parcel.updated_by = actor
            session.flush()
    except DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, OperationalError):  # the database, not the parcel
            raise
        raise ParcelError.from_db(exc, parcel.local_ref) from None
    session.refresh(parcel)
    from landreg.scoring.engine import rescore  # pandas and numpy's scoring: imported by the writers only

    rescore(session.connection(), [parcel.id])  # scores are never stale after an edit
    quality.refresh(session.connection(), [parcel.id])  # nor its data quality (and its duplicates')
    return parcel


def create_parcel(session: Session, actor: str, **attributes: Any) -> Parcel:
    """Record a new parcel. Its AGS is derived from the geometry when not given."""
    ref = attributes.get("local_ref")
    for required in ("local_ref", "category", "geom"):
        if attributes.get(required) is None:
            raise ParcelError(required, message("field.required"), ref)
    return _write(session, Parcel(created_by=actor), _check(attributes, ref), actor)


def get_parcel(session: Session, parcel_id: uuid.UUID | str) -> Parcel:
    parcel = session.get(Parcel, uuid.UUID(str(parcel_id)))
    if parcel is None:
        raise LookupError(f"no parcel with id {parcel_id}")
    return parcel


def update_parcel(session: Session, parcel_id: uuid.UUID | str, actor: str, **changes: Any) -> Parcel:
    """Change a parcel; the previous state stays in its history. Changing nothing writes nothing."""
    parcel = get_parcel(session, parcel_id)
    return _write(session, parcel, _check(changes, parcel.local_ref), actor)


def _reason_missing() -> Message:
    return message("retire.reason_missing", allowed=", ".join(vocab.RETIRE_REASON.codes))


def check_retirement(reason: str | None, comment: str | None = None, ref: str | None = None) -> tuple[str, str | None]:
    """The reason (a code of :data:`landreg.vocab.RETIRE_REASON`) and comment of a retirement,
    checked (``reason`` and ``comment`` name the input at fault): a reason is required, the comment
    is optional except for ``sonstiges``; a blank comment is none."""
    if reason is None or not str(reason).strip():
        raise ParcelError("reason", _reason_missing(), ref)
    if reason not in vocab.RETIRE_REASON.codes:
        allowed = ", ".join(vocab.RETIRE_REASON.codes)
        raise ParcelError("reason", message("retire.reason_unknown", value=str(reason)[:40], allowed=allowed), ref)
    if comment is not None and not isinstance(comment, str):
        raise ParcelError("comment", message("field.wrong_kind", kind=_KIND_NAMES[str], value=comment), ref)
    comment = (comment or "").strip() or None
    if comment is not None:
        _check_text("comment", comment, ref)
    if comment is None and reason == vocab.RETIRE_REASON_OTHER:
        label = vocab.RETIRE_REASON.label(reason, "de")
        raise ParcelError("comment", message("retire.comment_needed", code=reason, label=label), ref)
    return reason, comment


def retire_parcel(
    session: Session, parcel_id: uuid.UUID | str, actor: str, reason: str, comment: str | None = None
) -> Parcel:
    """End-date a parcel, saying why (:func:`check_retirement`): it leaves the current register but
    stays in the history, the reason with its last version."""
    parcel = get_parcel(session, parcel_id)
    if parcel.retired_at is not None:
        raise ParcelError("retired_at", message("retire.already", date=parcel.retired_at), parcel.local_ref)
    reason, comment = check_retirement(reason, comment, parcel.local_ref)
    # the database stamps the exact time of retirement
    changes = {"retired_by": actor, "retired_at": func.now(), "retire_reason": reason, "retire_comment": comment}
    return _write(session, parcel, changes, actor)


def history(session: Session, parcel_id: uuid.UUID | str) -> list[ParcelVersion]:
    """Every state of the parcel, oldest first."""
    query = (
        select(ParcelVersion)
        .where(ParcelVersion.parcel_id == uuid.UUID(str(parcel_id)))
        .order_by(ParcelVersion.version)
    )
    return list(session.scalars(query))
