"""API tokens: created once, stored hashed, revocable, bound to municipalities."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from landreg.auth import TokenError, authenticate, create_token, revoke_token


def test_a_token_authenticates_its_owner_until_revoked(conn):
    token_id, token = create_token(conn, "planer.essen", "planner", ["05113000"])
    principal = authenticate(conn, token)
    assert (principal.owner, principal.role, principal.ags) == ("planer.essen", "planner", ("05113000",))
    assert principal.may_edit("05113000") and not principal.may_edit("05913000")
    assert revoke_token(conn, token_id)
    assert authenticate(conn, token) is None


def test_only_the_hash_is_stored(conn):
    _, token = create_token(conn, "ministerium", "ministry")
    stored = conn.execute(text("SELECT token_sha256 FROM api_token")).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(conn.execute(text("SELECT * FROM api_token")).all())


def test_wrong_tokens_are_refused(conn):
    create_token(conn, "a", "admin")
    assert authenticate(conn, "lr_guessed") is None
    assert authenticate(conn, "' OR 1=1 --") is None


@pytest.mark.parametrize(
    "role, ags, message",
    [
        ("planner", [], "needs at least one municipality"),
        ("planner", ["5113000"], "not an 8-digit AGS"),
        ("planner", ["05999999"], "no municipality with AGS 05999999"),
        ("king", [], "unknown role"),
    ],
)
def test_bad_token_requests_are_explained(conn, role, ags, message):
    with pytest.raises(TokenError, match=message):
        create_token(conn, "x", role, ags)
