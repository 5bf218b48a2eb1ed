"""The Abstandserlass classes of industrial land: which class fits a distance to housing, in SQL
(for the feature queries) and in Python, and the class a parcel is kept for by default.

Imports neither geopandas nor pyogrio: :mod:`landreg.features` uses it on every request.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, case, literal_column, null

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
    # The classes and distances are the code's constants, written into the SQL: as bound
    # parameters they were 32 of a feature query's 60, and psycopg caches the parsing of a query
    # only up to 50 parameters.
    ordered = list(ABSTAND_CLASSES.items())  # strictest first
    metres = {d: literal_column(str(int(d)), Integer) for _, d in ordered}
    name = case(
        *[(distance >= metres[d], literal_column(f"'{c}'", String)) for c, d in ordered],
        else_=case(
            (distance.is_(None), literal_column(f"'{UNKNOWN}'", String)), else_=literal_column("'keine'", String)
        ),
    )
    number = case(
        *[(distance >= metres[d], literal_column(str(i), Integer)) for i, (_, d) in enumerate(ordered, start=1)],
        else_=case((distance.is_(None), null()), else_=literal_column(str(len(ordered) + 1), Integer)),
    )
    return name, number


def strictest_class(distance_to_housing_m: float | None) -> str | None:
    """The strictest Abstandserlass class whose distance still fits (None: the distance is unknown)."""
    if distance_to_housing_m is None:
        return None
    fitting = [c for c, d in ABSTAND_CLASSES.items() if d <= distance_to_housing_m]
    return fitting[0] if fitting else "keine"
