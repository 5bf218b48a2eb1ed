"""A parcel's review state, as a planner's list filters and shows it (:mod:`landreg.review`).

* ``wartend``: a change of the parcel waits for a reviewer;
* ``abgelehnt``: its newest change was sent back by a reviewer and not changed since (everybody
  else still sees the approved version);
* ``freigegeben``: everybody sees its latest state (approved, or recorded by those who need no
  review).

Derived from the review's own tables: a parcel waits while a row of it in ``submission_parcel`` is
``wartend``; it is pending (``parcel_pending``) from a planner's change until a reviewer approves
it or someone who needs no review changes it again. Pending without a waiting change therefore
means the newest change was rejected.

Who may know a parcel's review state: those who see its changes not yet reviewed, that is the
planners of its municipality and those who see all (:func:`landreg.access.own_municipality`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, and_, case, exists, literal, not_, select, text
from sqlalchemy.sql.elements import ColumnElement

from landreg.access import PENDING, SUBMITTED, View, own_municipality
from landreg.errors import InvalidParameter
from landreg.models import Parcel
from landreg.review import review_step

#: code -> (German, English)
PARCEL_STATES = {
    "wartend": ("Änderung wartet auf Prüfung", "change waiting for review"),
    "abgelehnt": ("Änderung abgelehnt", "change rejected"),
    "freigegeben": ("freigegeben", "approved"),
}


def _conditions(parcel_id) -> dict[str, ColumnElement]:
    waiting = exists().where(SUBMITTED.c.parcel_id == parcel_id, SUBMITTED.c.state == "wartend")
    pending = exists().where(PENDING.c.parcel_id == parcel_id)
    return {"wartend": waiting, "abgelehnt": and_(pending, not_(waiting)), "freigegeben": not_(pending)}


def state_condition(view: View, parcel_id, ags, state: str) -> ColumnElement:
    """Rows in review state ``state`` among those whose review the view may know (its own
    municipalities; every one for those who see all); ``parcel_id`` and ``ags``: the rows' columns."""
    if state not in PARCEL_STATES:
        raise InvalidParameter(
            f"review_state: unknown value {str(state)[:40]!r}; allowed: {', '.join(PARCEL_STATES)}", "review_state"
        )
    return and_(own_municipality(view, ags), _conditions(parcel_id)[state])


def review_states(conn: Connection, parcel_ids: Sequence, view: View | None = None) -> dict[uuid.UUID, dict]:
    """Per parcel of ``parcel_ids`` (with a ``view``: only those of its own municipalities, every one
    for those who see all): its review state (``state``, ``label_de``, ``label_en``) and its newest
    submission (id, kind, state, who submitted and when, who reviewed and when, the comment), None
    when it never had one. Reads only."""
    ids = [uuid.UUID(str(i)) for i in parcel_ids]
    if not ids:
        return {}
    conditions = _conditions(Parcel.id)
    state = case(
        (conditions["wartend"], literal("wartend")),
        (conditions["abgelehnt"], literal("abgelehnt")),
        else_=literal("freigegeben"),
    )
    where = [Parcel.id.in_(ids)]
    if view is not None:
        where.append(own_municipality(view, Parcel.ags))
    states = {r.id: r.state for r in conn.execute(select(Parcel.id, state.label("state")).where(*where))}
    if not states:
        return {}
    newest = conn.execute(
        text("""SELECT DISTINCT ON (sp.parcel_id) sp.parcel_id, s.id, s.kind, sp.state, s.actor, s.submitted_at,
                       s.reviewed_by, s.reviewed_at, s.comment
                  FROM submission_parcel sp JOIN submission s ON s.id = sp.submission_id
                 WHERE sp.parcel_id = ANY(CAST(:ids AS uuid[]))
                 ORDER BY sp.parcel_id, s.id DESC"""),
        {"ids": [str(i) for i in states]},
    ).mappings()
    last = {r["parcel_id"]: r for r in newest}
    result = {}
    for parcel_id, code in states.items():
        r = last.get(parcel_id)
        submission = None
        if r is not None:
            step = review_step(r)
            submission = {"id": step.pop("submission"), "kind": r["kind"], **step}
        label_de, label_en = PARCEL_STATES[code]
        result[parcel_id] = {"state": code, "label_de": label_de, "label_en": label_en, "submission": submission}
    return result


def submissions_of(conn: Connection, view: View, parcel_id: uuid.UUID) -> list[dict]:
    """Every submission of a parcel, newest first (kind, the version it made, its state for this
    parcel, who submitted and reviewed when, the reviewer's comment): for the views that may know
    the parcel's review (:func:`state_condition`); empty for others. Reads only."""
    p = Parcel
    allowed = conn.execute(
        select(p.id).where(p.id == uuid.UUID(str(parcel_id)), own_municipality(view, p.ags))
    ).one_or_none()
    if allowed is None:
        return []
    rows = conn.execute(
        text("""SELECT s.id, s.kind, sp.version, sp.retired, sp.state, s.actor, s.submitted_at, s.reviewed_by,
                       s.reviewed_at, s.comment
                  FROM submission_parcel sp JOIN submission s ON s.id = sp.submission_id
                 WHERE sp.parcel_id = :id ORDER BY s.id DESC"""),
        {"id": uuid.UUID(str(parcel_id))},
    ).mappings()
    return [
        {
            "id": r["id"],
            "kind": "stilllegung" if r["retired"] else r["kind"],
            "version": r["version"],
            "state": r["state"],
            "submitted_by": r["actor"],
            "submitted_at": r["submitted_at"],
            "reviewed_by": r["reviewed_by"],
            "reviewed_at": r["reviewed_at"],
            "comment": r["comment"],
        }
        for r in rows
    ]
