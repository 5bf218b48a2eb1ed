"""What a municipality has to do (Wiedervorlage): parcels whose Stand is old, changes waiting for
review or sent back by a reviewer, objection periods ending and active objections.

The list is for the planners of the municipality (their own) and for the ministry and reviewers
(every municipality); :func:`remind` puts it into each municipality's planners' inboxes (and
e-mails it where SMTP is configured), meant to run from a timer (``landreg due --notify``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from landreg import clock, inbox, publication, review
from landreg.access import FULL, AccessDenied, View
from landreg.errors import InvalidParameter

#: Months after which a parcel's Stand (data_date) is due for an update, unless asked otherwise.
STALE_MONTHS = 12
LIST_MAX = 100


def stale_before(older_than_months: int = STALE_MONTHS, today: dt.date | None = None) -> dt.date:
    """The Stand (data_date) before which a parcel is due for an update (a missing one is due too)."""
    return (today or clock.today()) - dt.timedelta(days=round(older_than_months * 30.44))


def _own(view: View) -> tuple[str, dict]:
    """The view's own parcels as SQL text and its parameters (every parcel for the ministry)."""
    if view.kind == "full":
        return "true", {}
    return "ags = ANY(CAST(:own AS char(8)[]))", {"own": list(view.ags)}


def due(
    conn: Connection, view: View, within_days: int = 14, older_than_months: int = STALE_MONTHS, limit: int = 50
) -> dict:
    """The due list of the view's municipalities (every one for the ministry and reviewers)."""
    if view.kind == "public":
        raise AccessDenied("the due list is for the planners of a municipality, reviewers and the ministry")
    if not 1 <= older_than_months <= 120:
        raise InvalidParameter("older_than_months: from 1 to 120", "older_than_months")
    if not 1 <= limit <= LIST_MAX:
        raise InvalidParameter(f"limit: from 1 to {LIST_MAX}", "limit")
    own, params = _own(view)
    cutoff = stale_before(older_than_months)
    stale_where = f"{own} AND retired_at IS NULL AND (data_date IS NULL OR data_date < :cutoff)"
    stale = conn.execute(
        text(f"""SELECT id AS parcel_id, ags, local_ref, name, data_date FROM parcel
                  WHERE {stale_where} ORDER BY data_date NULLS FIRST, ags, local_ref LIMIT :limit"""),
        params | {"cutoff": cutoff, "limit": limit},
    ).mappings()
    stale_count = conn.execute(text(f"SELECT count(*) FROM parcel WHERE {stale_where}"), params | {"cutoff": cutoff})
    submitted, submitted_params = review.visible_submissions_sql(view)
    submissions = conn.execute(
        text(f"""SELECT s.id, s.kind, s.state, s.actor, s.submitted_at, s.reviewed_by, s.reviewed_at, s.comment,
                        array_to_string(s.ags, ',') AS ags
                   FROM submission s
                  WHERE {submitted}
                    AND (s.state = 'wartend'
                         OR s.state = 'abgelehnt' AND EXISTS (  -- sent back, and not yet changed again
                             SELECT FROM submission_parcel sp JOIN parcel_pending pp ON pp.parcel_id = sp.parcel_id
                              WHERE sp.submission_id = s.id AND sp.state = 'abgelehnt'
                                AND NOT EXISTS (SELECT FROM submission_parcel n
                                                 WHERE n.parcel_id = sp.parcel_id AND n.submission_id > s.id)))
                  ORDER BY s.submitted_at LIMIT :limit"""),
        submitted_params | {"limit": limit},
    ).mappings()
    waiting, rejected = [], []
    for s in submissions:
        (waiting if s["state"] == "wartend" else rejected).append(dict(s))
    return {
        "older_than_months": older_than_months,
        "stale_parcels": [dict(r) for r in stale],
        "stale_count": stale_count.scalar_one(),
        "submissions_waiting": waiting,
        "submissions_rejected": rejected,
        **publication.due(conn, view, within_days),
    }


def remind(conn: Connection, within_days: int = 14, older_than_months: int = STALE_MONTHS) -> int:
    """One inbox notification per municipality that has something due, to each of its planners.
    Returns how many notifications were made."""
    made = 0
    municipalities = conn.execute(
        text("""SELECT DISTINCT a AS ags FROM api_token, unnest(ags) a
                 WHERE role = 'planner' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
                 ORDER BY 1""")
    ).scalars()
    for ags in [a.strip() for a in municipalities]:
        items = due(conn, View("planner", (ags,)), within_days, older_than_months, limit=5)
        lines = []
        if items["stale_count"]:
            lines.append(f"{items['stale_count']} Flächen mit Stand älter als {older_than_months} Monate")
        if items["submissions_waiting"]:
            lines.append(f"{len(items['submissions_waiting'])} Änderungen warten auf Prüfung")
        if items["submissions_rejected"]:
            lines.append(f"{len(items['submissions_rejected'])} abgelehnte Änderungen zur Überarbeitung")
        if items["objection_periods_ending"]:
            lines.append(f"{len(items['objection_periods_ending'])} Einspruchsfristen enden in {within_days} Tagen")
        if not lines:
            continue
        made += len(
            inbox.notify(
                conn,
                inbox.planners_of(conn, ags),
                "wiedervorlage",
                f"Wiedervorlage {ags}: {len(lines)} Punkte",
                "Zu erledigen / due:\n" + "\n".join(f"- {line}" for line in lines),
                f"/due?ags={ags}",
            )
        )
    return made


__all__ = ["FULL", "due", "remind"]
