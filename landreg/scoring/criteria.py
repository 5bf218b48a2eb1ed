"""The criteria catalogue: what each criterion measures, where it comes from, and how a raw value
becomes a normalised value in [0, 1] (1 = best for reuse).

Value functions are small and explicit so that a ministry official can read and change them:

* ``linear``: 0 at ``worst``, 1 at ``best``, straight in between, clamped outside
  (``worst`` may be above ``best``, as for distances: nearer is better);
* ``steps``: the value of the first class whose upper bound the raw value does not exceed;
* ``table``: one value per code.

Sources of the defaults are in ``../shared/DOMAIN.md`` (Ruhr commercial land management's
restriction classes, TIMBRE, Abstandserlass NRW); where marked *assumed*, they are starting
points a profile can change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from landreg import fields

#: Abstandserlass NRW distance classes (I–VII) in metres.
ABSTAND_CLASSES = {"I": 1500, "II": 1000, "III": 700, "IV": 500, "V": 300, "VI": 200, "VII": 100}


class CriterionError(ValueError):
    pass


def _confidential(source_field: str | None) -> bool:
    return source_field is not None and fields.field(source_field).confidential


@dataclass(frozen=True)
class Criterion:
    key: str
    name_de: str
    name_en: str
    description: str
    unit: str
    source: str
    direction: str  # what is better, in words
    function: dict  # default value function
    layer: str | None = None  # context layer kind it needs (None: a parcel attribute)
    column: str = ""  # where the raw value is read (parcel or parcel_indicator column)
    #: The parcel field (:mod:`landreg.fields`) its value is built on; None for distances to the
    #: context layers, which only need the parcel's outline. Whether the criterion may be shown
    #: to a caller follows from that field's ``confidential``.
    source_field: str | None = None

    def __post_init__(self) -> None:
        if self.layer is None and self.source_field is None:
            raise CriterionError(f"criterion {self.key}: name the parcel field it is built on (source_field)")
        if self.source_field is not None and self.source_field not in fields.names(fields.ALL):
            raise CriterionError(f"criterion {self.key}: no parcel field {self.source_field!r} in landreg.fields")

    def label(self, lang: str = "de") -> str:
        return self.name_en if lang == "en" else self.name_de

    @property
    def confidential(self) -> bool:
        """Whether the criterion reveals a confidential fact of the parcel (see :mod:`landreg.access`)."""
        return _confidential(self.source_field)


def _table(values: dict[str, float]) -> dict:
    return {"type": "table", "values": values}


CATALOGUE: dict[str, Criterion] = {
    c.key: c
    for c in [
        Criterion(
            "restriction_class",
            "Restriktionsklasse",
            "Restriction class",
            "Ordinal class of the Ruhr commercial land management: none, minor, severe restrictions",
            "class 0/1/2",
            "Business Metropole Ruhr, Gewerbeflächenmanagement",
            "lower",
            _table({"0": 1.0, "1": 0.5, "2": 0.0}),
            column="restriction_class",
            source_field="restriction_class",
        ),
        Criterion(
            "availability",
            "Verfügbarkeit",
            "Availability",
            "How soon the land can be used",
            "class",
            "Siedlungsflächenmonitoring NRW",
            "sooner",
            _table({"kurzfristig": 1.0, "mittelfristig": 0.6, "langfristig": 0.25, "nicht_verfuegbar": 0.0}),
            column="availability",
            source_field="availability",
        ),
        Criterion(
            "contamination",
            "Altlasten",
            "Contamination",
            "State of knowledge about contamination (FIS AlBo stages)",
            "stage",
            "LANUV FIS AlBo; TIMBRE",
            "lower risk",
            _table({"keine_bekannt": 1.0, "saniert": 0.8, "untersucht": 0.4, "verdacht": 0.2}),
            column="contamination",
            source_field="contamination",
        ),
        Criterion(
            "ownership",
            "Eigentumsverhältnisse",
            "Ownership",
            "Public, one private owner, or fragmented ownership",
            "class",
            "TIMBRE",
            "simpler",
            _table({"oeffentlich": 1.0, "privat_einzeln": 0.7, "privat_mehrere": 0.3}),
            column="ownership",
            source_field="ownership",
        ),
        Criterion(
            "owner_willing",
            "Mitwirkungsbereitschaft",
            "Owner willing",
            "Whether the owner is willing to sell or develop",
            "yes/no/unknown",
            "TIMBRE",
            "willing",
            _table({"ja": 1.0, "unbekannt": 0.5, "nein": 0.0}),
            column="owner_willing",
            source_field="owner_willing",
        ),
        Criterion(
            "planning_status",
            "Planungsrecht",
            "Planning status",
            "How secured the intended use is in planning law",
            "class",
            "BauGB",
            "more secured",
            _table(
                {
                    "bplan_rechtskraeftig": 1.0,
                    "paragraph_34": 0.8,
                    "bplan_in_aufstellung": 0.6,
                    "fnp": 0.4,
                    "keine": 0.0,
                }
            ),
            column="planning_status",
            source_field="planning_status",
        ),
        Criterion(
            "servicing",
            "Erschließung",
            "Servicing",
            "Roads and utilities in place",
            "class",
            "Siedlungsflächenmonitoring NRW",
            "in place",
            _table({"erschlossen": 1.0, "teilweise": 0.5, "unerschlossen": 0.0}),
            column="servicing",
            source_field="servicing",
        ),
        Criterion(
            "size",
            "Flächengröße",
            "Size",
            "Area of the parcel; 5 ha and more is regionally significant for industry (assumed thresholds)",
            "ha",
            "Regionalplan Ruhr; DOMAIN.md",
            "larger",
            {"type": "linear", "worst": 0.2, "best": 5.0},
            column="area_ha",
            source_field="area_m2",
        ),
        Criterion(
            "rail_station",
            "Bahnhofsnähe",
            "Railway station",
            "Distance from the parcel to the nearest railway station",
            "m",
            "DB Station&Service",
            "nearer",
            {"type": "linear", "worst": 5000, "best": 500},
            layer="bahnhof",
            column="dist_rail_station_m",
        ),
        Criterion(
            "transit",
            "ÖPNV-Anbindung",
            "Public transport",
            "Best stop within 1 km: service level (rail 1, tram/subway 0.8, bus 0.5, on demand 0.2) "
            "times closeness (1 at the stop, 0 at 1 km)",
            "0–1",
            "DB InfraGO HAFAS",
            "better served",
            {"type": "linear", "worst": 0.0, "best": 0.8},
            layer="haltestelle",
            column="transit_access",
        ),
        Criterion(
            "motorway",
            "Autobahnanschluss",
            "Motorway junction",
            "Distance to the nearest motorway junction; 1 km and less best, over 5 km poor",
            "m",
            "DOMAIN.md",
            "nearer",
            {"type": "linear", "worst": 5000, "best": 1000},
            layer="autobahnanschluss",
            column="dist_motorway_m",
        ),
        Criterion(
            "port",
            "Hafen",
            "Port",
            "Distance to the nearest port",
            "m",
            "DOMAIN.md",
            "nearer",
            {"type": "linear", "worst": 15000, "best": 2000},
            layer="hafen",
            column="dist_port_m",
        ),
        Criterion(
            "abstand",
            "Abstandserlass-Reserve",
            "Abstandserlass margin",
            "Distance to the nearest residential area minus the distance of the targeted Abstandserlass class",
            "m",
            "Abstandserlass NRW",
            "larger margin",
            {"type": "linear", "worst": 0, "best": 300},
            layer="wohngebiet",
            column="dist_residential_m",
        ),
    ]
}


class Exclusion(NamedTuple):
    name_de: str
    name_en: str
    layer: str | None  # context layer kind it checks
    column: str | None  # the parcel_indicator column that says whether a parcel lies in it
    source_field: str | None = None  # the parcel field it reads instead (see Criterion.source_field)

    @property
    def confidential(self) -> bool:
        return _confidential(self.source_field)


#: Exclusion filters: they remove a parcel from a ranking, they are not weights.
EXCLUSIONS = {
    "flood_zone": Exclusion("Überschwemmungsgebiet", "Flood zone", "ueberschwemmungsgebiet", "in_flood_zone"),
    "protected_area": Exclusion("Schutzgebiet", "Protected area", "schutzgebiet", "in_protected_area"),
    "owner_objection": Exclusion("Eigentümer lehnt ab", "Owner objects", None, None, source_field="owner_willing"),
}


@dataclass(frozen=True)
class ValueFunction:
    spec: dict = field(default_factory=dict)

    @staticmethod
    def check(spec: Any, where: str) -> dict:
        """A valid value-function spec, or CriterionError naming what is wrong."""
        if not isinstance(spec, dict) or spec.get("type") not in ("linear", "steps", "table"):
            raise CriterionError(f"{where}: a value function needs type linear, steps or table")

        def number(value, name):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise CriterionError(f"{where}: {name} must be a finite number, not {value!r}")
            return float(value)

        def unit(value, name):
            v = number(value, name)
            if not 0 <= v <= 1:
                raise CriterionError(f"{where}: {name} must lie between 0 and 1, not {value!r}")
            return v

        if spec["type"] == "linear":
            worst, best = number(spec.get("worst"), "worst"), number(spec.get("best"), "best")
            if worst == best:
                raise CriterionError(f"{where}: worst and best must differ")
            return {"type": "linear", "worst": worst, "best": best}
        if spec["type"] == "steps":
            steps = spec.get("steps")
            if not isinstance(steps, list) or not steps:
                raise CriterionError(f"{where}: steps needs a list of [upper bound, value] pairs")
            checked = [[number(b, "bound"), unit(v, "value")] for b, v in steps]
            if [b for b, _ in checked] != sorted(b for b, _ in checked):
                raise CriterionError(f"{where}: step bounds must increase")
            return {"type": "steps", "steps": checked, "above": unit(spec.get("above", 0.0), "above")}
        values = spec.get("values")
        if not isinstance(values, dict) or not values:
            raise CriterionError(f"{where}: table needs values per code")
        return {"type": "table", "values": {str(k): unit(v, f"value of {k}") for k, v in values.items()}}


def normalise(spec: dict, raw: np.ndarray) -> np.ndarray:
    """Normalised values in [0, 1] for raw values (NaN/None stay NaN: not available)."""
    if spec["type"] == "table":
        table = spec["values"]
        return np.array([table.get(_code(v), np.nan) for v in raw], dtype=float)
    x = np.asarray(raw, dtype=float)
    if spec["type"] == "linear":
        return np.clip((x - spec["worst"]) / (spec["best"] - spec["worst"]), 0.0, 1.0)
    out = np.full(x.shape, spec["above"], dtype=float)
    for bound, value in reversed(spec["steps"]):
        out = np.where(x <= bound, value, out)
    return np.where(np.isnan(x), np.nan, out)


def _code(value) -> str | None:
    """Table key of a raw value: codes as they are, whole numbers without decimals (2.0 -> "2")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
