"""Reading a plan's area from a file: XPlanGML, GeoJSON, GeoPackage, Shapefile …, in EPSG:25832.

Every plan's coordinates pass the importer's CRS diagnosis (:func:`landreg.importer.crs.diagnose`)
before they are transformed: Gauß-Krüger or zone-prefixed UTM declared as 25832, swapped axes,
metres declared as degrees and local coordinates are refused with the fix, never checked
somewhere outside NRW into a "no conflict". Messages name options neutrally
(:func:`landreg.importer.refusals.option`); the CLI spells them ``--crs``, HTTP ``crs``. They come
from the message catalogue (:mod:`landreg.messages`, German and English), the importer's CRS
diagnoses too. No message names a
directory: a file is named by its name (an upload's name, not where the server saved it).

geopandas and pyogrio are imported when a file is read, so that the rest of the safeguarding
package (and :mod:`landreg.features`, which uses its Abstandserlass columns) starts without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from landreg import STORAGE_SRID
from landreg.importer.refusals import ImportRefused, Spelling, render
from landreg.messages import Message, message
from landreg.parcels import size_problem

if TYPE_CHECKING:
    import geopandas as gpd

    from landreg.safeguarding.xplan import XPlan

#: GDAL's GML driver writes a .gfs file beside the file it reads unless told not to.
_GML_OPTIONS = {".gml": {"WRITE_GFS": "NO"}, ".xml": {"WRITE_GFS": "NO"}}
#: Beyond this many metres from the origin in both axes, projected coordinates are no local grid.
LOCAL_COORDINATES_M = 100_000


class PlanError(ImportRefused):
    """A plan (file or geometry) that cannot be checked; ``field`` names the input at fault.

    An :class:`~landreg.importer.refusals.ImportRefused`: its options are spelled by the adapter.
    ``reason``: a :class:`~landreg.messages.Message` (German and English), or English text where
    the catalogue has none yet (the importer's diagnoses); ``file``: the file's name, said first.
    ``str()`` and :attr:`template` are English, as the API and the command line say it."""

    def __init__(self, reason: str | Message, field: str | None = None, file: str | None = None):
        self.reason = reason
        self.file = file
        super().__init__(self.text("en"), field)

    def text(self, lang: str = "en") -> str:
        """The refusal in ``lang``, its options not yet spelled."""
        said = self.reason.text(lang) if isinstance(self.reason, Message) else str(self.reason)
        return f"{self.file}: {said}" if self.file else said

    def render(self, spell: Spelling, lang: str = "en") -> str:
        return render(self.text(lang), spell)


@dataclass
class PlanFile:
    """What a plan file says: its area (EPSG:25832), name, the municipalities it claims and, for
    XPlanGML, its designations and metadata."""

    name: str
    area: shapely.MultiPolygon
    municipalities: tuple[str, ...] = ()
    designations: gpd.GeoDataFrame | None = None
    xplan: XPlan | None = None


def read_plan_file(path: Path, layer: str | None = None, crs: int | None = None) -> PlanFile:
    """A plan file: XPlanGML (5.x, 6.0) with its metadata and designations, or any geodata file whose
    features are united into the plan area (its only layer, or ``layer``)."""
    from landreg.safeguarding.xplan import is_xplan, read_plan

    if layer is None and is_xplan(path):
        plan = read_plan(path, crs)
        return PlanFile(plan.name, plan.area, plan.municipalities, plan.designations, plan)
    area, name = _read_layer(path, layer, crs)
    return PlanFile(name, area)


def read_plan_area(path: Path, layer: str | None = None, crs: int | None = None) -> tuple[shapely.MultiPolygon, str]:
    """The plan area of a file (GeoJSON, GeoPackage, Shapefile, XPlanGML …) in EPSG:25832, and its name.

    XPlanGML: the ``*_Bereich`` geometries when every Bereich has one, else the ``*_Plan``'s
    Geltungsbereich; other files: their only layer. All features are united into one area.
    """
    plan = read_plan_file(path, layer, crs)
    return plan.area, plan.name


def _read_layer(path: Path, layer: str | None, crs: int | None) -> tuple[shapely.MultiPolygon, str]:
    import geopandas as gpd
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    from landreg.importer.crs import geojson_assumed

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, OSError) as exc:
        raise PlanError(message("plan.unreadable", reason=reason(exc, path)), "file", path.name) from None
    listed = ", ".join(layers)
    if not layers:  # e.g. a ZIP without a file GDAL reads
        raise PlanError(message("plan.no_layers"), "file", path.name)
    if layer is None:
        if len(layers) != 1:
            raise PlanError(message("plan.several_layers", file=path.name, layers=listed), field="layer")
        layer = layers[0]
    elif layer not in layers:
        raise PlanError(message("plan.no_such_layer", file=path.name, layer=layer, layers=listed), field="layer")
    try:
        driver = pyogrio.read_info(path, layer=layer, **_GML_OPTIONS.get(path.suffix.lower(), {}))["driver"]
        frame = pyogrio.read_dataframe(path, layer=layer, **_GML_OPTIONS.get(path.suffix.lower(), {}))
    except (DataSourceError, DataLayerError) as exc:
        said = message("plan.layer_unreadable", layer=layer, reason=reason(exc, path))
        raise PlanError(said, "file", path.name) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise PlanError(message("plan.layer_without_geometry", layer=layer), "layer", path.name)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        raise PlanError(message("plan.layer_empty", layer=layer), "file", path.name)
    frame = to_storage(frame, crs, path.name, assumed_crs=geojson_assumed(path, driver))
    names = [str(n) for n in frame.get("name", []) if isinstance(n, str) and n]
    return unite(frame.geometry.to_numpy(), path.name), names[0] if names else path.stem


def to_storage(frame: gpd.GeoDataFrame, crs: int | None, file_name: str, assumed_crs: bool = False) -> gpd.GeoDataFrame:
    """A plan's features in EPSG:25832, after the importer's diagnosis of their coordinates.

    ``crs``: the EPSG code a person gave. It is needed when the file declares none; it replaces a
    CRS that GDAL only assumed (``assumed_crs``: GeoJSON without a ``crs`` member) or that the file
    declares wrongly (an ``srsName`` of 25832 on Gauß-Krüger coordinates: the declared CRS puts
    them outside NRW); it is refused when it contradicts a declared CRS that fits the coordinates.
    """
    from landreg.importer.crs import choose, diagnose

    points = shapely.point_on_surface(frame.geometry.to_numpy())
    x, y = shapely.get_x(points), shapely.get_y(points)
    given = _epsg(crs) if crs is not None else None

    def problem_in(source, said_by: str) -> str | None:
        return local_coordinates(source, x, y) or diagnose(source, x, y, said_by)

    declared_wrongly = frame.crs is not None and given is not None and problem_in(frame.crs, "file") is not None
    try:
        choice = choose(frame.crs, given, file_name, assumed=assumed_crs or declared_wrongly, x=x, y=y)
        problem = problem_in(choice.crs, choice.said_by)
    except ImportRefused as exc:
        raise PlanError(exc.message or exc.template, field=exc.field) from None
    if problem:
        raise PlanError(of_the_plan(problem), "crs", file_name)
    out = frame.set_crs(choice.crs, allow_override=True).to_crs(STORAGE_SRID)
    if not np.isfinite(out.total_bounds).all():
        raise PlanError(message("plan.not_transformable", value=choice.crs.name), "crs", file_name)
    return out


def _epsg(code: int):
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return CRS.from_epsg(code)
    except CRSError:
        raise PlanError(message("plan.unknown_crs", code=str(code)), field="crs") from None


def reason(exc: Exception, path: Path) -> str:
    """What a library says of a file, without the directory the file lies in (on a server: where an
    upload was saved, which nobody needs to know); the file is named by its name."""
    said = str(exc)
    for directory in {str(path.parent), str(path.parent.resolve())}:
        said = re.sub(r"(/vsi\w+/+)?" + re.escape(directory.rstrip("/")) + "/+", "", said)
    return said


def of_the_plan(diagnosis: str | Message) -> str | Message:
    """The importer's diagnosis, which speaks of parcels, said of a plan."""
    if isinstance(diagnosis, Message):
        from landreg.importer.crs import about

        return about(diagnosis, "plan")
    for parcels, plan in _PLAN_WORDING:
        diagnosis = diagnosis.replace(parcels, plan)
    return diagnosis


_PLAN_WORDING = (("the parcels do not lie", "the plan does not lie"), ("the parcels lie", "the plan lies"))


def local_coordinates(crs, x: np.ndarray, y: np.ndarray) -> Message | None:
    """Why projected coordinates near the origin are a local grid (a CAD drawing's), or None.

    Small numbers that are NRW in longitude/latitude (either order) are left to the importer's
    diagnosis, which names that mistake."""
    from landreg.importer.crs import suggest

    if crs.is_geographic or len(x) == 0:
        return None
    small = (np.abs(x) < LOCAL_COORDINATES_M) & (np.abs(y) < LOCAL_COORDINATES_M)
    if not np.all(small) or suggest(x, y) == 4326 or suggest(y, x) == 4326:
        return None
    return message("plan.local_coordinates", x=round(float(x[0]), 1), y=round(float(y[0]), 1))


def area_from_geojson(geometry: dict, crs: int) -> shapely.MultiPolygon:
    """A GeoJSON (Multi)Polygon in EPSG:``crs`` as a plan area in EPSG:25832, diagnosed as a file is."""
    import geopandas as gpd

    try:
        geom = shapely.geometry.shape(geometry)
    except Exception as exc:  # shapely raises several kinds for malformed GeoJSON
        raise PlanError(message("plan.not_geojson", reason=str(exc)), field="geometry") from None
    frame = gpd.GeoDataFrame(geometry=[plan_geometry(geom)])  # its size checked before anything is computed
    return plan_geometry(to_storage(frame, crs, "geometry").geometry.iloc[0])


def unite(geometries, file_name: str) -> shapely.MultiPolygon:
    """The plan area: a file's areas united (GEOS cannot unite an invalid one: refused by name)."""
    try:
        united = shapely.union_all(geometries)
    except shapely.errors.GEOSException as exc:
        said = str(exc).split(". ")[0]
        raise PlanError(message("plan.cannot_unite", reason=said), "file", file_name) from None
    return plan_geometry(united, "file")


def plan_geometry(geometry, field: str = "geometry", subject: Message | None = None) -> shapely.MultiPolygon:
    """A plan area as a valid MultiPolygon within the size limits, or :class:`PlanError` naming
    ``field``; ``subject``: what the message calls the area (default: the plan area)."""
    subject = subject or message("plan.subject.plan")
    geom = shapely.geometry.shape(geometry) if isinstance(geometry, dict) else geometry
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise PlanError(message("plan.area.kind", subject=subject), field=field)
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise PlanError(message("plan.area.not_finite", subject=subject), field=field)
    problem = size_problem(geom)
    if problem:
        raise PlanError(message("plan.area.too_large", subject=subject, reason=problem), field=field)
    geom = shapely.force_2d(geom)  # heights (srsDimension 3, GeoJSON's third value) say nothing of the area
    if not geom.is_valid:
        invalid = message("plan.area.invalid", subject=subject, reason=shapely.is_valid_reason(geom))
        raise PlanError(invalid, field=field)
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])
