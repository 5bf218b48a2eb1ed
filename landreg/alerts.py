"""Alerts: a site search kept as an Atom feed (RFC 4287) of the public sites that match it.

* A saved search is the search's canonical parameters (:meth:`landreg.sites.SiteQuery.to_params`,
  checked as the search checks them) and an unguessable token (``secrets.token_urlsafe(32)``) that
  the user keeps in the feed's URL; the database keeps only the token's SHA-256, as with sessions.
  Unsubscribing deletes the saved search (and the e-mail address it may hold).
* The feed lists the sites the search finds now, through the public view only (it asks
  :func:`landreg.sites.search_sites`): a site that newly matches appears as a new entry, a site
  whose public facts change comes again with a later ``updated``, and a site that leaves the public
  view (an objection, a withdrawal, retirement) or stops matching disappears. The entry's id is the
  site's (``urn:uuid:`` of the parcel), stable for ever; its ``updated`` is when the site's public
  facts last changed: a change of confidential fields alone dates no entry, and the day a site
  became public is not used either (``public_since`` is confidential: it would tell of an
  objection), so the feed tells nothing about them.
* The feed holds the first :data:`FEED_SIZE` sites in the search's own order (best score first by
  default), newest change first.
* E-mail (when ``LANDREG_SMTP_URL`` and ``LANDREG_PUBLIC_URL`` are set): a search may keep an address. It is written to only
  after its owner confirmed it (double opt-in: :func:`send_alerts` first sends a link to
  ``/standorte/alarm/{token}/bestaetigen``), and then gets one mail per run of :func:`send_alerts`
  that finds sites new or changed since the last mail. A mail's links carry a token signed with the
  form key (:func:`mail_token`), as the feed's token is not kept; every mail can unsubscribe. The
  links start with the configured public address (:func:`public_base`), never with a request's Host.
* Reading a feed writes nothing (it may come from a read-only replica): when a feed was last read is
  not kept; the web server's access log tells it, should anyone need it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import smtplib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlencode

from sqlalchemy import Connection, text

from landreg import enquiries, inbox
from landreg.errors import DomainError, InvalidParameter, NotFound
from landreg.settings import get_settings, public_address
from landreg.sites import SiteQuery, changes, search_sites
from landreg.sites.search import LIMIT_MAX
from landreg.tilecache import TileCache
from landreg.vocab import AVAILABILITY, CATEGORY

log = logging.getLogger(__name__)

FEED_SIZE = LIMIT_MAX
MAX_EMAIL = 254
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
#: The token of an alert e-mail's links: the search's id and its signature (longer than a feed token).
_MAIL_TOKEN = re.compile(r"m([0-9]{1,18})_([A-Za-z0-9_-]{43})")
_EMAIL = re.compile(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+")
ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class SavedSearch:
    id: int
    params: dict[str, str]
    email: str | None
    created_at: dt.datetime

    @property
    def query(self) -> SiteQuery:
        return SiteQuery.from_params(self.params)


@dataclass(frozen=True)
class Feed:
    """What a saved search's feed says: the search, and its entries newest change first."""

    search: SavedSearch
    entries: list[dict]
    number_matched: int

    @property
    def updated(self) -> dt.datetime:
        return max((e["updated"] for e in self.entries), default=self.search.created_at)


class AlertsNotConfigured(DomainError):
    """An alert e-mail needs the register's public address for its links, and none is configured."""


def email_offered() -> bool:
    """Whether saved searches may keep an e-mail address: only with a mail server to send through
    and the public address the mails' links point to (``LANDREG_SMTP_URL``, ``LANDREG_PUBLIC_URL``)."""
    settings = get_settings()
    return bool(settings.smtp_url and settings.public_url)


def public_base(base_url: str | None = None) -> str:
    """The address the links of alert e-mails start with: ``base_url`` (``--base-url``) or
    ``LANDREG_PUBLIC_URL``, never a request's Host (a client chooses that: a forged one would send
    people's confirmation links to another site). :class:`AlertsNotConfigured` without either."""
    if base_url is not None:
        try:
            return public_address(base_url, "--base-url")
        except ValueError as exc:
            raise InvalidParameter(str(exc), "base_url") from None
    configured = get_settings().public_url
    if not configured:
        raise AlertsNotConfigured(
            "alert e-mails need the register's public address for their links: set LANDREG_PUBLIC_URL "
            "(e.g. https://flaechen.example.org) or give --base-url; nothing was sent"
        )
    return configured


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, params: Mapping, email: str | None = None) -> tuple[str, SavedSearch]:
    """Keep a search: (its token, the saved search). The parameters are checked as the search
    checks them (:class:`landreg.sites.SiteQueryError` names the one at fault); paging and language
    are not part of a search and are dropped."""
    query = SiteQuery.from_params(params)
    canonical = query.to_params()
    if email is not None:
        email = " ".join(str(email).split())
        if not email:
            email = None
        elif not email_offered():
            if get_settings().smtp_url:  # the operator's half-done setup: tell them, the public sees "not set up"
                log.warning("alerts by e-mail are off: LANDREG_PUBLIC_URL (the address of the mails' links) is not set")
            raise InvalidParameter(
                "E-Mail: Benachrichtigungen per E-Mail sind auf diesem Server nicht eingerichtet; bitte leer lassen "
                "und den Feed abonnieren. / email: this server sends no e-mail; leave it empty and use the feed.",
                "email",
            )
        elif len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
            raise InvalidParameter(
                f"E-Mail: „{email[:80]}“ ist keine E-Mail-Adresse (name@beispiel.de); leer lassen für nur den Feed. / "
                "email: not an e-mail address (name@example.org); leave it empty for the feed only.",
                "email",
            )
    token = secrets.token_urlsafe(32)
    row = conn.execute(
        text("""INSERT INTO saved_search (token_sha256, params, email) VALUES (:t, CAST(:p AS jsonb), :e)
                RETURNING id, created_at"""),
        {"t": _digest(token), "p": _json(canonical), "e": email},
    ).one()
    return token, SavedSearch(row.id, canonical, email, row.created_at)


def _json(params: dict[str, str]) -> str:
    return json.dumps(params, sort_keys=True, ensure_ascii=False)


def mail_token(conn: Connection, search_id: int) -> str:
    """The token of the links in a saved search's e-mails: its id, signed with the form key."""
    return f"m{search_id}_{enquiries.sign(conn, f'saved-search:{search_id}')}"


def saved_search(conn: Connection, token: str) -> SavedSearch:
    """The saved search of a feed's or an e-mail's token; :class:`NotFound` for any other string (a read)."""
    gone = NotFound("Diesen Suchauftrag gibt es nicht (mehr). / No such saved search.", "token")
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise gone
    columns = "SELECT id, params, email, created_at FROM saved_search"
    mail = _MAIL_TOKEN.fullmatch(token)
    if mail:
        if not hmac.compare_digest(mail_token(conn, int(mail.group(1))), token):
            raise gone
        row = conn.execute(text(f"{columns} WHERE id = :i"), {"i": int(mail.group(1))}).one_or_none()
    else:
        row = conn.execute(text(f"{columns} WHERE token_sha256 = :t"), {"t": _digest(token)}).one_or_none()
    if row is None:
        raise gone
    return SavedSearch(row.id, dict(row.params), row.email, row.created_at)


def unsubscribe(conn: Connection, token: str) -> None:
    """Delete a saved search: its feed answers 404 from now on, its e-mail address is gone."""
    search = saved_search(conn, token)
    conn.execute(text("DELETE FROM saved_search WHERE id = :i"), {"i": search.id})


def confirm(conn: Connection, token: str) -> None:
    """The owner of the e-mail address confirmed it: alerts go to it from now on. Only the token of
    the confirmation e-mail proves that (the feed's token is shown to whoever saved the search)."""
    if not isinstance(token, str) or not _MAIL_TOKEN.fullmatch(token):
        raise NotFound("Diesen Suchauftrag gibt es nicht (mehr). / No such saved search.", "token")
    search = saved_search(conn, token)
    if search.email is None:
        raise NotFound(
            "Dieser Suchauftrag hat keine E-Mail-Adresse. / This saved search has no e-mail address.", "token"
        )
    conn.execute(
        text("UPDATE saved_search SET email_confirmed_at = coalesce(email_confirmed_at, now()) WHERE id = :i"),
        {"i": search.id},
    )


def feed(conn: Connection, token: str, cache: TileCache | None = None) -> Feed:
    """The feed of a saved search (a read): its matching public sites, newest change first. With a
    ``cache``, the matching sites are a public answer (:meth:`landreg.tilecache.TileCache.answer`):
    the same for every saved search with the same criteria until the register changes."""
    return _feed_of(conn, saved_search(conn, token), cache)


def _feed_of(conn: Connection, search: SavedSearch, cache: TileCache | None = None) -> Feed:
    def matching():
        page = search_sites(conn, search.query, limit=FEED_SIZE)
        return page, changes.changed_at(conn, [s["id"] for s in page.sites])

    if cache is None:
        page, changed = matching()
    else:
        key = ("alerts.feed", tuple(sorted(search.query.to_params().items())))
        (page, changed), _ = cache.answer(conn, key, matching)
    entries = [s | {"updated": changed.get(s["id"]) or search.created_at} for s in page.sites]
    entries.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)
    return Feed(search, entries, page.number_matched)


# -- Atom ----------------------------------------------------------------------------------------
def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ha(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    shown = f"{value:,.2f}"
    return f"{shown.replace(',', ' ').replace('.', ',').replace(' ', '.')} ha" if lang == "de" else f"{shown} ha"


_TEXTS = {
    "title": ("Flächenregister Ruhr: Suchauftrag", "Ruhr land register: saved search"),
    "subtitle": (
        "Öffentliche Standorte, die auf die gespeicherte Suche passen ({n} Treffer, die ersten {shown} hier).",
        "Public sites matching the saved search ({n} matches, the first {shown} here).",
    ),
    "author": ("Flächenregister Ruhr", "Ruhr land register"),
    "area": ("Fläche", "Area"),
    "municipality": ("Gemeinde", "Municipality"),
    "availability": ("Verfügbarkeit", "Availability"),
    "score": ("Bewertung", "Score"),
    "rights": (
        "Öffentliche Sicht des Flächenregisters; Lizenz siehe /downloads.",
        "Public view of the land register; licence see /downloads.",
    ),
}


def _t(key: str, lang: str, **values) -> str:
    de, en = _TEXTS[key]
    return (en if lang == "en" else de).format(**values)


def render_atom(
    result: Feed, feed_url: str, search_url: str, site_url: Callable[[str], str], lang: str = "de"
) -> bytes:
    """The feed as an Atom document: feed id (a UUID derived from the token's hash, revealing nothing),
    title, updated, author, links self and alternate; per site an entry with id, title, updated,
    link and a plain-text summary of its public facts."""
    ET.register_namespace("", ATOM)

    def sub(parent, tag: str, value: str | None = None, **attributes) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        if value is not None:
            element.text = value
        return element

    root = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": lang})
    search = result.search
    sub(root, "id", uuid.uuid5(uuid.NAMESPACE_URL, f"landreg:saved-search:{search.id}:{search.created_at}").urn)
    sub(root, "title", _t("title", lang))
    sub(root, "subtitle", _t("subtitle", lang, n=result.number_matched, shown=len(result.entries)))
    sub(root, "updated", _when(result.updated))
    sub(sub(root, "author"), "name", _t("author", lang))
    sub(root, "link", rel="self", type="application/atom+xml", href=feed_url)
    sub(root, "link", rel="alternate", type="text/html", href=search_url)
    sub(root, "rights", _t("rights", lang))
    sub(root, "generator", "landreg")
    for site in result.entries:
        entry = sub(root, "entry")
        sub(entry, "id", f"urn:uuid:{site['id']}")
        category = CATEGORY.label(site.get("category"), lang) or ""
        title = site.get("name") or site.get("local_ref") or site["id"]
        sub(entry, "title", f"{title} ({category}, {site.get('municipality') or site.get('ags')})")
        sub(entry, "updated", _when(site["updated"]))
        sub(entry, "link", rel="alternate", type="text/html", href=site_url(site["id"]))
        facts = [
            f"{_t('area', lang)}: {_ha(site.get('area_ha'), lang)}",
            f"{_t('municipality', lang)}: {site.get('municipality') or site.get('ags')}",
        ]
        if site.get("availability"):
            facts.append(f"{_t('availability', lang)}: {AVAILABILITY.label(site['availability'], lang)}")
        if site.get("score") is not None:
            facts.append(f"{_t('score', lang)}: {site['score']:g}")
        sub(entry, "summary", "; ".join(facts), type="text")
        sub(entry, "category", term=site.get("category") or "", label=category)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# -- e-mail ----------------------------------------------------------------------------------------
def _mail(sender: str, to: str, subject: str, body: str, unsubscribe: str, search_id: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(f"alert.{search_id}", domain=sender.rpartition("@")[2] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"  # RFC 2369: the mail program's own button
    msg.set_content(
        f"{body}\n\nAbbestellen / unsubscribe: {unsubscribe}\n\n-- \nFlächenregister Ruhr (landreg)\n",
        charset="utf-8",
    )
    return msg


def _confirmation(search: SavedSearch, base_url: str, token: str, sender: str) -> EmailMessage:
    return _mail(
        sender,
        search.email,
        "Suchauftrag bestätigen / confirm your search alert",
        "Jemand (hoffentlich Sie) hat im Flächenregister Ruhr einen Suchauftrag mit dieser E-Mail-Adresse "
        "gespeichert. Benachrichtigungen schicken wir erst, wenn Sie ihn bestätigen:\n"
        f"{base_url}/standorte/alarm/{token}/bestaetigen\n\n"
        "Waren Sie es nicht, ignorieren Sie diese Nachricht; es kommt keine weitere.\n\n"
        "Someone (hopefully you) saved a search alert with this address at the Ruhr land register. We send "
        "alerts only once you confirm it (link above); if it was not you, ignore this message.",
        f"{base_url}/standorte/alarm/{token}/abbestellen",
        search.id,
    )


def _alert(search: SavedSearch, sites: list[dict], base_url: str, token: str, sender: str) -> EmailMessage:
    lines = [
        f"- {s.get('name') or s.get('local_ref')} ({CATEGORY.label(s.get('category'), 'de')}, "
        f"{s.get('municipality') or s.get('ags')}, {_ha(s.get('area_ha'), 'de')}): {base_url}/standorte/{s['id']}"
        for s in sites
    ]
    return _mail(
        sender,
        search.email,
        f"Suchauftrag: {len(sites)} neue oder geänderte Standorte / {len(sites)} new or changed sites",
        "Neu oder geändert seit der letzten Nachricht / new or changed since the last message:\n\n"
        + "\n".join(lines)
        + f"\n\nIhre Suche / your search: {base_url}/standorte"
        + (f"?{urlencode(search.params)}" if search.params else ""),
        f"{base_url}/standorte/alarm/{token}/abbestellen",
        search.id,
    )


def send_alerts(
    conn: Connection,
    base_url: str | None = None,
    smtp_url: str | None = None,
    sender: str | None = None,
    only: int | None = None,
) -> int:
    """E-mail what waits, through ``smtp_url`` (default ``LANDREG_SMTP_URL``; none: nothing, 0): the
    confirmation link to new addresses, and to confirmed ones the sites new or changed since their
    last mail (the first mail: every site that matches). The links start with :func:`public_base`
    (``base_url`` or ``LANDREG_PUBLIC_URL``; neither: :class:`AlertsNotConfigured`, nothing sent);
    ``only``: one saved search. Returns how many mails were sent.

    As :func:`landreg.inbox.deliver`: never raises for the mail server (one that cannot be reached
    stops the run, a refused message is skipped, both logged), and what was not sent waits; rows are
    locked while sending (SKIP LOCKED), so concurrent runs never send one twice."""
    url = smtp_url or get_settings().smtp_url
    if not url:
        return 0
    try:
        target = inbox.smtp_target(url)
    except InvalidParameter as exc:
        log.warning("no alert e-mails sent: %s", exc)
        return 0
    base_url = public_base(base_url)
    sender = sender or get_settings().smtp_from
    rows = conn.execute(
        text("""SELECT id, params, email, created_at, email_confirmed_at, emailed_state FROM saved_search
                 WHERE email IS NOT NULL AND (email_confirmed_at IS NOT NULL OR confirmation_sent_at IS NULL)
                   AND (CAST(:only AS bigint) IS NULL OR id = :only)
                 ORDER BY id FOR UPDATE SKIP LOCKED"""),
        {"only": only},
    ).all()
    outgoing: list[tuple[int, EmailMessage, dict | None]] = []
    for row in rows:
        search = SavedSearch(row.id, dict(row.params), row.email, row.created_at)
        token = mail_token(conn, row.id)
        if row.email_confirmed_at is None:
            outgoing.append((row.id, _confirmation(search, base_url, token, sender), None))
            continue
        try:
            entries = _feed_of(conn, search).entries
        except DomainError as exc:  # e.g. a distance criterion whose layer was removed: the others still go
            log.warning("alert e-mail of saved search %s skipped: %s", row.id, exc)
            continue
        state = {e["id"]: _when(e["updated"]) for e in entries}
        fresh = [e for e in entries if row.emailed_state.get(e["id"]) != state[e["id"]]]
        if fresh:
            outgoing.append((row.id, _alert(search, fresh, base_url, token, sender), state))
    if not outgoing:
        return 0
    try:
        smtp = inbox._connect(target)  # inbox.py keeps the one way to reach the server
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("alert e-mail: SMTP server %s not usable, %d mails wait: %s", target, len(outgoing), exc)
        return 0
    sent = 0
    try:
        for search_id, message, state in outgoing:
            try:
                smtp.send_message(message)
            except (*inbox._REFUSED, ValueError) as exc:
                log.warning("alert e-mail for saved search %d not sent, it waits: %s", search_id, exc)
                continue
            if state is None:
                conn.execute(
                    text("UPDATE saved_search SET confirmation_sent_at = now() WHERE id = :i"), {"i": search_id}
                )
            else:
                conn.execute(
                    text("UPDATE saved_search SET emailed_state = CAST(:s AS jsonb), emailed_at = now() WHERE id = :i"),
                    {"s": json.dumps(state), "i": search_id},
                )
            sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("alert e-mail: SMTP server %s failed after %d of %d mails: %s", target, sent, len(outgoing), exc)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return sent


__all__ = ["FEED_SIZE", "AlertsNotConfigured", "Feed", "SavedSearch", "confirm", "create", "email_offered", "feed",
           "mail_token", "public_base", "render_atom", "saved_search", "send_alerts", "unsubscribe"]  # fmt: skip
