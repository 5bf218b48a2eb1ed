"""The register's use cases: what the API, the CLI and web pages do with parcels, defined once.

Reading: a page of features (filters, sort, CRS, paging, total), one feature, a parcel's history,
each through the caller's view (:mod:`landreg.access`). Writing: create, replace, update and
retire with optimistic locking (the version the caller based the change on) and the permission
check of the parcel's municipality, before and after the change (a geometry can move a parcel).
Each raises the refusals of :mod:`landreg.errors`; adapters only translate them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Float, Integer, Text, any_, bindparam, cast, false, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session

from landreg import cql, fields, params, parcels, review, sqltext
from landreg.access import AccessDenied, Principal, View, require_edit, row_parts, view_of, visible_parcels
from landreg.errors import Gone, InvalidParameter, NotFound, VersionConflict, VersionRequired
from landreg.features import (
    COLLECTIONS,
    Collection,
    Source,
    envelope_filter,
    feature_id,
    feature_json,
    sort_clauses,
    source,
)
from landreg.models import Parcel
from landreg.review import states as review_states

LIMIT_DEFAULT, LIMIT_MAX = 100, 10_000
OFFSET_MAX = 10**9


@dataclass
class FeatureQuery:
    """What a page of features asks for; values already checked by :mod:`landreg.params`."""

    collection: Collection
    view: View
    srid: int = 4326
    flip: bool = False
    at: dt.datetime | None = None
    limit: int = LIMIT_DEFAULT
    offset: int = 0
    equals: dict[str, str] = field(default_factory=dict)  # property -> its value as text
    bbox: list[float] | None = None
    bbox_crs: tuple[int, bool] = (4326, False)
    filter: str | None = None
    filter_lang: str = "cql2-text"
    filter_crs: tuple[int, bool] = (4326, False)
    sortby: str | None = None
    properties: list[str] | None = None
    #: parcels in this review state only (:data:`landreg.review.states.PARCEL_STATES`), of those whose
    #: review the view may know
    review_state: str | None = None
    #: only the current parcels of a planner's own municipalities (the workspace's list; see
    #: :func:`landreg.access.visible_rows`): the page is read in index order and counted apart
    own_only: bool = False


@dataclass
class Page:
    features: list[str]  # GeoJSON text of each feature, as PostGIS wrote it
    matched: int


def queryable_names(collection: Collection, view: View, at: dt.datetime | None = None) -> list[str]:
    return list(source(collection, view, at if collection.is_parcels else None).properties)


def features_page(conn: Connection, q: FeatureQuery) -> Page:
    """One page of the features the view may see that match the query, and how many match in all."""
    at = q.at if q.collection.is_parcels else None  # other collections have no history
    own_only = q.own_only and at is None and q.collection.is_parcels
    src = source(q.collection, q.view, at, own_only=own_only)
    equals, values = [], {"limit": q.limit, "offset": q.offset}
    for name, value in sorted(q.equals.items()):
        if name not in src.properties:
            raise InvalidParameter(f"{name} is not queryable; queryables: {', '.join(src.properties)}", name)
        column = src.properties[name]
        declared = fields.field(name) if q.collection.is_parcels else None
        typed = params.typed(_python_type(column, declared), value, name)
        values[f"eq{len(equals)}"] = cql.column_value(column, typed, name)  # in the column's range
        equals.append(name)
    box = cql.bbox_numbers_cut(q.bbox, *q.bbox_crs) if q.bbox else None
    values |= dict(zip(_BOX, box or ()))
    if q.review_state is not None and not q.collection.is_parcels:
        raise InvalidParameter("review_state: only parcels have a review state", "review_state")
    if q.properties is not None:
        params.names(",".join(q.properties), list(src.properties), "properties")
    sort_clauses(src, q.sortby)  # refuses what cannot be sorted by
    shape = _PageShape(
        q.collection.id,
        q.view,
        q.srid,
        q.flip,
        tuple(q.properties) if q.properties is not None else None,
        q.sortby,
        tuple(equals),
        None if not q.bbox else (q.bbox_crs[0] if box else False),
        q.review_state,
        (q.filter, q.filter_lang, q.filter_crs) if q.filter else None,
        own_only,
    )
    if at is None:  # built once per shape (landreg.sqltext); a filter's values are part of its shape
        page_sql, count_sql = _page_sql(shape)
        rows = sqltext.run(conn, page_sql, values).all()
        if own_only:  # the page stops after its rows; the count is a statement of its own
            return Page([r.f for r in rows], sqltext.run(conn, count_sql, values).scalar_one())
        if not rows:
            return Page([], sqltext.run(conn, count_sql, values).scalar_one())
        return Page([r.f for r in rows], rows[0].n)
    # an instant in the past: built for this request
    conditions = _conditions(shape, src, lambda name, type_: literal(values[name], type_))
    rows = conn.execute(_page_statement(shape, src, conditions, q.limit, q.offset)).all()
    if rows:
        return Page([r.f for r in rows], rows[0].n)
    return Page([], conn.execute(select(func.count()).select_from(src.query).where(*conditions)).scalar_one())


_BOX = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class _PageShape:
    """What a page's statement depends on besides the values of the request."""

    collection_id: str
    view: View
    srid: int
    flip: bool
    properties: tuple[str, ...] | None
    sortby: str | None
    equals: tuple[str, ...]  # properties compared with the values eq0, eq1 …
    bbox_srid: int | bool | None  # the values x1 … y2 are in this CRS; False: a box nothing lies in
    review_state: str | None
    filter: tuple[str, str, tuple[int, bool]] | None  # CQL2 text or JSON, its language and CRS
    own_only: bool = False  # see FeatureQuery.own_only


@lru_cache(maxsize=1024)  # ~10 kB each
def _page_sql(shape: _PageShape) -> tuple[str, str]:
    """The page's statement and the count of all matches (for a page past the end), as SQL text."""
    src = source(COLLECTIONS[shape.collection_id], shape.view, own_only=shape.own_only)
    conditions = _conditions(shape, src, sqltext.Slot)
    page = _page_statement(shape, src, conditions, sqltext.Slot("limit", Integer), sqltext.Slot("offset", Integer))
    count = select(func.count()).select_from(src.query).where(*conditions)
    return sqltext.as_text(page), sqltext.as_text(count)


def _conditions(shape: _PageShape, src: Source, value) -> list:
    """The conditions of the shape's equals, bbox, review state and filter; ``value(name, type)`` gives the
    request's value (a literal) or its slot."""
    conditions = [src.properties[n] == value(f"eq{i}", src.properties[n].type) for i, n in enumerate(shape.equals)]
    if shape.bbox_srid is False:
        conditions.append(false())
    elif shape.bbox_srid is not None:
        conditions.append(envelope_filter(src, [value(n, Float) for n in _BOX], shape.bbox_srid))
    if shape.review_state is not None:
        view = shape.view
        conditions.append(review_states.state_condition(view, src.id_column, src.properties["ags"], shape.review_state))
    if shape.filter is not None:
        text_, language, crs = shape.filter
        conditions.append(filter_condition(src, text_, language, crs))
    return conditions


def _page_statement(shape: _PageShape, src: Source, conditions: list, limit, offset):
    """The page first (ids in order, count of all matches), then the GeoJSON of just the page's
    features, found by ``id = ANY(the page's ids)``: a condition each branch of the view's rows
    answers from its key index (a join back to the rows would read all of them; see
    access.visible_rows), in one statement."""
    order = sort_clauses(src, shape.sortby)
    properties = list(shape.properties) if shape.properties is not None else None
    if shape.own_only:
        # no window functions: a count over all matches would make the page wait for every row, and
        # a row number keeps PostgreSQL from a top-N sort; the order is the sort itself (id breaks ties)
        page = select(src.id_column.label("page_id")).where(*conditions).order_by(*order).limit(limit).offset(offset)
        ids = cast(select(func.array_agg(page.subquery().c.page_id)).scalar_subquery(), ARRAY(src.id_column.type))
        return (
            select(cast(feature_json(src, shape.srid, shape.flip, properties), Text).label("f"))
            .where(src.id_column == any_(ids))
            .order_by(*order)
        )
    page = (
        select(
            src.id_column.label("page_id"),
            func.count().over().label("n"),
            func.row_number().over(order_by=order).label("position"),
        )
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .cte("page")
    )
    ids = cast(  # an array (not a row set) for ANY
        select(func.array_agg(aggregate_order_by(page.c.page_id, page.c.position))).scalar_subquery(),
        ARRAY(src.id_column.type),
    )
    return (
        select(
            cast(feature_json(src, shape.srid, shape.flip, properties), Text).label("f"),
            select(page.c.n).limit(1).scalar_subquery().label("n"),
        )
        .where(src.id_column == any_(ids))
        .order_by(func.array_position(ids, src.id_column))
    )


def filter_condition(src: Source, text_: str, language: str = "cql2-text", crs=(4326, False)):
    """A CQL2 filter (text or JSON) on what ``src`` lets its view query, as an SQL condition."""
    return cql.to_sql(cql.parse(text_, language), src.properties, src.geometry, *crs)


def _python_type(column, declared) -> type:
    if declared is not None:
        return declared.python_type
    try:
        return column.type.python_type
    except NotImplementedError:
        return str


def one_feature(
    conn: Connection,
    collection: Collection,
    view: View,
    key: str,
    srid: int = 4326,
    flip: bool = False,
    at: dt.datetime | None = None,
) -> dict:
    """One feature the view may see, as a GeoJSON dict; :class:`NotFound` otherwise."""
    value = feature_id(collection, key)
    if at is not None and not collection.is_parcels:
        at = None
    row = None
    if value is not None:
        if at is None:  # a parcel's rows part by part (access.row_parts): the first has it, as a rule
            for part in row_parts(view) if collection.is_parcels else (None,):
                row = sqltext.run(conn, _feature_sql(collection.id, view, srid, flip, part), {"key": value}).first()
                if row is not None:
                    break
        else:
            src = source(collection, view, at)
            statement = select(feature_json(src, srid, flip).label("f")).where(src.id_column == bindparam("key"))
            row = conn.execute(statement, {"key": value}).first()
    if row is None:
        raise NotFound(f"no feature {key!r} in {collection.id}" + (f" as of {at:%Y-%m-%d}" if at else ""))
    return row.f


@lru_cache(maxsize=512)
def _feature_sql(collection_id: str, view: View, srid: int, flip: bool, part: str | None = None) -> str:
    """One current feature by its id: built once per collection, view, output CRS and part of the
    rows (see :mod:`landreg.sqltext`)."""
    src = source(COLLECTIONS[collection_id], view, part=part)
    key = sqltext.Slot("key", src.id_column.type)
    return sqltext.as_text(select(feature_json(src, srid, flip).label("f")).where(src.id_column == key))


#: What a parcel's history lists of each version (the public fields that say what changed).
HISTORY_FIELDS = (
    "local_ref", "name", "category", "status", "designation", "availability", "area_m2", "flurstueckskennzeichen",
)  # fmt: skip


def parcel_history(conn: Connection, view: View, parcel_id: uuid.UUID) -> list[dict]:
    """Every version of a parcel the view may see, oldest first (who changed it, and on the version a
    retirement ended how and why it was retired: for those who may see the parcel's confidential
    facts, see :func:`landreg.versions.retirement`). Who does not see them gets no version numbers,
    one entry for consecutive versions that show the same, and no end of the version it sees now:
    all three would tell of confidential edits or of a change waiting for review."""
    from landreg import versions as parcel_versions
    from landreg.access import sees_confidential, visible_versions
    from landreg.models import ParcelVersion

    v = ParcelVersion
    actor = func.coalesce(sees_confidential(view, v.ags), False)
    rows = conn.execute(
        select(
            v.version, v.valid_from, v.valid_to, actor.label("sees_actor"), v.actor,
            *[getattr(v, name) for name in HISTORY_FIELDS],
        )
        .where(v.parcel_id == parcel_id, visible_versions(view, v, Parcel))
        .order_by(v.version)
    ).mappings().all()  # fmt: skip
    versions: list[dict] = []
    reviews = None
    in_full = all(r["sees_actor"] for r in rows)  # the view sees every version's confidential facts
    # who does not: a version that changed nothing it sees (fields, outline) is not one for it
    seen_change = (
        None
        if in_full or not rows
        else {d["version"] for d in parcel_versions.changes(conn, view, parcel_id) if d["changes"] or d["geometry"]}
    )
    for r in rows:
        entry = {k: r[k] for k in ("version", "valid_from", "valid_to")}
        if r["sees_actor"]:  # who changed it and how the review went (comments may name confidential facts)
            entry["actor"] = r["actor"]
            reviews = review.reviews_of(conn, parcel_id) if reviews is None else reviews
            entry["review"] = reviews.get(r["version"])
        if seen_change is not None and versions and r["version"] not in seen_change:
            versions[-1]["valid_to"] = r["valid_to"]  # an edit of what this view does not see: not one
            continue
        versions.append(entry | {name: r[name] for name in HISTORY_FIELDS})
    if not versions:
        raise NotFound(f"no parcel {parcel_id}")
    retired = parcel_versions.retirement(conn, view, parcel_id)
    for entry in versions if retired else ():
        if entry["version"] == retired["version"]:
            entry["retirement"] = {k: v for k, v in retired.items() if k != "version"}
    if not in_full:
        for entry in versions:  # the version number counts confidential edits too (fields.VERSION)
            del entry["version"]
        if not retired:  # the version it sees is current for it, though a change may wait for review
            versions[-1]["valid_to"] = None
    return versions


# -- changes ----------------------------------------------------------------------------------
def create(session: Session, principal: Principal | None, attributes: dict[str, Any]) -> Parcel:
    """Record a new parcel in the principal's municipality (given, or derived from the geometry)."""
    if "ags" in attributes:
        require_edit(principal, attributes["ags"])
    else:
        require_edit(principal, principal.ags[0] if principal and principal.ags else None)
    with session.begin_nested():
        parcel = parcels.create_parcel(session, principal.owner, **attributes)
        require_edit(principal, parcel.ags)  # the AGS the database derived; refused: undone
        review.record(session.connection(), principal, [review.Change(parcel.id, parcel.version, "anlage")])
    return parcel


def _locked(session: Session, principal: Principal | None, parcel_id: uuid.UUID, expected) -> Parcel:
    """The parcel, locked for the change, after the checks every change needs."""
    if expected is None:
        raise VersionRequired(
            "changes need the version they are based on (If-Match with the feature's ETag), "
            "so two planners never overwrite each other"
        )
    parcel = session.get(Parcel, parcel_id, with_for_update=True, populate_existing=True)
    if parcel is None or not _may_see(session, principal, parcel_id):
        raise NotFound(f"no parcel {parcel_id}")
    if parcel.retired_at is not None:
        raise Gone(f"parcel {parcel_id} was retired on {parcel.retired_at:%Y-%m-%d}")
    require_edit(principal, parcel.ags)
    if expected != "*" and parcel.version not in expected:
        raise VersionConflict(
            f"the parcel has changed (now version {parcel.version}); reload it and try again", parcel.version
        )
    return parcel


def _may_see(session: Session, principal: Principal | None, parcel_id: uuid.UUID) -> bool:
    """Whether the principal's view shows the parcel (retired ones included: changing those is
    answered "gone", not "not found"), by the one rule of :func:`landreg.access.visible_parcels`."""
    visible = visible_parcels(view_of(principal), Parcel, include_retired=True)
    return session.scalar(select(select(Parcel.id).where(Parcel.id == parcel_id, visible).exists()))


def replace(
    session: Session, principal: Principal | None, parcel_id: uuid.UUID, expected, attributes: dict[str, Any]
) -> Parcel:
    """Replace every attribute: those not given are cleared, except the ones the registry keeps
    (required ones and those with a default; see :data:`landreg.fields.KEPT_ON_REPLACE`)."""
    cleared = {name: None for name in fields.EDITABLE - fields.KEPT_ON_REPLACE}
    return update(session, principal, parcel_id, expected, cleared | attributes)


def update(
    session: Session, principal: Principal | None, parcel_id: uuid.UUID, expected, attributes: dict[str, Any]
) -> Parcel:
    """Change the given attributes; the previous state stays in the history."""
    with session.begin_nested():
        parcel = _locked(session, principal, parcel_id, expected)
        before = parcel.version
        if "ags" in attributes:
            require_edit(principal, attributes["ags"])
        parcels.update_parcel(session, parcel.id, principal.owner, **attributes)
        require_edit(principal, parcel.ags)  # a new geometry may lie in another municipality
        if parcel.version != before:  # changing nothing is no change to review
            review.record(session.connection(), principal, [review.Change(parcel.id, parcel.version, "aenderung")])
    return parcel


def retire(
    session: Session,
    principal: Principal | None,
    parcel_id: uuid.UUID,
    expected,
    reason: str | None,
    comment: str | None = None,
) -> Parcel:
    """End-date the parcel, saying why (a code of :data:`landreg.vocab.RETIRE_REASON`; a comment,
    required for ``sonstiges``): it leaves the current register and stays in the history. Who may
    retire it and on which version is checked first: a refusal there does not depend on the reason."""
    with session.begin_nested():
        parcel = _locked(session, principal, parcel_id, expected)
        parcels.retire_parcel(session, parcel.id, principal.owner, reason, comment)
        review.record(session.connection(), principal, [review.Change(parcel.id, parcel.version, "stilllegung")])
    return parcel


_IMPORT_COLUMNS = """id, started_at, actor, file_name, sha256, status, rows_read, inserted, changed, unchanged,
                      rejected, retired"""


def imports(conn: Connection, principal: Principal | None, limit: int = 20) -> list[dict]:
    """The latest imports, newest first: a planner's own, everybody's for the ministry and admins
    (the operator at the command line is :data:`landreg.access.OPERATOR`)."""
    if principal is None:
        raise AccessDenied("the list of imports needs a token")
    rows = conn.execute(
        text(f"""SELECT {_IMPORT_COLUMNS} FROM import_run WHERE :all OR actor = :actor
                  ORDER BY started_at DESC LIMIT :limit"""),
        {"all": _sees_all_imports(principal), "actor": principal.owner, "limit": limit},
    ).mappings()
    return [dict(r) for r in rows]


def import_report(conn: Connection, principal: Principal | None, import_id: int) -> dict:
    row = conn.execute(text("SELECT actor, report FROM import_run WHERE id = :id"), {"id": import_id}).one_or_none()
    if row is None or not (_sees_all_imports(principal) or row.actor == principal.owner):
        raise NotFound(f"no import {import_id}")
    return row.report


def _sees_all_imports(principal: Principal | None) -> bool:
    return principal is not None and principal.role != "planner"
