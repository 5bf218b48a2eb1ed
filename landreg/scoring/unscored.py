"""Current parcels without a score of their current version: what a half-done import can leave.

Every import scores what it writes in its own transaction, unless told not to (``--no-score``) or
the import is so large that a full run after the commit scores it; a process killed before that
run leaves committed parcels without scores. This query finds them, whatever left them:
``/ready`` reports how many there are, ``landreg score --missing`` scores them.

A parcel counts once, if any current profile that ranks its category lacks its score for the
parcel's current version (a score written for an older version of the parcel does not count).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from landreg.scoring import approved
from landreg.scoring.engine import rescore, rescore_stale, without_public_coverage
from landreg.scoring.indicators import stale_parcel_ids
from landreg.scoring.profiles import current_profiles

_CHUNK = 50_000

#: Current parcels lacking a score of their version under a current profile that ranks them: each
#: (parcel, profile) pair anti-joined with parcel_score on its primary key (profile_id, parcel_id).
#: At a million parcels PostgreSQL answers it with one hash anti join over both tables (1.3 to
#: 2.5 s on two busy cores); the same NOT EXISTS nested per profile inside an EXISTS probes the
#: index once per pair and took 5 to 12 s there (1.5 s on idle cores).
_UNSCORED = """
    WITH profile AS MATERIALIZED (
        SELECT DISTINCT ON (name) id,
               ARRAY(SELECT jsonb_array_elements_text(coalesce(definition->'categories', '[]'))) AS categories
          FROM scoring_profile ORDER BY name, version DESC)
    SELECT {what} FROM parcel p
      JOIN profile c ON cardinality(c.categories) = 0 OR p.category = ANY(c.categories)
     WHERE p.retired_at IS NULL
       AND NOT EXISTS (SELECT FROM parcel_score s
                        WHERE s.profile_id = c.id AND s.parcel_id = p.id AND s.parcel_version = p.version)
"""


def count(conn: Connection) -> int:
    """How many current parcels lack a score of their current version, and how many approved
    versions others see of parcels whose change waits for review lack theirs (after an upgrade:
    :mod:`landreg.scoring.approved`)."""
    latest = conn.execute(text(_UNSCORED.format(what="count(DISTINCT p.id)"))).scalar_one()
    return latest + len(approved.stale_ids(conn, current_profiles(conn)))


def parcel_ids(conn: Connection) -> list:
    return list(conn.execute(text(_UNSCORED.format(what="DISTINCT p.id"))).scalars())


def pending(conn: Connection) -> int:
    """How many parcels :func:`score_missing` would score: stale indicators or a missing score."""
    latest = set(stale_parcel_ids(conn)) | set(parcel_ids(conn)) | set(without_public_coverage(conn))
    return len(latest) + len(approved.stale_ids(conn, current_profiles(conn)))


def score_missing(conn: Connection) -> int:
    """Score every current parcel whose score is missing or stale, in the caller's transaction;
    returns how many were scored.

    ``rescore_stale`` finds parcels whose indicators are missing or stale (a killed import's new
    and changed parcels); a score lost otherwise, with its indicators current, is found here.
    """
    scored = rescore_stale(conn)
    ids = parcel_ids(conn)
    for start in range(0, len(ids), _CHUNK):
        rescore(conn, ids[start : start + _CHUNK])
    return scored + len(ids)
