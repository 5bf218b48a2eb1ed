"""Flächensicherung: see industrial land being lost before it is lost, and account for every hectare.

* :mod:`~landreg.safeguarding.plans`: :func:`read_plan_file`, a plan's area (and, from XPlanGML,
  its municipality and designations) from a file (XPlanGML, GeoJSON …);
* :mod:`~landreg.safeguarding.plan_check`: :func:`check_plan` and :func:`check_plan_file`, which
  industrial/commercial parcels a proposed plan touches (areas exact in EPSG:25832), the reserve
  lost per municipality and for the region, and Abstandserlass conflicts of housing planned too
  close to industrial land, over the parcels the caller sees; :func:`recorded_checks` and
  :func:`recorded_check`, the checks recorded, for those who may read them;
* :mod:`~landreg.safeguarding.balance`: :func:`balance`, the Flächenbilanz between dates, from the
  parcel history alone, and :func:`supply_by_municipality`;
* :mod:`~landreg.safeguarding.watch`: :func:`watch_list`, industrial parcels that changed away
  from industrial use or were touched by a recorded plan check with a conflict;
* :mod:`~landreg.safeguarding.abstand`: the Abstandserlass classes that fit a distance.

What is industrial, reserve, taken up, lost or restriction-free is defined once, in
:mod:`landreg.rules`; the names below are re-exported from there for existing callers.
"""

from __future__ import annotations

from landreg import lazy
from landreg.rules import INDUSTRIAL_CATEGORIES, INDUSTRIAL_DESIGNATIONS, RESERVE_STATUSES
from landreg.rules import RESIDENTIAL_DESIGNATIONS as RESIDENTIAL_USES

# imported at once (a light module): a submodule of the same name as the function would otherwise
# shadow it once anything imported landreg.safeguarding.balance
from landreg.safeguarding.balance import balance, supply_by_municipality

_LAZY = {
    **{n: ("landreg.safeguarding.abstand", n) for n in ("DEFAULT_CLASSES", "abstand_columns", "strictest_class")},
    **{
        n: ("landreg.safeguarding.plan_check", n)
        for n in ("USES", "PlanCheck", "check_plan", "check_plan_file", "recorded_check", "recorded_checks")
    },
    **{n: ("landreg.safeguarding.plans", n) for n in ("PlanError", "read_plan_area", "read_plan_file")},
    "watch_list": ("landreg.safeguarding.watch", "watch_list"),
}

__all__ = [
    "DEFAULT_CLASSES",
    "INDUSTRIAL_CATEGORIES",
    "INDUSTRIAL_DESIGNATIONS",
    "RESERVE_STATUSES",
    "RESIDENTIAL_USES",
    "USES",
    "PlanCheck",
    "PlanError",
    "abstand_columns",
    "balance",
    "check_plan",
    "check_plan_file",
    "read_plan_area",
    "read_plan_file",
    "recorded_check",
    "recorded_checks",
    "strictest_class",
    "supply_by_municipality",
    "watch_list",
]


__getattr__ = lazy.attributes(__name__, _LAZY)
