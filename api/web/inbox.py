"""Workspace area `inbox` (Posteingang): everybody's notifications, newest first, unread marked;
marking one or all as read; the unread count beside the navigation entry.

The rules are :mod:`landreg.inbox`'s (everybody reads their own notifications only). A
notification's ``link`` is a path of the API (``/review/submissions/12``); shown here as the
workspace page about the same thing (``/app/pruefung/12``), or not at all when there is none.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import DBAPIError

from api.web import session as web_session
from api.web.pages import lang_of, page
from api.web.reviewing import MAX_PAGE, parse_ids, when
from api.web.session import CheckedForm, SignedIn
from api.web.texts import register
from landreg import inbox

router = APIRouter()
PATH = "/app/posteingang"
#: (path, text key, roles that see it in the navigation): every signed-in person
NAV: list[tuple[str, str, tuple[str, ...]]] = [(PATH, "inbox.nav", ())]
PER_PAGE = 25
#: API paths of notifications -> the workspace page about the same thing
PAGES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"/review/submissions/([0-9]{1,19})"), "/app/pruefung/{0}"),
]

register(
    {
        "inbox.nav": ("Posteingang", "Inbox"),
        "inbox.nav_badge": ("ungelesen", "unread"),
        "inbox.title": ("Posteingang", "Inbox"),
        "inbox.unread_count": ("{n} ungelesen", "{n} unread"),
        "inbox.all_read": ("Alles gelesen.", "All read."),
        "inbox.unread_only": ("nur ungelesene", "unread only"),
        "inbox.show": ("Anzeigen", "Show"),
        "inbox.mark_all": ("Alle als gelesen markieren", "Mark all as read"),
        "inbox.mark_one": ("Als gelesen markieren", "Mark as read"),
        "inbox.mark_one_label": ("„{subject}“ als gelesen markieren", "Mark “{subject}” as read"),
        "inbox.marked": ("{n} Benachrichtigung(en) als gelesen markiert.", "{n} notification(s) marked as read."),
        "inbox.unread": ("ungelesen", "unread"),
        "inbox.read_at": ("gelesen am {when}", "read on {when}"),
        "inbox.open": ("Öffnen", "Open"),
        "inbox.open_label": ("„{subject}“ öffnen", "Open “{subject}”"),
        "inbox.empty": ("Keine Benachrichtigungen.", "No notifications."),
        "inbox.list": ("Benachrichtigungen, Seite {page}", "Notifications, page {page}"),
        "inbox.pages": ("Seiten", "Pages"),
        "inbox.previous": ("Neuere", "Newer"),
        "inbox.next": ("Ältere", "Older"),
        "inbox.page": ("Seite {page}", "Page {page}"),
    }
)


def page_of(link: str | None) -> str | None:
    """The workspace page of a notification's API link (None: no page shows it)."""
    if not link:
        return None
    for pattern, target in PAGES:
        found = pattern.fullmatch(link)
        if found:
            return target.format(*found.groups())
    return None


def unread(request: Request) -> int:
    """The signed-in person's unread notifications, once per request (a read); 0 for the public, and
    when the database cannot say (the navigation never fails a page)."""
    cached = getattr(request.state, "inbox_unread", None)
    if cached is not None:
        return cached
    principal = web_session.principal(request)
    count = 0
    if principal is not None:
        try:
            with request.app.state.engine.connect() as conn:
                count = inbox.unread_count(conn, principal)
        except DBAPIError:
            count = 0
    request.state.inbox_unread = count
    return count


#: Counts beside navigation entries (see :func:`api.web.nav_badge`): path -> count of a request
BADGES = {PATH: unread}


def _url(unread_only: bool, page_no: int = 1, **extra) -> str:
    query = {"ungelesen": "1" if unread_only else None, "page": page_no if page_no > 1 else None, **extra}
    query = {k: v for k, v in query.items() if v}
    return PATH + (f"?{urlencode(query)}" if query else "")


@router.get(PATH)
def notifications(
    request: Request,
    current: SignedIn,
    ungelesen: Annotated[bool, Query()] = False,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    gelesen: Annotated[int | None, Query(ge=0, le=10**9)] = None,
):
    """The person's notifications, newest first (``ungelesen``: the unread ones only)."""
    principal = current.user.principal
    lang = lang_of(request)
    with request.app.state.engine.connect() as conn:
        found = inbox.inbox(conn, principal, ungelesen, PER_PAGE + 1, (page - 1) * PER_PAGE)
        count = inbox.unread_count(conn, principal)
    request.state.inbox_unread = count
    shown = [
        n | {"created": when(n["created_at"], lang), "read": when(n["read_at"], lang), "page": page_of(n["link"])}
        for n in found[:PER_PAGE]
    ]
    return _render(request, shown, count, ungelesen, page, len(found) > PER_PAGE, gelesen)


def _render(request, shown, count, unread_only, page_no, more, marked):
    return page(
        request,
        "inbox/inbox.html",
        {
            "notifications": shown,
            "unread": count,
            "unread_only": unread_only,
            "page_no": page_no,
            "marked": marked,
            "previous_url": _url(unread_only, page_no - 1) if page_no > 1 else None,
            "next_url": _url(unread_only, page_no + 1) if more else None,
        },
    )


@router.post(PATH + "/gelesen")
def mark_read(request: Request, current: SignedIn, form: CheckedForm):
    """Mark the notifications of ``ids`` (or with ``alle`` every one) as read; back to the inbox."""
    principal = current.user.principal
    every = form.get("alle") == "1"
    ids = [] if every else parse_ids(form.getlist("ids"), maximum=2**63 - 1)
    with request.app.state.engine.begin() as conn:
        marked = inbox.mark_all_read(conn, principal) if every else inbox.mark_read(conn, principal, ids)
    page_text = form.get("page")
    page_no = int(page_text) if isinstance(page_text, str) and page_text.isdigit() and len(page_text) < 8 else 1
    back = _url(form.get("ungelesen") == "1", max(1, min(page_no, MAX_PAGE)), gelesen=str(marked))
    return RedirectResponse(back, status_code=303)
