"""XPlanGML 5.x and 6.0: a plan's area, its metadata and its Baugebiete, in EPSG:25832.

Two readers, each for what it does well: the XML tree (stdlib ElementTree, namespace-agnostic, so
5.0 … 5.4 and 6.0 read alike) gives the structure a planner's file has — which features exist,
the plan's name, number, Gemeinde, Rechtsstand and dates, the Art der baulichen Nutzung and which
Bereich/Plan a feature belongs to by ``xlink:href``; GDAL's GML driver (pyogrio) gives the
geometries, joined by ``gml:id``, because it knows every GML geometry form (surfaces, patches,
arcs, ``srsName`` axis orders). GDAL's GMLAS driver is not in the GDAL that pyogrio bundles, and
the ``xplan-tools`` package models the whole standard for conversion and validation, far more than
these few elements need.

Where the area comes from: the ``*_Bereich`` geometries when every Bereich has one (``geltungsbereich``
is optional in XPlanung and often left out), else the ``*_Plan``'s ``raeumlicherGeltungsbereich``.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import shapely

from landreg.messages import message
from landreg.safeguarding.plans import PlanError, plan_geometry, reason, to_storage, unite

if TYPE_CHECKING:
    import geopandas as gpd

_XPLAN_NS = re.compile(r"^\{http://www\.xplanung\.de/xplangml/(\d+)/(\d+)\}")
_GML_ID = "{http://www.opengis.net/gml/3.2}id"
_GML31_ID = "{http://www.opengis.net/gml}id"  # XPlanGML 4.x (GML 3.1): read only to name the version
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
SUPPORTED_MAJOR_VERSIONS = ("5", "6")

#: XP_BesondereArtDerBaulNutzung (BauNVO Baugebiete): code -> (short code, German label).
SPECIAL_USE = {
    "1000": ("WS", "Kleinsiedlungsgebiet"),
    "1100": ("WR", "Reines Wohngebiet"),
    "1200": ("WA", "Allgemeines Wohngebiet"),
    "1300": ("WB", "Besonderes Wohngebiet"),
    "1400": ("MD", "Dorfgebiet"),
    "1450": ("MDW", "Dörfliches Wohngebiet"),
    "1500": ("MI", "Mischgebiet"),
    "1550": ("MU", "Urbanes Gebiet"),
    "1600": ("MK", "Kerngebiet"),
    "1700": ("GE", "Gewerbegebiet"),
    "1800": ("GI", "Industriegebiet"),
    "2000": ("SO", "Sondergebiet, das der Erholung dient"),
    "2100": ("SO", "Sonstiges Sondergebiet"),
    "3000": ("SO", "Wochenendhausgebiet"),
    "4000": ("SO", "Sondergebiet"),
}
#: XP_AllgArtDerBaulNutzung (BauNVO Bauflächen, as a FNP shows them): code -> (short code, German label).
GENERAL_USE = {
    "1000": ("W", "Wohnbaufläche"),
    "2000": ("M", "Gemischte Baufläche"),
    "3000": ("G", "Gewerbliche Baufläche"),
    "4000": ("S", "Sonderbaufläche"),
}
#: Feature classes whose Art der baulichen Nutzung is a designation.
DESIGNATION_CLASSES = ("BP_BaugebietsTeilFlaeche", "FP_BebauungsFlaeche")

#: BP_Rechtsstand and FP_Rechtsstand (5.x, 6.0): code -> German label; where they differ, by plan type.
LEGAL_STATUS = {
    "1000": "Aufstellungsbeschluss",
    "2000": "Entwurf",
    "2100": "Frühzeitige Behördenbeteiligung",
    "2200": "Frühzeitige Öffentlichkeitsbeteiligung",
    "2300": "Behördenbeteiligung",
    "2400": "Öffentliche Auslegung",
    "4500": "Teilweise untergegangen",
    "5000": "Untergegangen",
    "50000": "Aufgehoben",
    "50100": "Außer Kraft",
}
LEGAL_STATUS_BY_TYPE = {
    "BP": {"3000": "Satzung", "4000": "In Kraft getreten"},
    "FP": {"3000": "Planbeschluss", "4000": "Wirksam"},
}
#: Which date is the plan's date, most telling first.
DATE_PREFERENCE = (
    "inkrafttretensDatum",
    "wirksamkeitsDatum",
    "satzungsbeschlussDatum",
    "planbeschlussDatum",
    "rechtsverordnungsDatum",
    "aufstellungsbeschlussDatum",
    "technHerstellDatum",
)


@dataclass
class XPlan:
    """One plan of an XPlanGML file, its area and its designations in EPSG:25832."""

    name: str
    number: str | None
    ags: str | None  # the first Gemeinde's AGS (from ``ags``, or from ``rs``)
    legal_status: str | None  # German label of the Rechtsstand (or its code when unknown)
    date: dt.date | None  # see DATE_PREFERENCE; all dates in ``dates``
    area: shapely.MultiPolygon
    designations: gpd.GeoDataFrame
    plan_type: str = "BP"  # BP, FP, RP, LP, SO
    version: str = ""  # e.g. "5.4", "6.0"
    area_source: str = ""  # "BP_Bereich.geltungsbereich" or "BP_Plan.raeumlicherGeltungsbereich"
    municipalities: tuple[str, ...] = ()  # every Gemeinde's AGS
    dates: dict[str, dt.date] = field(default_factory=dict)


def is_xplan(path: Path) -> bool:
    """Whether the file is XPlanGML: an XML root in an XPlanung namespace (only its start is read)."""
    try:
        with path.open("rb") as f:
            head = f.read(65_536)
    except OSError:
        return False
    return b"http://www.xplanung.de/xplangml/" in head


def read_plan(path: Path, crs: int | None = None) -> XPlan:
    """The plan of an XPlanGML file (5.x or 6.0). ``crs``: EPSG code when the geometries have no ``srsName``."""
    doc = _Document(path)
    plan = doc.plan()
    area, source = _plan_area(doc, path, plan, crs)
    gemeinden = _municipalities(plan)
    dates = _dates(plan)
    code = _text(plan, "rechtsstand")
    kind = _local(plan)[:2]
    return XPlan(
        name=_text(plan, "name") or path.stem,
        number=_text(plan, "nummer"),
        ags=gemeinden[0] if gemeinden else None,
        legal_status=(LEGAL_STATUS_BY_TYPE.get(kind, {}) | LEGAL_STATUS).get(code, code) if code else None,
        date=next((dates[k] for k in DATE_PREFERENCE if k in dates), None),
        area=area,
        designations=_designations(doc, path, crs),
        plan_type=kind,
        version=doc.version,
        area_source=source,
        municipalities=tuple(gemeinden),
        dates=dates,
    )


def read_designations(path: Path, crs: int | None = None) -> gpd.GeoDataFrame:
    """The Baugebiete (``BP_BaugebietsTeilFlaeche``) and Bauflächen (``FP_BebauungsFlaeche``) of an
    XPlanGML file: ``use`` (short code: GI, GE, MI, MU, MK, WA, WR, WS, WB, MD, SO; for a Baufläche
    without a besondere Art: G, M, W, S), ``use_label`` (German), ``plan_name``, ``gml_id``,
    ``geometry`` (EPSG:25832). Features whose Art der baulichen Nutzung is missing or
    "sonstige" (9999) are left out: they name no use to check.
    """
    return _designations(_Document(path), path, crs)


class _Document:
    """The XML tree of an XPlanGML file: its XPlanung features by class, and its version."""

    def __init__(self, path: Path):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise PlanError(message("plan.xml_malformed", file=path.name, reason=str(exc)), field="file") from None
        except OSError as exc:
            raise PlanError(message("plan.file_unreadable", file=path.name, reason=exc.strerror), "file") from None
        self.name = path.name
        self.features: dict[str, list[ET.Element]] = {}
        versions: set[tuple[str, str]] = set()
        for element in root.iter():
            match = _XPLAN_NS.match(element.tag) if isinstance(element.tag, str) else None
            gml_id = element.attrib.get(_GML_ID) or element.attrib.get(_GML31_ID)
            if match and gml_id and re.match(r"^(BP|FP|RP|LP|SO)_", _local(element)):
                element.set(_GML_ID, gml_id)
                self.features.setdefault(_local(element), []).append(element)
                versions.add(match.groups())
        if not versions:
            raise PlanError(message("plan.xplan_none", file=path.name), field="file")
        if len(versions) > 1:
            listed = ", ".join(sorted(".".join(v) for v in versions))
            raise PlanError(message("plan.xplan_mixed", file=path.name, value=listed), field="file")
        ((major, minor),) = versions
        self.version = f"{major}.{minor}"
        if major not in SUPPORTED_MAJOR_VERSIONS:
            raise PlanError(message("plan.xplan_version", file=path.name, value=self.version), field="file")
        self.by_id = {e.attrib[_GML_ID]: e for elements in self.features.values() for e in elements}

    def of_class(self, suffix: str) -> list[ET.Element]:
        return [e for name, elements in self.features.items() if name.endswith(suffix) for e in elements]

    def plan(self) -> ET.Element:
        plans = self.of_class("_Plan")
        if not plans:
            raise PlanError(message("plan.xplan_no_plan", file=self.name), field="file")
        if len(plans) > 1:
            names = ", ".join(_text(p, "name") or p.attrib[_GML_ID] for p in plans)
            said = message("plan.xplan_several", file=self.name, count=len(plans), value=names)
            raise PlanError(said, field="file")
        return plans[0]

    def plan_of(self, feature: ET.Element) -> ET.Element | None:
        """The plan a feature belongs to (via gehoertZuBereich → gehoertZuPlan), or the file's only plan."""
        bereich = self.by_id.get(_href(feature, "gehoertZuBereich") or "")
        plan = self.by_id.get(_href(bereich, "gehoertZuPlan") or "") if bereich is not None else None
        if plan is None:
            plans = self.of_class("_Plan")
            plan = plans[0] if len(plans) == 1 else None
        return plan


def _plan_area(doc: _Document, path: Path, plan: ET.Element, crs: int | None) -> tuple[shapely.MultiPolygon, str]:
    """The Bereiche's geometry when every Bereich of the plan has one, else the Plan's Geltungsbereich."""
    plan_id = plan.attrib[_GML_ID]
    bereiche = [b for b in doc.of_class("_Bereich") if _href(b, "gehoertZuPlan") in (plan_id, None)]
    if bereiche:
        layer = _local(bereiche[0])
        geoms = _geometries(path, layer, [b.attrib[_GML_ID] for b in bereiche], crs)
        if len(geoms) == len(bereiche):
            return unite(geoms, path.name), f"{layer}.geltungsbereich"
    geoms = _geometries(path, _local(plan), [plan_id], crs)
    if not geoms:
        raise PlanError(message("plan.xplan_no_area", value=_local(plan)), "file", path.name)
    return plan_geometry(geoms[0], "file"), f"{_local(plan)}.raeumlicherGeltungsbereich"


def _designations(doc: _Document, path: Path, crs: int | None) -> gpd.GeoDataFrame:
    import geopandas as gpd

    from landreg import STORAGE_SRID

    rows, ids = [], []
    for cls in DESIGNATION_CLASSES:
        features = doc.features.get(cls, [])
        if not features:
            continue
        geoms = dict(zip(*_geometries_by_id(path, cls, [f.attrib[_GML_ID] for f in features], crs)))
        for feature in features:
            use = _use(feature)
            geom = geoms.get(feature.attrib[_GML_ID])
            if use is None or geom is None or geom.is_empty:
                continue
            plan = doc.plan_of(feature)
            name = (_text(plan, "name") if plan is not None else None) or path.stem
            rows.append({"use": use[0], "use_label": use[1], "plan_name": name, "gml_id": feature.attrib[_GML_ID]})
            ids.append(geom)
    columns = ["use", "use_label", "plan_name", "gml_id"]
    return gpd.GeoDataFrame(rows or None, columns=columns, geometry=ids or [], crs=STORAGE_SRID)


def _use(feature: ET.Element) -> tuple[str, str] | None:
    special = _text(feature, "besondereArtDerBaulNutzung")
    if special in SPECIAL_USE:
        return SPECIAL_USE[special]
    return GENERAL_USE.get(_text(feature, "allgArtDerBaulNutzung") or "")


def _geometries(path: Path, layer: str, ids: list[str], crs: int | None) -> list:
    """The geometries (EPSG:25832) of the features ``ids`` of a layer that have one, in the order of ``ids``."""
    found_ids, geoms = _geometries_by_id(path, layer, ids, crs)
    by_id = dict(zip(found_ids, geoms))
    return [by_id[i] for i in ids if i in by_id and by_id[i] is not None and not by_id[i].is_empty]


def _geometries_by_id(path: Path, layer: str, ids: list[str], crs: int | None) -> tuple[list[str], list]:
    """GDAL's reading of one feature class: ids and geometries in EPSG:25832 (checked by :func:`to_storage`)."""
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:  # WRITE_GFS=NO: reading never leaves a .gfs file beside the planner's file
        frame = pyogrio.read_dataframe(path, layer=layer, columns=["gml_id"], WRITE_GFS="NO")
    except (DataSourceError, DataLayerError) as exc:
        said = message("plan.gdal_layer", layer=layer, reason=reason(exc, path))
        raise PlanError(said, "file", path.name) from None
    if "geometry" not in frame or not hasattr(frame, "crs"):  # a class without any geometry
        return [], []
    frame = frame[frame["gml_id"].isin(ids) & frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        return [], []
    frame = to_storage(frame, crs, path.name)
    return list(frame["gml_id"]), list(frame.geometry)


def _municipalities(plan: ET.Element) -> list[str]:
    """The AGS of each XP_Gemeinde of the plan: ``ags``, or derived from the 12-digit ``rs``."""
    found = []
    for gemeinde in _children(plan, "gemeinde"):
        for xp in gemeinde:
            ags, rs = _text(xp, "ags"), _text(xp, "rs")
            if ags and re.fullmatch(r"\d{8}", ags):
                found.append(ags)
            elif rs and re.fullmatch(r"\d{12}", rs):
                found.append(rs[:5] + rs[9:])  # Land, RB, Kreis + Gemeinde; the Verband digits dropped
    return list(dict.fromkeys(found))


def _dates(plan: ET.Element) -> dict[str, dt.date]:
    dates = {}
    for child in plan:
        name = _local(child)
        if name.endswith("Datum") and name not in dates and child.text:
            try:
                dates[name] = dt.date.fromisoformat(child.text.strip()[:10])
            except ValueError:
                continue
    return dates


def _local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child) == name]


def _text(element: ET.Element | None, name: str) -> str | None:
    if element is None:
        return None
    for child in _children(element, name):
        if child.text and child.text.strip():
            return child.text.strip()
    return None


def _href(element: ET.Element | None, name: str) -> str | None:
    if element is None:
        return None
    for child in _children(element, name):
        href = child.attrib.get(_XLINK_HREF, "")
        if href:
            return href.rsplit("#", 1)[-1]
    return None
