"""API tokens and the roles they carry.

* planner: bound to one or more municipalities (AGS); records, edits and imports parcels there;
* reviewer: a regional body; reads everything, reviews planners' changes, never edits;
* ministry: reads everything, manages scoring profiles;
* admin: manages tokens.

A token is shown once when it is created; the database keeps only its SHA-256 (tokens are 256
random bits, so no salt or slow hash is needed to make the stored hash useless to a thief).

Authenticating reads only: when a token was last used is collected in memory
(:class:`TokenUsage`) and written in one statement now and then, so that a request with a token
works on a read-only replica too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading

from sqlalchemy import Connection, text

from landreg.access import ROLES, Principal

__all__ = [
    "ROLES",
    "Principal",
    "TokenError",
    "TokenUsage",
    "authenticate",
    "create_token",
    "revoke_token",
    "rotate_token",
]
_PREFIX = "lr_"
#: How long a new token works unless said otherwise, and the longest that may be said.
DEFAULT_VALID_DAYS, MAX_VALID_DAYS = 365, 3 * 365
#: An e-mail address as tokens keep it: one plain name@host, no display name, list or control character.
_EMAIL = r'[^@\s,;:<>()\[\]\\"\x00-\x1f\x7f]+@[^@\s,;:<>()\[\]\\"\x00-\x1f\x7f]+'


class TokenError(ValueError):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    conn: Connection,
    owner: str,
    role: str,
    ags: list[str] | None = None,
    valid_days: int | None = DEFAULT_VALID_DAYS,
    replaces: int | None = None,
    email: str | None = None,
) -> tuple[int, str]:
    """A new token for ``owner``: (id, the token itself, shown only now). It expires after
    ``valid_days`` (None: never, for a service that is rotated by other means). ``email``: where
    the owner's notifications are e-mailed too (:mod:`landreg.inbox`), if SMTP is configured."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if valid_days is not None and not 1 <= valid_days <= MAX_VALID_DAYS:
        raise TokenError(f"valid days must lie between 1 and {MAX_VALID_DAYS} (or never expire on purpose)")
    ags = sorted(set(ags or []))
    for key in ags:
        if not re.fullmatch(r"\d{8}", key):
            raise TokenError(f"{key!r} is not an 8-digit AGS")
    email = _email(email)
    if role == "planner" and not ags:
        raise TokenError("a planner's token needs at least one municipality (--ags)")
    unknown = set(ags) - set(
        conn.execute(text("SELECT ags FROM municipality WHERE ags = ANY(:a)"), {"a": ags}).scalars()
    )
    if unknown:
        raise TokenError(f"no municipality with AGS {', '.join(sorted(unknown))} in the registry")
    token = _PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        text("""
        INSERT INTO api_token (owner, role, ags, token_sha256, expires_at, replaces, email)
        VALUES (:owner, :role, :ags, :digest,
                now() + make_interval(days => CAST(:days AS integer)), :replaces, :email)
        RETURNING id
    """),
        {
            "owner": owner,
            "role": role,
            "ags": ags,
            "digest": _digest(token),
            "days": valid_days,
            "replaces": replaces,
            "email": email,
        },
    ).scalar_one()
    return token_id, token


def _email(email: str | None) -> str | None:
    """A plain address (``name@host``): one recipient, nothing an e-mail header could read as more."""
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > 254 or not re.fullmatch(_EMAIL, email):
        raise TokenError(f"{email[:80]!r} is not an e-mail address such as name@example.org")
    return email


def rotate_token(conn: Connection, token_id: int, valid_days: int | None = DEFAULT_VALID_DAYS) -> tuple[int, str]:
    """Replace an active token by a new one for the same owner, role, municipalities and e-mail
    address; the old one stops working at once."""
    row = conn.execute(
        text("SELECT owner, role, ags, email FROM api_token WHERE id = :id AND revoked_at IS NULL FOR UPDATE"),
        {"id": token_id},
    ).one_or_none()
    if row is None:
        raise TokenError(f"no active token {token_id}")
    revoke_token(conn, token_id)
    return create_token(
        conn, row.owner, row.role, [a.strip() for a in row.ags], valid_days, replaces=token_id, email=row.email
    )


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a valid token (not revoked, not expired); None otherwise."""
    row = conn.execute(
        text("""SELECT id, owner, role, ags FROM api_token
                 WHERE token_sha256 = :digest AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"""),
        {"digest": _digest(token)},
    ).one_or_none()
    if row is None:
        return None
    return Principal(row.id, row.owner, row.role, tuple(a.strip() for a in row.ags))


class TokenUsage:
    """When tokens were last used, collected in memory and written at most every ``interval``.

    :meth:`record` is called per request (no database work); :meth:`flush` writes what was
    collected in one statement, on the primary. A process that dies loses at most ``interval`` of
    "last used" times, which are informational.
    """

    def __init__(self, interval: dt.timedelta = dt.timedelta(minutes=1)):
        self.interval = interval
        self._seen: dict[int, dt.datetime] = {}
        self._lock = threading.Lock()
        self._flushed = dt.datetime.now(dt.UTC)

    def record(self, token_id: int) -> None:
        with self._lock:
            self._seen[token_id] = dt.datetime.now(dt.UTC)

    def due(self) -> bool:
        return bool(self._seen) and dt.datetime.now(dt.UTC) - self._flushed >= self.interval

    def flush(self, conn: Connection) -> int:
        """Write the collected times (never moving one back); returns how many tokens."""
        with self._lock:
            seen, self._seen = self._seen, {}
            self._flushed = dt.datetime.now(dt.UTC)
        if not seen:
            return 0
        try:
            conn.execute(
                text("""
                UPDATE api_token t SET last_used_at = greatest(t.last_used_at, u.at)
                  FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[])) AS u(id, at)
                 WHERE t.id = u.id
            """),
                {"ids": list(seen), "ats": list(seen.values())},
            )
        except Exception:
            with self._lock:  # not lost: written with the next flush
                for token_id, at in seen.items():
                    self._seen[token_id] = max(at, self._seen.get(token_id, at))
            raise
        return len(seen)


def revoke_token(conn: Connection, token_id: int) -> bool:
    return (
        conn.execute(
            text("UPDATE api_token SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL"), {"id": token_id}
        ).rowcount
        == 1
    )


def list_tokens(conn: Connection):
    return conn.execute(
        text("""
        SELECT id, owner, role, ags, email, created_at, expires_at, revoked_at, last_used_at, replaces
          FROM api_token ORDER BY id
    """)
    ).all()
