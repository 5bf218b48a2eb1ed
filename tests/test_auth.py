"""API tokens: created once, stored hashed, revocable, bound to municipalities."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from landreg.auth import TokenError, authenticate, create_token, revoke_token, rotate_token


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


def test_a_token_expires(conn):
    token_id, token = create_token(conn, "planer.essen", "planner", ["05113000"], valid_days=30)
    expires = conn.execute(text("SELECT expires_at - now() FROM api_token WHERE id = :id"), {"id": token_id}).scalar()
    assert expires.days in (29, 30)
    assert authenticate(conn, token) is not None
    conn.execute(text("UPDATE api_token SET expires_at = now() - interval '1 second' WHERE id = :id"), {"id": token_id})
    assert authenticate(conn, token) is None
    _, forever = create_token(conn, "dienst", "ministry", valid_days=None)
    assert authenticate(conn, forever) is not None
    with pytest.raises(TokenError, match="valid days must lie between 1 and"):
        create_token(conn, "x", "admin", valid_days=0)


def test_rotating_replaces_a_token_at_once(conn):
    old_id, old = create_token(conn, "planer.essen", "planner", ["05113000"])
    new_id, new = rotate_token(conn, old_id)
    assert authenticate(conn, old) is None
    principal = authenticate(conn, new)
    assert (principal.owner, principal.ags) == ("planer.essen", ("05113000",))
    assert conn.execute(text("SELECT replaces FROM api_token WHERE id = :id"), {"id": new_id}).scalar() == old_id
    with pytest.raises(TokenError, match=f"no active token {old_id}"):
        rotate_token(conn, old_id)


def test_token_commands(make_database):
    from sqlalchemy import create_engine

    from landreg import migrate
    from landreg.seed import load_municipalities
    from tests.test_cli import landreg

    url = make_database("landreg_tokens")
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as c:
        load_municipalities(c)
    engine.dispose()
    made = landreg("token", "create", "--owner", "planer.do", "--role", "planner", "--ags", "05913000", "--days", "7",
                   LANDREG_DATABASE_URL=url)  # fmt: skip
    assert made.returncode == 0 and "token 1 for planer.do (planner)" in made.stdout
    listed = landreg("token", "list", LANDREG_DATABASE_URL=url)
    assert "planer.do" in listed.stdout and "active until" in listed.stdout and "never used" in listed.stdout
    rotated = landreg("token", "rotate", "1", LANDREG_DATABASE_URL=url)
    assert rotated.returncode == 0 and "token 2 for planer.do" in rotated.stdout and "token 1 revoked" in rotated.stdout
    again = landreg("token", "rotate", "1", LANDREG_DATABASE_URL=url)
    assert again.returncode == 2 and "no active token 1" in again.stderr
    too_long = landreg("token", "create", "--owner", "x", "--role", "admin", "--days", "5000", LANDREG_DATABASE_URL=url)
    assert too_long.returncode == 2 and "--days" in too_long.stderr
