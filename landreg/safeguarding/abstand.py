"""The Abstandserlass classes of industrial land: which class fits a distance to housing, in SQL
(for the feature queries) and in Python, and the class a parcel is kept for by default.

Imports neither geopandas nor pyogrio: :mod:`landreg.features` uses it on every request.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, func, literal_column
from sqlalchemy.dialects.postgresql import ARRAY

from landreg.scoring.criteria import ABSTAND_CLASSES

#: The Abstandserlass class an industrial parcel is kept for when it records none, by category
#: (a plan check may say otherwise).
DEFAULT_CLASSES = {"industrieflaeche": "III", "gewerbeflaeche": "V"}
#: The class possible where the distance to housing is unknown: no residential layer covers the
#: parcel and its surroundings (:mod:`landreg.context`). Never class I for want of data.
UNKNOWN = "unbekannt"


def abstand_columns(distance):
    """SQL for the strictest Abstandserlass class that fits a distance to housing, as its name
    ("III", "keine") and as a number (1 = I … 7 = VII, 8 = none fits), e.g. to filter "class III
    possible" as ``abstand_class_possible_number <= 3``. Where the distance is unknown (NULL: no
    residential layer covers the parcel and its surroundings) the name is :data:`UNKNOWN` and the
    number NULL, so that no filter on it matches."""
    # How many class distances the distance reaches (width_bucket over the ascending distances: 0
    # for none, 7 for all, NULL for NULL) names the class, so the distance, the outer join of two
    # tables' indicators (landreg.visible), is written twice, not once per class and branch: 32
    # times made the statement a fifth longer and its planning a third slower. The classes and
    # distances are the code's constants, written into the SQL (as bound parameters they were 32
    # of a feature query's 60, and psycopg caches the parsing of a query only up to 50).
    ordered = list(ABSTAND_CLASSES.items())  # strictest first
    ascending = ",".join(str(int(d)) for _, d in reversed(ordered))
    reached = func.width_bucket(distance, literal_column(f"ARRAY[{ascending}]"), type_=Integer)
    by_reached = ",".join(f"'{c}'" for c in ["keine", *(c for c, _ in reversed(ordered))])
    names = literal_column(f"(ARRAY[{by_reached}])", ARRAY(String))
    name = func.coalesce(
        names[reached + literal_column("1", Integer)], literal_column(f"'{UNKNOWN}'", String), type_=String
    )
    number = literal_column(str(len(ordered) + 1), Integer) - reached  # 1 = I … 8 = none; NULL stays NULL
    return name, number


def strictest_class(distance_to_housing_m: float | None) -> str | None:
    """The strictest Abstandserlass class whose distance still fits (None: the distance is unknown)."""
    if distance_to_housing_m is None:
        return None
    fitting = [c for c, d in ABSTAND_CLASSES.items() if d <= distance_to_housing_m]
    return fitting[0] if fitting else "keine"
