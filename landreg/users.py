"""People who sign in to the workspace: accounts, passwords, sessions, throttling.

* Passwords are hashed with Argon2id (``argon2-cffi``, the algorithm OWASP recommends first); a
  hash made with older parameters is renewed at the next sign-in.
* A session is server-side: the browser keeps a random id in an HttpOnly cookie, the database only
  its SHA-256, so a stolen database dump opens no session. Sessions expire after
  :data:`SESSION_HOURS` and are revoked at sign-out, on disabling the user and on a password
  reset. Reading a session writes nothing, so signed-in pages work on a read-only replica.
* Every session has its CSRF token (the synchronizer token of OWASP's cheat sheet): each form
  carries it and a change without it is refused (:func:`check_csrf`).
* Sign-in is throttled: after :data:`THROTTLE` failures within :data:`THROTTLE_MINUTES` for a user
  name, or from one client, further attempts are refused for that time, right password or not.

A signed-in person acts as a :class:`~landreg.access.Principal` whose ``owner`` is the user name:
changes, reviews and the inbox know people by that name, as they know a token's owner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, text

from landreg.access import ROLES, Principal
from landreg.errors import DomainError, InvalidParameter, NotFound

SESSION_HOURS = 10  # a working day
THROTTLE, THROTTLE_MINUTES = 5, 15
MIN_PASSWORD, MAX_PASSWORD = 12, 256
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,62}")
_HASHER = PasswordHasher()  # Argon2id with the library's current parameters
#: A hash to verify against when the user does not exist, so that timing tells nothing.
_DUMMY = _HASHER.hash("landreg-no-such-user")


class SignInRefused(DomainError):
    """Wrong user name or password, or a disabled account (one message for all: it tells nobody
    which user names exist)."""


class Throttled(DomainError):
    """Too many failed sign-ins; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CsrfRefused(DomainError):
    """A form sent without the token of the session that showed it."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str | None
    role: str
    ags: tuple[str, ...]
    email: str | None

    @property
    def principal(self) -> Principal:
        return Principal(None, self.username, self.role, self.ags)


@dataclass(frozen=True)
class Session:
    """A signed-in session: its user, its CSRF token and when it ends."""

    user: User
    csrf_token: str
    expires_at: dt.datetime


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_password(password: str, field: str = "password") -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidParameter(
            f"{field}: a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters, not {len(password)}", field
        )


def create_user(
    conn: Connection,
    username: str,
    role: str,
    password: str,
    ags: list[str] | None = None,
    display_name: str | None = None,
    email: str | None = None,
) -> User:
    """A new account; the role and municipalities follow the rules of tokens (a planner needs one)."""
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise InvalidParameter(
            "username: 2 to 63 characters: lower-case letters, digits, '.', '_', '-', '@', starting with a "
            "letter or digit",
            "username",
        )
    if role not in ROLES:
        raise InvalidParameter(f"role: unknown {role!r}; roles are {', '.join(ROLES)}", "role")
    ags = sorted(set(ags or []))
    if any(not re.fullmatch(r"\d{8}", a) for a in ags):
        raise InvalidParameter("ags: each municipality is an 8-digit AGS", "ags")
    if role == "planner" and not ags:
        raise InvalidParameter("ags: a planner needs at least one municipality", "ags")
    known = set(conn.execute(text("SELECT ags FROM municipality WHERE ags = ANY(:a)"), {"a": ags}).scalars())
    if set(ags) - known:
        raise InvalidParameter(f"ags: no municipality {', '.join(sorted(set(ags) - known))} in the registry", "ags")
    if email is not None and not re.fullmatch(r"[^@\s,<>]+@[^@\s,<>]+", email):
        raise InvalidParameter(f"email: {email!r} is not an e-mail address", "email")
    check_password(password)
    if conn.execute(text("SELECT EXISTS (SELECT FROM app_user WHERE lower(username) = :u)"), {"u": username}).scalar():
        raise InvalidParameter(f"username: {username!r} exists already", "username")
    row = conn.execute(
        text("""INSERT INTO app_user (username, display_name, role, ags, email, password_hash)
                VALUES (:u, :d, :r, CAST(:a AS char(8)[]), :e, :h) RETURNING id"""),
        {"u": username, "d": display_name, "r": role, "a": ags, "e": email, "h": _HASHER.hash(password)},
    ).scalar_one()
    return User(row, username, display_name, role, tuple(ags), email)


def _user(row) -> User:
    return User(row.id, row.username, row.display_name, row.role, tuple(a.strip() for a in row.ags), row.email)


_USER_COLUMNS = "u.id, u.username, u.display_name, u.role, u.ags, u.email"


def get_user(conn: Connection, username: str) -> User:
    row = conn.execute(
        text(f"SELECT {_USER_COLUMNS} FROM app_user u WHERE lower(u.username) = lower(:u)"), {"u": username}
    ).one_or_none()
    if row is None:
        raise NotFound(f"no user {username!r}")
    return _user(row)


def list_users(conn: Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            text(f"SELECT {_USER_COLUMNS}, u.created_at, u.disabled_at FROM app_user u ORDER BY u.username")
        ).mappings()
    ]


def disable_user(conn: Connection, username: str) -> list[int]:
    """The account can no longer sign in; its open sessions end now. Returns the ids of the API
    tokens still valid whose owner is written as the account's name: tokens belong to no account
    (they are for programs), so they stay valid, and the caller says which may be this person's."""
    user = get_user(conn, username)
    conn.execute(text("UPDATE app_user SET disabled_at = coalesce(disabled_at, now()) WHERE id = :i"), {"i": user.id})
    _revoke_all(conn, user.id)
    return list(
        conn.execute(
            text("""SELECT id FROM api_token WHERE lower(btrim(owner)) = :name AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > now()) ORDER BY id"""),
            {"name": user.username},
        ).scalars()
    )


def enable_user(conn: Connection, username: str) -> None:
    conn.execute(text("UPDATE app_user SET disabled_at = NULL WHERE id = :i"), {"i": get_user(conn, username).id})


def reset_password(conn: Connection, username: str, password: str) -> None:
    """A new password; every open session of the user ends."""
    check_password(password)
    user = get_user(conn, username)
    conn.execute(
        text("UPDATE app_user SET password_hash = :h, password_changed_at = now() WHERE id = :i"),
        {"h": _HASHER.hash(password), "i": user.id},
    )
    _revoke_all(conn, user.id)


def _revoke_all(conn: Connection, user_id: int) -> None:
    conn.execute(
        text("UPDATE web_session SET revoked_at = now() WHERE user_id = :i AND revoked_at IS NULL"), {"i": user_id}
    )


def _throttled(conn: Connection, username: str, client: str | None) -> int | None:
    """Seconds until sign-in may be tried again, or None."""
    row = conn.execute(
        text("""
        SELECT greatest(
                 (SELECT CASE WHEN count(*) >= :n THEN max(at) END FROM login_failure
                   WHERE lower(username) = lower(:u) AND at > now() - make_interval(mins => :m)),
                 (SELECT CASE WHEN count(*) >= :n * 4 THEN max(at) END FROM login_failure
                   WHERE client = :c AND at > now() - make_interval(mins => :m))) AS last,
               now() AS now
    """),
        {"n": THROTTLE, "u": username, "c": client, "m": THROTTLE_MINUTES},
    ).one()
    if row.last is None:
        return None
    return max(1, int((row.last + dt.timedelta(minutes=THROTTLE_MINUTES) - row.now).total_seconds()))


def sign_in(conn: Connection, username: str, password: str, client: str | None = None) -> tuple[str, Session]:
    """Check the password and open a session: (the session id for the cookie, the session).
    :class:`Throttled` after too many failures, :class:`SignInRefused` for a wrong name or password,
    after recording the failure in ``conn``'s transaction: commit it when refused too."""
    username = (username or "").strip().lower()[:100]
    wait = _throttled(conn, username, client)
    if wait is not None:
        raise Throttled(
            f"Zu viele fehlgeschlagene Anmeldungen; bitte in {wait // 60 + 1} Minuten erneut versuchen. / "
            f"Too many failed sign-ins; try again in {wait // 60 + 1} minutes.",
            wait,
        )
    row = conn.execute(
        text(f"SELECT {_USER_COLUMNS}, u.password_hash, u.disabled_at FROM app_user u WHERE lower(u.username) = :u"),
        {"u": username},
    ).one_or_none()
    try:
        _HASHER.verify(row.password_hash if row is not None else _DUMMY, password or "")
        ok = row is not None and row.disabled_at is None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        conn.execute(text("INSERT INTO login_failure (username, client) VALUES (:u, :c)"), {"u": username, "c": client})
        raise SignInRefused("Benutzername oder Passwort falsch. / Wrong user name or password.", "password")
    if _HASHER.check_needs_rehash(row.password_hash):
        conn.execute(text("UPDATE app_user SET password_hash = :h WHERE id = :i"),
                     {"h": _HASHER.hash(password), "i": row.id})  # fmt: skip
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = conn.execute(
        text("""INSERT INTO web_session (id_sha256, user_id, csrf_token, expires_at, client)
                VALUES (:s, :u, :c, now() + make_interval(hours => :h), :client) RETURNING expires_at"""),
        {"s": _digest(session_id), "u": row.id, "c": csrf, "h": SESSION_HOURS, "client": client},
    ).scalar_one()
    return session_id, Session(_user(row), csrf, expires)


def session(conn: Connection, session_id: str | None) -> Session | None:
    """The open session of a cookie's id (not expired, not revoked, user not disabled); reads only."""
    if not session_id or len(session_id) > 100:
        return None
    row = conn.execute(
        text(f"""SELECT {_USER_COLUMNS}, s.csrf_token, s.expires_at FROM web_session s JOIN app_user u ON u.id = s.user_id
                  WHERE s.id_sha256 = :s AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL"""),
        {"s": _digest(session_id)},
    ).one_or_none()
    return None if row is None else Session(_user(row), row.csrf_token, row.expires_at)


def sign_out(conn: Connection, session_id: str | None) -> None:
    if session_id:
        conn.execute(
            text("UPDATE web_session SET revoked_at = now() WHERE id_sha256 = :s AND revoked_at IS NULL"),
            {"s": _digest(session_id)},
        )


def same_secret(expected: str, sent: object) -> bool:
    """Whether ``sent`` (whatever a form or address carried: any text, a file, nothing) is the secret
    ``expected``, compared in constant time. ``hmac.compare_digest`` refuses text with non-ASCII
    characters with a TypeError: compared as UTF-8 bytes, such a token is simply wrong."""
    return isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace"))


def check_csrf(current: Session | None, sent: str | None) -> None:
    """A form's CSRF token must be the session's (compared in constant time)."""
    if current is None or not sent or not same_secret(current.csrf_token, sent):
        raise CsrfRefused(
            "Das Formular ist abgelaufen oder stammt nicht von dieser Sitzung; bitte neu laden. / "
            "The form expired or does not come from this session; reload it.",
            "csrf_token",
        )
