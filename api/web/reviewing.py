"""Workspace area `reviewing` (Prüfung): the queue of submissions, each with its field-by-field
diff and a map of the outlines before and after; approve or reject one or many with one comment.

Planners find their municipality's submissions on the same pages ("Meine Einreichungen"), read
only. The rules (who reads which submission, who decides, all or none, superseded changes) are
:mod:`landreg.review`'s: these pages parse the input, call it as the signed-in person and render
its answers, refusals included (at the field they name).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request
from starlette.datastructures import FormData

from api.errors import STATUS_CODES
from api.web.pages import lang_of, page
from api.web.session import CheckedForm, SignedIn
from api.web.texts import register
from api.web.texts import t as text_of
from landreg import fields, inbox, review
from landreg.access import REVIEWERS
from landreg.errors import Conflict, InvalidParameter, NotFound

router = APIRouter()
PATH = "/app/pruefung"
#: (path, text key, roles that see it in the navigation): one page, named for what each role does there
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    (PATH, "reviewing.nav", REVIEWERS),
    (PATH, "reviewing.nav_planner", ("planner",)),
]
#: Submissions per page of the queue, and parcels per page of a submission (a big import pages).
PER_PAGE, CHANGES_PER_PAGE = 25, 20
MAX_PAGE = 1_000_000
ALL_STATES = "alle"
DECISIONS = {"freigeben": review.approve, "ablehnen": review.reject}
BERLIN = ZoneInfo("Europe/Berlin")

register(
    {
        "reviewing.nav": ("Prüfung", "Review"),
        "reviewing.nav_planner": ("Meine Einreichungen", "My submissions"),
        "reviewing.title": ("Prüfung eingereichter Änderungen", "Review of submitted changes"),
        "reviewing.title_planner": ("Meine Einreichungen", "My submissions"),
        "reviewing.intro": (
            "Änderungen der Gemeinden warten hier auf Ihre Prüfung; die älteste zuerst. Bis zur Freigabe "
            "sehen die Öffentlichkeit und die regionalen Auswertungen den zuletzt freigegebenen Stand.",
            "Municipalities' changes wait here for your review, oldest first. Until approved, the public "
            "and the regional figures see the latest approved state.",
        ),
        "reviewing.intro_planner": (
            "Die Änderungen Ihrer Gemeinde und ihr Prüfstand. Ihre Gemeinde sieht jede Änderung sofort; "
            "alle anderen sehen sie nach der Freigabe.",
            "Your municipality's changes and their review. Your municipality sees each change at once; "
            "everybody else after it is approved.",
        ),
        "reviewing.filter": ("Auswahl eingrenzen", "Filter"),
        "reviewing.state": ("Prüfstand", "Review state"),
        "reviewing.state_all": ("alle", "all"),
        "reviewing.municipality": ("Gemeinde", "Municipality"),
        "reviewing.municipality_all": ("alle Gemeinden", "all municipalities"),
        "reviewing.show": ("Anzeigen", "Show"),
        "reviewing.caption": ("Einreichungen, Seite {page}", "Submissions, page {page}"),
        "reviewing.select": ("Auswahl", "Selection"),
        "reviewing.select_all": ("Alle wartenden auswählen", "Select all waiting"),
        "reviewing.select_one": ("Einreichung {id} auswählen", "Select submission {id}"),
        "reviewing.id": ("Nr.", "No."),
        "reviewing.kind": ("Art", "Kind"),
        "reviewing.actor": ("Eingereicht von", "Submitted by"),
        "reviewing.submitted_at": ("Eingereicht am", "Submitted on"),
        "reviewing.age": ("Wartet seit", "Waiting for"),
        "reviewing.days": ("{n} Tagen", "{n} days"),
        "reviewing.one_day": ("1 Tag", "1 day"),
        "reviewing.today": ("heute", "today"),
        "reviewing.parcels": ("Flächen", "Parcels"),
        "reviewing.waiting": ("davon wartend", "still waiting"),
        "reviewing.reviewed": ("{state} von {who} am {when}", "{state} by {who} on {when}"),
        "reviewing.open": ("Einreichung {id} öffnen", "Open submission {id}"),
        "reviewing.none": ("Keine Einreichungen in dieser Auswahl.", "No submissions in this selection."),
        "reviewing.pages": ("Seiten", "Pages"),
        "reviewing.previous": ("Vorherige Seite", "Previous page"),
        "reviewing.next": ("Nächste Seite", "Next page"),
        "reviewing.page": ("Seite {page}", "Page {page}"),
        "reviewing.page_of": ("Seite {page} von {pages}", "Page {page} of {pages}"),
        "reviewing.decide": ("Entscheidung", "Decision"),
        "reviewing.decide_selected": (
            "Entscheidung über die ausgewählten Einreichungen",
            "Decision on the selected submissions",
        ),
        "reviewing.comment": ("Kommentar an die Gemeinde", "Comment to the municipality"),
        "reviewing.comment_hint": (
            "Bei einer Ablehnung erforderlich: was soll die Gemeinde ändern?",
            "Required when rejecting: what should the municipality change?",
        ),
        "reviewing.approve": ("Freigeben", "Approve"),
        "reviewing.reject": ("Ablehnen", "Reject"),
        "reviewing.refused": ("Nicht entschieden – nichts wurde geändert:", "Not decided – nothing was changed:"),
        "reviewing.decided_title": ("Entschieden", "Decided"),
        "reviewing.decided_one": (
            "Einreichung {id}: {state}, {n} Fläche(n).",
            "Submission {id}: {state}, {n} parcel(s).",
        ),
        "reviewing.superseded_rows": (
            "Inzwischen erneut geändert – braucht eine eigene Prüfung:",
            "Changed again meanwhile – needs its own review:",
        ),
        "reviewing.superseded_row": ("Fläche {ref}", "Parcel {ref}"),
        "reviewing.with_comment": ("Kommentar: {comment}", "Comment: {comment}"),
        "reviewing.back_to_queue": ("Zurück zur Warteschlange", "Back to the queue"),
        "reviewing.detail_title": ("Einreichung {id}", "Submission {id}"),
        "reviewing.summary": ("Überblick", "Summary"),
        "reviewing.status": ("Stand", "State"),
        "reviewing.reviewed_by": ("Geprüft von", "Reviewed by"),
        "reviewing.reviewed_at": ("Geprüft am", "Reviewed on"),
        "reviewing.review_comment": ("Kommentar der Prüfung", "Reviewer's comment"),
        "reviewing.import_run": ("Importlauf", "Import run"),
        "reviewing.changes": ("Änderungen", "Changes"),
        "reviewing.changes_of": (
            "Flächen {first}–{last} von {total}",
            "Parcels {first}–{last} of {total}",
        ),
        "reviewing.parcel": ("Fläche {ref}", "Parcel {ref}"),
        "reviewing.versions": ("Version {before} → {after}", "version {before} → {after}"),
        "reviewing.new_parcel": ("neue Fläche (Version {after})", "new parcel (version {after})"),
        "reviewing.retirement": ("Stilllegung der Fläche", "Retirement of the parcel"),
        "reviewing.field": ("Feld", "Field"),
        "reviewing.before": ("vorher (freigegeben)", "before (approved)"),
        "reviewing.after": ("nachher (eingereicht)", "after (submitted)"),
        "reviewing.no_field_changes": ("Keine Sachdaten geändert.", "No attributes changed."),
        "reviewing.new_fields": (
            "Neue Fläche: alle Angaben sind neu.",
            "New parcel: everything is new.",
        ),
        "reviewing.geometry": ("Geometrie", "Geometry"),
        "reviewing.geometry_same": ("Geometrie unverändert.", "Geometry unchanged."),
        "reviewing.area_before": ("Fläche vorher", "Area before"),
        "reviewing.area_after": ("Fläche nachher", "Area after"),
        "reviewing.area_added": ("hinzugekommen", "added"),
        "reviewing.area_removed": ("weggefallen", "removed"),
        "reviewing.row_state": ("Prüfstand dieser Fläche: {state}", "Review state of this parcel: {state}"),
        "reviewing.map": ("Karte der Umrisse vorher und nachher", "Map of the outlines before and after"),
        "reviewing.legend_before": (
            "gestrichelt grau: freigegebener Stand (vorher)",
            "dashed grey: approved state (before)",
        ),
        "reviewing.legend_after": (
            "durchgezogen blau: eingereichter Stand (nachher)",
            "solid blue: submitted state (after)",
        ),
        "reviewing.legend_retired": ("durchgezogen rot: stillgelegte Fläche", "solid red: retired parcel"),
        "reviewing.map_note": (
            "Die Karte zeigt die Flächen dieser Seite; die Flächengrößen stehen bei jeder Fläche.",
            "The map shows the parcels of this page; the areas are listed with each parcel.",
        ),
        "reviewing.yes": ("ja", "yes"),
        "reviewing.no": ("nein", "no"),
        "reviewing.empty": ("–", "–"),
    }
)


# -- input and formatting -------------------------------------------------------------------
def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def parse_ids(values: Iterable, field: str = "ids", maximum: int = 2**62) -> list[int]:
    """The ids a form sent (checkboxes, hidden fields): positive integers, or refused naming one."""
    ids = []
    for value in values:
        text_ = value if isinstance(value, str) else ""
        if not (text_.isascii() and text_.isdigit() and len(text_) <= 19 and 1 <= int(text_) <= maximum):
            raise InvalidParameter(f"{field}: not an id: {text_[:20]!r}", field)
        ids.append(int(text_))
    return ids


def when(value: dt.datetime | None, lang: str) -> str:
    """A moment as people in Germany read it (local time)."""
    if value is None:
        return ""
    local = value.astimezone(BERLIN)
    return local.strftime("%Y-%m-%d %H:%M") if lang == "en" else local.strftime("%d.%m.%Y, %H:%M Uhr")


_GERMAN_DIGITS = str.maketrans(",.", ".,")


def _number(value: float | None, lang: str, digits: int = 0) -> str:
    if value is None:
        return ""
    text_ = f"{value:,.{digits}f}"
    return text_ if lang == "en" else text_.translate(_GERMAN_DIGITS)


def _area(value: float | None, lang: str) -> str:
    return "" if value is None else f"{_number(value, lang)} m²"


def _value(name: str, value, lang: str, t) -> str:
    """A field's value as people read it: code lists by their label, yes/no, dates in local form."""
    if value is None or value == "":
        return t("reviewing.empty")
    field = fields.field(name)
    if field.codes is not None and value in field.codes.labels:
        return field.codes.label(value, lang)
    if isinstance(value, bool):
        return t("reviewing.yes") if value else t("reviewing.no")
    if field.kind == "date" and isinstance(value, str) and lang == "de":
        try:
            return dt.date.fromisoformat(value).strftime("%d.%m.%Y")
        except ValueError:
            return value
    if isinstance(value, float):
        return _number(value, lang, 1)
    return str(value)


def _age(submitted: dt.datetime, now: dt.datetime, t) -> str:
    days = (now.astimezone(BERLIN).date() - submitted.astimezone(BERLIN).date()).days
    if days <= 0:
        return t("reviewing.today")
    return t("reviewing.one_day") if days == 1 else t("reviewing.days", n=days)


def _label(labels: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    de, en = labels[key]
    return en if lang == "en" else de


def _status_of(exc: Exception) -> int:
    return next(code for cls, code in STATUS_CODES.items() if isinstance(exc, cls))


def _texts(lang: str):
    """``t`` of the page's language, for texts made here."""
    return lambda key, **values: text_of(key, lang, **values)


def _deliver(engine) -> None:
    """E-mail the notifications a decision made, after the answer (when SMTP is configured)."""
    with engine.begin() as conn:
        inbox.deliver(conn)


# -- the queue ------------------------------------------------------------------------------
def _state(value: str | None, may_review: bool) -> str | None:
    """The state filter: none given, the reviewer's work (waiting) or the planner's everything."""
    if value is None or value == "":
        return "wartend" if may_review else None
    return None if value == ALL_STATES else value


def _queue_url(state: str | None, ags: str | None, page_no: int = 1) -> str:
    query = {k: v for k, v in (("state", state), ("ags", ags), ("page", page_no if page_no > 1 else None)) if v}
    return PATH + (f"?{urlencode(query)}" if query else "")


def _queue(
    request: Request,
    current,
    state_param: str | None,
    ags: str | None,
    page_no: int,
    status: int = 200,
    error: Exception | None = None,
    checked: Iterable[int] = (),
    comment: str = "",
):
    principal = current.user.principal
    lang = lang_of(request)
    t = _texts(lang)
    may_review = principal.may_review()
    state = _state(state_param, may_review)
    ags = ags or None
    with request.app.state.engine.connect() as conn:
        rows = review.submissions(conn, principal, state, ags, PER_PAGE + 1, (page_no - 1) * PER_PAGE)
        places = review.municipalities(conn, principal)
    names = {m["ags"]: m["name"] for m in places}
    now = dt.datetime.now(dt.UTC)
    shown = [
        r
        | {
            "kind_text": _label(review.KINDS, r["kind"], lang),
            "state_text": _label(review.STATES, r["state"], lang),
            "places": ", ".join(names.get(a, a) for a in r["ags"]),
            "submitted": when(r["submitted_at"], lang),
            "age": _age(r["submitted_at"], now, t) if r["state"] == "wartend" else "",
            "reviewed": when(r["reviewed_at"], lang),
        }
        for r in rows[:PER_PAGE]
    ]
    filter_state = ALL_STATES if state is None else state
    return page(
        request,
        "reviewing/queue.html",
        {
            "rows": shown,
            "may_review": may_review,
            "states": [(key, _label(review.STATES, key, lang)) for key in review.STATES],
            "filter_state": filter_state,
            "filter_ags": ags or "",
            "places": places,
            "page_no": page_no,
            "previous_url": _queue_url(filter_state, ags, page_no - 1) if page_no > 1 else None,
            "next_url": _queue_url(filter_state, ags, page_no + 1) if len(rows) > PER_PAGE else None,
            "error": error,
            "error_field": getattr(error, "field", None),
            "checked": set(checked),
            "comment": comment,
            "max_comment": review.MAX_COMMENT,
        },
        status_code=status,
    )


@router.get(PATH)
def queue(
    request: Request,
    current: SignedIn,
    state: Annotated[str | None, Query(max_length=20)] = None,
    ags: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
):
    """The queue: waiting submissions first for those who review; a planner's own municipality's."""
    return _queue(request, current, state, ags, page)


# -- one submission -------------------------------------------------------------------------
def _detail(
    request: Request,
    current,
    submission_id: int,
    page_no: int,
    status: int = 200,
    error: Exception | None = None,
    comment: str = "",
):
    principal = current.user.principal
    lang = lang_of(request)
    t = _texts(lang)
    offset = (page_no - 1) * CHANGES_PER_PAGE
    with request.app.state.engine.connect() as conn:
        entry = review.submission(conn, principal, submission_id, CHANGES_PER_PAGE, offset)
        shapes = review.outlines(conn, principal, submission_id, [c["parcel_id"] for c in entry["changes"]])
        names = {m["ags"]: m["name"] for m in review.municipalities(conn, principal)}
    changes = []
    for change in entry["changes"]:
        geometry = change["geometry"]
        changes.append(
            change
            | {
                "place": names.get(change["ags"], change["ags"]),
                "state_text": _label(review.STATES, change["state"], lang),
                "rows": [
                    {
                        "label": fields.field(f["field"]).label(lang),
                        "before": _value(f["field"], f["before"], lang, t),
                        "after": _value(f["field"], f["after"], lang, t),
                    }
                    for f in change["fields"]
                ],
                "areas": None if geometry is None else {key: _area(value, lang) for key, value in geometry.items()},
            }
        )
    total = entry["parcels"]
    pages = max(1, math.ceil(total / CHANGES_PER_PAGE))
    detail_url = f"{PATH}/{submission_id}"
    outlines = [
        {"ref": s["local_ref"], "retired": s["retired"], "before": s["before"], "after": s["after"]} for s in shapes
    ]
    return page(
        request,
        "reviewing/detail.html",
        {
            "sub": entry
            | {
                "kind_text": _label(review.KINDS, entry["kind"], lang),
                "state_text": _label(review.STATES, entry["state"], lang),
                "places": ", ".join(names.get(a, a) for a in entry["ags"]),
                "submitted": when(entry["submitted_at"], lang),
                "reviewed": when(entry["reviewed_at"], lang),
            },
            "changes": changes,
            "outlines": outlines,
            "may_decide": principal.may_review() and entry["state"] == "wartend",
            "page_no": page_no,
            "pages": pages,
            "first": offset + 1,
            "last": offset + len(changes),
            "previous_url": f"{detail_url}?page={page_no - 1}" if page_no > 1 else None,
            "next_url": f"{detail_url}?page={page_no + 1}" if page_no < pages else None,
            "error": error,
            "error_field": getattr(error, "field", None),
            "comment": comment,
            "max_comment": review.MAX_COMMENT,
        },
        status_code=status,
    )


@router.get(PATH + "/{submission_id}")
def detail(
    request: Request,
    current: SignedIn,
    submission_id: Annotated[int, Path(ge=1, le=2**62)],
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
):
    """A submission: each parcel's fields before → after, the area added and removed, the outlines."""
    return _detail(request, current, submission_id, page)


# -- deciding -------------------------------------------------------------------------------
def _decide(request: Request, current, form: FormData, ids: list[int], later: BackgroundTasks, refused):
    """Approve or reject ``ids`` (all or none) as the signed-in person; ``refused(exc, comment)``
    renders the page the form came from with the core's refusal (at its field). Who may decide is
    the core's rule: anybody else gets its 403 page."""
    comment = _text(form, "comment")
    decision = _text(form, "decision")
    if decision not in DECISIONS:
        raise InvalidParameter(f"decision: {' or '.join(DECISIONS)}, not {decision[:20]!r}", "decision")
    engine = request.app.state.engine
    try:
        with engine.begin() as conn:
            decided = DECISIONS[decision](conn, current.user.principal, ids, comment.strip() or None)
    except (InvalidParameter, Conflict, NotFound) as exc:
        return refused(exc, comment)
    later.add_task(_deliver, engine)
    lang = lang_of(request)
    return page(
        request,
        "reviewing/decided.html",
        {
            "decided": [d | {"state_text": _label(review.STATES, d["state"], lang)} for d in decided],
            "comment": comment.strip(),
        },
    )


@router.post(PATH + "/entscheidung")
def decide_many(request: Request, current: SignedIn, form: CheckedForm, later: BackgroundTasks):
    """The queue's form: the ticked submissions, one decision, one comment."""
    state, ags = _text(form, "state")[:20] or None, _text(form, "ags")[:20] or None
    page_text = _text(form, "page")
    page_no = int(page_text) if page_text.isascii() and page_text.isdigit() and 1 <= int(page_text) <= MAX_PAGE else 1
    try:
        ids = parse_ids(form.getlist("ids"))
    except InvalidParameter as exc:
        return _queue(request, current, state, ags, page_no, _status_of(exc), exc, (), _text(form, "comment"))

    def refused(exc, comment):
        return _queue(request, current, state, ags, page_no, _status_of(exc), exc, ids, comment)

    return _decide(request, current, form, ids, later, refused)


@router.post(PATH + "/{submission_id}/entscheidung")
def decide_one(
    request: Request,
    current: SignedIn,
    submission_id: Annotated[int, Path(ge=1, le=2**62)],
    form: CheckedForm,
    later: BackgroundTasks,
):
    """The detail page's form: this submission, approved or rejected with a comment."""
    page_text = _text(form, "page")
    page_no = int(page_text) if page_text.isascii() and page_text.isdigit() and 1 <= int(page_text) <= MAX_PAGE else 1

    def refused(exc, comment):
        return _detail(request, current, submission_id, page_no, _status_of(exc), exc, comment)

    return _decide(request, current, form, [submission_id], later, refused)
