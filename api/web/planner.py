"""Workspace area `planner`: "Meine Flächen" (the list with its map) and the parcel page.

Pages only parse input and call the core as the signed-in person: the list is
:func:`landreg.worklist.list_page` (a register query in the person's view), the parcel page reads
:func:`landreg.register.one_feature`, the history (:func:`landreg.register.parcel_history` with the
field diffs of :mod:`landreg.versions`), the scores' explanations, the data quality and the review
state; saving is :func:`landreg.register.update` with the version the form was based on, retiring
:func:`landreg.register.retire` with the reason and comment chosen. The core's refusals are shown at
their field in the person's language (:meth:`landreg.parcels.ParcelError.text`). Who may see and change what is decided there, never here: a
person who may not edit gets the core's refusal (403), a parcel they may not see its NotFound (404).

A save sends only the fields the planner changed against the version the form showed, so that a
change someone else made meanwhile to other fields is kept; when the parcel changed meanwhile the
core refuses (VersionConflict) and the page shows both changes and offers to apply the planner's
change again on the current version.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from api.web.pages import lang_of, page
from api.web.session import CheckedForm, require
from api.web.texts import register as register_texts
from api.web.texts import t
from landreg import fields, params, quality, register, users, versions, worklist
from landreg.access import require_edit, view_of
from landreg.errors import InvalidParameter, NotFound, VersionConflict
from landreg.features import COLLECTIONS
from landreg.messages import message
from landreg.parcels import MAX_TEXT, ParcelError, value_from_text
from landreg.review import KINDS, STATES
from landreg.review.states import PARCEL_STATES, review_states, submissions_of
from landreg.scoring.explain import explanation
from landreg.scoring.profiles import current_profiles
from landreg.vocab import CATEGORY, RETIRE_REASON, RETIRE_REASON_IMPORT, STATUS

router = APIRouter()
ROLES = ("planner", "reviewer", "ministry", "admin")
#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("/app/flaechen", "planner.nav", ("planner",)),
    ("/app/flaechen", "planner.nav_all", ("reviewer", "ministry", "admin")),
]
Reader = Annotated[users.Session, Depends(require(*ROLES))]
BERLIN = ZoneInfo("Europe/Berlin")
PARCELS = COLLECTIONS["parcels"]

register_texts(
    {
        "planner.nav": ("Meine Flächen", "My parcels"),
        "planner.nav_all": ("Flächen", "Parcels"),
        "planner.title": ("Meine Flächen", "My parcels"),
        "planner.title_all": ("Flächen aller Gemeinden", "Parcels of all municipalities"),
        "planner.filters": ("Flächen suchen und filtern", "Search and filter parcels"),
        "planner.q": ("Suche (Kennung oder Name)", "Search (reference or name)"),
        "planner.ags": ("Gemeinde", "Municipality"),
        "planner.all": ("alle", "all"),
        "planner.category": ("Kategorie", "Category"),
        "planner.status": ("Status", "Status"),
        "planner.finding": ("Qualitätshinweis", "Quality finding"),
        "planner.review": ("Prüfung", "Review"),
        "planner.due": (
            "Nur fällige: Stand älter als 12 Monate oder fehlt",
            "Due only: data date older than 12 months, or missing",
        ),
        "planner.sort": ("Sortieren nach", "Sort by"),
        "planner.dir": ("Reihenfolge", "Order"),
        "planner.asc": ("aufsteigend", "ascending"),
        "planner.desc": ("absteigend", "descending"),
        "planner.limit": ("Flächen pro Seite", "Parcels per page"),
        "planner.apply": ("Anwenden", "Apply"),
        "planner.reset": ("Filter zurücksetzen", "Reset filters"),
        "planner.found": ("{n} Flächen gefunden", "{n} parcels found"),
        "planner.found_one": ("1 Fläche gefunden", "1 parcel found"),
        "planner.showing": ("Seite {page} von {pages}", "page {page} of {pages}"),
        "planner.none": ("Keine Fläche passt zu diesen Filtern.", "No parcel matches these filters."),
        "planner.table": ("Flächen dieser Seite", "Parcels on this page"),
        "planner.sorted_by": ("sortiert nach {column}, {dir}", "sorted by {column}, {dir}"),
        "planner.sort_by": ("Nach {column} sortieren", "Sort by {column}"),
        "planner.area": ("Fläche", "Area"),
        "planner.quality": ("Qualität", "Quality"),
        "planner.pages": ("Seiten", "Pages"),
        "planner.first": ("Erste Seite", "First page"),
        "planner.prev": ("Vorherige Seite", "Previous page"),
        "planner.next": ("Nächste Seite", "Next page"),
        "planner.last": ("Letzte Seite", "Last page"),
        "planner.page_n": ("Seite {n}", "Page {n}"),
        "planner.map": ("Karte der Flächen dieser Seite", "Map of the parcels on this page"),
        "planner.map_note": (
            "Die Karte zeigt die Flächen dieser Seite; die Liste enthält dieselben Angaben.",
            "The map shows the parcels on this page; the list holds the same information.",
        ),
        "planner.geojson": ("Diese Seite als GeoJSON", "This page as GeoJSON"),
        "planner.invalid": ("Ungültige Eingabe im Feld „{label}“", "Invalid input in the field “{label}”"),
        "planner.retired_notice": (
            "Die Fläche wurde stillgelegt. Die Stilllegung wartet auf Prüfung.",
            "The parcel was retired. The retirement waits for review.",
        ),
        # the parcel page
        "planner.parcel": ("Fläche {ref}", "Parcel {ref}"),
        "planner.sections": ("Abschnitte", "Sections"),
        "planner.tab.data": ("Daten", "Data"),
        "planner.tab.history": ("Historie", "History"),
        "planner.tab.scores": ("Bewertung", "Scores"),
        "planner.tab.quality": ("Datenqualität", "Data quality"),
        "planner.tab.review": ("Prüfung", "Review"),
        "planner.back": ("Zurück zur Liste", "Back to the list"),
        "planner.read_only": (
            "Sie sehen diese Fläche nur lesend: ändern dürfen sie die Planerinnen und Planer der Gemeinde.",
            "You see this parcel read-only: the municipality's planners may change it.",
        ),
        "planner.public_view": (
            "Veröffentlichte Fläche einer anderen Gemeinde: Sie sehen die öffentlichen Angaben.",
            "A published parcel of another municipality: you see its public information.",
        ),
        "planner.version": ("Version {n}", "version {n}"),
        "planner.version_of": ("Bearbeitungsstand: Version {n}", "Editing version {n}"),
        "planner.confidential": ("vertraulich", "confidential"),
        "planner.none_value": ("— keine Angabe —", "— not given —"),
        "planner.save": ("Änderungen speichern", "Save changes"),
        "planner.saved": (
            "Gespeichert: Version {n}. Die Änderung wartet auf Prüfung.",
            "Saved: version {n}. The change waits for review.",
        ),
        "planner.unchanged": (
            "Nichts geändert: die Fläche ist wie zuvor.",
            "Nothing changed: the parcel is as before.",
        ),
        "planner.errors": ("Bitte korrigieren Sie {n} Angabe(n):", "Please correct {n} entry/entries:"),
        "planner.required": ("Pflichtfeld", "required"),
        "planner.retire": ("Fläche stilllegen …", "Retire parcel …"),
        "planner.derived": ("Vom Register abgeleitet", "Derived by the register"),
        "planner.public_since": ("Öffentlich seit", "Public since"),
        "planner.not_public": ("nicht öffentlich", "not public"),
        "planner.group.basics": ("Grunddaten", "Basics"),
        "planner.group.planning": ("Planung und Verfügbarkeit", "Planning and availability"),
        "planner.group.site": ("Standort, Vornutzung und Eigentum", "Site, previous use and ownership"),
        "planner.group.admin": ("Stand, Veröffentlichung und Notizen", "Data date, publication and notes"),
        "planner.group.more": ("Weitere Angaben", "More"),
        "planner.parcel_map": ("Karte der Fläche", "Map of the parcel"),
        "planner.map_legend_now": ("aktueller Umriss", "current outline"),
        "planner.map_legend_before": ("früherer Umriss", "earlier outline"),
        # history
        "planner.history_intro": (
            "Jede Änderung ist eine Version: wer sie wann gemacht hat und was sich geändert hat.",
            "Every change is a version: who made it when, and what changed.",
        ),
        "planner.by": ("von {actor}", "by {actor}"),
        "planner.created": ("Angelegt", "Created"),
        "planner.field": ("Feld", "Field"),
        "planner.before": ("vorher", "before"),
        "planner.after": ("nachher", "after"),
        "planner.no_field_change": ("Keine Änderung der Angaben.", "No change of the attributes."),
        "planner.geometry_change": (
            "Umriss geändert: {before} m² → {after} m² (+{added} m², −{removed} m²)",
            "Outline changed: {before} m² → {after} m² (+{added} m², −{removed} m²)",
        ),
        "planner.show_on_map": ("Umrissänderung auf der Karte zeigen", "Show the outline change on the map"),
        "planner.review_of_version": ("Prüfung: {state}", "Review: {state}"),
        "planner.reviewed_by": ("von {who} am {when}", "by {who} on {when}"),
        "planner.comment": ("Kommentar", "Comment"),
        # scores
        "planner.scores_intro": (
            "Wie jedes Bewertungsprofil die Fläche bewertet, welche Kriterien beitragen und was die Bewertung "
            "am meisten erhöhen würde.",
            "How each scoring profile scores the parcel, what each criterion adds and what would raise the score most.",
        ),
        "planner.score": ("Bewertung: {score} von 100", "Score: {score} of 100"),
        "planner.no_score": ("keine Bewertung", "no score"),
        "planner.excluded": ("Ausgeschlossen durch: {what}", "Excluded by: {what}"),
        "planner.coverage": ("Abdeckung der Kriterien: {share} %", "Criteria covered: {share} %"),
        "planner.criterion": ("Kriterium", "Criterion"),
        "planner.raw": ("Wert", "Value"),
        "planner.normalised": ("normiert (0–1)", "normalised (0–1)"),
        "planner.weight": ("Gewicht", "Weight"),
        "planner.contribution": ("Beitrag (Punkte)", "Adds (points)"),
        "planner.gain": ("Was es erhöhen würde (Punkte)", "What would raise it (points)"),
        "planner.would_help": ("Was die Bewertung am meisten erhöhen würde", "What would raise the score most"),
        "planner.gain_item": ("{label}: bis zu +{gain} Punkte", "{label}: up to +{gain} points"),
        "planner.not_ranked": (
            "Dieses Profil bewertet die Kategorie der Fläche nicht.",
            "This profile does not rank the parcel's category.",
        ),
        "planner.no_profiles": ("Es gibt noch keine Bewertungsprofile.", "There are no scoring profiles yet."),
        "planner.show_scores": ("Bewertung anzeigen", "Show the scores"),
        "planner.withheld": ("vertraulich (nicht gezeigt)", "confidential (not shown)"),
        # quality
        "planner.quality_score": ("Datenqualität: {score} von 100", "Data quality: {score} of 100"),
        "planner.completeness": ("Vollständigkeit: {share} %", "Completeness: {share} %"),
        "planner.findings": ("Qualitätshinweise", "Quality findings"),
        "planner.no_findings": ("Keine Qualitätshinweise.", "No quality findings."),
        "planner.penalty": ("−{n} Punkte", "−{n} points"),
        "planner.missing": ("Für die Kategorie fehlen", "Missing for the category"),
        "planner.nothing_missing": (
            "Alle Angaben, die die Kategorie braucht, sind vorhanden.",
            "Everything the category needs is filled in.",
        ),
        "planner.formula": ("Berechnung: {formula}", "Computed as: {formula}"),
        "planner.quality_stale": (
            "Berechnet für Version {n}; die aktuelle Version wird beim nächsten Lauf geprüft.",
            "Computed for version {n}; the current version is checked at the next run.",
        ),
        "planner.quality_hidden": (
            "Die Datenqualität sehen die Gemeinde und das Ministerium.",
            "The municipality and the ministry see the data quality.",
        ),
        # review
        "planner.review_state": ("Prüfstatus: {state}", "Review state: {state}"),
        "planner.review_none": (
            "Zu dieser Fläche gab es noch keine Einreichung.",
            "This parcel had no submission yet.",
        ),
        "planner.submission": ("Einreichung {id}", "Submission {id}"),
        "planner.submitted": ("eingereicht von {who} am {when}", "submitted by {who} on {when}"),
        "planner.review_hidden": (
            "Prüfung und Kommentare sieht die Gemeinde der Fläche.",
            "The parcel's municipality sees its review and comments.",
        ),
        # conflict
        "planner.conflict_title": ("Die Fläche wurde inzwischen geändert", "The parcel changed meanwhile"),
        "planner.conflict_intro": (
            "Sie haben Version {base} bearbeitet. Inzwischen gilt Version {current}. Ihre Änderung wurde nicht "
            "gespeichert.",
            "You edited version {base}. Meanwhile version {current} is current. Your change was not saved.",
        ),
        "planner.theirs": ("Was inzwischen geändert wurde", "What was changed meanwhile"),
        "planner.changed_by": ("Geändert von: {who}", "Changed by: {who}"),
        "planner.yours": ("Ihre Änderung", "Your change"),
        "planner.base_value": ("Stand Version {n}", "As of version {n}"),
        "planner.current_value": ("jetzt (Version {n})", "now (version {n})"),
        "planner.your_value": ("Ihr Wert", "Your value"),
        "planner.both_changed": (
            "auch inzwischen geändert: Ihr Wert ersetzt den neuen",
            "also changed meanwhile: your value replaces the new one",
        ),
        "planner.reapply": ("Meine Änderung erneut anwenden", "Apply my change again"),
        "planner.reapply_note": (
            "Übernimmt nur die Felder, die Sie geändert haben, auf Version {current}; alle anderen "
            "Angaben bleiben, wie sie jetzt sind.",
            "Applies only the fields you changed, on version {current}; everything else stays as it is now.",
        ),
        "planner.discard": ("Verwerfen und aktuellen Stand öffnen", "Discard and open the current state"),
        "planner.nothing_yours": (
            "Sie hatten nichts geändert; öffnen Sie den aktuellen Stand.",
            "You had changed nothing; open the current state.",
        ),
        # retire
        "planner.retire_title": ("Fläche {ref} stilllegen", "Retire parcel {ref}"),
        "planner.retire_intro": (
            "Eine stillgelegte Fläche verlässt das aktuelle Register und bleibt mit allen Versionen in der "
            "Historie. Die Stilllegung wird geprüft; bis dahin sehen alle anderen den freigegebenen Stand.",
            "A retired parcel leaves the current register and stays in the history with every version. The "
            "retirement is reviewed; until then everybody else sees the approved state.",
        ),
        "planner.retire_confirm": (
            "Ja, ich möchte die Fläche {ref} stilllegen.",
            "Yes, I want to retire the parcel {ref}.",
        ),
        "planner.retire_button": ("Endgültig stilllegen", "Retire for good"),
        "planner.retire_conflict": (
            "Die Fläche wurde inzwischen geändert (jetzt Version {n}). Bitte prüfen Sie den aktuellen Stand, "
            "bevor Sie sie stilllegen.",
            "The parcel changed meanwhile (now version {n}). Check the current state before you retire it.",
        ),
        "planner.confirm_needed": ("Bitte bestätigen Sie die Stilllegung.", "Please confirm the retirement."),
        "planner.retire_reason": ("Grund der Stilllegung", "Reason for the retirement"),
        "planner.retire_choose": ("— bitte wählen —", "— please choose —"),
        "planner.retire_comment": ("Kommentar", "Comment"),
        "planner.retire_comment_hint": (
            "Pflicht bei „Sonstiges“. Vertraulich: sehen nur die Gemeinde, die Prüfung und das Ministerium.",
            "Required for “Other”. Confidential: only the municipality, the reviewers and the ministry see it.",
        ),
        "planner.retire_problems": ("Die Fläche wurde nicht stillgelegt:", "The parcel was not retired:"),
        "planner.retire_confirmation": ("Bestätigung", "Confirmation"),
    }
)

#: The parcel form's sections: each editable attribute in one (the rest in "more", so none is missed).
_GROUPS = (
    ("planner.group.basics", ("local_ref", "name", "category", "status", "ags")),
    (
        "planner.group.planning",
        ("designation", "planning_status", "restriction_class", "abstand_class", "availability", "servicing"),
    ),
    ("planner.group.site", ("previous_use", "contamination", "ownership", "owner_willing", "owner_contact")),
    ("planner.group.admin", ("data_date", "publication_allowed", "is_sample", "internal_notes")),
)
#: Every field the form edits: the register's editable attributes without the geometry.
FORM_FIELDS = tuple(f for f in (fields.AGS, *fields.ATTRIBUTES) if f.name in fields.EDITABLE and f.name != "geom")
_GROUPED = {name for _, names in _GROUPS for name in names}
_MORE = tuple(f for f in FORM_FIELDS if f.name not in _GROUPED)
GROUPS = tuple((key, tuple(fields.field(n) for n in names if n in fields.EDITABLE)) for key, names in _GROUPS)
GROUPS += (("planner.group.more", _MORE),) if _MORE else ()
_LONG_TEXT = ("internal_notes", "owner_contact", "previous_use")


# -- small helpers ------------------------------------------------------------------------------
def _lang(request: Request) -> str:
    return lang_of(request)


def _number(value, digits: int = 0, lang: str = "de") -> str:
    if value is None:
        return "—"
    text = f"{float(value):,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",") if lang == "de" else text


def _when(value, lang: str = "de") -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        local = value.astimezone(BERLIN)
        return local.strftime("%d.%m.%Y %H:%M") if lang == "de" else local.strftime("%Y-%m-%d %H:%M")
    return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()


def _script_json(text: str) -> Markup:
    """JSON for a <script type="application/json"> element: no "</script>" can end it early."""
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _form_text(value) -> str:
    """A field value as a form sends it back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _helpers(lang: str) -> dict:
    return {
        "num": lambda value, digits=0: _number(value, digits, lang),
        "when": lambda value: _when(value, lang),
        "show": lambda name, value: versions.display(value, name, lang),
        "label": lambda name: fields.field(name).label(lang),
    }


# -- the list -----------------------------------------------------------------------------------
#: The list form's fields and the text key of each one's label (for naming a field at fault).
LIST_FIELDS = {
    "q": "planner.q",
    "ags": "planner.ags",
    "category": "planner.category",
    "status": "planner.status",
    "finding": "planner.finding",
    "review": "planner.review",
    "due": "planner.due",
    "sort": "planner.sort",
    "dir": "planner.dir",
    "limit": "planner.limit",
    "offset": "planner.pages",
}


def _list_request(query) -> ListInput:
    repeated = {name: n for name in LIST_FIELDS if (n := len(query.getlist(name))) > 1}
    return ListInput({name: query.get(name) for name in LIST_FIELDS}, repeated)


class ListInput:
    """The list form's values as given (text; empty is none), for re-showing them."""

    def __init__(self, values: dict[str, str | None], repeated: dict[str, int] | None = None):
        self.values = {k: (v if v not in (None, "") else None) for k, v in values.items()}
        self.repeated = repeated or {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def checked(self) -> worklist.ListRequest:
        """The core's request; an InvalidParameter names the form field at fault."""
        for name, count in self.repeated.items():  # read as one value (the last) otherwise
            raise InvalidParameter(message("param.repeated", name=name, count=count), name)
        v = self.values
        due = v["due"]
        if due is not None and due not in ("1", "true", "on"):
            raise InvalidParameter(message("param.flag", name="due", value=due[:20]), "due")
        direction = v["dir"] or "asc"
        if direction not in ("asc", "desc"):
            raise InvalidParameter(message("param.direction", value=direction[:20]), "dir")
        return worklist.ListRequest(
            q=v["q"],
            ags=v["ags"],
            category=v["category"],
            status=v["status"],
            finding=v["finding"],
            due=due is not None,
            review=v["review"],
            sort=v["sort"] or "local_ref",
            descending=direction == "desc",
            limit=params.whole_number(v["limit"], "limit", worklist.LIMIT_DEFAULT, 1, max(worklist.PAGE_SIZES)),
            offset=params.whole_number(v["offset"], "offset", 0, 0, worklist.OFFSET_MAX),
        )

    def url(self, **changes) -> str:
        merged = {**self.values, **changes}
        query = {k: v for k, v in merged.items() if v not in (None, "") and not (k == "offset" and v in (0, "0"))}
        return "/app/flaechen" + (f"?{urlencode(query)}" if query else "")


def _pages(matched: int, limit: int, offset: int) -> dict:
    pages = max(1, -(-matched // limit))
    current = min(offset // limit + 1, pages)
    window = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    return {"count": pages, "current": current, "window": window}


def _list_options(lang: str, view) -> dict:
    return {
        "category": [(c, CATEGORY.label(c, lang)) for c in CATEGORY.codes],
        "status": [(c, STATUS.label(c, lang)) for c in STATUS.codes],
        "finding": [(c, f.label(lang)) for c, f in quality.FINDINGS.items()],
        "review": [(c, de if lang == "de" else en) for c, (de, en) in PARCEL_STATES.items()],
        "sort": [(c, fields.field(c).label(lang)) for c in worklist.SORTABLE if c != "ags" or view.kind == "full"],
        "limit": list(worklist.PAGE_SIZES),
    }


@router.get("/app/flaechen")
def parcel_list(request: Request, current: Reader):
    lang = _lang(request)
    person = current.user.principal
    view = view_of(person)
    given = _list_request(request.query_params)
    error = None
    result = None
    with request.app.state.engine.connect() as conn:
        municipalities = worklist.municipalities(conn, view)
        try:
            wanted = given.checked()
            result = worklist.list_page(conn, person, wanted)
        except InvalidParameter as exc:
            name = exc.field if exc.field in LIST_FIELDS else "q"
            error = {"field": name, "message": exc.text(lang), "label": t(LIST_FIELDS[name], lang)}
        states = review_states(conn, worklist.ids_of(result.rows), view) if result else {}
    for row in result.rows if result else ():
        if row.get("data_date"):
            row["data_date"] = dt.date.fromisoformat(row["data_date"])
    names = {m["ags"]: m["name"] for m in municipalities}
    context = {
        "given": given,
        "error": error,
        "result": result,
        "states": {str(k): v for k, v in states.items()},
        "municipalities": municipalities,
        "names": names,
        "all_municipalities": view.kind == "full",
        "options": _list_options(lang, view),
        "pages": _pages(result.matched, result.request.limit, result.request.offset) if result else None,
        "geojson": _script_json(result.geojson) if result else None,
        "retired_notice": request.query_params.get("stillgelegt") == "1",
        **_helpers(lang),
    }
    return page(request, "planner/list.html", context, status_code=400 if error else 200)


@router.get("/app/flaechen.geojson")
def parcel_list_geojson(request: Request, current: Reader):
    """The same page of the list as GeoJSON (WGS84), for a GIS or the map."""
    given = _list_request(request.query_params)
    wanted = given.checked()
    with request.app.state.engine.connect() as conn:
        result = worklist.list_page(conn, current.user.principal, wanted)
    return Response(result.geojson, media_type="application/geo+json")


# -- the parcel page ------------------------------------------------------------------------------
def _field_widget(f: fields.Field, value, lang: str, person, error: str | None) -> dict:
    """What the template needs of one form field."""
    widget = {
        "name": f.name,
        "label": f.label(lang),
        "required": f.required or f.name == "ags",
        "confidential": f.confidential,
        "error": error,
        "value": value,
        "maxlength": MAX_TEXT,
    }
    if f.name == "ags":
        own = sorted(set(person.ags) | ({value} if value else set()))
        widget |= {"widget": "select", "options": [(a, a) for a in own], "blank": False}
    elif f.codes is not None:
        widget |= {
            "widget": "select",
            "options": [(code, f.codes.label(code, lang)) for code in f.codes.codes],
            "blank": not f.not_null,
        }
    elif f.kind == "bool":
        widget |= {"widget": "checkbox", "checked": value in (True, "true")}
    elif f.kind == "date":
        widget |= {"widget": "date"}
    elif f.name in _LONG_TEXT:
        widget |= {"widget": "textarea"}
    else:
        widget |= {"widget": "text"}
    return widget


def _form_groups(values: dict, lang: str, person, errors: dict, names: dict) -> list[dict]:
    groups = []
    for key, members in GROUPS:
        widgets = []
        for f in members:
            widget = _field_widget(f, values.get(f.name), lang, person, errors.get(f.name))
            if f.name == "ags":
                widget["options"] = [(a, f"{names.get(a, a)} ({a})") for a, _ in widget["options"]]
            widgets.append(widget)
        groups.append({"key": key, "fields": widgets})
    return groups


def _read_form(form, lang: str) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The form's parcel fields as typed values (only those the form holds; read by the core's
    :func:`landreg.parcels.value_from_text`), the text of each as sent (to show it again) and the
    problems of fields that cannot be read, by field, in the person's language."""
    values: dict[str, Any] = {}
    sent: dict[str, str] = {}
    problems: dict[str, str] = {}
    for f in FORM_FIELDS:
        given = form.getlist(f.name)
        if not given:
            continue
        raw = str(given[-1])  # a checkbox follows its hidden "false"
        sent[f.name] = raw[: MAX_TEXT + 1]
        try:
            values[f.name] = value_from_text(f.name, raw)
        except ParcelError as exc:
            problems[f.name] = exc.text(lang)
    return values, sent, problems


def _display_values(properties: dict) -> dict:
    """The parcel's values as the form shows them (text; booleans as such)."""
    shown = {}
    for f in FORM_FIELDS:
        value = properties.get(f.name)
        shown[f.name] = value if isinstance(value, bool) else _form_text(value)
    return shown


def _scores(conn, view, parcel_id, category: str | None, lang: str) -> list[dict]:
    scored = []
    for profile in current_profiles(conn):
        entry = {"profile": profile, "explanation": None, "message": None}
        if profile.categories and category not in profile.categories:
            entry["message"] = t("planner.not_ranked", lang)
        else:
            try:
                entry["explanation"] = explanation(conn, view, parcel_id, profile, lang)
            except NotFound as exc:
                entry["message"] = str(exc)
        scored.append(entry)
    return scored


def _history(conn, view, parcel_id, lang: str) -> list[dict]:
    """Newest first: each version the view sees with who and when, its review and what changed."""
    listed = register.parcel_history(conn, view, parcel_id)  # without numbers for another municipality
    diffs = {d["valid_from"]: d for d in versions.changes(conn, view, parcel_id, lang)}
    merged = []
    for i, entry in enumerate(listed):
        d = diffs.get(entry["valid_from"], {"changes": [], "geometry": None})
        review = (entry.get("review") or {}).get("change")
        key = entry.get("version") or f"s{i + 1}"
        merged.append(entry | {"changes": d["changes"], "geometry": d["geometry"], "review_entry": review, "key": key})
    return list(reversed(merged))


def _outlines(history: list[dict]) -> dict:
    return {str(h["key"]): h["geometry"] for h in history if h["geometry"]}


def _typed(props: dict) -> dict:
    """The feature's properties with its dates as dates (GeoJSON holds them as text)."""
    typed = dict(props)
    for name in ("data_date", "public_since"):
        if isinstance(typed.get(name), str):
            typed[name] = dt.date.fromisoformat(typed[name])
    return typed


def _parcel_context(conn, request: Request, person, parcel_id: uuid.UUID) -> dict:
    """Everything the parcel page shows, read as the person (NotFound for a parcel they may not see)."""
    lang = _lang(request)
    view = view_of(person)
    feature = register.one_feature(conn, PARCELS, view, str(parcel_id))
    props = feature["properties"]
    ags = props["ags"].strip()
    own = view.owns(ags)
    names = worklist.municipality_names(conn, {ags, *person.ags})
    history = _history(conn, view, parcel_id, lang)
    return {
        "parcel_id": str(parcel_id),
        "feature": feature,
        "props": props,
        "ags": ags,
        "own": own,
        "editable": person.may_edit(ags),
        "names": names,
        "history": history,
        "outlines": _script_json(json.dumps(_outlines(history))),
        "geometry": _script_json(json.dumps(feature["geometry"])),
        "quality": quality.parcel_quality(conn, view, parcel_id),
        "review_state": review_states(conn, [parcel_id], view).get(parcel_id),
        "submissions": submissions_of(conn, view, parcel_id),
        "review_kinds": KINDS,
        "review_labels": STATES,
        "shown_fields": [f for f in FORM_FIELDS if f.name in props and (own or not f.confidential)],
        "values": _display_values(props),
        "typed": _typed(props),
        "form_version": props["version"],
        "errors": {},
        "saved": None,
        **_helpers(lang),
    }


def _render_parcel(request: Request, context: dict, person, status: int = 200):
    lang = _lang(request)
    context["groups"] = _form_groups(context["values"], lang, person, context["errors"], context["names"])
    return page(request, "planner/parcel.html", context, status_code=status)


def _again(context: dict, sent: dict[str, str], values: dict[str, Any], errors: dict[str, str], based_on: int):
    """The parcel page's context with the planner's input shown again, the problems at their fields
    and the version the form was based on kept (a later save still finds a conflict)."""
    for name, raw in sent.items():
        is_bool = fields.field(name).kind == "bool"
        context["values"][name] = bool(values.get(name)) if is_bool else raw
    context["errors"] = errors
    context["form_version"] = based_on
    return context


@router.get("/app/flaechen/{parcel_id:uuid}")
def parcel_page(request: Request, parcel_id: uuid.UUID, current: Reader):
    person = current.user.principal
    with request.app.state.engine.connect() as conn:
        context = _parcel_context(conn, request, person, parcel_id)
    saved = request.query_params.get("gespeichert")
    context["saved"] = saved if saved in ("0", "1") else None
    return _render_parcel(request, context, person)


@router.get("/app/flaechen/{parcel_id:uuid}/bewertung")
def parcel_scores(request: Request, parcel_id: uuid.UUID, current: Reader):
    """The scores of the parcel per profile (``?teil=1``: only the part the parcel page's tab loads
    when it is opened; computing explanations takes tens of milliseconds per profile)."""
    lang = _lang(request)
    view = view_of(current.user.principal)
    with request.app.state.engine.connect() as conn:
        props = register.one_feature(conn, PARCELS, view, str(parcel_id))["properties"]
        scores = _scores(conn, view, parcel_id, props.get("category"), lang)
    context = {"parcel_id": str(parcel_id), "ref": props["local_ref"], "scores": scores, **_helpers(lang)}
    template = "planner/_scores.html" if request.query_params.get("teil") == "1" else "planner/scores.html"
    return page(request, template, context)


def _may_edit_or_refuse(conn, person, parcel_id: uuid.UUID) -> dict:
    """The parcel as the person sees it, after the core's checks: NotFound where they may not see
    it, AccessDenied where they may not change it."""
    feature = register.one_feature(conn, PARCELS, view_of(person), str(parcel_id))
    require_edit(person, feature["properties"]["ags"].strip())
    return feature


def _version_of(form) -> int:
    given = str(form.get("version") or "")[:20]
    if not given:
        raise InvalidParameter("version: the form lacks the version it was based on; reload the page", "version")
    return params.whole_number(given, "version", 1, 1, 2**31 - 1)


@router.post("/app/flaechen/{parcel_id:uuid}")
def save_parcel(request: Request, parcel_id: uuid.UUID, current: Reader, form: CheckedForm):
    person = current.user.principal
    engine = request.app.state.engine
    with engine.connect() as conn:
        _may_edit_or_refuse(conn, person, parcel_id)
        based_on = _version_of(form)
        values, sent, problems = _read_form(form, _lang(request))
        if problems:
            context = _again(_parcel_context(conn, request, person, parcel_id), sent, values, problems, based_on)
            return _render_parcel(request, context, person, 422)
        base = versions.state(conn, view_of(person), parcel_id, based_on)
    changes = {name: value for name, value in values.items() if name in base and base[name] != value}
    try:
        with Session(engine) as session:
            version = register.update(session, person, parcel_id, frozenset({based_on}), changes).version
            session.commit()  # the version read before: a query after the commit could fail a saved change
    except ParcelError as exc:
        with engine.connect() as conn:
            context = _parcel_context(conn, request, person, parcel_id)
        context = _again(context, sent, values, {exc.field: exc.text(_lang(request))}, based_on)
        return _render_parcel(request, context, person, 422)
    except VersionConflict as exc:
        return _conflict(request, person, parcel_id, based_on, exc.current_version, changes)
    flag = "1" if version != base["version"] else "0"
    return RedirectResponse(f"/app/flaechen/{parcel_id}?gespeichert={flag}#historie", status_code=303)


def _conflict(request: Request, person, parcel_id, based_on: int, now: int, mine: dict):
    """The conflict page: what changed since the version the planner edited, their change, and a
    form that applies their change (only the fields they changed) again on the current version."""
    lang = _lang(request)
    view = view_of(person)
    with request.app.state.engine.connect() as conn:
        base = versions.state(conn, view, parcel_id, based_on)
        latest = versions.state(conn, view, parcel_id, now)
        history = register.parcel_history(conn, view, parcel_id)
    theirs = versions.difference(base, latest, lang=lang)
    actors = sorted({h["actor"] for h in history if based_on < h["version"] <= now and h.get("actor")})
    changed_meanwhile = {d["field"] for d in theirs}
    order = [f.name for f in FORM_FIELDS]
    yours = [
        {
            "field": name,
            "label": fields.field(name).label(lang),
            "before": base.get(name),
            "now": latest.get(name),
            "after": value,
            "text": _form_text(value),
            "both": name in changed_meanwhile and latest.get(name) != value,
        }
        for name, value in sorted(mine.items(), key=lambda kv: order.index(kv[0]))
    ]
    context = {
        "parcel_id": str(parcel_id),
        "ref": latest.get("local_ref"),
        "based_on": based_on,
        "now": now,
        "theirs": theirs,
        "actors": actors,
        "yours": yours,
        **_helpers(lang),
    }
    return page(request, "planner/conflict.html", context, status_code=409)


def _retire_context(feature: dict, parcel_id: uuid.UUID, lang: str, form=None) -> dict:
    """The retire form: the reasons a person chooses (``nicht_in_lieferung`` is what an import
    records), the input kept when the form comes back, the problems at their fields."""
    props = feature["properties"]
    given = {name: str(form.get(name) or "")[: MAX_TEXT + 1] if form else "" for name in ("reason", "comment")}
    return {
        "parcel_id": str(parcel_id),
        "ref": props["local_ref"],
        "version": props["version"],
        "reasons": [(c, RETIRE_REASON.label(c, lang)) for c in RETIRE_REASON.codes if c != RETIRE_REASON_IMPORT],
        "given": given,
        "maxlength": MAX_TEXT,
        "errors": {},
        "problem": None,
    }


@router.get("/app/flaechen/{parcel_id:uuid}/stilllegen")
def retire_form(request: Request, parcel_id: uuid.UUID, current: Reader):
    with request.app.state.engine.connect() as conn:
        feature = _may_edit_or_refuse(conn, current.user.principal, parcel_id)
    return page(request, "planner/retire.html", _retire_context(feature, parcel_id, _lang(request)))


@router.post("/app/flaechen/{parcel_id:uuid}/stilllegen")
def retire(request: Request, parcel_id: uuid.UUID, current: Reader, form: CheckedForm):
    """Retire with the chosen reason and comment; the core's refusals at their fields, in the
    person's language; the input kept."""
    lang = _lang(request)
    person = current.user.principal
    engine = request.app.state.engine
    with engine.connect() as conn:
        feature = _may_edit_or_refuse(conn, person, parcel_id)
    based_on = _version_of(form)
    context = _retire_context(feature, parcel_id, lang, form)
    if form.get("confirm") != "ja":
        context["errors"]["confirm"] = t("planner.confirm_needed", lang)
        return page(request, "planner/retire.html", context, status_code=400)
    try:
        with Session(engine) as session:
            register.retire(session, person, parcel_id, frozenset({based_on}), form.get("reason"), form.get("comment"))
            session.commit()
    except ParcelError as exc:
        context["errors"][exc.field if exc.field in ("reason", "comment") else "reason"] = exc.text(lang)
        return page(request, "planner/retire.html", context, status_code=422)
    except VersionConflict as exc:
        context["problem"] = t("planner.retire_conflict", lang, n=exc.current_version)
        context["version"] = exc.current_version
        return page(request, "planner/retire.html", context, status_code=409)
    return RedirectResponse("/app/flaechen?stillgelegt=1", status_code=303)
