"""Turning one batch of source rows into staging rows: fields translated, geometry in EPSG:25832.

What can be decided from a row alone is decided here, while the file is read: values, geometry
type, size, dimensions, position in NRW, validity (with bounded repair) and the municipality (``places``).
What needs the whole file or the register (area plausibility, claimed municipality, duplicates,
existing parcels) is decided set-wise in ``load``. Each problem becomes a :class:`RowIssue` naming
row and field.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from landreg import STORAGE_SRID, fields
from landreg.fields import ATTRIBUTE_NAMES
from landreg.importer.crs import outside_nrw
from landreg.importer.mapping import Mapping, ValueRejected
from landreg.importer.places import Municipalities
from landreg.importer.report import Issues
from landreg.messages import Message, message
from landreg.parcels import oversized

#: Parcel fields written by an import, in staging-column order (``ags`` here is the claimed AGS).
PARCEL_FIELDS = ATTRIBUTE_NAMES
STAGING_COLUMNS = ("row_no", *PARCEL_FIELDS, "claimed_ags", "declared_area_m2", "geom", "ags", "share")
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_COLLECTIONS = (4, 5, 6, 7)  # Multi* and GeometryCollection


def _translate_column(
    mapping: Mapping, field: str, values: pd.Series, rows: np.ndarray, issues: Issues, rejected: np.ndarray
) -> list:
    """Translate a column: each distinct value once, then mapped over the rows."""
    column = mapping.columns[field]
    values = values.astype(object).where(values.notna(), None)
    translated: dict[Any, Any] = {}
    errors: dict[Any, str] = {}
    for raw in pd.unique(values.to_numpy()):
        try:
            translated[raw] = mapping.translate(field, raw)
        except ValueRejected as exc:
            errors[raw] = f"{exc} (column {column!r})"
    if errors:
        for i in np.flatnonzero(values.isin(list(errors)).to_numpy()):
            issues.reject(int(rows[i]), field, errors[values.iloc[i]])
            rejected[i] = True
    return [translated.get(v) for v in values.to_numpy()]


def _fields(batch, mapping: Mapping, issues: Issues, rejected: np.ndarray) -> dict[str, list]:
    n = len(batch.rows)
    values: dict[str, list] = {}
    for field in (*PARCEL_FIELDS, "ags", "declared_area_m2", "declared_area_ha"):
        if field in mapping.columns:
            values[field] = _translate_column(
                mapping, field, batch.attributes[mapping.columns[field]], batch.rows, issues, rejected
            )
        else:
            values[field] = [None] * n
        if field in mapping.defaults:
            default = mapping.translate(field, mapping.defaults[field])
            values[field] = [default if v is None else v for v in values[field]]
    for i in range(n):
        for required in ("local_ref", "category"):
            if values[required][i] is None and not rejected[i]:
                issues.reject(int(batch.rows[i]), required, _required(required, mapping))
                rejected[i] = True
    values["declared_area_m2"] = [
        m if m is not None else (ha * 10_000 if ha is not None else None)
        for m, ha in zip(values["declared_area_m2"], values.pop("declared_area_ha"))
    ]
    return values


def _required(name: str, mapping: Mapping) -> Message:
    """Why a row lacks a required field, and how to give it."""
    if name in mapping.columns:
        hint = message("import.required.category_hint") if name == "category" else ""
        return message("import.required.empty", column=mapping.columns[name], hint=hint)
    named = ", ".join(repr(n) for n in fields.field(name).column_names()[:6])
    example = f"{{<column>: {name}}}"  # a mapping file's line, the same in every language
    if name == "category":
        return message("import.required.no_category", named=named, example=example)
    return message("import.required.no_reference", named=named, example=example)


def _geometries(batch, transformer: Transformer | None, issues: Issues, rejected: np.ndarray) -> np.ndarray:
    """The batch's polygons in EPSG:25832 (2D); None where the row is rejected."""
    geoms = batch.geometries.copy()
    for row, reason in batch.problems.items():  # unreadable: no geometry at all (or a (field, reason) of the row)
        issues.reject(row, *(reason if isinstance(reason, tuple) else ("geom", reason)))
    missing = pd.isna(geoms)
    rejected |= missing
    present = np.flatnonzero(~missing)
    empty = shapely.is_empty(geoms[present])
    polygonal = np.isin(shapely.get_type_id(geoms[present]), _POLYGONAL)
    for i, is_empty, is_polygonal in zip(present, empty, polygonal):
        if is_empty:
            issues.reject(int(batch.rows[i]), "geom", message("geom.empty"))
        elif not is_polygonal:
            said = message("import.not_polygon", kind=geoms[i].geom_type, hint=_points_hint(batch))
            issues.reject(int(batch.rows[i]), "geom", said)
        else:
            continue
        rejected[i] = True
    geoms[rejected] = None
    ok = np.flatnonzero(~rejected)
    for j, reason in oversized(geoms[ok]).items():  # before any work on it: the limits of every parcel
        issues.reject(int(batch.rows[ok[j]]), "geom", reason)
        rejected[ok[j]] = True
        geoms[ok[j]] = None
    ok = np.flatnonzero(~rejected)
    has_z, has_m = shapely.has_z(geoms[ok]), shapely.has_m(geoms[ok])
    for j in np.flatnonzero(has_z | has_m):
        dims = ("Z" if has_z[j] else "") + ("M" if has_m[j] else "")
        issues.note(int(batch.rows[ok[j]]), "geom", message("import.dims_dropped", dims=dims))
    if len(ok):
        flat = shapely.force_2d(geoms[ok]) if (has_z | has_m).any() else geoms[ok]
        if transformer is not None:
            flat = shapely.transform(flat, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
        geoms[ok] = flat
        minx, miny, maxx, maxy = shapely.bounds(flat).T
        for i in ok[outside_nrw(minx, miny, maxx, maxy)]:
            issues.reject(int(batch.rows[i]), "geom", message("import.outside_nrw"))
            rejected[i] = True
            geoms[i] = None
    return geoms


def _points_hint(batch) -> Message | str:
    """For points built from a table's x/y columns: where the outline should come from."""
    if not getattr(batch, "points_from", None):
        return ""
    x, y = batch.points_from
    return message("import.points_hint", x=x, y=y)


def _repair(geoms: np.ndarray, rows: np.ndarray, issues: Issues, rejected: np.ndarray, tolerance: float) -> None:
    """Invalid geometries: repaired when that changes the area by at most ``tolerance``, else rejected.

    The same GEOS functions as PostGIS's ST_IsValid, ST_MakeValid and ST_CollectionExtract.
    """
    ok = np.flatnonzero(~rejected)
    for i in ok[~shapely.is_valid(geoms[ok])]:
        geom = geoms[i]
        reason, before = shapely.is_valid_reason(geom), geom.area
        repaired = _polygons(shapely.make_valid(geom))
        after = repaired.area
        if before > 0 and not repaired.is_empty and abs(after - before) <= tolerance * before:
            change = round(100 * abs(after - before) / before, 3)
            issues.note(int(rows[i]), "geom", message("import.repaired", reason=reason, change=change))
            geoms[i] = repaired
        else:
            said = message(
                "import.invalid",
                reason=reason,
                before=round(before, 1),
                after=round(after, 1),
                tolerance=round(tolerance * 100, 2),
            )
            issues.reject(int(rows[i]), "geom", said)
            rejected[i] = True
            geoms[i] = None


def _polygons(geom) -> shapely.MultiPolygon:
    """The polygons of a geometry (of a collection, at any depth) as one multipolygon."""
    parts = shapely.get_parts(geom)
    while np.isin(shapely.get_type_id(parts), _COLLECTIONS).any():
        parts = shapely.get_parts(parts)
    return shapely.MultiPolygon(list(parts[shapely.get_type_id(parts) == 3]))


def staging_rows(
    batch,
    mapping: Mapping,
    transformer: Transformer | None,
    issues: Issues,
    places: Municipalities,
    checks,
    default_claim: str | Message = "the file's default municipality",
):
    """Staging rows (tuples in ``STAGING_COLUMNS`` order) of the batch's acceptable rows.

    ``default_claim``: who claims the default municipality of rows that name none (for a note).
    """
    rejected = np.zeros(len(batch.rows), dtype=bool)
    geoms = _geometries(batch, transformer, issues, rejected)
    _repair(geoms, batch.rows, issues, rejected, checks.repair_tolerance)
    values = _fields(batch, mapping, issues, rejected)
    keep = np.flatnonzero(~rejected)
    if not len(keep):
        return
    claimed = np.array(values["ags"], dtype=object)[keep]
    ags, share = places.locate(geoms[keep], claimed)
    for i, by_area in places.near_claims(geoms[keep], ags, claimed, checks.border_tolerance_m).items():
        ags[i], share[i] = claimed[i], dict(by_area).get(claimed[i], 0.0)
        column = mapping.columns.get("ags")
        cell = batch.attributes[column].iloc[keep[i]] if column is not None else None
        by_column = cell is not None and not pd.isna(cell) and str(cell).strip() != ""
        claim = message("import.claim.column", column=column) if by_column else default_claim
        issues.note(int(batch.rows[keep[i]]), "ags", _near_claim(places, claimed[i], by_area, claim, checks))
    shares = [None if v != v else v for v in share.tolist()]  # NaN: not computed
    columns = [values[f] for f in (*PARCEL_FIELDS, "ags", "declared_area_m2")]
    if len(keep) < len(batch.rows):
        columns = [[column[i] for i in keep] for column in columns]
    # column-wise, zipped in C: a tuple per row built in Python took a second per 100,000 rows
    yield from zip(batch.rows[keep].tolist(), *columns, _multipolygon_ewkb(geoms[keep]), ags.tolist(), shares)


def _near_claim(
    places: Municipalities, claimed: str, by_area: list[tuple[str, float]], claim: str | Message, checks
) -> Message:
    """The note on a parcel taken as the municipality it claims although the registry's boundaries differ."""
    shares = dict(by_area)
    shares.setdefault(claimed, 0.0)
    where = ", ".join(f"{_percent(s)} in {places.named(a)}" for a, s in sorted(shares.items(), key=lambda x: -x[1]))
    tolerance = float(checks.border_tolerance_m)
    tolerance = int(tolerance) if tolerance.is_integer() else tolerance
    named = places.named(claimed)
    return message("import.near_claim", claimed=named, claim=claim, where=where, tolerance=tolerance)


def _percent(share: float) -> str:
    return "< 1 %" if 0 < share < 0.005 else f"{share * 100:.0f} %"


_EWKB_MULTIPOLYGON = struct.pack("<BIi", 1, 0x2000_0006, STORAGE_SRID)  # little endian, type 6 with SRID
_ONE_PART = struct.pack("<I", 1)


def _multipolygon_ewkb(geoms: np.ndarray) -> list[bytes]:
    """EWKB MultiPolygons with the storage SRID, of polygons or multipolygons.

    Written around GEOS's WKB: a polygon becomes the single part of a multipolygon by a header,
    without building a new geometry (half a second per 100,000 rows).
    """
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2, include_srid=False).tolist()
    return [_EWKB_MULTIPOLYGON + (b[5:] if b[1] == 6 else _ONE_PART + b) for b in wkb]
