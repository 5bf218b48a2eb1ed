"""The economic development office (Wirtschaftsförderung) of each municipality: whom an investor
asks about a site. Public by nature: the office's published contact, shown on every exposé.

Values are checked here before they reach the table (whose CHECK constraints say the same, see
migration 0023); a refusal is an :class:`~landreg.errors.InvalidParameter` naming the option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from landreg.errors import InvalidParameter, NotFound

NAME_MAX, EMAIL_MAX, PHONE_MAX, URL_MAX = 200, 254, 40, 500
_AGS = re.compile(r"[0-9]{8}")
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"\+?[0-9 ()/.-]{5,40}")
_URL = re.compile(r"https?://[^\s<>\"]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Contact:
    ags: str
    municipality: str
    name: str
    email: str
    phone: str
    url: str | None = None


def check(ags: str, name: str, email: str, phone: str, url: str | None = None) -> tuple[str, str, str, str, str | None]:
    """The values as stored (stripped), or InvalidParameter naming the option at fault."""
    ags, name, email, phone = (v.strip() if isinstance(v, str) else v for v in (ags, name, email, phone))
    url = url.strip() or None if isinstance(url, str) else url
    if not isinstance(ags, str) or not _AGS.fullmatch(ags):
        raise InvalidParameter(f"AGS: an 8-digit Gemeindeschlüssel, e.g. 05113000, not {str(ags)[:20]!r}", "ags")
    if not isinstance(name, str) or not 2 <= len(name) <= NAME_MAX or _CONTROL.search(name):
        raise InvalidParameter(f"--name: 2 to {NAME_MAX} characters without control characters", "name")
    if not isinstance(email, str) or len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise InvalidParameter(
            f"--email: an e-mail address such as wirtschaft@example.org (at most {EMAIL_MAX} characters), "
            f"not {str(email)[:60]!r}",
            "email",
        )
    if not isinstance(phone, str) or not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 5:
        raise InvalidParameter(
            f"--phone: digits, spaces and + ( ) / . - only, 5 to {PHONE_MAX} characters with at least 5 digits, "
            f"e.g. +49 201 88-0, not {str(phone)[:60]!r}",
            "phone",
        )
    if url is not None and (not isinstance(url, str) or len(url) > URL_MAX or not _URL.fullmatch(url)):
        raise InvalidParameter(f"--url: an http(s) address of at most {URL_MAX} characters", "url")
    return ags, name, email, phone, url


def set_contact(
    conn: Connection, actor: str, ags: str, name: str, email: str, phone: str, url: str | None = None
) -> Contact:
    """Record (or replace) the contact of municipality ``ags``."""
    ags, name, email, phone, url = check(ags, name, email, phone, url)
    if conn.execute(text("SELECT FROM municipality WHERE ags = :ags"), {"ags": ags}).first() is None:
        raise InvalidParameter(f"AGS: no municipality {ags} in the register", "ags")
    conn.execute(
        text("""
        INSERT INTO site_contact (ags, name, email, phone, url, updated_by)
        VALUES (:ags, :name, :email, :phone, :url, :actor)
        ON CONFLICT (ags) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone,
               url = EXCLUDED.url, updated_by = EXCLUDED.updated_by, updated_at = clock_timestamp()
    """),
        {"ags": ags, "name": name, "email": email, "phone": phone, "url": url, "actor": actor},
    )
    return contact_of(conn, ags)


def remove_contact(conn: Connection, ags: str) -> None:
    if conn.execute(text("DELETE FROM site_contact WHERE ags = :ags"), {"ags": ags}).rowcount == 0:
        raise NotFound(f"no contact for municipality {ags[:20]}")


_SELECT = """SELECT c.ags, m.name AS municipality, c.name, c.email, c.phone, c.url
               FROM site_contact c JOIN municipality m ON m.ags = c.ags"""


def contact_of(conn: Connection, ags: str) -> Contact | None:
    """The contact of one municipality; None when none is recorded."""
    row = conn.execute(text(f"{_SELECT} WHERE c.ags = :ags"), {"ags": ags}).one_or_none()
    return None if row is None else _contact(row)


def contacts(conn: Connection) -> list[Contact]:
    """Every recorded contact, by municipality name."""
    return [_contact(r) for r in conn.execute(text(f"{_SELECT} ORDER BY m.name, c.ags"))]


def stamp(conn: Connection) -> str:
    """What the recorded contacts are now, in a few bytes: part of the key of a kept exposé, since the
    tile cache's invalidation log does not watch this table (at most one row per municipality)."""
    return conn.execute(
        text("SELECT coalesce(md5(string_agg(c::text, '|' ORDER BY c.ags)), '') FROM site_contact c")
    ).scalar_one()


def _contact(row) -> Contact:
    return Contact(row.ags.strip(), row.municipality, row.name, row.email, row.phone, row.url)
