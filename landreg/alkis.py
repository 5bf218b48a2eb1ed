"""ALKIS Flurstücke loaded for selection, and parcels composed of them.

``landreg alkis load FILE`` keeps the Flurstücke of a NAS or ALKIS vereinfacht file in
``alkis_flurstueck`` (a Flurstück loaded again replaces the one of the same Kennzeichen), from
which a page offers them by map extent (:func:`flurstuecke_in`) and a planner composes a parcel of
one or several (:func:`parcel_from_flurstuecke`): the union of their outlines, their Kennzeichen in
``flurstueckskennzeichen``, recorded through the register's one use case for a new parcel
(:func:`landreg.register.create`: permission, review, scores).

What ALKIS says is compared with the outline: the sum of the amtliche Flächen with the union's
area (a note beyond :data:`~landreg.importer.alkis.AREA_TOLERANCE`), the municipality of
``gemeindezugehoerigkeit`` with the municipality the outline lies in by the register's rule (the
largest share; the database checks it again when the parcel is written). Loading notes what does
not fit and keeps the Flurstück (the cadastre is the authority on it); composing a parcel refuses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from landreg import STORAGE_SRID, flurstueck, register
from landreg.access import Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.importer import crs as crs_checks
from landreg.importer.alkis import AREA_TOLERANCE, read_flurstuecke
from landreg.importer.refusals import ImportRefused
from landreg.models import Parcel

#: Flurstücke one call of :func:`flurstuecke_in` returns at most.
LIMIT_MAX = 2_000
#: Problems and notes a load lists one by one (the rest are counted).
LISTED = 20
#: Where a bbox in longitude/latitude is cut to before it is transformed (NRW with a wide margin).
_AROUND_NRW = (4.5, 49.5, 11.0, 53.5)
_SRIDS = (4326, STORAGE_SRID)


# -- loading ---------------------------------------------------------------------------------
@dataclass
class LoadReport:
    file_name: str
    layout: str
    loaded: int = 0
    new: int = 0
    replaced: int = 0
    notes: list[str] = field(default_factory=list)  # the first LISTED
    notes_omitted: int = 0

    def lines(self) -> list[str]:
        out = [
            f"{self.file_name} ({self.layout}): {self.loaded} Flurstück{'' if self.loaded == 1 else 'e'} loaded, "
            f"{self.new} new, {self.replaced} replaced"
        ]
        out += [f"  note: {n}" for n in self.notes]
        if self.notes_omitted:
            out.append(f"  … and {self.notes_omitted} more notes")
        return out


def load(conn: Connection, path: Path, actor: str, layer: str | None = None, encoding: str | None = None) -> LoadReport:
    """Load a file's Flurstücke, all or none: ImportRefused (naming the Flurstücke) when one cannot be used."""
    path = Path(path)
    found = read_flurstuecke(path, layer, encoding)
    report = LoadReport(path.name, found.layout)
    problems = [f"row {row}, {fld}: {reason}" for row, (fld, reason) in sorted(found.problems.items())]
    geoms = _in_storage_crs(path, found, problems)
    keys = found.frame["kennzeichen"].to_numpy()
    repeated = sorted({k for k in keys[_repeated(keys)] if k})
    problems += [f"Flurstück {flurstueck.readable(k)} appears more than once in the file" for k in repeated]
    if problems:
        listed = "; ".join(problems[:LISTED]) + (
            f"; … and {len(problems) - LISTED} more" if len(problems) > LISTED else ""
        )
        n = len(problems)
        raise ImportRefused(
            f"{path.name}: nothing loaded, {n} Flurstück{'' if n == 1 else 'e'} cannot be used: {listed}"
        )
    areas = found.frame["amtliche_flaeche"].to_numpy(dtype=float)
    measured = shapely.area(geoms)
    off = np.flatnonzero(np.abs(measured - areas) > AREA_TOLERANCE * areas)  # NaN (none stated): never
    notes = [_area_note(flurstueck.readable(keys[i]), areas[i], measured[i]) for i in off]
    with conn.begin_nested():
        conn.execute(
            text("""
            CREATE TEMP TABLE alkis_load (kennzeichen text, ags char(8), amtliche_flaeche float8, geom bytea)
                ON COMMIT DROP
        """)
        )
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy("COPY alkis_load FROM STDIN") as copy:
            for k, a, area, wkb in zip(
                keys, found.frame["ags"], areas, shapely.to_wkb(geoms, output_dimension=2, hex=True)
            ):
                copy.write_row((k, a, None if math.isnan(area) else area, bytes.fromhex(wkb)))
        notes += _municipality_notes(conn)
        report.loaded, report.new = conn.execute(
            text("""
            WITH written AS (
                INSERT INTO alkis_flurstueck AS f (kennzeichen, ags, amtliche_flaeche, geom, source, loaded_by)
                SELECT kennzeichen, ags, amtliche_flaeche, ST_Multi(ST_GeomFromWKB(geom, 25832)), :source, :actor
                  FROM alkis_load
                    ON CONFLICT (kennzeichen) DO UPDATE
                   SET ags = excluded.ags, amtliche_flaeche = excluded.amtliche_flaeche, geom = excluded.geom,
                       source = excluded.source, loaded_by = excluded.loaded_by, loaded_at = now()
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*), count(*) FILTER (WHERE inserted) FROM written
        """),
            {"source": path.name, "actor": actor},
        ).one()
        conn.execute(text("DROP TABLE alkis_load"))
    report.replaced = report.loaded - report.new
    report.notes, report.notes_omitted = notes[:LISTED], max(0, len(notes) - LISTED)
    return report


def _repeated(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values.astype(str), return_inverse=True, return_counts=True)
    return counts[inverse] > 1


def _in_storage_crs(path: Path, found, problems: list[str]) -> np.ndarray:
    """The outlines in EPSG:25832 (2D); where one cannot be used, the reason goes to ``problems``."""
    source_crs = crs_checks.choose_crs(found.crs, None, path.name)
    geoms = found.geometries.copy()
    usable = np.array([g is not None and not g.is_empty for g in geoms])
    if usable.any():
        points = shapely.point_on_surface(shapely.make_valid(geoms[usable]))
        problem = crs_checks.diagnose(source_crs, shapely.get_x(points), shapely.get_y(points))
        if problem:
            raise crs_checks.CRSProblem(f"{path.name}: {problem}")
    transform = crs_checks.transformer(source_crs)
    flat = shapely.force_2d(geoms[usable])
    if transform is not None:
        flat = shapely.transform(flat, lambda xy: np.column_stack(transform.transform(xy[:, 0], xy[:, 1])))
    geoms[usable] = flat
    polygonal = np.isin(shapely.get_type_id(flat), (3, 6))  # Polygon, MultiPolygon
    valid = shapely.is_valid(flat)
    for i, g, is_polygonal, is_valid in zip(np.flatnonzero(usable), flat, polygonal, valid):
        if not is_polygonal:
            problems.append(f"row {i + 1}, geom: a {g.geom_type} where a Flurstück needs its outline (a polygon)")
        elif not is_valid:
            problems.append(f"row {i + 1}, geom: the outline is not valid: {shapely.is_valid_reason(g)}")
    return geoms


def _area_note(which: str, stated: float, measured: float) -> str:
    return (
        f"Flurstück {which}: amtliche Fläche {stated:,.0f} m², the outline measures {measured:,.1f} m² "
        f"({100 * (measured - stated) / stated:+.1f} %)"
    )


def _municipality_notes(conn: Connection) -> list[str]:
    """Flurstücke whose gemeindezugehoerigkeit names no municipality of the registry, or one their outline
    does not reach."""
    rows = conn.execute(
        text("""
        SELECT l.kennzeichen, l.ags, m.name FROM alkis_load l LEFT JOIN municipality m ON m.ags = l.ags
         WHERE l.ags IS NOT NULL AND (m.ags IS NULL OR NOT EXISTS (
                   SELECT FROM municipality_part p
                    WHERE p.ags = l.ags AND ST_Intersects(p.geom, ST_GeomFromWKB(l.geom, 25832))))
         ORDER BY l.kennzeichen
    """)
    ).all()
    return [
        f"Flurstück {flurstueck.readable(k)}: gemeindezugehoerigkeit {ags} "
        + (f"({name}), but its outline lies outside {name}" if name else "is no municipality in the registry")
        for k, ags, name in rows
    ]


# -- selecting -------------------------------------------------------------------------------
@dataclass
class FlurstueckPage:
    features: list[dict]  # kennzeichen, bezeichnung, ags, amtliche_flaeche, area_m2, geometry (GeoJSON)
    truncated: bool  # more Flurstücke lie in the box than ``limit``


def flurstuecke_in(conn: Connection, bbox: Sequence[float], limit: int = 500, srid: int = 4326) -> FlurstueckPage:
    """The loaded Flurstücke meeting a box (x/lon min, y/lat min, x/lon max, y/lat max in EPSG:``srid``,
    4326 or 25832), by Kennzeichen, at most ``limit``; geometries in the same CRS."""
    box = _checked_box(bbox, srid)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= LIMIT_MAX:
        raise InvalidParameter(f"limit: a whole number from 1 to {LIMIT_MAX:,}, not {limit!r}", "limit")
    if box is None:
        return FlurstueckPage([], False)
    digits = 7 if srid == 4326 else 2
    rows = conn.execute(
        text("""
        SELECT kennzeichen, ags, amtliche_flaeche, ST_Area(geom) AS area_m2,
               ST_AsGeoJSON(ST_Transform(geom, :srid), :digits)::json AS geometry
          FROM alkis_flurstueck
         WHERE ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(:x1, :y1, :x2, :y2, :srid), 25832))
         ORDER BY kennzeichen
         LIMIT :n
    """),
        {"x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3], "srid": srid, "digits": digits, "n": limit + 1},
    ).mappings()
    features = [dict(r) | {"bezeichnung": flurstueck.readable(r["kennzeichen"])} for r in rows]
    return FlurstueckPage(features[:limit], len(features) > limit)


def _checked_box(bbox: Sequence[float], srid: int) -> tuple[float, float, float, float] | None:
    """The box as four floats (None: it lies wholly outside what can hold Flurstücke of NRW)."""
    if srid not in _SRIDS:
        raise InvalidParameter(f"srid: {srid!r} is not one of {', '.join(map(str, _SRIDS))}", "srid")
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError):
        raise InvalidParameter(f"bbox: four numbers (min x, min y, max x, max y), not {bbox!r}", "bbox") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidParameter("bbox: four finite numbers (min x, min y, max x, max y)", "bbox")
    x1, y1, x2, y2 = values
    if x1 > x2 or y1 > y2:
        raise InvalidParameter(f"bbox: the minimum comes first ({x1}, {y1}, {x2}, {y2})", "bbox")
    if srid == 4326:
        a, b, c, d = _AROUND_NRW
        x1, y1, x2, y2 = max(x1, a), max(y1, b), min(x2, c), min(y2, d)
        if x1 > x2 or y1 > y2:
            return None
    return x1, y1, x2, y2


# -- composing a parcel ----------------------------------------------------------------------
@dataclass
class Composed:
    parcel: Parcel
    notes: list[str]  # what does not fit (the amtliche Fläche, parts that do not adjoin)


def parcel_from_flurstuecke(
    session: Session, principal: Principal | None, kennzeichen: str | Iterable[str], attributes: dict[str, Any]
) -> Composed:
    """A new parcel of loaded Flurstücke: their union as outline, their Kennzeichen, the AGS of their
    gemeindezugehoerigkeit; ``attributes`` gives the rest (``category`` is required, ``local_ref``
    defaults to the first Kennzeichen). Refused: Flurstücke not loaded, of several municipalities, or
    whose outline lies in another municipality than ALKIS says."""
    try:
        keys = flurstueck.keys(kennzeichen)
    except ValueError as exc:
        raise InvalidParameter(f"flurstueckskennzeichen: {exc}", "flurstueckskennzeichen") from None
    if not keys:
        raise InvalidParameter("flurstueckskennzeichen: name at least one Flurstück", "flurstueckskennzeichen")
    given = {"geom", "flurstueckskennzeichen"} & set(attributes)
    if given:
        name = sorted(given)[0]
        raise InvalidParameter(f"{name}: comes from the Flurstücke; leave it out", name)
    conn = session.connection()
    rows = conn.execute(
        text("SELECT kennzeichen, ags, amtliche_flaeche FROM alkis_flurstueck WHERE kennzeichen = ANY(:keys)"),
        {"keys": keys},
    ).all()
    missing = sorted(set(keys) - {r.kennzeichen for r in rows})
    if missing:
        shown = ", ".join(flurstueck.readable(k) for k in missing[:LISTED])
        more = f" … and {len(missing) - LISTED} more" if len(missing) > LISTED else ""
        raise NotFound(
            f"flurstueckskennzeichen: Flurstücke not loaded: {shown}{more}; load them with `landreg alkis load FILE`",
            "flurstueckskennzeichen",
        )
    claimed = sorted({r.ags for r in rows if r.ags})
    if len(claimed) > 1:
        raise InvalidParameter(
            f"flurstueckskennzeichen: the Flurstücke belong to several municipalities by their "
            f"gemeindezugehoerigkeit ({', '.join(claimed)}); a parcel lies in one",
            "flurstueckskennzeichen",
        )
    if claimed and attributes.get("ags", claimed[0]) != claimed[0]:
        raise InvalidParameter(
            f"ags: the Flurstücke belong to {claimed[0]} by their gemeindezugehoerigkeit, not {attributes['ags']}",
            "ags",
        )
    outline = shapely.from_wkb(
        bytes(
            conn.execute(
                text("SELECT ST_AsBinary(ST_Multi(ST_Union(geom))) FROM alkis_flurstueck WHERE kennzeichen = ANY(:k)"),
                {"k": keys},
            ).scalar_one()
        )
    )
    if claimed:
        _check_municipality(conn, outline, claimed[0], keys)
    notes = []
    stated = [r.amtliche_flaeche for r in rows]
    if all(a is not None for a in stated) and abs(outline.area - sum(stated)) > AREA_TOLERANCE * sum(stated):
        notes.append(_area_note(", ".join(flurstueck.readable(k) for k in keys), sum(stated), outline.area))
    if len(outline.geoms) > 1:
        notes.append(f"the Flurstücke do not adjoin: the parcel's outline has {len(outline.geoms)} parts")
    values = {"local_ref": keys[0], **attributes, "flurstueckskennzeichen": ",".join(keys), "geom": outline}
    if claimed:
        values["ags"] = claimed[0]
    return Composed(register.create(session, principal, values), notes)


def _check_municipality(conn: Connection, outline, claimed: str, keys: list[str]) -> None:
    """The municipality ALKIS names holds the largest share of the outline (the register's rule), or refused."""
    shares = conn.execute(
        text("""
        SELECT p.ags, m.name, sum(ST_Area(ST_Intersection(p.geom, g.geom))) / ST_Area(g.geom) AS share
          FROM (SELECT ST_GeomFromWKB(:wkb, 25832) AS geom) g
          JOIN municipality_part p ON ST_Intersects(p.geom, g.geom)
          JOIN municipality m ON m.ags = p.ags
         GROUP BY p.ags, m.name, g.geom
         ORDER BY share DESC
    """),
        {"wkb": shapely.to_wkb(outline)},
    ).all()
    if shares and shares[0].ags == claimed:
        return
    names = dict(conn.execute(text("SELECT ags, name FROM municipality WHERE ags = :a"), {"a": claimed}).all())
    where = (
        ", ".join(f"{s.ags} {s.name} ({100 * s.share:.0f} %)" for s in shares[:3])
        if shares
        else "outside every municipality in the registry"
    )
    raise InvalidParameter(
        f"flurstueckskennzeichen: by their gemeindezugehoerigkeit (ALKIS) the Flurstücke "
        f"{', '.join(flurstueck.readable(k) for k in keys[:LISTED])} belong to {claimed} "
        f"{names.get(claimed, '(no municipality in the registry)')}, but their outline lies in {where}",
        "flurstueckskennzeichen",
    )
