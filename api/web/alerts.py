"""Pages of the public's alerts and enquiries, and the planners' list of enquiries (``/app/anfragen``).

* Alerts: ``GET /standorte/alarm/neu?<search>`` asks to keep a search, ``POST /standorte/alarm``
  keeps it and shows the feed URL once (the token is not stored, only its hash);
  ``GET /standorte/alarm/{token}.atom`` is the feed, ``/standorte/alarm/{token}/abbestellen``
  deletes it (a page with a button: a link scanner following a GET deletes nothing).
* Enquiries: ``GET|POST /standorte/{parcel_id}/anfrage``, the form alone; the exposé includes
  ``alerts/_enquiry_form.html`` (it needs ``site`` and ``form_token``, see :func:`enquiry_context`).

The public's forms have no session, so no session's CSRF token: they carry a token signed with the
database's form key (:func:`landreg.enquiries.form_token`), and a post whose ``Origin`` (or
``Referer``) names another host is refused. Their bodies are capped at :data:`MAX_FORM_BYTES`, and
the posts that store something (an enquiry, a saved search) count against the client's rate limit
(:func:`landreg.enquiries.admit`).
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from api.errors import STATUS_CODES
from api.web import session as web_session
from api.web.pages import error_page, lang_of, page
from api.web.reviewing import MAX_PAGE, parse_ids, when
from api.web.session import CheckedForm, SignedIn
from api.web.texts import register
from landreg import alerts, enquiries
from landreg.errors import DomainError, InvalidParameter
from landreg.settings import get_settings
from landreg.sites import SiteQuery, SiteQueryError
from landreg.sites.search import LABELS
from landreg.users import CsrfRefused

log = logging.getLogger(__name__)
router = APIRouter()
WORKSPACE = "/app/anfragen"
NAV: list[tuple[str, str, tuple[str, ...]]] = [(WORKSPACE, "enquiry.nav", ("planner",))]
#: The largest post of a public form: a message of 4,000 characters, each up to 4 bytes, percent-encoded.
MAX_FORM_BYTES = 64_000
PER_PAGE = 25
ATOM_TYPE = "application/atom+xml; charset=utf-8"

register(
    {
        "alerts.title": ("Suchauftrag speichern", "Save a search alert"),
        "alerts.intro": (
            "Ein Suchauftrag merkt sich Ihre Suche. Sein Feed (Atom) zeigt die öffentlichen Standorte, die dazu "
            "passen; neue und geänderte Standorte erscheinen darin, sobald sie veröffentlicht sind. Ein Feedreader "
            "oder Ihr E-Mail-Programm kann ihn abonnieren.",
            "A search alert keeps your search. Its feed (Atom) lists the public sites that match; new and changed "
            "sites appear in it as soon as they are published. Subscribe to it in a feed reader or your e-mail "
            "program.",
        ),
        "alerts.criteria": ("Ihre Suche", "Your search"),
        "alerts.any": ("alle angebotenen Standorte (keine Einschränkung)", "every site offered (no criteria)"),
        "alerts.email": ("E-Mail (freiwillig, für Benachrichtigungen)", "E-mail (optional, for notifications)"),
        "alerts.email_hint": (
            "Nur nötig, wenn Sie Änderungen auch per E-Mail erhalten möchten; leer lassen für nur den Feed.",
            "Only if you want changes by e-mail too; leave it empty for the feed only.",
        ),
        "alerts.save": ("Suchauftrag speichern", "Save the search alert"),
        "alerts.saved_title": ("Suchauftrag gespeichert", "Search alert saved"),
        "alerts.saved": (
            "Bewahren Sie diese Adresse auf: Sie wird nur jetzt angezeigt, und wer sie kennt, kann den Feed "
            "lesen und abbestellen.",
            "Keep this address: it is shown only now, and whoever knows it can read and cancel the feed.",
        ),
        "alerts.feed_url": ("Adresse des Feeds", "Address of the feed"),
        "alerts.open_feed": ("Feed öffnen", "Open the feed"),
        "alerts.unsubscribe_link": ("Suchauftrag abbestellen", "Cancel the search alert"),
        "alerts.back_to_search": ("Zurück zur Suche", "Back to the search"),
        "alerts.confirm_sent": (
            "Wir haben eine E-Mail an {email} geschickt. Benachrichtigungen per E-Mail kommen erst, wenn Sie den "
            "Link darin bestätigen; der Feed funktioniert sofort.",
            "We sent an e-mail to {email}. Alerts by e-mail start once you confirm the link in it; the feed works "
            "at once.",
        ),
        "alerts.confirm_title": ("E-Mail-Adresse bestätigen", "Confirm the e-mail address"),
        "alerts.confirm_intro": (
            "Sollen Benachrichtigungen zu diesem Suchauftrag an die hinterlegte E-Mail-Adresse gehen?",
            "Should alerts of this saved search go to the e-mail address given?",
        ),
        "alerts.confirm": ("Ja, Benachrichtigungen senden", "Yes, send alerts"),
        "alerts.confirmed": (
            "Bestätigt: Neue und geänderte Standorte kommen per E-Mail.",
            "Confirmed: new and changed sites will come by e-mail.",
        ),
        "alerts.unsubscribe_title": ("Suchauftrag abbestellen", "Cancel the search alert"),
        "alerts.unsubscribe_intro": (
            "Der Suchauftrag und sein Feed werden gelöscht, eine hinterlegte E-Mail-Adresse ebenso.",
            "The search alert and its feed are deleted, and any e-mail address kept with it.",
        ),
        "alerts.unsubscribe": ("Endgültig abbestellen", "Cancel for good"),
        "alerts.unsubscribed": (
            "Der Suchauftrag ist abbestellt und gelöscht.",
            "The search alert is cancelled and deleted.",
        ),
        "enquiry.nav": ("Anfragen", "Enquiries"),
        "enquiry.nav_badge": ("offen", "open"),
        "enquiry.title": ("Anfrage zu „{site}“", "Enquiry about “{site}”"),
        "enquiry.form_title": ("Anfrage an die Wirtschaftsförderung", "Ask the economic development office"),
        "enquiry.intro": (
            "Ihre Anfrage geht an die Gemeinde {municipality}. Sie antwortet Ihnen an die angegebene "
            "E-Mail-Adresse. Ihre Angaben sehen nur die zuständigen Mitarbeiterinnen und Mitarbeiter der Gemeinde.",
            "Your enquiry goes to the municipality of {municipality}. It answers at the e-mail address you give. "
            "Only the municipality's staff in charge see what you enter.",
        ),
        "enquiry.name": ("Ihr Name", "Your name"),
        "enquiry.email": ("Ihre E-Mail-Adresse", "Your e-mail address"),
        "enquiry.message": ("Ihre Nachricht (höchstens {n} Zeichen)", "Your message (at most {n} characters)"),
        "enquiry.honeypot": ("Bitte leer lassen", "Leave this empty"),
        "enquiry.send": ("Anfrage senden", "Send the enquiry"),
        "enquiry.sent": (
            "Ihre Anfrage ist eingegangen. Die Gemeinde meldet sich bei Ihnen per E-Mail.",
            "Your enquiry has arrived. The municipality will answer you by e-mail.",
        ),
        "enquiry.to_site": ("Zum Standort", "To the site"),
        "enquiry.list_title": ("Anfragen", "Enquiries"),
        "enquiry.list_intro": (
            "Anfragen zu öffentlichen Standorten Ihrer Gemeinde. Name und E-Mail der Anfragenden sind vertraulich.",
            "Enquiries about your municipality's public sites. Names and addresses of enquirers are confidential.",
        ),
        "enquiry.open_only": ("nur offene", "open only"),
        "enquiry.show": ("Anzeigen", "Show"),
        "enquiry.empty": ("Keine Anfragen.", "No enquiries."),
        "enquiry.open_count": ("{n} offen", "{n} open"),
        "enquiry.none_open": ("Keine offenen Anfragen.", "No open enquiries."),
        "enquiry.received": ("eingegangen {when}", "received {when}"),
        "enquiry.from": ("von {name} ({email})", "from {name} ({email})"),
        "enquiry.site": ("Standort", "Site"),
        "enquiry.handled": ("erledigt {when} von {who}", "handled {when} by {who}"),
        "enquiry.mark_handled": ("Als erledigt markieren", "Mark as handled"),
        "enquiry.mark_handled_label": ("Anfrage {n} als erledigt markieren", "Mark enquiry {n} as handled"),
        "enquiry.reopen": ("Wieder öffnen", "Reopen"),
        "enquiry.marked": ("{n} Anfrage(n) als erledigt markiert.", "{n} enquiry(s) marked as handled."),
        "enquiry.reply": ("Antworten", "Reply"),
        "enquiry.pages": ("Seiten", "Pages"),
        "enquiry.previous": ("Neuere", "Newer"),
        "enquiry.next": ("Ältere", "Older"),
    }
)


# -- shared ----------------------------------------------------------------------------------------
def _status(exc: Exception) -> int:
    if isinstance(exc, _TooLarge):
        return 413
    return next(code for cls, code in STATUS_CODES.items() if isinstance(exc, cls))


def _message(exc: DomainError, lang: str) -> str:
    """The core's message in the page's language: ``de / en`` messages split, search errors by :meth:`text`."""
    if isinstance(exc, SiteQueryError):
        return exc.text(lang)
    de, sep, en = str(exc).partition(" / ")
    return (en if lang == "en" else de) if sep else str(exc)


def _refusal(request: Request, exc: DomainError):
    """A refusal as a page (these pages are outside ``/app``, whose errors are pages already)."""
    response = error_page(request, _status(exc), _message(exc, lang_of(request)), getattr(exc, "field", None))
    if isinstance(exc, enquiries.TooManyEnquiries):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def _same_origin(request: Request) -> None:
    """A browser names the page a form was sent from; a post from another host is refused."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    # "null": a sandboxed frame or a page that hides where it is (another site's form); this site's own
    # pages with a token in their address send their origin (Referrer-Policy: same-origin)
    if sent and (sent == "null" or urlsplit(sent).netloc != request.url.netloc):
        raise CsrfRefused(
            "Das Formular stammt nicht von dieser Seite. / The form does not come from this site.", "form_token"
        )


async def _public_form(request: Request):
    """The form of a public post: its origin, size and token checked (:class:`DomainError` otherwise)."""
    _same_origin(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _TooLarge()
    if len(await request.body()) > MAX_FORM_BYTES:
        raise _TooLarge()
    form = await request.form()
    with request.app.state.engine.connect() as conn:
        enquiries.check_form_token(conn, form.get("form_token"))
    return form


def _de(number: int) -> str:
    return f"{number:,}".replace(",", ".")


class _TooLarge(DomainError):
    """A public form's post over :data:`MAX_FORM_BYTES` (413)."""

    def __init__(self):
        super().__init__(
            f"Das Formular ist größer als die {_de(MAX_FORM_BYTES)} Bytes, die es senden darf; bitte die Nachricht "
            f"kürzen. / The form is larger than the {MAX_FORM_BYTES:,} bytes it may send; shorten the message.",
            "message",
        )


def _admit(request: Request) -> None:
    client = request.client.host if request.client else None
    with request.app.state.engine.begin() as conn:  # committed whatever comes next: the count holds
        enquiries.admit(conn, client)


def _form_token(request: Request) -> str:
    with request.app.state.engine.connect() as conn:
        return enquiries.form_token(conn)


# -- alerts ------------------------------------------------------------------------------------------
def _search_url(params: dict) -> str:
    return "/standorte" + (f"?{urlencode(params)}" if params else "")


def _criteria(params: dict, lang: str) -> list[tuple[str, str]]:
    """The search's criteria as (label, value) in the page's language."""
    return [(LABELS.get(name, (name, name))[lang == "en"], value) for name, value in params.items()]


@router.get("/standorte/alarm/neu")
def alert_form(request: Request):
    """Asks to keep the search of the query string (the search page links here)."""
    try:
        query = SiteQuery.from_params(request.query_params)
    except DomainError as exc:
        return _refusal(request, exc)
    return _alert_page(request, query.to_params())


def _alert_page(request: Request, params: dict, error: DomainError | None = None, email: str = ""):
    lang = lang_of(request)
    return page(
        request,
        "alerts/alert_form.html",
        {
            "params": params,
            "criteria": _criteria(params, lang),
            "search_url": _search_url(params),
            "form_token": _form_token(request),
            "error": _message(error, lang) if error else None,
            "error_field": getattr(error, "field", None),
            "email": email,
            "email_enabled": alerts.email_offered(),
        },
        status_code=_status(error) if error else 200,
    )


def _send_confirmation(engine, search_id: int) -> None:
    """After the answer: the confirmation e-mail of a new address, its links to the configured public
    address (never this request's Host)."""
    try:
        with engine.begin() as conn:
            alerts.send_alerts(conn, only=search_id)
    except alerts.AlertsNotConfigured as exc:  # the setting went away since the address was taken
        log.warning("confirmation e-mail of saved search %d not sent: %s", search_id, exc)


def _base(request: Request) -> str:
    """The address of links shown in an answer: the configured public one, else the request's own
    (the answer goes to whoever sent it, so their Host misleads only them)."""
    return get_settings().public_url or str(request.base_url).rstrip("/")


@router.post("/standorte/alarm")
async def create_alert(request: Request, later: BackgroundTasks):
    """Keep the search the form carries (its fields are the search's parameters) and show its feed URL."""
    try:
        form = await _public_form(request)
        _admit(request)
    except DomainError as exc:
        return _refusal(request, exc)
    email = str(form.get("email") or "")[:300]
    params = [(k, v) for k, v in form.multi_items() if k not in ("form_token", "email", "lang")]
    try:
        with request.app.state.engine.begin() as conn:
            token, search = alerts.create(conn, _Multi(params), email or None)
    except DomainError as exc:
        shown = {k: v for k, v in params if isinstance(v, str)}
        if getattr(exc, "field", None) == "email":
            return _alert_page(request, shown, exc, email)
        return _refusal(request, exc)
    base = _base(request)
    if search.email:
        later.add_task(_send_confirmation, request.app.state.engine, search.id)
    return page(
        request,
        "alerts/alert_saved.html",
        {
            "email": search.email,
            "feed_url": f"{base}/standorte/alarm/{token}.atom",
            "unsubscribe_url": f"/standorte/alarm/{token}/abbestellen",
            "search_url": _search_url(search.params),
            "criteria": _criteria(search.params, lang_of(request)),
        },
        status_code=201,
    )


class _Multi:
    """A form's (name, value) pairs as the mapping with ``getlist`` the search reads."""

    def __init__(self, pairs: list[tuple[str, object]]):
        self._pairs = pairs

    def keys(self):
        return [k for k, _ in self._pairs]

    def getlist(self, name: str) -> list:
        return [v for k, v in self._pairs if k == name]

    def get(self, name: str, default=None):
        values = self.getlist(name)
        return values[0] if values else default


@router.get("/standorte/alarm/{token}.atom")
def alert_feed(request: Request, token: str):
    """The saved search's Atom feed (404 for a token that is not, or no longer, one); a read that
    writes nothing, not even when it was read (it may come from a read-only replica)."""
    lang = lang_of(request)
    with request.app.state.engine.connect() as conn:
        result = alerts.feed(conn, token, getattr(request.app.state, "tile_cache", None))
    base = _base(request)
    body = alerts.render_atom(
        result,
        f"{base}/standorte/alarm/{token}.atom",
        base + _search_url(result.search.params),
        lambda site_id: f"{base}/standorte/{site_id}",
        lang,
    )
    headers = {"Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
    return Response(body, media_type=ATOM_TYPE, headers=headers)


@router.get("/standorte/alarm/{token}/abbestellen")
def unsubscribe_form(request: Request, token: str):
    try:
        with request.app.state.engine.connect() as conn:
            alerts.saved_search(conn, token)
    except DomainError as exc:
        return _refusal(request, exc)
    response = page(request, "alerts/unsubscribe.html", {"token": token, "form_token": _form_token(request)})
    response.headers["Referrer-Policy"] = "same-origin"  # the token stays on this site
    return response


@router.post("/standorte/alarm/{token}/abbestellen")
async def unsubscribe(request: Request, token: str):
    try:
        await _public_form(request)
        with request.app.state.engine.begin() as conn:
            alerts.unsubscribe(conn, token)
    except DomainError as exc:
        return _refusal(request, exc)
    return page(request, "alerts/unsubscribe.html", {"done": True})


@router.get("/standorte/alarm/{token}/bestaetigen")
def confirm_form(request: Request, token: str):
    """The link of the confirmation e-mail: a page with a button (a mail scanner's GET confirms nothing)."""
    try:
        with request.app.state.engine.connect() as conn:
            alerts.saved_search(conn, token)
    except DomainError as exc:
        return _refusal(request, exc)
    response = page(request, "alerts/confirm.html", {"token": token, "form_token": _form_token(request)})
    response.headers["Referrer-Policy"] = "same-origin"  # the token stays on this site
    return response


@router.post("/standorte/alarm/{token}/bestaetigen")
async def confirm(request: Request, token: str):
    try:
        await _public_form(request)
        with request.app.state.engine.begin() as conn:
            alerts.confirm(conn, token)
    except DomainError as exc:
        return _refusal(request, exc)
    return page(request, "alerts/confirm.html", {"done": True})


# -- enquiries -------------------------------------------------------------------------------------
def enquiry_context(request: Request, site_id: str) -> dict:
    """What ``alerts/_enquiry_form.html`` needs, for a page that includes it (the exposé): the
    site's public facts and a form token (:class:`~landreg.errors.NotFound` for a site not public)."""
    with request.app.state.engine.connect() as conn:
        return {"site": enquiries.public_site(conn, site_id), "form_token": enquiries.form_token(conn)}


def _enquiry_page(request: Request, site_id: str, status: int = 200, error=None, values=None, sent=False):
    lang = lang_of(request)
    try:
        context = enquiry_context(request, site_id)
    except DomainError as exc:
        return _refusal(request, exc)
    context |= {
        "error": _message(error, lang) if error else None,
        "error_field": getattr(error, "field", None),
        "values": values or {},
        "sent": sent,
        "max_message": enquiries.MAX_MESSAGE,
        "honeypot": enquiries.HONEYPOT,
    }
    response = page(request, "alerts/enquiry.html", context, status_code=status)
    if error is not None and isinstance(error, enquiries.TooManyEnquiries):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


@router.get("/standorte/{parcel_id}/anfrage")
def enquiry_form(request: Request, parcel_id: str, gesendet: Annotated[bool, Query()] = False):
    """The enquiry form of a public site on its own (the exposé shows the same form)."""
    return _enquiry_page(request, parcel_id, sent=gesendet)


@router.post("/standorte/{parcel_id}/anfrage")
async def send_enquiry(request: Request, parcel_id: str):
    """Store the enquiry for the site's municipality; back to the form with a confirmation (303)."""
    try:
        form = await _public_form(request)
        _admit(request)
    except DomainError as exc:
        if isinstance(exc, enquiries.TooManyEnquiries | _TooLarge):
            return _enquiry_page(request, parcel_id, _status(exc), exc)
        return _refusal(request, exc)
    values = {k: str(form.get(k) or "") for k in ("name", "email", "message")}
    try:
        with request.app.state.engine.begin() as conn:
            enquiries.submit(conn, parcel_id, honeypot=form.get(enquiries.HONEYPOT), **values)
    except DomainError as exc:
        if isinstance(exc, InvalidParameter | enquiries.BotSuspected):
            return _enquiry_page(request, parcel_id, _status(exc), exc, values)
        return _refusal(request, exc)
    lang = "&lang=en" if lang_of(request) == "en" else ""
    return RedirectResponse(f"/standorte/{parcel_id}/anfrage?gesendet=1{lang}", status_code=303)


# -- the planners' list ------------------------------------------------------------------------------
def open_enquiries(request: Request) -> int:
    """A planner's open enquiries beside the navigation entry (0 when the database cannot say)."""
    principal = web_session.principal(request)
    if principal is None or principal.role != "planner":
        return 0
    try:
        with request.app.state.engine.connect() as conn:
            return enquiries.open_count(conn, principal)
    except DBAPIError:
        return 0


BADGES = {WORKSPACE: open_enquiries}


@router.get(WORKSPACE)
def enquiry_list(
    request: Request,
    current: SignedIn,
    offen: Annotated[bool, Query()] = False,
    page_no: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
    erledigt: Annotated[int | None, Query(ge=0, le=10**9)] = None,
):
    """The enquiries about the planner's municipalities' sites, newest first (``offen``: open only)."""
    principal = current.user.principal
    lang = lang_of(request)
    with request.app.state.engine.connect() as conn:
        found = enquiries.enquiries(conn, principal, offen, PER_PAGE + 1, (page_no - 1) * PER_PAGE)
        count = enquiries.open_count(conn, principal)
    shown = [e | {"received": when(e["received_at"], lang), "handled": when(e["handled_at"], lang)}
             for e in found[:PER_PAGE]]  # fmt: skip

    def url(n: int) -> str:
        query = {"offen": "1" if offen else None, "page": n if n > 1 else None}
        query = {k: v for k, v in query.items() if v}
        return WORKSPACE + (f"?{urlencode(query)}" if query else "")

    return page(
        request,
        "alerts/enquiries.html",
        {
            "enquiries": shown,
            "open": count,
            "open_only": offen,
            "page_no": page_no,
            "marked": erledigt,
            "previous_url": url(page_no - 1) if page_no > 1 else None,
            "next_url": url(page_no + 1) if len(found) > PER_PAGE else None,
        },
    )


@router.post(WORKSPACE + "/erledigt")
def mark_handled(request: Request, current: SignedIn, form: CheckedForm):
    """Mark the enquiries of ``ids`` as handled (``wieder=1``: open again); back to the list."""
    ids = parse_ids(form.getlist("ids"), maximum=2**63 - 1)
    with request.app.state.engine.begin() as conn:
        changed = enquiries.mark_handled(conn, current.user.principal, ids, handled=form.get("wieder") != "1")
    back = WORKSPACE + "?" + urlencode({"erledigt": changed, **({"offen": "1"} if form.get("offen") == "1" else {})})
    return RedirectResponse(back, status_code=303)
