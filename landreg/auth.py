"""API tokens and the roles they carry.

* planner: bound to one or more municipalities (AGS); records, edits and imports parcels there;
* ministry: reads everything, manages scoring profiles;
* admin: manages tokens.

A token is shown once when it is created; the database keeps only its SHA-256 (tokens are 256
random bits, so no salt or slow hash is needed to make the stored hash useless to a thief).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text

ROLES = ("planner", "ministry", "admin")
_PREFIX = "lr_"


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's owner and what the token allows."""

    token_id: int
    owner: str
    role: str
    ags: tuple[str, ...] = ()

    def may_edit(self, ags: str) -> bool:
        return self.role == "planner" and ags in self.ags


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, owner: str, role: str, ags: list[str] | None = None) -> tuple[int, str]:
    """A new token for ``owner``: (id, the token itself, shown only now)."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    ags = sorted(set(ags or []))
    for key in ags:
        if not re.fullmatch(r"\d{8}", key):
            raise TokenError(f"{key!r} is not an 8-digit AGS")
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
        INSERT INTO api_token (owner, role, ags, token_sha256) VALUES (:owner, :role, :ags, :digest) RETURNING id
    """),
        {"owner": owner, "role": role, "ags": ags, "digest": _digest(token)},
    ).scalar_one()
    return token_id, token


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None otherwise."""
    row = conn.execute(
        text("""
        UPDATE api_token SET last_used_at = now()
         WHERE token_sha256 = :digest AND revoked_at IS NULL
        RETURNING id, owner, role, ags
    """),
        {"digest": _digest(token)},
    ).one_or_none()
    if row is None:
        return None
    return Principal(row.id, row.owner, row.role, tuple(a.strip() for a in row.ags))


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
        SELECT id, owner, role, ags, created_at, revoked_at, last_used_at FROM api_token ORDER BY id
    """)
    ).all()
