"""Who may see and change what: the one definition every output and every use case applies.

* The public (no principal) sees parcels published now (§ 200 (3) BauGB) and not retired, with
  their public fields only (:func:`landreg.fields.public`); of a parcel not public now it sees
  nothing, not even past versions.
* A planner sees the parcels of their municipalities with every field, and the published parcels
  of other municipalities as the public does.
* The ministry and admins see every parcel with every field.
* Only a planner of the parcel's municipality changes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, false, func, literal, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

ROLES = ("planner", "ministry", "admin")
#: Roles that see every parcel of every municipality with all its fields.
_SEE_ALL = ("ministry", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's (or user's) owner and what the role allows."""

    token_id: int | None
    owner: str
    role: str
    ags: tuple[str, ...] = ()

    def may_edit(self, ags: str | None) -> bool:
        """Whether this principal may record or change parcels of municipality ``ags``."""
        return self.role == "planner" and ags is not None and ags in self.ags

    def sees_all(self) -> bool:
        return self.role in _SEE_ALL


@dataclass(frozen=True)
class View:
    """What a caller sees, reduced to what queries depend on (hashable, so built queries are reused):
    ``public``, ``planner`` of ``ags``, or ``full``."""

    kind: str
    ags: tuple[str, ...] = ()

    @property
    def confidential(self) -> bool:
        """Whether any confidential field can be visible in this view (for some parcel)."""
        return self.kind != "public"

    def owns(self, ags: str) -> bool:
        """Whether the view sees municipality ``ags``'s parcels in full (:func:`own_municipality` in
        Python, for rows already loaded)."""
        return self.kind == "full" or (self.kind == "planner" and ags in self.ags)


#: Whoever runs the command line on the registry's machine: has the database's password anyway.
OPERATOR = Principal(None, "operator", "admin")
PUBLIC = View("public")
FULL = View("full")


def view_of(principal: Principal | None) -> View:
    if principal is None:
        return PUBLIC
    if principal.sees_all():
        return FULL
    return View("planner", tuple(sorted(principal.ags)))


def is_published(p) -> ColumnElement:
    """Public now (§ 200 (3) BauGB): the day the database derived from the notices and objections
    (:mod:`landreg.publication`) has come, and the parcel is not retired."""
    return and_(p.public_since <= func.current_date(), p.retired_at.is_(None))


def own_municipality(view: View, ags_column) -> ColumnElement:
    """Whether a row lies in one of the view's own municipalities (always for ``full``)."""
    if view.kind == "full":
        return true()
    if view.kind == "planner" and view.ags:
        return ags_column.in_([literal(a) for a in view.ags])
    return false()


def visible_parcels(view: View, parcel, include_retired: bool = False) -> ColumnElement:
    """Parcels the view may see (``parcel``: the Parcel model or an alias of it): not retired, unless
    ``include_retired`` and the parcel is the view's own (the public never sees a retired parcel)."""
    current = parcel.retired_at.is_(None)
    own = own_municipality(view, parcel.ags)
    if view.kind == "full":
        return true() if include_retired else current
    return or_(is_published(parcel), and_(own, true() if include_retired else current))


def visible_versions(view: View, version, parcel) -> ColumnElement:
    """Versions the view may see: of a parcel it may see in full, any; otherwise only versions of
    parcels public *now* (a withdrawn publication is withdrawn from the past too)."""
    if view.kind == "full":
        return true()
    public_now = select(parcel.id).where(is_published(parcel))
    return or_(own_municipality(view, version.ags), version.parcel_id.in_(public_now))


def visible_versions_sql(view: View, alias: str = "v") -> str:
    """:func:`visible_versions` as SQL text on a ``parcel_version`` row named ``alias``, for
    statements written as text (its values are the view's checked AGS)."""
    from sqlalchemy import column, table
    from sqlalchemy.dialects import postgresql

    from landreg.models import Parcel

    condition = visible_versions(view, table(alias, column("ags"), column("parcel_id")).c, Parcel)
    return "(" + str(condition.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})) + ")"


def sees_confidential(view: View, ags_column) -> ColumnElement:
    """Whether the view sees the confidential fields of a row of municipality ``ags_column``."""
    return own_municipality(view, ags_column)


class AccessDenied(PermissionError):
    """The principal may not do this; the message says what it may do instead."""


def require_edit(principal: Principal | None, ags: str | None) -> None:
    if principal is None:
        raise AccessDenied("changes need a planner's token")
    if not principal.may_edit(ags):
        if principal.role != "planner":
            raise AccessDenied(f"the role {principal.role} may not change parcels; planners of the municipality may")
        raise AccessDenied(f"you may edit parcels of {', '.join(principal.ags)} only, not {ags}")
