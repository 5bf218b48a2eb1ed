"""Which score a caller sees: defined once for rankings, explanations, tiles and maps.

A view that sees a parcel's confidential facts (:func:`landreg.access.sees_confidential`) sees the
profile's score; every other view sees the score of the profile's public variant, computed from
public facts only (see :class:`landreg.scoring.engine.PublicVariant`), so that neither a score nor
a missing score gives a confidential value away.
"""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import and_, case, column, func, table
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, TableClause

from landreg.access import View, own_municipality


class Stored:
    """Values stored per parcel version in two tables: the latest version's (``latest``) and the
    approved version's of a parcel whose change waits for review (``approved``,
    :mod:`landreg.scoring.approved`); a version has a row in one of them at most.

    A row is joined to both, each on the version it shows (:meth:`joined`), and ``c`` reads a
    column from whichever has it. Two outer joins, not a view uniting the tables: PostgreSQL
    estimates a join to each table from its statistics, where a join to a union has none (the site
    search took 1.4 times as long through a view)."""

    def __init__(self, name: str, approved: str, *names: str):
        self.latest: TableClause = table(name, *(column(n) for n in names))
        self.approved: TableClause = table(approved, *(column(n) for n in names))
        self.c = SimpleNamespace(**{n: func.coalesce(self.latest.c[n], self.approved.c[n]) for n in names})

    def joined(self, rows: FromClause, parcel_id, version, **keys) -> FromClause:
        """``rows`` with the stored values of the version each shows (``keys``: further columns to
        match, e.g. the profile)."""
        for stored in (self.latest, self.approved):
            matched = [stored.c.parcel_id == parcel_id, stored.c.parcel_version == version]
            matched += [stored.c[k] == v for k, v in keys.items()]
            rows = rows.outerjoin(stored, and_(*matched))
        return rows


#: The stored scores of the version a row shows, one row per profile and version.
SCORE = Stored(
    "parcel_score",
    "approved_score",
    "parcel_id",
    "profile_id",
    "parcel_version",
    "score",
    "coverage",
    "excluded_by",
    "computed_at",
    "public_score",
    "public_excluded_by",
    "public_coverage",
)
#: The stored indicators of the version a row shows (the distances that are public facts).
INDICATOR = Stored(
    "parcel_indicator",
    "approved_indicator",
    "parcel_id",
    "parcel_version",
    "dist_rail_station_m",
    "dist_motorway_m",
    "dist_port_m",
    "dist_residential_m",
)

#: How the public variant is named where a score is shown.
PUBLIC_VARIANT = {
    "de": "öffentliche Variante (ohne vertrauliche Kriterien)",
    "en": "public variant (no confidential criteria)",
}


def scored(rows: FromClause, parcel_id, version, profile_id) -> FromClause:
    """``rows`` with the stored score of the version each shows under the profile: the latest
    version's or, for a view that sees a pending parcel's approved version, that one's."""
    return SCORE.joined(rows, parcel_id, version, profile_id=profile_id)


def _seen(view: View, ags_column, full: ColumnElement, public: ColumnElement) -> ColumnElement:
    """Of a stored score's ``full`` and ``public`` variant of a value, the one ``view`` may see of a
    parcel in municipality ``ags_column``."""
    if view.kind == "full":
        return full
    if view.kind == "public":
        return public
    return case((own_municipality(view, ags_column), full), else_=public)


def visible_score(view: View, ags_column, scores=SCORE) -> ColumnElement:
    """The score ``view`` may see of a parcel in municipality ``ags_column``."""
    return _seen(view, ags_column, scores.c.score, scores.c.public_score)


def visible_coverage(view: View, ags_column, scores=SCORE) -> ColumnElement:
    """The coverage of the score ``view`` may see (:func:`visible_score`): the public variant's counts
    no confidential criterion, so that it does not tell whether such a value is known."""
    return _seen(view, ags_column, scores.c.coverage, scores.c.public_coverage)


def sees_full_score(view: View, ags: str) -> bool:
    """The same decision in Python, for one parcel whose municipality is known."""
    return view.owns(ags)
