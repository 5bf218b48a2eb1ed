"""When the public facts of a site last changed: the one dating of public changes, for the alert
feeds' entries (:mod:`landreg.alerts`) and the open data's Datenstand (:mod:`landreg.opendata`).

A version's public facts are what the public view shows of it (:func:`landreg.features.source`
for :data:`~landreg.access.PUBLIC`, each version as of its own start): the municipality, the
outline, the public fields and the public derived ones such as ``contamination_flag`` (the flag,
never the stage of the contamination record it is derived from). A version dates a change when
these facts differ from those of the version before it *that the public may see* (approved, of a
parcel public now). So an edit of confidential fields alone, a change waiting for review and any
edit of a parcel the public does not see date nothing (the version number, which counts every
edit, is not public). A change that waited for review is dated by its approval, when the public
got to see it, not by the edit. Nor does the day a site became public: ``public_since`` is confidential (it
would tell of an objection).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Text, and_, any_, cast, column, func, select, table, true, tuple_, union_all
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from landreg.access import PUBLIC, SUBMITTED
from landreg.features import COLLECTIONS, source
from landreg.models import Parcel, ParcelPastVersion, ParcelVersion

#: Who approved which version when (:mod:`landreg.review`): a reviewed change reaches the public then.
_SUBMISSION = table("submission", column("id"), column("reviewed_at"))


def _dated_versions(ids: list[str] | None):
    """Every version the public may see (of ``ids`` only, when given) with ``valid_from``, the time it
    reached the public (its approval, for a change that waited for review; else its start), and
    ``changed``: whether its public facts differ from the public version before it."""
    v = ParcelVersion
    src = source(COLLECTIONS["parcels"], PUBLIC, at=v.valid_from)  # each version at its own start
    rows = src.query.element.add_columns(v.valid_from.label("valid_from"))
    if ids is not None:
        rows = rows.where(v.parcel_id == any_(cast(ids, ARRAY(UUID))))
    rows = rows.subquery("public_versions")
    facts = tuple_(func.ST_AsBinary(rows.c.geom), *(rows.c[name] for name in src.properties))
    changed = facts.is_distinct_from(func.lag(facts).over(partition_by=rows.c.id, order_by=rows.c.row_version))
    approvals = (
        select(SUBMITTED.c.parcel_id, SUBMITTED.c.version, func.max(_SUBMISSION.c.reviewed_at).label("approved_at"))
        .join(_SUBMISSION, _SUBMISSION.c.id == SUBMITTED.c.submission_id)
        .where(SUBMITTED.c.state == "freigegeben")
        .group_by(SUBMITTED.c.parcel_id, SUBMITTED.c.version)
    )
    if ids is not None:
        approvals = approvals.where(SUBMITTED.c.parcel_id == any_(cast(ids, ARRAY(UUID))))
    approvals = approvals.subquery("approvals")
    public_from = func.coalesce(approvals.c.approved_at, rows.c.valid_from)  # reviewed: public since approved
    return (
        select(rows.c.id, public_from.label("valid_from"), changed.label("changed"))
        .select_from(
            rows.outerjoin(
                approvals, and_(approvals.c.parcel_id == rows.c.id, approvals.c.version == rows.c.row_version)
            )
        )
        .subquery("dated")
    )


def changed_at(conn: Connection, ids: list[str]) -> dict[str, dt.datetime]:
    """When each public site of ``ids`` last changed in public (sites the public does not see are missing)."""
    if not ids:
        return {}
    dated = _dated_versions(ids)
    rows = conn.execute(
        select(cast(dated.c.id, Text), func.max(dated.c.valid_from)).where(dated.c.changed).group_by(dated.c.id)
    ).all()
    return dict(rows)


def latest_change(conn: Connection) -> dt.datetime | None:
    """The latest public change of any site public now; None when no site is public.

    Read from the parcels with the newest versions and approvals first, not from the whole history
    (at 1M parcels 3.4 s, against 7 ms): a version of any other parcel reached the public no
    later than the oldest time among those read, so a change found at or after it is the latest.
    Where the newest activity is none the public sees (edits of confidential fields, parcels not
    public yet), each round reads four times as many, and after :data:`_LAST_ROUND` the whole
    history (the rounds add 0.14 s at 1M)."""
    n = _FIRST_ROUND
    while n <= _LAST_ROUND:
        ids, cutoff = _newest_activity(conn, n)
        found = _latest(conn, sorted(ids))
        if cutoff is None or (found is not None and found >= cutoff):
            return found
        n *= 4
    return _latest(conn, None)


#: Versions and approvals read in the first round of :func:`latest_change`, and at most.
_FIRST_ROUND, _LAST_ROUND = 64, 4096


def _newest_activity(conn: Connection, n: int) -> tuple[set[str], dt.datetime | None]:
    """The parcels of the ``n`` newest versions and of the ``n`` newest approvals, and the time no
    version or approval of any other parcel is newer than (None: there is no other parcel, for
    fewer than ``n`` versions are all versions)."""
    # the versions of the view parcel_version (ParcelVersion), each of its two parts by its index
    # (migration 0042): a current version starts when its parcel was last updated
    current = select(Parcel.id.label("parcel_id"), Parcel.updated_at.label("valid_from")).where(
        Parcel.retired_at.is_(None)
    )
    past = select(ParcelPastVersion.parcel_id, ParcelPastVersion.valid_from)
    newest = union_all(*(part.order_by(part.selected_columns.valid_from.desc()).limit(n) for part in (current, past)))
    newest = newest.subquery("newest")
    versions = conn.execute(select(newest).order_by(newest.c.valid_from.desc()).limit(n)).all()
    ids = {str(parcel_id) for parcel_id, _ in versions}
    if len(versions) < n:
        return ids, None
    # the approved parcels of the newest reviews, each review's own parcels read by its key (an
    # import's review holds thousands): never a join of every review's parcels
    parcels = (
        select(SUBMITTED.c.parcel_id)
        .where(SUBMITTED.c.submission_id == _SUBMISSION.c.id, SUBMITTED.c.state == "freigegeben")
        .limit(n)
        .lateral("approved")
    )
    approvals = conn.execute(
        select(parcels.c.parcel_id, _SUBMISSION.c.reviewed_at)
        .select_from(_SUBMISSION.join(parcels, true()))
        .where(_SUBMISSION.c.reviewed_at.is_not(None))
        .order_by(_SUBMISSION.c.reviewed_at.desc())
        .limit(n)
    ).all()
    ids.update(str(parcel_id) for parcel_id, _ in approvals)
    cutoff = versions[-1][1]  # more versions follow, none newer than the last
    if len(approvals) == n:
        cutoff = max(cutoff, approvals[-1][1])
    return ids, cutoff


def _latest(conn: Connection, ids: list[str] | None) -> dt.datetime | None:
    """The latest public change of the public sites of ``ids`` (None: of all)."""
    if ids is not None and not ids:
        return None
    dated = _dated_versions(ids)
    return conn.execute(select(func.max(dated.c.valid_from)).where(dated.c.changed)).scalar_one()
