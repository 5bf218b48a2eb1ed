"""Context layers: the stations, stops, ports, housing, flood zones, protected areas and B-Plan
designations that scoring and the Abstandserlass read, each a named layer with its source,
licence, date, content checksum and the area it covers.

The coverage is where the layer is complete. Outside it, no feature does not mean none there: a
residential layer of Essen says nothing about housing near a Dortmund parcel, so criteria and
Abstand classes there are unknown (:mod:`landreg.scoring.indicators`), never "far". It is given
when a layer is loaded (a polygon file or a list of municipalities), or else the union of the
municipalities its features lie in.

Every change (:func:`load`, :func:`replace`, :func:`remove`) is recorded in
``context_layer_change`` with who, when and what, and re-scores, in the same transaction, exactly
the parcels whose indicators it changes: those touching the old or new coverage or features, whose
values computed afresh differ from the stored ones. A replacement is compared by content (a
checksum of the features), not by count: the same number of moved features is a change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import shapely
from sqlalchemy import Connection, text

from landreg import STORAGE_SRID, clock, rules
from landreg.access import Principal, acting
from landreg.errors import Conflict, NotFound
from landreg.importer.refusals import ImportRefused, InvalidOption, option
from landreg.vocab import CONTEXT_KIND

if TYPE_CHECKING:
    import geopandas as gpd

#: Kinds whose features are areas (a parcel lies in them, or not).
AREA_KINDS = ("wohngebiet", "ueberschwemmungsgebiet", "schutzgebiet", "bplan")
#: B-Plan uses designating commercial and industrial land (those bringing housing:
#: :data:`landreg.scoring.indicators.RESIDENTIAL_USES`).
INDUSTRIAL_USES = rules.INDUSTRIAL_DESIGNATIONS
#: The kinds a layer of each kind speaks for, beyond its own: a B-Plan's residential designations are housing.
ALSO_COVERS = {"bplan": ("wohngebiet",)}
#: At most this many features per layer (one statement writes at most CHUNK of them).
MAX_FEATURES = 500_000
CHUNK = 50_000
#: NRW has 396 municipalities: no coverage names more.
MAX_AGS = 396
#: A layer's name: short, lower case, for URLs and the command line.
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_EMPTY = "SRID=25832;MULTIPOLYGON EMPTY"


class LayerRefused(ImportRefused):
    """A context layer (file, option or name) that cannot be loaded; nothing is written. ``field``
    names the option at fault; its message names options neutrally (the adapters spell them)."""


@dataclass(frozen=True)
class Coverage:
    """Where a layer is complete: a (multi)polygon in EPSG:25832, the municipalities (AGS) named, or
    neither: the municipalities its features lie in. ``note`` says what it means in words."""

    geometry: object | None = None
    ags: tuple[str, ...] = ()
    note: str | None = None

    @property
    def given(self) -> bool:
        return self.geometry is not None or bool(self.ags)


@dataclass(frozen=True)
class Metadata:
    source: str
    licence: str | None = None
    data_date: dt.date | None = None


@dataclass
class Features:
    """What a file holds, ready to store: names, attributes (JSON) and EPSG:25832 geometries (WKB)."""

    kind: str
    names: list[str | None]
    attributes: list[str]
    wkb: list[bytes]
    checksum: str
    notes: list[str] = field(default_factory=list)
    coverage: object | None = None  # the area a file says it covers (a B-Plan's Geltungsbereich)

    def __len__(self) -> int:
        return len(self.wkb)


@dataclass
class Change:
    """What a change did: ``action`` geladen / ersetzt / entfernt / unveraendert; ``changed``:
    inhalt, quelle, lizenz, stand, abdeckung, abdeckungshinweis."""

    action: str
    layer: str
    kind: str
    checksum_before: str | None = None
    checksum_after: str | None = None
    features_before: int | None = None
    features_after: int | None = None
    changed: list[str] = field(default_factory=list)
    rescored: int = 0
    notes: list[str] = field(default_factory=list)
    id: int | None = None

    def as_dict(self) -> dict:
        return self.__dict__.copy()


# --- reading files -------------------------------------------------------------------------------


def check_kind(kind: str) -> str:
    if kind not in CONTEXT_KIND.codes:
        raise LayerRefused(f"kind: unknown kind {kind!r}; kinds: {', '.join(CONTEXT_KIND.codes)}", field="kind")
    return kind


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise LayerRefused(
            f"name: {name!r} is not a layer name: 1 to 63 lower-case letters, digits, '-', '_' or '.', "
            "beginning with a letter or digit (e.g. wohngebiete-essen)",
            field="name",
        )
    return name


def parse_date(value: str | None) -> dt.date | None:
    """The date of the data (Stand) as given, YYYY-MM-DD."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidOption(
            f"{option('date')}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-06-30", field="date"
        ) from None


def default_name(kind: str, file_name: str) -> str:
    """A layer name from the kind and a file name: ``wohngebiet-wohngebiete-essen``."""
    stem = re.sub(r"[^a-z0-9]+", "-", Path(file_name).stem.lower()).strip("-")
    return check_name(f"{kind}-{stem}"[:63].rstrip("-_."))


def read_features(
    path: Path, kind: str, layer: str | None = None, crs: int | None = None, name_column: str | None = None
) -> Features:
    """The features of a geodata file (any format GDAL reads; for ``bplan`` an XPlanGML plan) in
    EPSG:25832, their CRS diagnosed as the importer does, or :class:`LayerRefused`."""
    check_kind(kind)
    if kind == "bplan":
        return _read_bplan(path, crs)
    frame = _read_frame(path, layer, crs, "file")
    return features_of(kind, frame, name_column, path.name)


def read_coverage(path: Path, layer: str | None = None, crs: int | None = None) -> shapely.MultiPolygon:
    """A coverage polygon from a file: the union of its (multi)polygons, in EPSG:25832."""
    frame = _read_frame(path, layer, crs, "coverage")
    areas = shapely.get_parts(shapely.make_valid(frame.geometry.to_numpy()))
    areas = [g for g in areas if g.geom_type in ("Polygon", "MultiPolygon")]
    if not areas:
        raise LayerRefused(f"{path.name}: the coverage must be made of polygons", field="coverage")
    return _multipolygon(shapely.union_all(areas))


def _read_frame(path: Path, layer: str | None, crs: int | None, what: str) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    from landreg.importer.crs import geojson_assumed

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, OSError) as exc:
        raise LayerRefused(f"{path.name}: cannot be read as a geodata file ({exc})", field=what) from None
    if layer is None:
        if len(layers) != 1:
            raise LayerRefused(
                f"{path.name} has several layers ({', '.join(layers)}); choose one with {option('layer')}",
                field="layer",
            )
        layer = layers[0]
    elif layer not in layers:
        raise LayerRefused(f"{path.name} has no layer {layer!r}; layers: {', '.join(layers)}", field="layer")
    driver = pyogrio.read_info(path, layer=layer).get("driver")
    try:  # GML: no .gfs file written beside it
        frame = pyogrio.read_dataframe(path, layer=layer, **({"WRITE_GFS": "NO"} if driver == "GML" else {}))
    except (DataSourceError, DataLayerError) as exc:
        raise LayerRefused(f"{path.name}: layer {layer!r} cannot be read ({exc})", field=what) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise LayerRefused(f"{path.name}: layer {layer!r} has no geometry", field=what)
    if len(frame) > MAX_FEATURES:
        raise LayerRefused(
            f"{path.name}: {len(frame):,} features, more than {MAX_FEATURES:,} in one layer; "
            "split it (e.g. by municipality) and load each part as a layer of its own",
            field=what,
        )
    missing = [i + 1 for i, g in enumerate(frame.geometry) if g is None or g.is_empty]
    if missing:
        rows = ", ".join(map(str, missing[:10])) + (f" … and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise LayerRefused(
            f"{path.name}: {len(missing)} features have no geometry (features {rows}); "
            "remove them or give them their geometry: an area left out would read as free of them",
            field=what,
        )
    if frame.empty:
        raise LayerRefused(f"{path.name}: layer {layer!r} holds no features", field=what)
    return _to_storage(frame, crs, path.name, geojson_assumed(path, driver))


def _to_storage(frame: gpd.GeoDataFrame, crs: int | None, file_name: str, assumed: bool) -> gpd.GeoDataFrame:
    """The features in EPSG:25832 after the importer's diagnosis of their coordinates; ``assumed``:
    the file's CRS is only GDAL's assumption (GeoJSON without ``crs``), which ``crs`` overrides."""
    import numpy as np
    from pyproj import CRS

    from landreg.importer.crs import about, choose, diagnose, parse_crs
    from landreg.messages import message

    points = shapely.point_on_surface(frame.geometry.to_numpy())
    x, y = shapely.get_x(points), shapely.get_y(points)
    given = parse_crs(crs) if crs is not None else None
    source = choose(frame.crs, given, file_name, assumed=assumed, x=x, y=y).crs
    problem = diagnose(CRS(source), x, y)
    if problem:
        raise LayerRefused(message("import.of_file", file=file_name, said=about(problem, "features")), field="crs")
    out = frame.set_crs(source, allow_override=True).to_crs(STORAGE_SRID)
    if not np.isfinite(out.total_bounds).all():
        raise LayerRefused(
            f"{file_name}: the coordinates cannot be transformed from {source} to EPSG:{STORAGE_SRID}; "
            f"check them and the CRS ({option('crs')})",
            field="crs",
        )
    return out


def features_of(kind: str, frame: gpd.GeoDataFrame, name_column: str | None, file_name: str) -> Features:
    """The features of a frame in EPSG:25832 (read and diagnosed already): named by ``name_column``
    (default: a column ``name``), the other columns as attributes; invalid geometries repaired."""
    if name_column is not None and name_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise LayerRefused(f"{file_name} has no column {name_column!r}; columns: {columns}", field="name_column")
    name_column = name_column or ("name" if "name" in frame.columns else None)
    geometries = shapely.force_2d(frame.geometry.to_numpy())
    invalid = ~shapely.is_valid(geometries)
    notes = []
    if invalid.any():
        geometries[invalid] = shapely.make_valid(geometries[invalid])
        notes.append(f"{int(invalid.sum())} invalid geometries repaired (make_valid)")
    if kind in AREA_KINDS:
        geometries = [_areas(g) for g in geometries]
        wrong = [i + 1 for i, g in enumerate(geometries) if g is None]
        if wrong:
            rows = ", ".join(map(str, wrong[:10])) + (f" … and {len(wrong) - 10} more" if len(wrong) > 10 else "")
            raise LayerRefused(
                f"{file_name}: a layer of {CONTEXT_KIND.label(kind, 'en')}s holds areas; features {rows} are no polygons",
                field="file",
            )
    names = [_text(v) for v in frame[name_column]] if name_column else [None] * len(frame)
    skip = {frame.geometry.name, name_column}
    records = frame[[c for c in frame.columns if c not in skip]].to_dict("records")
    attributes = [
        json.dumps({k: _json(v) for k, v in r.items() if _json(v) is not None}, sort_keys=True) for r in records
    ]
    wkb = [shapely.to_wkb(g) for g in geometries]
    return Features(kind, names, attributes, wkb, checksum(names, attributes, geometries), notes)


def _read_bplan(path: Path, crs: int | None) -> Features:
    """The designations of an XPlanGML B-Plan (:func:`landreg.safeguarding.xplan.read_designations`)
    as features named by plan and use, with the plan's area as the coverage it says it has."""
    from landreg.safeguarding.plans import read_plan_area
    from landreg.safeguarding.xplan import read_designations

    designations = read_designations(path, crs)
    if designations is None or len(designations) == 0:
        raise LayerRefused(f"{path.name}: the plan has no designations (BP_BaugebietsTeilFlaeche)", field="file")
    names = [f"{plan}: {label or use}" for plan, use, label in zip(
        designations["plan_name"], designations["use"], designations["use_label"]
    )]  # fmt: skip
    features = features_of("bplan", designations.assign(name=names), "name", path.name)
    try:
        features.coverage = read_plan_area(path, crs=crs)[0]
    except ImportRefused:  # no Geltungsbereich: the designated areas are all it is known to cover
        features.coverage = _multipolygon(shapely.union_all([shapely.from_wkb(w) for w in features.wkb]))
    return features


def _areas(geom) -> object | None:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _multipolygon(geom) -> shapely.MultiPolygon:
    geom = shapely.make_valid(geom)
    polygons = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    polygons += [q for p in shapely.get_parts(geom) if p.geom_type == "MultiPolygon" for q in p.geoms]
    return shapely.MultiPolygon(polygons)


def _text(value) -> str | None:
    value = _json(value)
    return None if value is None else str(value)


def _json(value):
    """A value as JSON can hold it; None for missing ones (None, NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json(value.item())
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return str(value)


def checksum(names: Sequence[str | None], attributes: Sequence[str], geometries: Sequence) -> str:
    """SHA-256 of a layer's content, independent of the order of its features: a file saved again
    keeps it, a moved, added, removed or renamed feature changes it."""
    lines = sorted(
        hashlib.sha256(
            (name or "").encode() + b"\x1f" + attrs.encode() + b"\x1f" + shapely.to_wkb(shapely.normalize(geom))
        ).hexdigest()
        for name, attrs, geom in zip(names, attributes, geometries)
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# --- reading the register ------------------------------------------------------------------------

_LAYER = """
    SELECT name, kind, source, licence, data_date, checksum, features, coverage_basis, coverage_note, coverage_ags,
           covers, round(CAST(ST_Area(coverage) / 1e6 AS numeric), 2) AS coverage_km2, loaded_at, loaded_by
      FROM context_layer l
"""


def layers(conn: Connection, kind: str | None = None) -> list[dict]:
    """Every context layer (of ``kind``): its metadata and coverage (km², the municipalities it was
    given as, what it means), by kind and name."""
    where = "" if kind is None else "WHERE kind = :kind"
    rows = conn.execute(text(f"{_LAYER} {where} ORDER BY kind, name"), {"kind": kind})
    return [_layer_row(r) for r in rows.mappings()]


def layer(conn: Connection, name: str) -> dict:
    row = conn.execute(text(f"{_LAYER} WHERE name = :name"), {"name": name}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no context layer {name!r}; `landreg context list` (GET /context/layers) lists them")
    return _layer_row(row)


def coverage_geojson(conn: Connection, name: str) -> dict:
    """A layer's coverage as a GeoJSON Feature in CRS84 (longitude, latitude)."""
    info = layer(conn, name)
    found = conn.execute(
        text("SELECT ST_AsGeoJSON(ST_Transform(coverage, 4326), 6) FROM context_layer WHERE name = :name"),
        {"name": name},
    ).scalar_one()
    properties = {k: info[k] for k in ("name", "kind", "coverage_basis", "coverage_note", "coverage_km2")}
    return {"type": "Feature", "id": name, "geometry": json.loads(found), "properties": properties}


def _layer_row(row) -> dict:
    out = dict(row)
    out["checksum"] = out["checksum"].strip() if out["checksum"] else None
    out["coverage_ags"] = None if out["coverage_ags"] is None else list(out["coverage_ags"])
    out["coverage_km2"] = float(out["coverage_km2"])
    out["covers"] = list(out["covers"])
    return out


def changes(conn: Connection, name: str | None = None, limit: int = 100) -> list[dict]:
    """The change log of the context layers (of one layer), newest first."""
    if not 1 <= limit <= 10_000:
        raise LayerRefused(f"limit: {limit} is not between 1 and 10,000", field="limit")
    rows = conn.execute(
        text(f"""SELECT id, at, actor, action, layer, kind, checksum_before, checksum_after, features_before,
                        features_after, changed, rescored, details
                   FROM context_layer_change {"" if name is None else "WHERE layer = :name"}
                  ORDER BY at DESC, id DESC LIMIT :limit"""),
        {"name": name, "limit": limit},
    )
    out = []
    for r in rows.mappings():
        entry = dict(r)
        for key in ("checksum_before", "checksum_after"):
            entry[key] = entry[key].strip() if entry[key] else None
        entry["changed"] = list(entry["changed"])
        out.append(entry)
    return out


def unknown_notes(
    conn: Connection, parcel_id, kinds: Sequence[str], lang: str = "de", approved: bool = False
) -> dict[str, str]:
    """Why the values of these kinds are unknown for a parcel, by kind: outside the coverage of
    the layers that speak for it, or so near its edge that a feature beyond could be nearer.
    ``approved``: of the approved outline of a parcel whose change waits for review."""
    outlines = "(SELECT parcel_id AS id, geom FROM parcel_pending)" if approved else "parcel"
    notes = {}
    for kind in dict.fromkeys(kinds):
        row = conn.execute(
            text(f"""
            SELECT EXISTS (SELECT FROM context_coverage_part v
                            WHERE v.kind = :kind AND ST_Intersects(v.geom, ST_PointOnSurface(p.geom)))
                   AND NOT EXISTS (SELECT FROM context_coverage_edge e WHERE e.kind = :kind AND ST_Intersects(e.geom, p.geom))
                   AS inside,
                   (SELECT array_agg(name ORDER BY name) FROM context_layer WHERE :kind = ANY (covers)) AS names
              FROM {outlines} p WHERE p.id = :id
        """),
            {"kind": kind, "id": parcel_id},
        ).one_or_none()
        if row is None or not row.names:
            continue
        notes[kind] = _note(row.inside, row.names, lang)
    return notes


def _note(inside: bool, names: list[str], lang: str) -> str:
    if lang == "en":
        layers_ = ("layer " if len(names) == 1 else "layers ") + ", ".join(f"'{n}'" for n in names)
        if inside:
            return f"unknown: near the edge of the coverage of {layers_}; a nearer feature could lie beyond it"
        return f"unknown: outside the coverage of {layers_}"
    layers_ = ("der Ebene " if len(names) == 1 else "der Ebenen ") + ", ".join(f"„{n}“" for n in names)
    if inside:
        return f"unbekannt: nahe am Rand der Abdeckung {layers_}; jenseits davon könnte ein näheres Objekt liegen"
    return f"unbekannt: außerhalb der Abdeckung {layers_}"


def designations_near(
    conn: Connection, geometry, distance_m: float, uses: Sequence[str] = INDUSTRIAL_USES
) -> list[dict]:
    """B-Plan designations (of the loaded ``bplan`` layers) with these uses within ``distance_m`` of a
    geometry (EPSG:25832), nearest first, with the area they share with it (``overlap_m2``): e.g. the
    GI/GE areas a planned housing area must keep its Abstandserlass distance from."""
    rows = conn.execute(
        text("""
        SELECT l.name AS layer, f.name, f.attributes->>'use' AS use, f.attributes->>'plan_name' AS plan_name,
               ST_Distance(f.geom, g.geom) AS distance_m, ST_Area(f.geom) AS area_m2,
               ST_Area(ST_Intersection(f.geom, g.geom)) AS overlap_m2
          FROM (SELECT ST_GeomFromWKB(:wkb, 25832) AS geom) g
          JOIN context_feature f ON f.kind = 'bplan' AND ST_DWithin(f.geom, g.geom, :d)
          JOIN context_layer l ON l.id = f.layer_id
         WHERE f.attributes->>'use' = ANY (:uses)
         ORDER BY distance_m, f.id
    """),
        {"wkb": shapely.to_wkb(geometry), "d": float(distance_m), "uses": list(uses)},
    )
    return [dict(r) for r in rows.mappings()]


# --- changing the register -----------------------------------------------------------------------

#: Who changes context layers (besides the operator on the command line).
_CHANGERS = ("admin",)


def load(
    conn: Connection,
    actor: str | Principal,
    name: str,
    features: Features,
    meta: Metadata,
    coverage: Coverage = Coverage(),
) -> Change:
    """A new layer; :class:`~landreg.errors.Conflict` when the name is taken or the same content
    is loaded already as a layer of the kind. ``actor``: an admin, or the operator's name."""
    actor = acting(actor, _CHANGERS, "changing context layers")
    check_name(name)
    _check_meta(meta)
    coverage = _coverage_of(conn, features, coverage)
    if _row(conn, name) is not None:
        raise Conflict(f"a context layer {name!r} exists; replace it with `landreg context replace {name} FILE` "
                       f"(PUT /context/layers/{name})")  # fmt: skip
    twin = conn.execute(
        text("SELECT name FROM context_layer WHERE kind = :kind AND checksum = :sum"),
        {"kind": features.kind, "sum": features.checksum},
    ).scalar_one_or_none()
    if twin is not None:
        raise Conflict(f"the same features are loaded already as the layer {twin!r}; nothing loaded")
    covers = [features.kind, *ALSO_COVERS.get(features.kind, ())]
    with _rescoring(conn, None, covers) as area, _taken(name):
        layer_id = conn.execute(
            text(f"""
            INSERT INTO context_layer (name, kind, source, licence, data_date, checksum, coverage, coverage_basis,
                                       coverage_note, coverage_ags, covers, loaded_by)
            VALUES (:name, :kind, :source, :licence, :date, :sum, {_coverage_sql(coverage)},
                    :basis, :note, :ags, :covers, :actor)
            RETURNING id"""),
            {"name": name, "kind": features.kind, "source": meta.source, "licence": meta.licence,
             "date": meta.data_date, "sum": features.checksum, "basis": _basis(coverage), "note": coverage.note,
             "ags": list(coverage.ags) or None, "covers": covers, "actor": actor} | _coverage_params(coverage),
        ).scalar_one()  # fmt: skip
        _insert_features(conn, layer_id, features, meta.source)
        area.layer_id = layer_id
    change = Change("geladen", name, features.kind, None, features.checksum, None, len(features),
                    ["inhalt"], area.rescored, features.notes)  # fmt: skip
    return _record(conn, actor, change, meta, coverage)


def replace(
    conn: Connection,
    actor: str | Principal,
    name: str,
    features: Features | None = None,
    meta: Metadata | None = None,
    coverage: Coverage | None = None,
    licence: str | None = None,
    data_date: dt.date | None = None,
) -> Change:
    """Replace a layer's features (``features``), source, licence, date and/or coverage; what is not
    given stays. Compared by content: the same features, metadata and coverage change nothing."""
    actor = acting(actor, _CHANGERS, "changing context layers")
    old = _row(conn, name)
    if old is None:
        layer(conn, name)  # NotFound, with the message
    if features is not None and features.kind != old.kind:
        raise LayerRefused(
            f"the layer {name!r} holds {old.kind}, not {features.kind}; load it as a new layer instead",
            field="kind",
        )
    new_meta = Metadata(
        meta.source if meta else old.source,
        licence if licence is not None else (meta.licence if meta and meta.licence is not None else old.licence),
        data_date if data_date is not None else (meta.data_date if meta and meta.data_date else old.data_date),
    )
    _check_meta(new_meta)
    changed = []
    if features is not None and features.checksum != (old.checksum or "").strip():
        changed.append("inhalt")
    changed += [label for label, a, b in (("quelle", new_meta.source, old.source),
                ("lizenz", new_meta.licence, old.licence), ("stand", new_meta.data_date, old.data_date)) if a != b]  # fmt: skip
    new_coverage = None
    if (coverage is not None and coverage.given) or (features is not None and features.coverage is not None):
        new_coverage = _coverage_of(conn, features, coverage or Coverage())
        if new_coverage.ags:  # the same municipalities: the same coverage (spares their union)
            same = list(new_coverage.ags) == list(old.coverage_ags or [])
        else:
            same = conn.execute(
                text(f"SELECT coverage = {_coverage_sql(new_coverage)} FROM context_layer WHERE id = :id"),
                {"id": old.id} | _coverage_params(new_coverage),
            ).scalar_one()
        if not same or old.coverage_basis != "angegeben":
            changed.append("abdeckung")
        else:
            new_coverage = None
    note = coverage.note if coverage is not None and coverage.note is not None else old.coverage_note
    if note != old.coverage_note:
        changed.append("abdeckungshinweis")
    unchanged = Change("unveraendert", name, old.kind, old.checksum, old.checksum, old.features, old.features)
    if not changed:
        return unchanged
    with _rescoring(conn, old.id, list(old.covers)) as area:
        conn.execute(
            text("""UPDATE context_layer SET source = :source, licence = :licence, data_date = :date,
                           coverage_note = :note, loaded_at = clock_timestamp(), loaded_by = :actor WHERE id = :id"""),
            {"source": new_meta.source, "licence": new_meta.licence, "date": new_meta.data_date, "note": note,
             "actor": actor, "id": old.id},
        )  # fmt: skip
        if new_coverage is not None:
            conn.execute(
                text(f"UPDATE context_layer SET coverage = {_coverage_sql(new_coverage)}, coverage_basis = 'angegeben', "
                     "coverage_ags = :ags WHERE id = :id"),
                {"id": old.id, "ags": list(new_coverage.ags) or None} | _coverage_params(new_coverage),
            )  # fmt: skip
        if "inhalt" in changed:
            conn.execute(text("DELETE FROM context_feature WHERE layer_id = :id"), {"id": old.id})
            conn.execute(text("UPDATE context_layer SET checksum = :sum WHERE id = :id"),
                         {"sum": features.checksum, "id": old.id})  # fmt: skip
            _insert_features(conn, old.id, features, new_meta.source)
        if "quelle" in changed and "inhalt" not in changed:
            conn.execute(text("UPDATE context_feature SET source = :s WHERE layer_id = :id"),
                         {"s": new_meta.source, "id": old.id})  # fmt: skip
        area.layer_id = old.id
    after = _row(conn, name)
    change = Change("ersetzt", name, old.kind, _strip(old.checksum), _strip(after.checksum), old.features,
                    after.features, changed, area.rescored, features.notes if features else [])  # fmt: skip
    return _record(conn, actor, change, new_meta, new_coverage)


def put(
    conn: Connection, actor: str, name: str, features: Features, meta: Metadata, coverage: Coverage = Coverage()
) -> Change:
    """Load the layer, or replace it where it differs (the seed's way: running it again changes nothing)."""
    if _row(conn, name) is None:
        return load(conn, actor, name, features, meta, coverage)
    return replace(conn, actor, name, features, meta, coverage)


def remove(conn: Connection, actor: str | Principal, name: str) -> Change:
    """Remove a layer and its features; the parcels it informed are re-scored without it."""
    actor = acting(actor, _CHANGERS, "changing context layers")
    old = _row(conn, name)
    if old is None:
        layer(conn, name)  # NotFound, with the message
    with _rescoring(conn, old.id, list(old.covers)) as area:
        conn.execute(text("DELETE FROM context_layer WHERE id = :id"), {"id": old.id})
    change = Change("entfernt", name, old.kind, _strip(old.checksum), None, old.features, None, [], area.rescored)
    return _record(conn, actor, change, None, None)


@contextmanager
def _taken(name: str) -> Iterator[None]:
    """A layer of the same name loaded at the same moment by someone else: a conflict, not an error."""
    from sqlalchemy.exc import IntegrityError

    try:
        yield
    except IntegrityError as exc:
        if "context_layer_name_unique" not in str(exc.orig):
            raise
        raise Conflict(f"a context layer {name!r} was loaded meanwhile; replace it instead") from None


def _row(conn: Connection, name: str):
    return conn.execute(
        text("""SELECT id, kind, source, licence, data_date, checksum, features, coverage_basis, coverage_note,
                       coverage_ags, covers FROM context_layer WHERE name = :name FOR UPDATE"""),
        {"name": name},
    ).one_or_none()


def _strip(value: str | None) -> str | None:
    return value.strip() if value else None


def _check_meta(meta: Metadata) -> None:
    if not meta.source or not meta.source.strip():
        raise LayerRefused(f"source: say where the layer comes from ({option('source')})", field="source")
    for label, value, limit in (("source", meta.source, 500), ("licence", meta.licence, 200)):
        if value is not None and len(value) > limit:
            raise LayerRefused(f"{label}: {len(value)} characters, at most {limit}", field=label)
    if meta.data_date is not None and not dt.date(1900, 1, 1) <= meta.data_date <= clock.today():
        raise LayerRefused(f"date: {meta.data_date} is not between 1900-01-01 and today", field="date")


def check_ags(conn: Connection, ags: Sequence[str]) -> tuple[str, ...]:
    """Municipality keys that exist, or :class:`LayerRefused` naming the ones that do not."""
    if len(ags) > MAX_AGS:
        raise LayerRefused(f"coverage_ags: {len(ags)} keys, at most {MAX_AGS} (all of NRW)", field="coverage_ags")
    wrong = [a for a in ags if not re.fullmatch(r"\d{8}", a)]
    if not wrong:
        known = set(conn.execute(text("SELECT ags FROM municipality WHERE ags = ANY (:a)"), {"a": list(ags)}).scalars())
        wrong = [a for a in ags if a not in known]
    if wrong:
        raise LayerRefused(
            f"coverage_ags: {', '.join(wrong[:10])} {'is no' if len(wrong) == 1 else 'are no'} NRW municipality "
            f"key (8 digits, e.g. 05113000 for Essen)",
            field="coverage_ags",
        )
    return tuple(sorted(set(ags)))


def _coverage_of(conn: Connection, features: Features | None, coverage: Coverage) -> Coverage:
    if coverage.note is not None and len(coverage.note) > 1000:
        raise LayerRefused(f"coverage_note: {len(coverage.note)} characters, at most 1,000", field="coverage_note")
    if coverage.geometry is not None and coverage.ags:
        raise LayerRefused(f"give the coverage as a file ({option('coverage')}) or as municipalities "
                           f"({option('coverage_ags')}), not both", field="coverage")  # fmt: skip
    if coverage.ags:
        return Coverage(None, check_ags(conn, coverage.ags), coverage.note)
    if coverage.geometry is not None:
        return Coverage(_multipolygon(coverage.geometry), (), coverage.note)
    if features is not None and features.coverage is not None:  # a B-Plan's Geltungsbereich
        return Coverage(_multipolygon(features.coverage), (), coverage.note)
    return coverage


def _basis(coverage: Coverage) -> str:
    return "angegeben" if coverage.given else "gemeinden"


def _coverage_sql(coverage: Coverage) -> str:
    if coverage.ags:
        return "(SELECT ST_Multi(ST_Union(geom)) FROM municipality WHERE ags = ANY (:coverage_ags))"
    if coverage.geometry is not None:
        return "ST_Multi(ST_GeomFromWKB(:coverage_wkb, 25832))"
    return f"'{_EMPTY}'"  # filled by the database from the features (context_municipal_coverage)


def _coverage_params(coverage: Coverage) -> dict:
    if coverage.ags:
        return {"coverage_ags": list(coverage.ags)}
    if coverage.geometry is not None:
        return {"coverage_wkb": shapely.to_wkb(coverage.geometry)}
    return {}


def _insert_features(conn: Connection, layer_id: int, features: Features, source: str) -> None:
    """One statement per CHUNK features: the database's statement triggers (counts, coverage) run once each."""
    for start in range(0, len(features), CHUNK):
        end = start + CHUNK
        conn.execute(
            text("""
            INSERT INTO context_feature (layer_id, kind, name, attributes, source, geom)
            SELECT :layer, :kind, n, CAST(a AS jsonb), :source, ST_GeomFromWKB(w, 25832)
              FROM unnest(CAST(:names AS text[]), CAST(:attributes AS text[]), CAST(:wkb AS bytea[])) AS u(n, a, w)
        """),
            {"layer": layer_id, "kind": features.kind, "source": source, "names": features.names[start:end],
             "attributes": features.attributes[start:end], "wkb": features.wkb[start:end]},
        )  # fmt: skip


def _record(conn: Connection, actor: str, change: Change, meta: Metadata | None, coverage: Coverage | None) -> Change:
    details = {"notes": change.notes}
    if meta is not None:
        details |= {
            "source": meta.source,
            "licence": meta.licence,
            "date": meta.data_date and meta.data_date.isoformat(),
        }
    if coverage is not None:
        details |= {"coverage": "angegeben" if coverage.given else "gemeinden", "coverage_ags": list(coverage.ags),
                    "coverage_note": coverage.note}  # fmt: skip
    change.id = conn.execute(
        text("""
        INSERT INTO context_layer_change (actor, action, layer, kind, checksum_before, checksum_after,
                                          features_before, features_after, changed, rescored, details)
        VALUES (:actor, :action, :layer, :kind, :before, :after, :n_before, :n_after, :changed, :rescored,
                CAST(:details AS jsonb))
        RETURNING id"""),
        {"actor": actor, "action": change.action, "layer": change.layer, "kind": change.kind,
         "before": change.checksum_before, "after": change.checksum_after, "n_before": change.features_before,
         "n_after": change.features_after, "changed": change.changed, "rescored": change.rescored,
         "details": json.dumps(details, ensure_ascii=False)},
    ).scalar_one()  # fmt: skip
    return change


# --- re-scoring what a change affects --------------------------------------------------------------


@dataclass
class _Area:
    layer_id: int | None
    rescored: int = 0


_CANDIDATES = "EXISTS (SELECT FROM context_change_area a WHERE ST_Intersects(a.geom, p.geom))"


@contextmanager
def _rescoring(conn: Connection, layer_id: int | None, kinds: list[str]) -> Iterator[_Area]:
    """Run a change of one layer, then re-score the parcels it affects, all in the caller's transaction.

    Parcels outside the old and new coverage of the kinds and away from the old and new features
    keep their values; of the others, those whose indicators computed afresh differ are re-scored
    (:func:`landreg.scoring.indicators.differing`). ``context_state`` is left alone meanwhile (the
    trigger obeys ``landreg.context_rescored``), so the indicators of every other parcel stay
    current. Only when a kind appears or disappears (a criterion becomes available, or not, for
    every profile) is the moment recorded, and the values of the other parcels, unchanged, with it.
    """
    from landreg.scoring import engine, indicators

    indicators.hold_context(conn, exclusive=True)  # after every computation under way, before any new one
    fresh_since = conn.execute(text("SELECT changed_at FROM context_state")).scalar_one()
    kinds_before = indicators.loaded_layers(conn)
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.context_change_area"))
    conn.execute(text("CREATE TEMP TABLE context_change_area (geom geometry) ON COMMIT DROP"))
    area = _Area(layer_id)
    _add_area(conn, area.layer_id, kinds)
    conn.execute(text("SELECT set_config('landreg.context_rescored', 'on', true)"))
    yield area  # a failed change is rolled back, and the setting with it
    conn.execute(text("SELECT set_config('landreg.context_rescored', 'off', true)"))
    _add_area(conn, area.layer_id, kinds)
    conn.execute(text("CREATE INDEX ON context_change_area USING gist (geom)"))
    conn.execute(text("ANALYZE context_change_area"))
    ids = indicators.differing(conn, kinds, _CANDIDATES, fresh_since)
    for start in range(0, len(ids), CHUNK):
        engine.rescore(conn, ids[start : start + CHUNK])
    area.rescored = len(ids)
    if indicators.loaded_layers(conn) != kinds_before:
        conn.execute(text("UPDATE context_state SET changed_at = clock_timestamp()"))
        for table in ("parcel_indicator", "parcel_score"):
            conn.execute(
                text(f"""UPDATE {table} t SET computed_at = clock_timestamp() FROM parcel p
                          WHERE p.id = t.parcel_id AND t.parcel_version = p.version AND t.computed_at >= :since"""),
                {"since": fresh_since},
            )
    # the approved versions others see of parcels whose change waits for review: few, all computed
    # again (after the layers' time of change above, so that they count as current)
    engine.rescore_approved(conn)
    conn.execute(text("DROP TABLE context_change_area"))


def _add_area(conn: Connection, layer_id: int | None, kinds: list[str]) -> None:
    """The coverage of the kinds and the layer's features, as they are now, to the area a change touches."""
    conn.execute(
        text("""
        INSERT INTO context_change_area (geom)
        SELECT geom FROM context_coverage_part WHERE kind = ANY (:kinds)
        UNION ALL SELECT geom FROM context_feature WHERE layer_id = :layer
    """),
        {"kinds": kinds, "layer": layer_id},
    )
