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

from sqlalchemy import Connection, Text, and_, any_, cast, column, func, select, table, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from landreg.access import PUBLIC, SUBMITTED
from landreg.features import COLLECTIONS, source
from landreg.models import ParcelVersion

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
    """The latest public change of any site public now; None when no site is public."""
    dated = _dated_versions(None)
    return conn.execute(select(func.max(dated.c.valid_from)).where(dated.c.changed)).scalar_one()
