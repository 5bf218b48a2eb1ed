"""Publication under § 200 (3) BauGB: notices, objections, and which parcels are public.

A municipality announces publicly that it will publish its Baulandkataster (:func:`announce`): all
parcels of some categories, or only those it selected (``publication_allowed``). Owners may object
within the objection period (:mod:`landreg.publication.calendar`) and at any time after it
(:func:`record_objection`). A parcel is public from the day after the period of a notice covering it
ends, as long as no objection is active and it is not retired: the database derives
``parcel.public_since`` from these facts whenever one of them changes (migration 0015), and
:func:`landreg.access.is_published` is the one place that reads it.

Notices are public announcements: anyone may list them. Objections are the owners' business: only
the planners of the parcel's municipality and the ministry see them, nothing public shows them.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Connection, text

from landreg import clock
from landreg.access import AccessDenied, Principal, View, require_edit
from landreg.errors import InvalidParameter, NotFound
from landreg.publication.calendar import objection_period_end
from landreg.vocab import CATEGORY

KINDS = ("bekanntmachung", "uebernommen")
#: Dates a notice may carry: not before the registry's history, at most a year ahead.
EARLIEST = dt.date(1990, 1, 1)


def _today() -> dt.date:
    return clock.today()


def _date(value: dt.date, name: str, latest: dt.date) -> dt.date:
    if not isinstance(value, dt.date):
        raise InvalidParameter(f"{name}: not a date (YYYY-MM-DD): {value!r}", name)
    if not EARLIEST <= value <= latest:
        raise InvalidParameter(f"{name}: {value} lies outside {EARLIEST} .. {latest}", name)
    return value


def announce(
    conn: Connection,
    principal: Principal | None,
    ags: str,
    announced_on: dt.date,
    categories: list[str] | None = None,
    selected_only: bool = True,
    objection_until: dt.date | None = None,
    reference: str | None = None,
) -> dict:
    """Record a notice of the principal's municipality. The objection period ends a month after the
    announcement (German calendar rules) unless a later end is given; an earlier one is refused."""
    require_edit(principal, ags)
    announced_on = _date(announced_on, "announced_on", _today() + dt.timedelta(days=366))
    earliest_end = objection_period_end(announced_on)
    if objection_until is None:
        objection_until = earliest_end
    elif _date(objection_until, "objection_until", announced_on + dt.timedelta(days=366)) < earliest_end:
        raise InvalidParameter(
            f"objection_until: {objection_until} is earlier than the end of the one-month objection period "
            f"(§ 200 (3) BauGB, §§ 187 ff., 193 BGB): {earliest_end}; give {earliest_end} or later, or leave it out",
            "objection_until",
        )
    unknown = sorted(set(categories or ()) - set(CATEGORY.codes))
    if unknown:
        raise InvalidParameter(
            f"categories: unknown {', '.join(unknown)}; known: {', '.join(CATEGORY.codes)}", "categories"
        )
    return _insert_notice(conn, ags, "bekanntmachung", announced_on, objection_until, categories, selected_only,
                          reference, principal.owner)  # fmt: skip


def _insert_notice(conn, ags, kind, announced_on, until, categories, selected_only, reference, actor) -> dict:
    row = (
        conn.execute(
            text("""
        INSERT INTO publication_notice (ags, kind, announced_on, objection_until, categories, selected_only,
                                        reference, recorded_by)
        VALUES (:ags, :kind, :announced_on, :until, :categories, :selected_only, :reference, :actor)
        RETURNING *
    """),
            {
                "ags": ags,
                "kind": kind,
                "announced_on": announced_on,
                "until": until,
                "categories": sorted(categories) if categories else None,
                "selected_only": selected_only,
                "reference": reference,
                "actor": actor,
            },  # fmt: skip
        )
        .mappings()
        .one()
    )
    return _notice(row)


def standing_notices(conn: Connection, actor: str, announced_on: dt.date = dt.date(2020, 1, 2)) -> int:
    """A notice for every municipality whose period has long ended, covering the parcels selected for
    publication: what a registry whose towns have all announced looks like (demo and test set-ups)."""
    until = objection_period_end(announced_on)
    return conn.execute(
        text("""
        INSERT INTO publication_notice (ags, kind, announced_on, objection_until, selected_only, reference, recorded_by)
        SELECT ags, 'bekanntmachung', :announced_on, :until, true, 'Bekanntmachung (Beispiel)', :actor
          FROM municipality m
         WHERE NOT EXISTS (SELECT FROM publication_notice n WHERE n.ags = m.ags AND n.withdrawn_at IS NULL)
    """),
        {"announced_on": announced_on, "until": until, "actor": actor},
    ).rowcount


def withdraw_notice(conn: Connection, principal: Principal | None, notice_id: int) -> dict:
    """Withdraw a notice: the parcels it alone covered leave the public view at once."""
    row = conn.execute(text("SELECT ags FROM publication_notice WHERE id = :id"), {"id": notice_id}).one_or_none()
    if row is None:
        raise NotFound(f"no notice {notice_id}")
    require_edit(principal, row.ags)
    updated = (
        conn.execute(
            text("""
        UPDATE publication_notice SET withdrawn_at = now(), withdrawn_by = :actor
         WHERE id = :id AND withdrawn_at IS NULL RETURNING *
    """),
            {"id": notice_id, "actor": principal.owner},
        )
        .mappings()
        .one_or_none()
    )
    if updated is None:
        raise InvalidParameter(f"notice {notice_id} was withdrawn already", "notice_id")
    return _notice(updated)


def notices(conn: Connection, ags: str | None = None, include_withdrawn: bool = False) -> list[dict]:
    """The notices, newest first: public announcements, so anyone may list them."""
    rows = conn.execute(
        text("""
        SELECT * FROM publication_notice
         WHERE (CAST(:ags AS text) IS NULL OR ags = :ags) AND (:withdrawn OR withdrawn_at IS NULL)
         ORDER BY announced_on DESC, id DESC
    """),
        {"ags": ags, "withdrawn": include_withdrawn},
    ).mappings()
    return [_notice(r) for r in rows]


def _notice(row) -> dict:
    today = _today()
    state = (
        "zurueckgezogen" if row["withdrawn_at"] else ("frist_laeuft" if row["objection_until"] >= today else "wirksam")
    )
    return {
        "id": row["id"],
        "ags": row["ags"].strip(),
        "kind": row["kind"],
        "announced_on": row["announced_on"],
        "objection_until": row["objection_until"],
        "public_from": row["objection_until"] + dt.timedelta(days=1),
        "categories": row["categories"],
        "selected_only": row["selected_only"],
        "reference": row["reference"],
        "state": state,
        "withdrawn_at": row["withdrawn_at"],
    }


# -- objections ---------------------------------------------------------------------------------
def _parcel_ags(conn: Connection, parcel_id: uuid.UUID) -> str:
    ags = conn.execute(text("SELECT ags FROM parcel WHERE id = :id"), {"id": parcel_id}).scalar_one_or_none()
    if ags is None:
        raise NotFound(f"no parcel {parcel_id}")
    return ags


def record_objection(
    conn: Connection, principal: Principal | None, parcel_id: uuid.UUID, received_on: dt.date, note: str | None = None
) -> dict:
    """Record an owner's objection: the parcel leaves every public output at once."""
    require_edit(principal, _parcel_ags(conn, parcel_id))
    received_on = _date(received_on, "received_on", _today())
    if note is not None and len(note) > 5_000:
        raise InvalidParameter("note: at most 5,000 characters", "note")
    row = (
        conn.execute(
            text("""
        INSERT INTO objection (parcel_id, received_on, note, recorded_by)
        VALUES (:parcel_id, :received_on, :note, :actor) RETURNING *
    """),
            {"parcel_id": parcel_id, "received_on": received_on, "note": note, "actor": principal.owner},
        )
        .mappings()
        .one()
    )
    return dict(row)


def withdraw_objection(conn: Connection, principal: Principal | None, objection_id: int, withdrawn_on: dt.date) -> dict:
    """The owner withdrew the objection: the parcel is public again if a notice covers it and its
    period has ended (else from the period's end)."""
    row = (
        conn.execute(
            text("""SELECT o.*, p.ags FROM objection o JOIN parcel p ON p.id = o.parcel_id WHERE o.id = :id"""),
            {"id": objection_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"no objection {objection_id}")
    require_edit(principal, row["ags"])
    withdrawn_on = _date(withdrawn_on, "withdrawn_on", _today())
    if row["withdrawn_on"] is not None:
        raise InvalidParameter(
            f"objection {objection_id} was withdrawn on {row['withdrawn_on']} already", "objection_id"
        )
    if withdrawn_on < row["received_on"]:
        raise InvalidParameter(
            f"withdrawn_on: {withdrawn_on} is before the objection was received ({row['received_on']})", "withdrawn_on"
        )
    updated = (
        conn.execute(
            text("""
        UPDATE objection SET withdrawn_on = :on, withdrawal_recorded_by = :actor, withdrawal_recorded_at = now()
         WHERE id = :id RETURNING *
    """),
            {"id": objection_id, "on": withdrawn_on, "actor": principal.owner},
        )
        .mappings()
        .one()
    )
    return dict(updated)


def objections(
    conn: Connection, view: View, parcel_id: uuid.UUID | None = None, active_only: bool = False
) -> list[dict]:
    """Objections the view may see: the ministry all, a planner those of their municipalities."""
    if view.kind == "public":
        raise AccessDenied("objections are confidential: they need a planner's or the ministry's token")
    rows = conn.execute(
        text("""
        SELECT o.*, p.ags, p.local_ref FROM objection o JOIN parcel p ON p.id = o.parcel_id
         WHERE (CAST(:parcel AS uuid) IS NULL OR o.parcel_id = :parcel)
           AND (:all OR p.ags = ANY(:ags)) AND (NOT :active OR o.withdrawn_on IS NULL)
         ORDER BY o.received_on DESC, o.id DESC
    """),
        {"parcel": parcel_id, "all": view.kind == "full", "ags": list(view.ags), "active": active_only},
    ).mappings()
    return [dict(r) | {"ags": r["ags"].strip()} for r in rows]


def due(conn: Connection, view: View, within_days: int = 14) -> dict:
    """What needs doing soon in the view's municipalities: objection periods ending within
    ``within_days`` (parcels become public after them) and active objections."""
    if view.kind == "public":
        raise AccessDenied("the due list is for the planners of a municipality and the ministry")
    if not 1 <= within_days <= 366:
        raise InvalidParameter("within_days: from 1 to 366", "within_days")
    today = _today()
    ending = [
        n for n in notices(conn)
        if n["state"] == "frist_laeuft" and n["objection_until"] <= today + dt.timedelta(days=within_days)
        and view.owns(n["ags"])
    ]  # fmt: skip
    return {"objection_periods_ending": ending, "active_objections": objections(conn, view, active_only=True)}
