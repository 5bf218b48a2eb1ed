"""Beispieldaten: reproducible sample parcels inside the real RVR municipal boundaries.

No real parcel geometries of Ruhr brownfields are available as open data, so the demo and the
tests use generated ones: rectangles and L-shapes of realistic size, placed without overlap
inside the 53 municipalities of the Regionalverband Ruhr, with attributes drawn from plausible
distributions per category (brownfields are more often contaminated, Baulücken are serviced and
zoned for housing, ...). The same seed always gives the same parcels. Every parcel is marked
``is_sample`` and named "Beispiel-…", so it cannot be mistaken for real data.
"""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import shapely
from shapely import affinity

from landreg import STORAGE_SRID, rules
from landreg.geodata import read_rvr_municipalities

# category: (share of parcels, reference prefix, size range m², median m²)
CATEGORIES = {
    "bauluecke": (0.45, "BL", (300, 3_000), 900),
    "brachflaeche": (0.20, "BF", (2_000, 1_000_000), 30_000),
    "gewerbeflaeche": (0.22, "GE", (2_000, 250_000), 15_000),
    "industrieflaeche": (0.13, "GI", (10_000, 600_000), 50_000),
}
_NAMES = {
    "bauluecke": "Beispiel-Baulücke",
    "brachflaeche": "Beispiel-Brachfläche",
    "gewerbeflaeche": "Beispiel-Gewerbefläche",
    "industrieflaeche": "Beispiel-Industriefläche",
}

# Attribute distributions per category: value -> weight.
_DIST = {
    "status": {
        "bauluecke": {"verfuegbar": 50, "potenzial": 30, "reserviert": 10, "genutzt": 10},
        "brachflaeche": {"potenzial": 40, "verfuegbar": 30, "in_entwicklung": 15, "reserviert": 10, "genutzt": 5},
        "*": {
            "verfuegbar": 45,
            "potenzial": 20,
            "reserviert": 15,
            "in_entwicklung": 10,
            "genutzt": 7,
            "andere_nutzung": 3,
        },
    },
    "designation": {
        "bauluecke": {"WA": 70, "MI": 20, "WR": 10},
        "brachflaeche": {"GI": 25, "GE": 25, "GIB": 10, "MI": 15, "SO": 10, "ASB": 10, "F": 5},
        "gewerbeflaeche": {"GE": 80, "G": 10, "MI": 10},
        "industrieflaeche": {"GI": 70, "GIB": 20, "GE": 10},
    },
    "planning_status": {
        "bauluecke": {"paragraph_34": 60, "bplan_rechtskraeftig": 40},
        "*": {"bplan_rechtskraeftig": 45, "fnp": 35, "bplan_in_aufstellung": 15, "keine": 5},
    },
    "previous_use": {
        "bauluecke": {None: 70, "Wohnen": 15, "Garten": 15},
        "brachflaeche": {
            "Bergbau (Zeche)": 30,
            "Eisen- und Stahlindustrie": 20,
            "Bahnfläche": 15,
            "Chemische Industrie": 10,
            "Kraftwerk": 5,
            "Militär (Kaserne)": 5,
            "Gewerbe": 15,
        },
        "*": {None: 50, "Landwirtschaft": 30, "Gewerbe": 20},
    },
    "contamination": {
        "bauluecke": {"keine_bekannt": 90, "verdacht": 5, "saniert": 5},
        "brachflaeche": {"verdacht": 35, "untersucht": 30, "saniert": 25, "keine_bekannt": 10},
        "*": {"keine_bekannt": 60, "verdacht": 15, "saniert": 15, "untersucht": 10},
    },
    "ownership": {
        "brachflaeche": {"privat_einzeln": 60, "oeffentlich": 25, "privat_mehrere": 15},
        "*": {"privat_einzeln": 45, "oeffentlich": 35, "privat_mehrere": 20},
    },
    "owner_willing": {"*": {"ja": 55, "unbekannt": 30, "nein": 15}},
    "servicing": {
        "bauluecke": {"erschlossen": 90, "teilweise": 10},
        "brachflaeche": {"teilweise": 50, "unerschlossen": 30, "erschlossen": 20},
        "*": {"erschlossen": 50, "teilweise": 35, "unerschlossen": 15},
    },
}
_AVAILABILITY = {
    "verfuegbar": {"kurzfristig": 70, "mittelfristig": 30},
    "potenzial": {"mittelfristig": 40, "langfristig": 50, "nicht_verfuegbar": 10},
    "reserviert": {"nicht_verfuegbar": 60, "mittelfristig": 40},
    "in_entwicklung": {"nicht_verfuegbar": 50, "mittelfristig": 50},
    "genutzt": {"nicht_verfuegbar": 100},
    "andere_nutzung": {"nicht_verfuegbar": 100},
}
_FIRST_DATE = dt.date(2023, 1, 1)
_DATE_SPAN_DAYS = (dt.date(2026, 9, 30) - _FIRST_DATE).days


def _pick(rng: np.random.Generator, weights: dict):
    values = list(weights)
    p = np.array(list(weights.values()), dtype=float)
    return values[rng.choice(len(values), p=p / p.sum())]


def _attribute(rng, field: str, category: str):
    table = _DIST[field]
    return _pick(rng, table.get(category, table.get("*")))


def _size(rng, category: str) -> float:
    _, _, (low, high), median = CATEGORIES[category]
    while True:
        area = median * math.exp(rng.normal(0.0, 0.9))
        if low <= area <= high:
            return area


def _shape(rng, area: float, x: float, y: float) -> shapely.Polygon:
    """A rectangle or an L-shape of the given area, rotated, centred on (x, y)."""
    ratio = rng.uniform(1.0, 2.5)
    notch = rng.uniform(0.15, 0.35) if rng.random() < 0.35 else 0.0
    scale = math.sqrt(area / (1.0 - notch * notch) if notch else area)
    w, h = scale * math.sqrt(ratio), scale / math.sqrt(ratio)
    poly = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
    if notch:
        poly = poly.difference(shapely.box(w / 2 - notch * w, h / 2 - notch * h, w / 2, h / 2))
    poly = affinity.rotate(poly, rng.uniform(0, 180), origin=(0, 0))
    return affinity.translate(poly, x, y)


def _place(rng, boundary, accepted: list, area: float, tries: int = 200) -> shapely.Polygon | None:
    minx, miny, maxx, maxy = boundary.bounds
    for _ in range(tries):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not shapely.contains_xy(boundary, x, y):
            continue
        poly = shapely.set_precision(_shape(rng, area, x, y), 0.01)
        if not boundary.contains(poly):
            continue
        if accepted and shapely.intersects(poly, np.asarray(accepted)).any():
            continue
        return poly
    return None


def _allocate(rng, municipalities: gpd.GeoDataFrame, count: int) -> np.ndarray:
    """Parcels per municipality: more in larger places, twice as many in the kreisfreie Städte."""
    urban = np.where(municipalities["ags"].str.endswith("000"), 2.0, 1.0)
    weight = np.sqrt(municipalities.geometry.area.to_numpy() / 1e6) * urban
    return rng.multinomial(count, weight / weight.sum())


def generate(count: int = 3000, seed: int = 20261121) -> gpd.GeoDataFrame:
    """``count`` sample parcels (fewer only if a municipality is too full to place them)."""
    rng = np.random.default_rng(seed)
    municipalities = read_rvr_municipalities().sort_values("ags").reset_index(drop=True)
    shares = np.array([c[0] for c in CATEGORIES.values()])
    rows = []
    for (_, muni), n in zip(municipalities.iterrows(), _allocate(rng, municipalities, count)):
        boundary = muni.geometry
        shapely.prepare(boundary)
        accepted: list = []
        serial = {cat: 0 for cat in CATEGORIES}
        for _ in range(n):
            category = list(CATEGORIES)[rng.choice(len(CATEGORIES), p=shares)]
            poly = _place(rng, boundary, accepted, _size(rng, category))
            if poly is None:
                continue
            accepted.append(poly)
            serial[category] += 1
            rows.append(_attributes(rng, category, muni, serial[category], poly))
    frame = gpd.GeoDataFrame(rows, geometry="geom", crs=STORAGE_SRID)
    # pandas keeps a missing text as NaN, which reaches SQL as the text 'NaN': keep None instead
    for name in frame.columns[(frame.dtypes == "str") & frame.isna().any().to_numpy()]:
        text = frame[name].astype(object)
        frame[name] = text.where(text.notna(), None)
    return frame


def _attributes(rng, category: str, muni, number: int, poly) -> dict:
    prefix = CATEGORIES[category][1]
    status = _attribute(rng, "status", category)
    contamination = _attribute(rng, "contamination", category)
    servicing = _attribute(rng, "servicing", category)
    if contamination in rules.SUSPECTED_CONTAMINATION or (category == "brachflaeche" and rng.random() < 0.3):
        restriction = 2
    elif servicing != "erschlossen" or rng.random() < 0.15:
        restriction = 1
    else:
        restriction = 0
    return {
        "ags": muni["ags"],
        "local_ref": f"{prefix}-{number:04d}",
        "name": f"{_NAMES[category]} {muni['name']} {number}",
        "category": category,
        "status": status,
        "designation": _attribute(rng, "designation", category),
        "planning_status": _attribute(rng, "planning_status", category),
        "previous_use": _attribute(rng, "previous_use", category),
        "contamination": contamination,
        "restriction_class": restriction,
        "availability": _pick(rng, _AVAILABILITY[status]),
        "ownership": _attribute(rng, "ownership", category),
        "owner_willing": _attribute(rng, "owner_willing", category),
        "servicing": servicing,
        "owner_contact": f"Beispiel-Eigentümer {muni['ags']}-{prefix}{number:04d}, "
        f"Tel. 0000 {rng.integers(100000, 999999)}",
        "internal_notes": "Beispieldaten: interne Notiz (vertraulich)",
        "publication_allowed": bool(rng.random() < 0.85),
        "data_date": _FIRST_DATE + dt.timedelta(days=int(rng.integers(0, _DATE_SPAN_DAYS))),
        "is_sample": True,
        "geom": shapely.MultiPolygon([poly]),
    }
