"""Enquiries: the public asks a municipality about one of its public sites.

* Only a site the public sees (:func:`landreg.access.visible_rows` of ``PUBLIC``) takes enquiries;
  any other id, malformed, unknown or not public, is refused alike, as not found.
* An enquiry goes to the municipality's planners: stored for them (:func:`enquiries`), and a
  notification in their inbox (:func:`landreg.inbox.notify`, e-mailed when SMTP is configured). The
  enquirer never learns a planner's name or address; the planners learn the enquirer's, and nobody
  else does: name, address and text are confidential, in no public output.
* Bots: a honeypot field that people do not see must stay empty; a filled one is refused and nothing
  is stored. Every client may send :data:`RATE_LIMIT` enquiries per :data:`RATE_WINDOW_S` seconds
  (:func:`admit`); the count is kept in the database (``enquiry_attempt``, the SHA-256 of the
  client's address, an hour long), so that every worker process sees the same count.
* The public's forms have no session to carry a CSRF token: :func:`form_token` signs one with the
  database's ``form_key`` (HMAC-SHA256, valid :data:`FORM_TOKEN_HOURS` hours), so every worker
  accepts what another issued, and the web adapter also refuses posts from another site (Origin).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
import uuid

from sqlalchemy import Connection, select, text

from landreg import inbox
from landreg.access import PUBLIC, AccessDenied, Principal, visible_rows
from landreg.errors import DomainError, InvalidParameter, NotFound
from landreg.users import CsrfRefused, Throttled, same_secret

MAX_MESSAGE, MAX_NAME, MAX_EMAIL = 4_000, 200, 254
RATE_LIMIT, RATE_WINDOW_S = 20, 60
FORM_TOKEN_HOURS = 24
#: Most enquiries one call lists, and most one call marks as handled.
MAX_LIMIT, MAX_IDS = 200, 500
_EMAIL = re.compile(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: The form field people do not see (hidden by CSS, out of the tab order): bots fill it.
HONEYPOT = "website"


class TooManyEnquiries(Throttled):
    """More than :data:`RATE_LIMIT` enquiries within a minute from one client (429, Retry-After)."""


class BotSuspected(DomainError):
    """The honeypot field was filled: nobody who sees the form does that."""


def _not_found(site_id) -> NotFound:
    return NotFound(f"Keine öffentliche Fläche {site_id}. / No public site {site_id}.", "id")


def public_site(conn: Connection, site_id: str) -> dict:
    """The public facts of a site that takes enquiries: ``id``, ``ags``, ``name``, ``local_ref`` and
    the municipality's ``municipality`` name. :class:`NotFound` for every other id."""
    try:
        key = uuid.UUID(str(site_id)[:64])
    except ValueError:
        raise _not_found(str(site_id)[:64]) from None
    rows = visible_rows(PUBLIC)
    row = conn.execute(
        select(rows.c.id, rows.c.ags, rows.c.name, rows.c.local_ref).where(rows.c.id == key)
    ).one_or_none()
    if row is None:
        raise _not_found(key)
    municipality = conn.execute(text("SELECT name FROM municipality WHERE ags = :a"), {"a": row.ags}).scalar()
    return dict(row._mapping) | {"municipality": municipality}


# -- the rate limit --------------------------------------------------------------------------------
def _client_key(client: str | None) -> str:
    return hashlib.sha256((client or "unknown").encode()).hexdigest()


def admit(conn: Connection, client: str | None) -> None:
    """Count an enquiry of ``client`` (its address): :class:`TooManyEnquiries` when it has sent
    :data:`RATE_LIMIT` within the last :data:`RATE_WINDOW_S` seconds (refused ones counted too).
    Commit ``conn`` whatever the enquiry's fate: the count is what holds a flood back."""
    key = _client_key(client)
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 24))"), {"k": key})  # one count at a time
    row = conn.execute(
        text("""SELECT count(*) AS n, min(at) AS first, now() AS now FROM enquiry_attempt
                 WHERE client_sha256 = :k AND at > now() - make_interval(secs => :w)"""),
        {"k": key, "w": RATE_WINDOW_S},
    ).one()
    if row.n >= RATE_LIMIT:
        wait = max(1, int((row.first + dt.timedelta(seconds=RATE_WINDOW_S) - row.now).total_seconds()) + 1)
        raise TooManyEnquiries(
            f"Zu viele Anfragen ({RATE_LIMIT} je Minute); bitte in {wait} Sekunden erneut senden. / "
            f"Too many enquiries ({RATE_LIMIT} a minute); send again in {wait} seconds.",
            wait,
        )
    conn.execute(text("DELETE FROM enquiry_attempt WHERE at < now() - interval '1 hour'"))
    conn.execute(text("INSERT INTO enquiry_attempt (client_sha256) VALUES (:k)"), {"k": key})


# -- submitting --------------------------------------------------------------------------------------
def _de(number: int) -> str:
    return f"{number:,}".replace(",", ".")


def _text(value, field: str, label: str, limit: int, multiline: bool = False) -> str:
    value = value if isinstance(value, str) else ""
    value = value.replace("\r\n", "\n").strip() if multiline else " ".join(value.split())
    if not value:
        raise InvalidParameter(f"{label}: bitte ausfüllen. / {field}: required.", field)
    if len(value) > limit:
        raise InvalidParameter(
            f"{label}: höchstens {_de(limit)} Zeichen, nicht {_de(len(value))}; bitte kürzen. / "
            f"{field}: at most {limit:,} characters, not {len(value):,}; shorten it.",
            field,
        )
    if _CONTROL.search(value):
        raise InvalidParameter(f"{label}: enthält Steuerzeichen. / {field}: contains control characters.", field)
    return value


def validate(name, email, message) -> tuple[str, str, str]:
    """The enquirer's name, e-mail address and text, checked and tidied (first fault named)."""
    name = _text(name, "name", "Name", MAX_NAME)
    email = _text(email, "email", "E-Mail", MAX_EMAIL)
    if not _EMAIL.fullmatch(email):
        raise InvalidParameter(
            f"E-Mail: „{email[:80]}“ ist keine E-Mail-Adresse (name@beispiel.de). / "
            f"email: not an e-mail address (name@example.org).",
            "email",
        )
    message = _text(message, "message", "Nachricht", MAX_MESSAGE, multiline=True)
    return name, email, message


def submit(conn: Connection, site_id: str, name, email, message, honeypot=None) -> int:
    """Store an enquiry about a public site and tell its municipality's planners; returns its id.
    The honeypot (:data:`HONEYPOT`) filled: :class:`BotSuspected`, nothing stored."""
    if honeypot:
        raise BotSuspected(
            f"Das Feld „{HONEYPOT}“ muss leer bleiben; die Anfrage wurde nicht gespeichert. / "
            f"The field {HONEYPOT} must stay empty; the enquiry was not stored.",
            HONEYPOT,
        )
    name, email, message = validate(name, email, message)
    site = public_site(conn, site_id)
    enquiry_id = conn.execute(
        text("""INSERT INTO enquiry (parcel_id, ags, name, email, message)
                VALUES (:p, :a, :n, :e, :m) RETURNING id"""),
        {"p": site["id"], "a": site["ags"], "n": name, "e": email, "m": message},
    ).scalar_one()
    label = site["name"] or site["local_ref"]
    inbox.notify(
        conn,
        inbox.planners_of(conn, site["ags"]),
        "anfrage",
        f"Neue Anfrage zu „{label}“",
        f"Zur Fläche „{label}“ ({site['local_ref']}) ist eine Anfrage eingegangen (Nr. {enquiry_id}). "
        "Sie steht im Arbeitsbereich unter „Anfragen“ (/app/anfragen).\n\n"
        f"An enquiry about the site “{label}” arrived (no. {enquiry_id}); read it under Enquiries (/app/anfragen).",
    )
    return enquiry_id


# -- for the municipality's planners ------------------------------------------------------------
def _own_ags(principal: Principal | None) -> list[str]:
    if principal is None or principal.role != "planner":
        raise AccessDenied(
            "enquiries are for the planners of the site's municipality"
            + (f"; you are signed in as {principal.role}" if principal else "")
        )
    return list(principal.ags)


def enquiries(
    conn: Connection, principal: Principal | None, open_only: bool = False, limit: int = 50, offset: int = 0
) -> list[dict]:
    """The enquiries about sites of the planner's municipalities, newest first, with the site's
    name and reference (``open_only``: not yet handled)."""
    ags = _own_ags(principal)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit: from 1 to {MAX_LIMIT}", "limit")
    if not 0 <= offset <= 10**9:
        raise InvalidParameter("offset: from 0 to 1,000,000,000", "offset")
    rows = conn.execute(
        text("""
        SELECT e.id, e.parcel_id, e.ags, e.name, e.email, e.message, e.received_at, e.handled_at, e.handled_by,
               p.name AS site_name, p.local_ref
          FROM enquiry e JOIN parcel p ON p.id = e.parcel_id
         WHERE e.ags = ANY (CAST(:ags AS char(8)[])) AND (NOT :open OR e.handled_at IS NULL)
         ORDER BY e.received_at DESC, e.id DESC LIMIT :limit OFFSET :offset
    """),
        {"ags": ags, "open": open_only, "limit": limit, "offset": offset},
    ).mappings()
    return [dict(r) for r in rows]


def open_count(conn: Connection, principal: Principal | None) -> int:
    """How many enquiries of the planner's municipalities wait to be handled."""
    return conn.execute(
        text("SELECT count(*) FROM enquiry WHERE ags = ANY (CAST(:ags AS char(8)[])) AND handled_at IS NULL"),
        {"ags": _own_ags(principal)},
    ).scalar_one()


def mark_handled(conn: Connection, principal: Principal | None, ids: list[int], handled: bool = True) -> int:
    """Mark enquiries of the planner's municipalities as handled (or open again); all or none: an id
    of another municipality is refused as not found. Returns how many changed."""
    ags = _own_ags(principal)
    if len(ids) > MAX_IDS:
        raise InvalidParameter(f"ids: at most {MAX_IDS} at once", "ids")
    if any(isinstance(i, bool) or not isinstance(i, int) or not 1 <= i < 2**63 for i in ids):
        raise InvalidParameter("ids: enquiry numbers are whole numbers from 1", "ids")
    wanted = sorted(set(ids))
    own = set(
        conn.execute(
            text(
                "SELECT id FROM enquiry WHERE id = ANY (CAST(:ids AS bigint[])) AND ags = ANY (CAST(:ags AS char(8)[]))"
            ),
            {"ids": wanted, "ags": ags},
        ).scalars()
    )
    missing = [i for i in wanted if i not in own]
    if missing:
        raise NotFound(f"no enquiry {', '.join(map(str, missing[:20]))} of your municipalities", "ids")
    return conn.execute(
        text("""UPDATE enquiry SET handled_at = CASE WHEN :h THEN clock_timestamp() END,
                                   handled_by = CASE WHEN :h THEN CAST(:who AS text) END
                 WHERE id = ANY (CAST(:ids AS bigint[])) AND (handled_at IS NULL) = :h"""),
        {"ids": wanted, "h": handled, "who": principal.owner},
    ).rowcount


# -- tokens of the public's forms ---------------------------------------------------------------
_KEYS: dict[str, bytes] = {}


def _key(conn: Connection) -> bytes:
    """The database's form key (read once per process and database)."""
    name = conn.engine.url.render_as_string(hide_password=True)
    if name not in _KEYS:
        _KEYS[name] = bytes(conn.execute(text("SELECT key FROM form_key WHERE id = 1")).scalar_one())
    return _KEYS[name]


def sign(conn: Connection, payload: str) -> str:
    """The HMAC-SHA256 of ``payload`` with the database's form key (43 URL-safe characters); also
    signs the links of alert e-mails (:func:`landreg.alerts.mail_token`)."""
    digest = hmac.new(_key(conn), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def form_token(conn: Connection) -> str:
    """A token for one of the public's forms: issued now, signed with the form key (a read)."""
    payload = f"{int(time.time())}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{sign(conn, payload)}"


def check_form_token(conn: Connection, token) -> None:
    """:class:`~landreg.users.CsrfRefused` unless ``token`` was signed here within the last
    :data:`FORM_TOKEN_HOURS` hours."""
    refused = CsrfRefused(
        "Das Formular ist abgelaufen oder stammt nicht von dieser Seite; bitte neu laden. / "
        "The form expired or does not come from this site; reload it.",
        "form_token",
    )
    if not isinstance(token, str) or len(token) > 200 or token.count(".") != 2:
        raise refused
    payload, _, mac = token.rpartition(".")
    issued = payload.partition(".")[0]
    if not same_secret(sign(conn, payload), mac) or not issued.isdigit():
        raise refused
    if not -60 <= time.time() - int(issued) <= FORM_TOKEN_HOURS * 3600:
        raise refused


__all__ = [
    "HONEYPOT",
    "MAX_MESSAGE",
    "RATE_LIMIT",
    "BotSuspected",
    "TooManyEnquiries",
    "admit",
    "check_form_token",
    "enquiries",
    "form_token",
    "mark_handled",
    "open_count",
    "public_site",
    "sign",
    "submit",
]
