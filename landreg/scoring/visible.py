"""Which score a caller sees: defined once for rankings, explanations, tiles and maps.

A view that sees a parcel's confidential facts (:func:`landreg.access.sees_confidential`) sees the
profile's score; every other view sees the score of the profile's public variant, computed from
public facts only (see :class:`landreg.scoring.engine.PublicVariant`), so that neither a score nor
a missing score gives a confidential value away.
"""

from __future__ import annotations

from sqlalchemy import case, column, table
from sqlalchemy.sql.elements import ColumnElement

from landreg.access import View, own_municipality

#: The stored scores of every version someone sees (one row per profile and version): each parcel's
#: latest, and the approved version of a parcel whose change waits for review
#: (:mod:`landreg.scoring.approved`).
SCORE = table(
    "version_score",
    column("parcel_id"),
    column("profile_id"),
    column("parcel_version"),
    column("score"),
    column("coverage"),
    column("excluded_by"),
    column("computed_at"),
    column("public_score"),
    column("public_excluded_by"),
    column("public_coverage"),
)

#: How the public variant is named where a score is shown.
PUBLIC_VARIANT = {
    "de": "öffentliche Variante (ohne vertrauliche Kriterien)",
    "en": "public variant (no confidential criteria)",
}


def score_of(parcel_id, version, profile_id) -> ColumnElement:
    """How a parcel row finds its stored score: the score of that very version under the profile, the
    latest or, for a view that sees a pending parcel's approved version, that one's."""
    return (SCORE.c.parcel_id == parcel_id) & (SCORE.c.parcel_version == version) & (SCORE.c.profile_id == profile_id)


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
