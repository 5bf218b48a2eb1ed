"""Reading a plan's area from a file: XPlanGML, GeoJSON, GeoPackage, Shapefile …, in EPSG:25832.

geopandas and pyogrio are imported when a file is read, so that the rest of the safeguarding
package (and :mod:`landreg.features`, which uses its Abstandserlass columns) starts without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import shapely

from landreg import STORAGE_SRID
from landreg.parcels import size_problem

if TYPE_CHECKING:
    import geopandas as gpd


class PlanError(ValueError):
    pass


def read_plan_area(path: Path, layer: str | None = None, crs: int | None = None) -> tuple[shapely.MultiPolygon, str]:
    """The plan area of a file (GeoJSON, GeoPackage, Shapefile, XPlanGML …) in EPSG:25832, and its name.

    XPlanGML: the ``*_Bereich`` layer when there is one, else ``*_Plan`` (their geometry is the
    Geltungsbereich); other files: their only layer. All features are united into one area.
    """
    import geopandas as gpd
    import pyogrio
    from pyogrio.errors import DataSourceError
    from pyproj.exceptions import CRSError

    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, OSError) as exc:
        raise PlanError(f"{path.name}: cannot be read as a geodata file ({exc})") from None
    if layer is None:
        preferred = [n for n in layers if n.endswith("_Bereich")] or [n for n in layers if n.endswith("_Plan")]
        if preferred:
            layer = preferred[0]
        elif len(layers) == 1:
            layer = layers[0]
        else:
            raise PlanError(f"{path.name} has several layers ({', '.join(layers)}); choose one")
    elif layer not in layers:
        raise PlanError(f"{path.name} has no layer {layer!r}; layers: {', '.join(layers)}")
    frame = gpd.read_file(path, layer=layer)
    if frame.empty:
        raise PlanError(f"{path.name}: layer {layer!r} has no features")
    if frame.crs is None:
        if crs is None:
            raise PlanError(f"{path.name} declares no CRS; give it (e.g. 25832)")
        try:
            frame = frame.set_crs(crs)
        except CRSError:
            raise PlanError(f"crs: EPSG:{crs} is not a known coordinate reference system") from None
    area = shapely.union_all(frame.to_crs(STORAGE_SRID).geometry.to_numpy())
    return _plan_geometry(area), _plan_name(path, layer, layers, frame)


def _plan_name(path: Path, layer: str, layers: list[str], frame: gpd.GeoDataFrame) -> str:
    """The plan's name: of the XPlanGML *_Plan feature (a Bereich has none), else of the feature, else the file."""
    import geopandas as gpd

    plan_layer = layer.removesuffix("_Bereich") + "_Plan"
    if layer.endswith("_Bereich") and plan_layer in layers:
        frame = gpd.read_file(path, layer=plan_layer, ignore_geometry=True)
    names = [str(n) for n in frame.get("name", []) if isinstance(n, str) and n]
    return names[0] if names else path.stem


def _plan_geometry(geometry) -> shapely.MultiPolygon:
    geom = shapely.geometry.shape(geometry) if isinstance(geometry, dict) else geometry
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise PlanError("the plan area must be a (multi)polygon")
    problem = size_problem(geom)
    if problem:
        raise PlanError(f"the plan area {problem}")
    if not geom.is_valid:
        raise PlanError(f"the plan area is not a valid polygon: {shapely.is_valid_reason(geom)}")
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])
