"""Meine Flächen: the list a planner keeps current, as a query of the register.

A planner sees the current parcels of their own municipalities; reviewers, the ministry and admins
see every municipality's (and may choose one). The list filters by a search text (reference or
name), category, status, a data quality finding, "due for update" (a Stand older than
:data:`landreg.due.STALE_MONTHS` months, or none: the due list's rule) and the review state
(:mod:`landreg.review.states`), sorts by one of :data:`SORTABLE` either way and pages.

:func:`feature_query` checks every value (a refusal is an :class:`InvalidParameter` naming the
list's form field) and builds a :class:`landreg.register.FeatureQuery` in the person's view: the
filters are CQL2-JSON composed from checked codes, dates and the search text as a JSON string (a
LIKE pattern with its wildcards escaped), so no input is ever read as filter syntax, and the review
state is the query's own condition. :func:`list_page` runs it through
:func:`landreg.register.features_page`: the page's rows and their GeoJSON (WGS84) for the map.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from landreg import due, quality, register, vocab
from landreg.access import AccessDenied, Principal, View, view_of
from landreg.errors import InvalidParameter
from landreg.features import COLLECTIONS
from landreg.messages import message
from landreg.review import states as review_states

#: Columns the list sorts by (a fixed set; each either way).
SORTABLE = ("local_ref", "name", "category", "status", "data_date", "area_m2", "quality_score", "ags")
PAGE_SIZES = (10, 25, 50, 100)
LIMIT_DEFAULT = 25
#: The deepest page: far beyond any municipality's list, and cheap to refuse.
OFFSET_MAX = 1_000_000
SEARCH_MAX = 100
#: What each row of the list carries (and the map's features).
PROPERTIES = [
    "ags", "local_ref", "name", "category", "status", "data_date", "area_m2", "quality_score", "quality_findings",
    "version",
]  # fmt: skip
_AGS = re.compile(r"[0-9]{8}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ListRequest:
    """What the list asks for, as given (text); :func:`feature_query` checks it. Field names are
    the list form's."""

    q: str | None = None
    ags: str | None = None
    category: str | None = None
    status: str | None = None
    finding: str | None = None
    due: bool = False
    review: str | None = None
    sort: str = "local_ref"
    descending: bool = False
    limit: int = LIMIT_DEFAULT
    offset: int = 0


@dataclass
class ListPage:
    rows: list[dict]  # the properties of each parcel, with its "id"
    geojson: str  # a FeatureCollection of the page's parcels (WGS84)
    matched: int
    request: ListRequest


def _one_of(value: str | None, allowed, field: str) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        said = message("param.unknown_code", field=field, value=value[:40], allowed=", ".join(allowed))
        raise InvalidParameter(said, field)
    return value


def like_pattern(text_: str) -> str:
    """A LIKE pattern that finds ``text_`` anywhere: its own ``%``, ``_`` and ``\\`` are escaped."""
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(name: str, text_: str) -> dict:
    """CQL2-JSON: property ``name`` contains ``text_``, ignoring case."""
    return {
        "op": "like",
        "args": [{"op": "casei", "args": [{"property": name}]}, {"op": "casei", "args": [like_pattern(text_)]}],
    }


def own_municipalities(principal: Principal, view: View, ags: str | None) -> list[str] | None:
    """The municipalities the list shows: a planner's own (or one of them), anyone's for those who
    see all (None: every one)."""
    if ags is not None and not _AGS.fullmatch(ags):
        raise InvalidParameter(message("param.ags_form", value=ags[:20]), "ags")
    if view.kind == "full":
        return [ags] if ags else None
    if view.kind != "planner" or not view.ags:
        raise AccessDenied("the list of parcels is for planners, reviewers, the ministry and admins")
    if ags is not None and ags not in view.ags:
        raise InvalidParameter(message("param.not_own_ags", own=", ".join(view.ags), ags=ags), "ags")
    return [ags] if ags else list(view.ags)


def feature_query(principal: Principal | None, request: ListRequest, today: dt.date | None = None):
    """The register query of the list in the person's view; every value checked (see the module)."""
    if principal is None:
        raise AccessDenied("the list of parcels needs a signed-in person")
    view = view_of(principal)
    r = request
    conditions: list[dict] = []
    municipalities = own_municipalities(principal, view, r.ags)
    if municipalities is not None:
        conditions.append({"op": "in", "args": [{"property": "ags"}, municipalities]})
    if r.q is not None:
        q = r.q.strip()
        if len(q) > SEARCH_MAX:
            raise InvalidParameter(message("param.search_too_long", length=len(q), limit=SEARCH_MAX), "q")
        if _CONTROL.search(q):
            raise InvalidParameter(message("param.search_control"), "q")
        if q:
            conditions.append({"op": "or", "args": [_contains("local_ref", q), _contains("name", q)]})
    category = _one_of(r.category, vocab.CATEGORY.codes, "category")
    status = _one_of(r.status, vocab.STATUS.codes, "status")
    for name, value in (("category", category), ("status", status)):
        if value is not None:
            conditions.append({"op": "=", "args": [{"property": name}, value]})
    finding = _one_of(r.finding, tuple(quality.FINDINGS), "finding")
    if finding is not None:  # one code of the comma-separated list (codes contain no comma)
        pattern = {"op": "like", "args": [{"property": "quality_findings"}, like_pattern(finding)]}
        conditions.append(pattern)
    if r.due:
        cutoff = due.stale_before(due.STALE_MONTHS, today)
        stale = {"op": "<", "args": [{"property": "data_date"}, {"date": cutoff.isoformat()}]}
        conditions.append({"op": "or", "args": [stale, {"op": "isNull", "args": [{"property": "data_date"}]}]})
    review = _one_of(r.review, tuple(review_states.PARCEL_STATES), "review")
    sort = _one_of(r.sort, SORTABLE, "sort")
    if r.limit not in PAGE_SIZES:
        raise InvalidParameter(message("param.page_size", sizes=", ".join(map(str, PAGE_SIZES))), "limit")
    if not 0 <= r.offset <= OFFSET_MAX:
        raise InvalidParameter(message("param.offset", high=OFFSET_MAX), "offset")
    if not conditions:
        filter_ = None
    else:
        filter_ = json.dumps(conditions[0] if len(conditions) == 1 else {"op": "and", "args": conditions})
    return register.FeatureQuery(
        COLLECTIONS["parcels"],
        view,
        srid=4326,
        limit=r.limit,
        offset=r.offset,
        filter=filter_,
        filter_lang="cql2-json",
        sortby=("-" if r.descending else "") + (sort or "local_ref") + ("" if sort == "local_ref" else ",local_ref"),
        properties=PROPERTIES,
        review_state=review,
        own_only=view.kind == "planner",  # a planner's list holds only the own municipalities' parcels
    )


def list_page(conn: Connection, principal: Principal | None, request: ListRequest) -> ListPage:
    """One page of the list: its rows (properties and id) and their GeoJSON, and how many match."""
    query = feature_query(principal, request)
    page = register.features_page(conn, query)
    rows = []
    for feature in page.features:
        parsed = json.loads(feature)
        rows.append({"id": parsed["id"], **parsed["properties"]})
    geojson = '{"type":"FeatureCollection","features":[' + ",".join(page.features) + "]}"
    return ListPage(rows, geojson, page.matched, request)


def municipalities(conn: Connection, view: View) -> list[dict]:
    """The municipalities the list can show (AGS and name, by name): a planner's own, and for those
    who see all every municipality that has current parcels."""
    if view.kind == "full":
        rows = conn.execute(
            text("""SELECT m.ags, m.name FROM municipality m
                     WHERE EXISTS (SELECT FROM parcel p WHERE p.ags = m.ags AND p.retired_at IS NULL)
                     ORDER BY m.name, m.ags""")
        )
    else:
        rows = conn.execute(
            text("SELECT ags, name FROM municipality WHERE ags = ANY(CAST(:own AS text[])) ORDER BY name, ags"),
            {"own": list(view.ags)},
        )
    return [{"ags": r.ags.strip(), "name": r.name} for r in rows]


def ids_of(rows: Sequence[dict]) -> list[uuid.UUID]:
    return [uuid.UUID(r["id"]) for r in rows]


def municipality_names(conn: Connection, ags: Sequence[str] | set[str]) -> dict[str, str]:
    """The names of these municipalities, by AGS (names are public)."""
    rows = conn.execute(
        text("SELECT ags, name FROM municipality WHERE ags = ANY(CAST(:ags AS text[]))"), {"ags": sorted(ags)}
    )
    return {r.ags.strip(): r.name for r in rows}
