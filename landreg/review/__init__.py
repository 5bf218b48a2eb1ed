"""Review of municipal changes (Prüfung): every change a planner makes waits for a reviewer.

A planner's new parcel, change or retirement is one *submission*; an import run is one submission
with a row per parcel it wrote or retired. The municipality sees its latest state at once; the
public, other municipalities and the regional figures see the latest approved version
(:func:`landreg.access.visible_rows`), until a reviewer (role ``reviewer``; the ministry and admins
may review too) approves the submission. A rejected change stays in the history with the
reviewer's comment and goes back to the planner: the parcel keeps showing its approved version to
everybody else until a new change is approved.

* Only the newest change of a parcel can be reviewed: an older waiting one is ``ueberholt``
  (superseded) when a newer change is made, and reviewing it is refused with the newer one named.
  Approving an import approves its rows that are still the newest; a row another change superseded
  meanwhile needs that change's review.
* Changes by those who need no review (the operator at the command line, admins loading data)
  are approved as they are made; they supersede a waiting change of the same parcel.
* Nobody reviews their own change; reviewers never edit parcels (:func:`landreg.access.require_edit`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from landreg import fields, inbox, vocab
from landreg.access import AccessDenied, Principal, View, view_of
from landreg.errors import Conflict, InvalidParameter, NotFound

#: kind -> (German, English)
KINDS = {
    "anlage": ("Neue Fläche", "new parcel"),
    "aenderung": ("Änderung", "change"),
    "stilllegung": ("Stilllegung", "retirement"),
    "import": ("Import", "import"),
}
STATES = {
    "wartend": ("wartet auf Prüfung", "waiting for review"),
    "freigegeben": ("freigegeben", "approved"),
    "abgelehnt": ("abgelehnt", "rejected"),
    "ueberholt": ("überholt durch eine neuere Änderung", "superseded by a newer change"),
}
MAX_COMMENT = 5_000
MAX_BULK = 500
#: The fields a diff compares: every attribute, and the area (the geometry as area added/removed).
DIFF_FIELDS = [f.name for f in fields.ATTRIBUTES]
_AGS = re.compile(r"[0-9]{8}")


@dataclass(frozen=True)
class Change:
    """One parcel a change wrote: the version it produced (a retirement: the version it ended)."""

    parcel_id: uuid.UUID
    version: int
    kind: str  # anlage, aenderung, stilllegung


def needs_review(principal: Principal | None) -> bool:
    """Whether a change by ``principal`` waits for review: a planner's does; the operator's and an
    admin's are taken as approved."""
    return principal is not None and principal.role == "planner"


def record(
    conn: Connection,
    principal: Principal | None,
    changes: Sequence[Change],
    kind: str | None = None,
    import_run_id: int | None = None,
) -> int | None:
    """Record the changes just written by ``principal`` for review (one submission), or as approved
    when the principal needs no review. Returns the submission's id (None: nothing to review)."""
    if not changes:
        return None
    ids = [str(c.parcel_id) for c in changes]
    # a newer change supersedes a waiting one of the same parcel
    conn.execute(
        text("""UPDATE submission_parcel SET state = 'ueberholt'
                 WHERE parcel_id = ANY(CAST(:ids AS uuid[])) AND state = 'wartend'"""),
        {"ids": ids},
    )
    conn.execute(
        text("""UPDATE submission s SET state = 'ueberholt'
                 WHERE s.state = 'wartend'
                   AND NOT EXISTS (SELECT FROM submission_parcel sp WHERE sp.submission_id = s.id AND sp.state = 'wartend')""")
    )
    if not needs_review(principal):
        conn.execute(text("DELETE FROM parcel_pending WHERE parcel_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
        return None
    # the version the others see from now on: kept if the parcel already waits, else the one before
    now_pending = (
        conn.execute(
            text("""
        INSERT INTO parcel_pending (parcel_id, approved_version, geom)
        SELECT c.id, v.version, v.geom  -- with the approved outline, for the spatial index (0018)
          FROM unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[]), CAST(:kinds AS text[])) AS c(id, version, kind)
          LEFT JOIN parcel_past_version v
            ON v.parcel_id = c.id
           AND v.version = CASE c.kind WHEN 'anlage' THEN NULL WHEN 'stilllegung' THEN c.version ELSE c.version - 1 END
        ON CONFLICT (parcel_id) DO NOTHING
        RETURNING parcel_id
    """),
            {"ids": ids, "versions": [c.version for c in changes], "kinds": [c.kind for c in changes]},
        )
        .scalars()
        .all()
    )
    if now_pending:  # others see the approved version from now on: scored as every version shown is
        from landreg.scoring.engine import rescore_approved  # pandas and numpy: for the writers only

        rescore_approved(conn, now_pending)
    submission_kind = kind or changes[0].kind
    submission_id = conn.execute(
        text("""
        INSERT INTO submission (kind, ags, actor, import_run_id)
        SELECT :kind, array_agg(DISTINCT p.ags), :actor, :run FROM parcel p WHERE p.id = ANY(CAST(:ids AS uuid[]))
        RETURNING id
    """),
        {"kind": submission_kind, "actor": principal.owner, "run": import_run_id, "ids": ids},
    ).scalar_one()
    conn.execute(
        text("""
        INSERT INTO submission_parcel (submission_id, parcel_id, version, retired, base_version)
        SELECT :sid, c.id, c.version, c.kind = 'stilllegung', pp.approved_version
          FROM unnest(CAST(:ids AS uuid[]), CAST(:versions AS int[]), CAST(:kinds AS text[])) AS c(id, version, kind)
          JOIN parcel_pending pp ON pp.parcel_id = c.id
    """),
        {
            "sid": submission_id,
            "ids": ids,
            "versions": [c.version for c in changes],
            "kinds": [c.kind for c in changes],
        },
    )
    label = KINDS[submission_kind][0]
    inbox.notify(
        conn,
        inbox.reviewers(conn),
        "pruefung",
        f"Zu prüfen: {label} von {principal.owner} ({len(changes)} Fläche{'n' if len(changes) != 1 else ''})",
        f"{principal.owner} hat eine Änderung eingereicht (Einreichung {submission_id}). "
        f"Sie wartet auf Ihre Prüfung.\n\n{principal.owner} submitted a change ({submission_id}) for review.",
        f"/review/submissions/{submission_id}",
    )
    return submission_id


def record_import(
    conn: Connection, principal: Principal | None, import_run_id: int, retired: Sequence[uuid.UUID] = ()
) -> int | None:
    """Record what an import run wrote (its staging table still holds the rows) and the parcels it
    retired as one submission."""
    if not needs_review(principal) and not conn.execute(text("SELECT EXISTS (SELECT FROM parcel_pending)")).scalar():
        return None  # approved as written, and no waiting change of any parcel to supersede
    rows = conn.execute(
        text("""
        SELECT p.id, p.version, CASE WHEN s.action = 'new' THEN 'anlage' ELSE 'aenderung' END AS kind
          FROM import_staging s
          JOIN parcel p ON p.ags = s.ags AND p.local_ref = s.local_ref AND p.retired_at IS NULL
         WHERE NOT s.rejected AND s.action IN ('new', 'changed')
    """)
    ).all()
    ended = conn.execute(
        text("SELECT id, version FROM parcel WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [str(i) for i in retired]}
    ).all()
    changes = [Change(r.id, r.version, r.kind) for r in rows] + [Change(r.id, r.version, "stilllegung") for r in ended]
    return record(conn, principal, changes, "import", import_run_id)


# -- reading ---------------------------------------------------------------------------------
def _reader(principal: Principal | None) -> View:
    """Submissions are read by those who review (all) and by the planners of the municipality (theirs)."""
    if principal is None:
        raise AccessDenied("submissions are for the planners of the municipality and for reviewers; give a token")
    return view_of(principal)


_SUBMISSION = """
    s.id, s.kind, s.ags, s.actor, s.submitted_at, s.import_run_id, s.state, s.reviewed_by, s.reviewed_at, s.comment,
    (SELECT count(*) FROM submission_parcel sp WHERE sp.submission_id = s.id) AS parcels,
    (SELECT count(*) FROM submission_parcel sp WHERE sp.submission_id = s.id AND sp.state = 'wartend') AS waiting
"""


def visible_submissions_sql(view: View) -> tuple[str, dict]:
    """Which submissions (``s``) a view reads, as SQL text and its parameters: all for those who
    see every municipality, those touching their own municipalities for planners."""
    if view.kind == "full":
        return "true", {}
    return "s.ags && CAST(:own AS char(8)[])", {"own": list(view.ags)}


def _own_parcels(view: View) -> tuple[str, dict]:
    """Of a submission the view may read, the parcels it shows: every one to those who review, the
    parcels of their own municipalities to planners (an import may span municipalities)."""
    if view.kind == "full":
        return "true", {}
    return "a.ags = ANY(CAST(:own AS char(8)[]))", {"own": list(view.ags)}


def submissions(
    conn: Connection,
    principal: Principal | None,
    state: str | None = "wartend",
    ags: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict]:
    """Submissions the principal may see, oldest waiting first (newest first for other states)."""
    view = _reader(principal)
    if state is not None and state not in STATES:
        raise InvalidParameter(f"state: unknown value {state!r}; allowed: {', '.join(STATES)}", "state")
    if not 1 <= limit <= 500:
        raise InvalidParameter("limit: from 1 to 500", "limit")
    if not 0 <= offset <= 10**9:
        raise InvalidParameter("offset: from 0", "offset")
    if ags is not None and not _AGS.fullmatch(ags):
        raise InvalidParameter(f"ags: a municipality is an 8-digit AGS, not {ags[:20]!r}", "ags")
    visible, params = visible_submissions_sql(view)
    order = "s.submitted_at, s.id" if state == "wartend" else "s.submitted_at DESC, s.id DESC"
    rows = conn.execute(
        text(f"""SELECT {_SUBMISSION} FROM submission s
                  WHERE {visible} AND (CAST(:state AS text) IS NULL OR s.state = :state)
                    AND (CAST(:ags AS text) IS NULL OR CAST(:ags AS char(8)) = ANY(s.ags))
                  ORDER BY {order} LIMIT :limit OFFSET :offset"""),
        params | {"state": state, "ags": ags, "limit": limit, "offset": offset},
    ).mappings()
    return [_submission(r) for r in rows]


def _submission(r) -> dict:
    entry = dict(r)
    entry["ags"] = [a.strip() for a in r["ags"]]
    entry["kind_label"] = KINDS[r["kind"]][0]
    entry["state_label"] = STATES[r["state"]][0]
    return entry


def submission(
    conn: Connection, principal: Principal | None, submission_id: int, limit: int = 100, offset: int = 0
) -> dict:
    """A submission with its parcels (``limit`` of them from ``offset``), each with the field-by-field
    difference between the version everybody else sees (approved) and the submitted one, the
    geometry change as area added and removed (m²), and of a retirement its reason and comment
    (the comment is confidential: a submission's parcels are shown only to those who see their
    confidential facts, reviewers and the municipality; see :func:`_own_parcels`)."""
    view = _reader(principal)
    if not 1 <= limit <= 1000:
        raise InvalidParameter("limit: from 1 to 1000", "limit")
    visible, params = visible_submissions_sql(view)
    row = (
        conn.execute(
            text(f"SELECT {_SUBMISSION} FROM submission s WHERE s.id = :id AND {visible}"),
            params | {"id": submission_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"no submission {submission_id}")
    columns = ", ".join(f"b.{n} AS before_{n}, a.{n} AS after_{n}" for n in DIFF_FIELDS)
    own, own_params = _own_parcels(view)
    parcels = conn.execute(
        text(f"""
        SELECT sp.parcel_id, sp.version, sp.base_version, sp.retired, sp.state, a.local_ref, a.ags,
               r.retire_reason, r.retire_comment,
               b.area_m2 AS before_area_m2, a.area_m2 AS after_area_m2,
               CASE WHEN b.geom IS NULL THEN a.area_m2 ELSE ST_Area(ST_Difference(a.geom, b.geom)) END AS area_added_m2,
               CASE WHEN b.geom IS NULL THEN 0 ELSE ST_Area(ST_Difference(b.geom, a.geom)) END AS area_removed_m2,
               {columns}
          FROM submission_parcel sp
          JOIN parcel_version a ON a.parcel_id = sp.parcel_id AND a.version = sp.version
                               AND (NOT sp.retired OR a.valid_to IS NOT NULL)
          LEFT JOIN parcel_version b ON b.parcel_id = sp.parcel_id AND b.version = sp.base_version
          LEFT JOIN parcel r ON r.id = sp.parcel_id AND sp.retired
         WHERE sp.submission_id = :id AND {own}
         ORDER BY a.ags, a.local_ref LIMIT :limit OFFSET :offset
    """),
        own_params | {"id": submission_id, "limit": limit, "offset": offset},
    ).mappings()
    entry = _submission(row)
    entry["changes"] = [_parcel_diff(p) for p in parcels]
    return entry


def outlines(
    conn: Connection, principal: Principal | None, submission_id: int, parcel_ids: Sequence[uuid.UUID]
) -> list[dict]:
    """The outlines of parcels of a submission for a map, in WGS84 (GeoJSON geometries): ``before``,
    the approved version everybody else sees (None: a new parcel), and ``after``, the submitted one
    (of a retirement: the version it ended). The same reader rule as :func:`submission`: a parcel
    the principal may not see in that submission is left out. No attribute but the parcel's
    ``local_ref`` is given, so nothing confidential."""
    view = _reader(principal)
    if len(parcel_ids) > 1000:
        raise InvalidParameter("parcel_ids: at most 1000 at once", "parcel_ids")
    visible, params = visible_submissions_sql(view)
    own, own_params = _own_parcels(view)
    rows = conn.execute(
        text(f"""
        SELECT sp.parcel_id, a.local_ref, sp.retired,
               ST_AsGeoJSON(ST_Transform(b.geom, 4326), 7) AS before,
               ST_AsGeoJSON(ST_Transform(a.geom, 4326), 7) AS after
          FROM submission s
          JOIN submission_parcel sp ON sp.submission_id = s.id
          JOIN parcel_version a ON a.parcel_id = sp.parcel_id AND a.version = sp.version
                               AND (NOT sp.retired OR a.valid_to IS NOT NULL)
          LEFT JOIN parcel_version b ON b.parcel_id = sp.parcel_id AND b.version = sp.base_version
         WHERE s.id = :id AND {visible} AND {own} AND sp.parcel_id = ANY(CAST(:parcels AS uuid[]))
         ORDER BY a.ags, a.local_ref
    """),
        params | own_params | {"id": submission_id, "parcels": [str(i) for i in parcel_ids]},
    ).mappings()
    return [
        {
            "parcel_id": r["parcel_id"],
            "local_ref": r["local_ref"],
            "retired": r["retired"],
            "before": None if r["before"] is None else json.loads(r["before"]),
            "after": json.loads(r["after"]),
        }
        for r in rows
    ]


def municipalities(conn: Connection, principal: Principal | None) -> list[dict]:
    """The municipalities with submissions the principal may read (for choosing one): AGS, name,
    submissions waiting and in all, by name."""
    view = _reader(principal)
    visible, params = visible_submissions_sql(view)
    rows = conn.execute(
        text(f"""
        SELECT m.ags, m.name, count(*) FILTER (WHERE s.state = 'wartend') AS waiting, count(*) AS submissions
          FROM submission s CROSS JOIN LATERAL unnest(s.ags) AS u(ags)
          JOIN municipality m ON m.ags = u.ags
         WHERE {visible}
         GROUP BY m.ags, m.name ORDER BY m.name, m.ags
    """),
        params,
    ).mappings()
    return [dict(r) | {"ags": r["ags"].strip()} for r in rows]


def _parcel_diff(p) -> dict:
    same_geometry = p["area_added_m2"] < 0.01 and p["area_removed_m2"] < 0.01
    diff = [
        {
            "field": n,
            "label": fields.field(n).label("de"),
            "before": _plain(p[f"before_{n}"]),
            "after": _plain(p[f"after_{n}"]),
        }
        for n in DIFF_FIELDS
        if p[f"before_{n}"] != p[f"after_{n}"] and not (p["retired"] and p["base_version"] == p["version"])
    ]
    return {
        "parcel_id": p["parcel_id"],
        "local_ref": p["local_ref"],
        "ags": p["ags"].strip(),
        "version": p["version"],
        "base_version": p["base_version"],
        "retired": p["retired"],
        "state": p["state"],
        "retirement": _retirement(p) if p["retired"] else None,
        "fields": [] if p["base_version"] is None else diff,
        "geometry": None
        if same_geometry and p["base_version"] is not None
        else {
            "area_before_m2": _round(p["before_area_m2"]),
            "area_after_m2": _round(p["after_area_m2"]),
            "area_added_m2": _round(p["area_added_m2"]),
            "area_removed_m2": _round(p["area_removed_m2"]),
        },
    }


def _retirement(p) -> dict:
    """Why a parcel of a submission was retired: the code, its labels (none: "nicht erfasst", a
    retirement recorded before reasons were) and the comment."""
    code = p["retire_reason"]
    de, en = vocab.retire_reason_labels(code)
    return {"reason": code, "label_de": de, "label_en": en, "comment": p["retire_comment"]}


def _plain(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def _round(value):
    return None if value is None else round(float(value), 1)


# -- deciding --------------------------------------------------------------------------------
def _decide(
    conn: Connection,
    principal: Principal | None,
    submission_ids: Sequence[int],
    state: str,
    comment: str | None,
) -> list[dict]:
    if principal is None or not principal.may_review():
        raise AccessDenied("reviewing needs the role reviewer (or ministry, admin); planners submit, others review")
    ids = sorted(set(submission_ids))
    if not ids:
        raise InvalidParameter("give one or more submissions to review", "ids")
    if len(ids) > MAX_BULK:
        raise InvalidParameter(f"ids: at most {MAX_BULK} submissions at once, not {len(ids)}", "ids")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise InvalidParameter(f"comment: at most {MAX_COMMENT:,} characters, not {len(comment):,}", "comment")
    if comment is not None and "\x00" in comment:
        raise InvalidParameter("comment: a NUL character cannot be stored; remove it", "comment")
    if state == "abgelehnt" and not (comment or "").strip():
        raise InvalidParameter("comment: a rejection needs a comment that tells the planner what to change", "comment")
    rows = conn.execute(
        text("SELECT id, actor, state FROM submission WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": ids}
    ).all()
    found = {r.id: r for r in rows}
    problems = []
    for sid in ids:
        r = found.get(sid)
        if r is None:
            problems.append(f"{sid}: no such submission")
        elif r.actor == principal.owner:
            problems.append(f"{sid}: your own change; another reviewer decides on it")
        elif r.state == "ueberholt":
            newer = _newer(conn, sid)
            problems.append(
                f"{sid}: superseded by a newer change; review the newest" + (f" ({newer})" if newer else "")
            )
        elif r.state != "wartend":
            problems.append(f"{sid}: already {STATES[r.state][1]}")
    if problems:
        missing = all(p.endswith("no such submission") for p in problems)
        error = NotFound if missing else Conflict
        if any(p.endswith("another reviewer decides on it") for p in problems):
            error = AccessDenied
        raise error("nothing was reviewed: " + "; ".join(problems))
    results = []
    for sid in ids:
        decided = (
            conn.execute(
                text("""UPDATE submission_parcel SET state = :state
                     WHERE submission_id = :id AND state = 'wartend' RETURNING parcel_id"""),
                {"id": sid, "state": state},
            )
            .scalars()
            .all()
        )
        if state == "freigegeben":  # a waiting row is its parcel's newest change: now everybody sees it
            conn.execute(
                text("DELETE FROM parcel_pending WHERE parcel_id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": [str(i) for i in decided]},
            )
        conn.execute(
            text("""UPDATE submission SET state = :state, reviewed_by = :by, reviewed_at = clock_timestamp(),
                           comment = :comment WHERE id = :id"""),
            {"id": sid, "state": state, "by": principal.owner, "comment": comment},
        )
        superseded = conn.execute(
            text("""SELECT sp.parcel_id, a.local_ref FROM submission_parcel sp JOIN parcel a ON a.id = sp.parcel_id
                     WHERE sp.submission_id = :id AND sp.state = 'ueberholt' ORDER BY a.local_ref"""),
            {"id": sid},
        ).all()
        actor = found[sid].actor
        verb = ("freigegeben", "approved") if state == "freigegeben" else ("abgelehnt", "rejected")
        inbox.notify(
            conn,
            [actor],
            "pruefung_" + state,
            f"Ihre Änderung {sid} wurde {verb[0]}",
            f"{principal.owner} hat Ihre Änderung {sid} {verb[0]}."
            + (f"\nKommentar: {comment}" if comment else "")
            + f"\n\n{principal.owner} {verb[1]} your change {sid}.",
            f"/review/submissions/{sid}",
        )
        results.append(
            {
                "id": sid,
                "state": state,
                "parcels": len(decided),
                "superseded": [{"parcel_id": s.parcel_id, "local_ref": s.local_ref} for s in superseded],
            }
        )
    return results


def _newer(conn: Connection, submission_id: int) -> str | None:
    newer = (
        conn.execute(
            text("""SELECT DISTINCT n.submission_id FROM submission_parcel o
                  JOIN submission_parcel n ON n.parcel_id = o.parcel_id AND n.submission_id > o.submission_id
                 WHERE o.submission_id = :id AND n.state = 'wartend' ORDER BY 1 LIMIT 5"""),
            {"id": submission_id},
        )
        .scalars()
        .all()
    )
    return ", ".join(f"submission {n}" for n in newer) or None


def approve(conn: Connection, principal: Principal | None, submission_ids: Sequence[int], comment: str | None = None):
    """Approve waiting submissions (all or none): their parcels' latest state becomes what everybody
    sees. Rows of an import that a newer change superseded stay for that change's review."""
    return _decide(conn, principal, submission_ids, "freigegeben", comment)


def reject(conn: Connection, principal: Principal | None, submission_ids: Sequence[int], comment: str):
    """Reject waiting submissions (all or none) with a comment for the planner; everybody else keeps
    seeing the approved version."""
    return _decide(conn, principal, submission_ids, "abgelehnt", comment)


def reviews_of(conn: Connection, parcel_id: uuid.UUID) -> dict[int, dict]:
    """Per version of a parcel: the review of the change that made it (state, who, when, comment)."""
    rows = conn.execute(
        text("""SELECT sp.version, sp.retired, s.id, sp.state, s.actor, s.submitted_at, s.reviewed_by, s.reviewed_at,
                       s.comment
                  FROM submission_parcel sp JOIN submission s ON s.id = sp.submission_id
                 WHERE sp.parcel_id = :id ORDER BY s.id"""),
        {"id": parcel_id},
    ).mappings()
    reviews: dict[int, dict] = {}
    for r in rows:
        reviews.setdefault(r["version"], {})["retirement" if r["retired"] else "change"] = review_step(r)
    return reviews


def review_step(r) -> dict:
    """A submission as a step in a parcel's history: who submitted, who decided, when, the comment."""
    return {
        "submission": r["id"],
        "state": r["state"],
        "submitted_by": r["actor"],
        "submitted_at": r["submitted_at"],
        "reviewed_by": r["reviewed_by"],
        "reviewed_at": r["reviewed_at"],
        "comment": r["comment"],
    }
