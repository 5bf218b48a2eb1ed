"""Who may see and change what: the one definition every output and every use case applies.

* The public (no principal) sees parcels published now (§ 200 (3) BauGB) and not retired, with
  their public fields only (:func:`landreg.fields.public`); of a parcel not public now it sees
  nothing, not even past versions.
* A planner sees the parcels of their municipalities with every field, and the published parcels
  of other municipalities as the public does.
* The ministry, reviewers and admins see every parcel with every field.
* Only a planner of the parcel's municipality changes it; reviewers review, never edit.
* Review (:mod:`landreg.review`): a planner's change waits for a reviewer. The municipality sees
  its own latest state at once; everybody else (the public, other municipalities, the ministry's
  regional figures) sees the latest *approved* version of a parcel, unless a caller who reviews
  asks for the changes not yet reviewed too (``unreviewed``). :func:`visible_rows` is the rows
  that rule gives; :func:`visible_parcels` the same decision as a condition on parcels.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    DateTime,
    and_,
    cast,
    column,
    exists,
    false,
    literal,
    not_,
    null,
    or_,
    select,
    table,
    true,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from landreg import STORAGE_SRID, clock, fields
from landreg.models import Parcel, ParcelPastVersion

ROLES = ("planner", "reviewer", "ministry", "admin")
#: Roles that see every parcel of every municipality with all its fields.
_SEE_ALL = ("reviewer", "ministry", "admin")
#: Roles that review planners' changes (and may see the changes not yet reviewed).
REVIEWERS = ("reviewer", "ministry", "admin")

#: The parcels whose latest state waits for review (or was rejected), with the approved version.
PENDING = table(
    "parcel_pending",
    column("parcel_id"),
    column("approved_version"),
    column("geom", Geometry("MULTIPOLYGON", srid=STORAGE_SRID)),
)
#: Versions of a review: a version with a row here in any state but approved is not approved.
SUBMITTED = table(
    "submission_parcel",
    column("submission_id"),
    column("parcel_id"),
    column("version"),
    column("retired", Boolean),
    column("state"),
)


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

    def may_review(self) -> bool:
        return self.role in REVIEWERS


@dataclass(frozen=True)
class View:
    """What a caller sees, reduced to what queries depend on (hashable, so built queries are reused):
    ``public``, ``planner`` of ``ags``, or ``full``; ``unreviewed``: the latest state of every parcel
    it sees, changes not yet reviewed included (otherwise only of its own municipalities)."""

    kind: str
    ags: tuple[str, ...] = ()
    unreviewed: bool = False

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
#: Every parcel with every field, as reviewed (the regional figures' default).
FULL = View("full")
#: Every parcel with every field in its latest state, changes not yet reviewed included.
LATEST = View("full", unreviewed=True)


def view_of(principal: Principal | None, unreviewed: bool = False) -> View:
    """The view of a caller; ``unreviewed`` (asked for) is for those who review, refused to others."""
    if unreviewed and (principal is None or not principal.may_review()):
        raise AccessDenied(
            "including changes not yet reviewed (unreviewed) is for reviewers, the ministry and admins; "
            "leave it out to see the reviewed state"
        )
    if principal is None:
        return PUBLIC
    if principal.sees_all():
        return LATEST if unreviewed else FULL
    return View("planner", tuple(sorted(principal.ags)))


def is_published(p) -> ColumnElement:
    """Public now (§ 200 (3) BauGB): the day the database derived from the notices and objections
    (:mod:`landreg.publication`) has come, and the parcel is not retired."""
    return and_(p.public_since <= clock.sql_today(), p.retired_at.is_(None))


def own_municipality(view: View, ags_column) -> ColumnElement:
    """Whether a row lies in one of the view's own municipalities (always for ``full``)."""
    if view.kind == "full":
        return true()
    if view.kind == "planner" and view.ags:
        return ags_column.in_([literal(a) for a in view.ags])
    return false()


def sees_latest(view: View, ags_column) -> ColumnElement:
    """Whether the view sees a row's latest state, changes not yet reviewed included: in its own
    municipalities always, elsewhere when it asked for them (those who review)."""
    if view.kind == "full":
        return true() if view.unreviewed else false()
    return own_municipality(view, ags_column)


def _latest_everywhere(view: View) -> bool:
    return view.kind == "full" and view.unreviewed


def _pending(parcel) -> ColumnElement:
    return exists().where(PENDING.c.parcel_id == parcel.id)


def _current_row_visible(view: View, parcel, include_retired: bool) -> ColumnElement:
    """The parcel's current row is what the view sees of it: its latest state is approved (or the
    view sees the latest state), and it is published (or the view sees its municipality in full)."""
    own = own_municipality(view, parcel.ags)
    latest = sees_latest(view, parcel.ags)
    reviewed = true() if _latest_everywhere(view) else or_(latest, not_(_pending(parcel)))
    if view.kind == "full":
        return and_(reviewed, true() if include_retired else parcel.retired_at.is_(None))
    shown = or_(is_published(parcel), and_(own, true() if include_retired else parcel.retired_at.is_(None)))
    return and_(reviewed, shown)


def _approved_row_visible(view: View, parcel, pending=PENDING) -> ColumnElement:
    """The view sees the latest approved version of a parcel whose latest state waits for review:
    there is one, the view does not see the latest state, and the parcel is public (or the view sees
    its municipality in full). The approved state is never retired: a retired parcel is not changed."""
    latest = sees_latest(view, parcel.ags)
    if _latest_everywhere(view):
        return false()
    public = (
        true()
        if view.kind == "full"
        else or_(own_municipality(view, parcel.ags), parcel.public_since <= clock.sql_today())
    )
    return and_(pending.c.approved_version.is_not(None), not_(latest), public)


def visible_parcels(view: View, parcel, include_retired: bool = False) -> ColumnElement:
    """Parcels the view may see (``parcel``: the Parcel model or an alias of it): not retired, unless
    ``include_retired`` and the parcel is the view's own (the public never sees a retired parcel);
    of a parcel waiting for review, its approved version where the view sees that one
    (:func:`visible_rows` says which row)."""
    approved = exists().where(PENDING.c.parcel_id == parcel.id, _approved_row_visible(view, parcel))
    if _latest_everywhere(view):
        return _current_row_visible(view, parcel, include_retired)
    return or_(_current_row_visible(view, parcel, include_retired), approved)


#: What :func:`visible_rows` has of each parcel: its id, its fields, geometry, area and version,
#: and the publication state and retirement of the parcel (not of the version).
def _row_columns(source, parcel, geom=None) -> list:
    names = ["ags", *[f.name for f in fields.ATTRIBUTES], "geom", "area_m2", "version"]
    key = source.id if source is parcel else source.parcel_id
    values = {n: getattr(source, n) for n in names} | ({"geom": geom} if geom is not None else {})
    return [key.label("id"), *[value.label(n) for n, value in values.items()]]


#: The two kinds of rows :func:`visible_rows` unites (a parcel is in one of them at most).
ROW_PARTS = ("current", "approved")


def row_parts(view: View) -> tuple[str, ...]:
    """The kinds of rows the view sees: current rows, and approved versions unless it sees the latest
    state everywhere. A lookup by id may read them one after the other: the first answers for
    almost every parcel, and each part alone is planned in half the time of their union."""
    return ROW_PARTS[:1] if _latest_everywhere(view) else ROW_PARTS


def visible_rows(
    view: View, include_retired: bool = False, own_only: bool = False, part: str | None = None
) -> Subquery:
    """One row per parcel the view sees, with the state it sees: the current row of a parcel, or
    for a parcel whose latest state waits for review and that the view does not see in its latest
    state, the latest approved version (from the history). Columns: ``id``, ``ags``, the fields of
    :data:`landreg.fields.ATTRIBUTES`, ``geom``, ``area_m2``, ``version``, ``public_since``,
    ``retired_at``.

    ``own_only``: only the parcels of a planner's own municipalities (the workspace's list). There
    the view sees every parcel's latest state, so the rows are just the current ones: one table,
    which an index on (municipality, sort column) reads in order, where the union with approved
    versions elsewhere would make PostgreSQL read and sort every row of the municipality.

    ``part``: one of :data:`ROW_PARTS` only (see :func:`row_parts`)."""
    p, v = Parcel, ParcelPastVersion
    if own_only and view.kind == "planner":
        return (
            select(*_row_columns(p, p), p.public_since, p.retired_at)
            .where(own_municipality(view, p.ags), true() if include_retired else p.retired_at.is_(None))
            .subquery("rows")
        )
    current = select(*_row_columns(p, p), p.public_since, p.retired_at).where(
        _current_row_visible(view, p, include_retired)
    )
    if _latest_everywhere(view) or part == "current":
        return current.subquery("rows")
    approved = (  # the outline from parcel_pending (indexed), the rest from the history
        select(
            *_row_columns(v, p, geom=PENDING.c.geom),
            p.public_since,
            cast(null(), DateTime(timezone=True)).label("retired_at"),
        )
        .select_from(PENDING)
        .join(p, p.id == PENDING.c.parcel_id)
        .join(v, and_(v.parcel_id == PENDING.c.parcel_id, v.version == PENDING.c.approved_version))
        .where(_approved_row_visible(view, p))
    )
    if part == "approved":
        return approved.subquery("rows")
    return union_all(current, approved).subquery("rows")


def visible_versions(view: View, version, parcel) -> ColumnElement:
    """Versions the view may see: of a parcel it may see in full, any (in its own municipalities,
    or all of them if it sees changes not yet reviewed); otherwise only versions of parcels public
    *now* (a withdrawn publication is withdrawn from the past too), and of these only the versions
    a reviewer approved (or that needed no review)."""
    latest = sees_latest(view, version.ags)
    approved = not_(
        exists().where(
            SUBMITTED.c.parcel_id == version.parcel_id,
            SUBMITTED.c.version == version.version,
            not_(SUBMITTED.c.retired),
            SUBMITTED.c.state != "freigegeben",
        )
    )
    if view.kind == "full":
        return true() if view.unreviewed else approved
    public_now = select(parcel.id).where(or_(is_published(parcel), exists().where(
        PENDING.c.parcel_id == parcel.id, _approved_row_visible(PUBLIC, parcel)
    )))  # fmt: skip
    return or_(own_municipality(view, version.ags), and_(version.parcel_id.in_(public_now), or_(latest, approved)))


def still_approved(view: View, version) -> ColumnElement:
    """Whether a version is the latest approved version of a parcel whose later changes wait for
    review, for a view that does not see those changes: it is still valid for that view, though the
    history ended it when the change was made."""
    latest = sees_latest(view, version.ags)
    if _latest_everywhere(view):
        return false()
    return and_(
        not_(latest),
        exists().where(PENDING.c.parcel_id == version.parcel_id, PENDING.c.approved_version == version.version),
    )


def _as_sql(condition: ColumnElement, row) -> str:
    """A condition on ``row`` (a named table's columns) as SQL text for one query (not to be kept:
    the register's day is in it): compiled as the WHERE of a SELECT from that table, so that
    subqueries correlate with it instead of listing it again."""
    from sqlalchemy.dialects import postgresql

    statement = select(literal(1)).select_from(row.parcel_id.table).where(condition)
    options = {"literal_binds": True, clock.INLINE: True}  # built per query: today's day in its text
    compiled = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs=options))
    return "(" + compiled.split("\nWHERE ", 1)[1] + ")"


def visible_versions_sql(view: View, alias: str = "v") -> str:
    """:func:`visible_versions` as SQL text on a ``parcel_version`` row named ``alias``, for
    statements written as text (its values are the view's checked AGS)."""
    row = _version_row(alias)
    return _as_sql(visible_versions(view, row, Parcel), row)


def still_approved_sql(view: View, alias: str = "v") -> str:
    """:func:`still_approved` as SQL text on a ``parcel_version`` row named ``alias``."""
    row = _version_row(alias)
    return _as_sql(still_approved(view, row) | false(), row)


def _version_row(alias: str):
    return table(alias, column("ags"), column("parcel_id"), column("version")).c


def sees_confidential(view: View, ags_column) -> ColumnElement:
    """Whether the view sees the confidential fields of a row of municipality ``ags_column``."""
    return own_municipality(view, ags_column)


class AccessDenied(PermissionError):
    """The principal may not do this; the message says what it may do instead."""


def acting(who: Principal | str, roles: tuple[str, ...], what: str) -> str:
    """The name a change by ``who`` is recorded under: a principal of one of ``roles`` (AccessDenied
    for any other), or a name given on the command line, by the operator who holds the database's
    password. Use cases that change what many callers see take ``who`` and check it here, so that
    an adapter cannot forget to."""
    if isinstance(who, Principal):
        if who.role not in roles:
            raise AccessDenied(f"{what} is for the role {' or '.join(roles)}, not {who.role}")
        return who.owner
    return who


def require_edit(principal: Principal | None, ags: str | None) -> None:
    if principal is None:
        raise AccessDenied("changes need a planner's token")
    if not principal.may_edit(ags):
        if principal.role != "planner":
            raise AccessDenied(f"the role {principal.role} may not change parcels; planners of the municipality may")
        raise AccessDenied(f"you may edit parcels of {', '.join(principal.ags)} only, not {ags}")
