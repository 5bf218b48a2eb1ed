"""Workspace area `plans`: the plan check page (``/app/planpruefung``).

The form has the fields of ``POST /safeguarding/plan-checks/file`` (same file types, same body
limit ``LANDREG_MAX_BODY_BYTES``, here applied by the route so that a refusal is shown at the file
field); the page reads the plan's area and checks it with the core as that endpoint does
(:func:`read_plan_file`, :func:`check_plan`), recording every check (the endpoint's default), and
shows the recorded check at ``/app/planpruefung/{id}``: the plan area and the parcels on a map, the
core's result in a table beside it. The same page shows a recorded check again, read back from the
database, so the first view and every later one are the same. The roles are the endpoint's; the
check counts what the person sees (:func:`landreg.access.view_of`), and who reads a recorded check
is the core's rule (:func:`landreg.safeguarding.recorded_checks`).

The core refuses a plan with :class:`PlanError`, naming the input at fault (``field``) and options
neutrally; the page shows it at that form field, spelling the options as the form's labels, after a
sentence in the person's language saying what is wrong, then the core's message in that language
(:mod:`landreg.messages`; the importer's CRS diagnoses inside it are English so far).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Connection, func, select
from starlette.datastructures import FormData, UploadFile

from api.imports import CappedUpload, save_upload
from api.safeguarding import EPSG_MAX, PLAN_FILES
from api.web.drawing import municipality_names, number
from api.web.pages import lang_of, page
from api.web.planner import _script_json
from api.web.session import CheckedForm, current_session, require
from api.web.texts import register, t
from landreg import users
from landreg.access import Principal, view_of, visible_rows
from landreg.errors import NotFound
from landreg.importer import FileTooLarge, ImportRefused
from landreg.safeguarding import USES, PlanError, check_plan, read_plan_file, recorded_check, recorded_checks
from landreg.settings import get_settings
from landreg.vocab import CATEGORY, DESIGNATION, STATUS

PATH = "/app/planpruefung"
#: Who may check a plan: the roles of ``POST /safeguarding/plan-checks`` (api.security.AuthenticatedDep).
ROLES = ("planner", "reviewer", "ministry", "admin")
#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = [(PATH, "plans.nav", ROLES)]
Checker = Annotated[users.Session, Depends(require(*ROLES))]
FIELD_KEYS = {
    "file": "plans.file",
    "intended_use": "plans.use",
    "name": "plans.name",
    "layer": "plans.layer",
    "crs": "plans.crs",
}
TEXT_MAX = 200  # characters of the name and the layer
LISTED = 100  # recorded checks on the page, newest first
BERLIN = ZoneInfo("Europe/Berlin")

register(
    {
        "plans.nav": ("Planprüfung", "Plan check"),
        "plans.title": ("Planprüfung", "Plan check"),
        "plans.intro": (
            "Laden Sie einen Plan hoch (z. B. einen Bebauungsplan als XPlanGML). Das Register prüft, welche "
            "Gewerbe- und Industrieflächen sein Geltungsbereich berührt, wie viel Reserve die geplante Nutzung "
            "kosten würde und ob geplantes Wohnen näher an Industrie rückt, als der Abstandserlass erlaubt. "
            "Jede Prüfung wird gespeichert; ihre Konflikte erscheinen auf der Beobachtungsliste.",
            "Upload a plan (e.g. a zoning plan as XPlanGML). The register checks which commercial and "
            "industrial parcels its area touches, how much reserve the planned use would cost, and whether "
            "planned housing comes closer to industry than the Abstandserlass allows. Every check is "
            "recorded; its conflicts appear on the watch list.",
        ),
        "plans.form": ("Plan prüfen", "Check a plan"),
        "plans.file": ("Plandatei", "Plan file"),
        "plans.file_help": (
            "XPlanGML, GeoJSON, GeoPackage, Shapefile als ZIP, FlatGeobuf oder KML; höchstens {limit}. "
            "Alle Flächen der Datei zusammen sind der Geltungsbereich.",
            "XPlanGML, GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf or KML; at most {limit}. All areas "
            "of the file together are the plan area.",
        ),
        "plans.use": ("Geplante Nutzung", "Planned use"),
        "plans.use_help": (
            "Die Art der baulichen Nutzung, die der Plan festsetzt oder darstellt. Ohne Angabe prüft das Register "
            "ein XPlanGML-Dokument nach seinen Baugebieten, jedes mit der eigenen Nutzung; andere Dateien "
            "brauchen die Angabe.",
            "The type of land use the plan designates. Without one, the register checks an XPlanGML document by "
            "its Baugebiete, each with its own use; other files need it.",
        ),
        "plans.from_plan": ("– aus dem Plan (XPlanGML) –", "– from the plan (XPlanGML) –"),
        "plans.name": ("Name des Plans", "Name of the plan"),
        "plans.name_help": (
            "Z. B. „B-Plan 123 Wohnen am Hafen“; ohne Angabe der Name aus der Datei.",
            "E.g. “B-Plan 123 Wohnen am Hafen”; without one, the name from the file.",
        ),
        "plans.more": ("Weitere Angaben (nur falls nötig)", "More options (only if needed)"),
        "plans.layer": ("Ebene (Layer)", "Layer"),
        "plans.layer_help": (
            "Bei Dateien mit mehreren Ebenen die Ebene des Geltungsbereichs; XPlanGML: *_Bereich oder *_Plan "
            "wird erkannt.",
            "For files with several layers, the layer of the plan area; XPlanGML: *_Bereich or *_Plan is found "
            "by itself.",
        ),
        "plans.crs": ("Koordinatensystem (EPSG-Code)", "Coordinate reference system (EPSG code)"),
        "plans.crs_help": (
            "Nur für Dateien ohne Angabe, z. B. 25832 für ETRS89 / UTM 32N.",
            "Only for files without one, e.g. 25832 for ETRS89 / UTM 32N.",
        ),
        "plans.required": ("Pflichtangabe", "required"),
        "plans.submit": ("Plan prüfen und speichern", "Check and record the plan"),
        "plans.errors": ("Der Plan wurde nicht geprüft:", "The plan was not checked:"),
        "plans.no_file": ("Bitte wählen Sie eine Datei aus.", "Please choose a file."),
        "plans.no_use": (
            "Bitte wählen Sie die geplante Nutzung aus der Liste.",
            "Please choose the planned use from the list.",
        ),
        "plans.too_long": ("Höchstens {max} Zeichen.", "At most {max} characters."),
        "plans.crs_number": (
            "Bitte geben Sie den EPSG-Code als Zahl zwischen 1 und {max} an, z. B. 25832.",
            "Please give the EPSG code as a number from 1 to {max}, e.g. 25832.",
        ),
        "plans.too_large": (
            "Die Datei ist größer als die erlaubten {limit} (LANDREG_MAX_BODY_BYTES). Laden Sie nur den "
            "Geltungsbereich hoch (z. B. als GeoJSON) oder bitten Sie den Betrieb, die Grenze zu erhöhen.",
            "The file is larger than the {limit} allowed (LANDREG_MAX_BODY_BYTES). Upload the plan area only "
            "(e.g. as GeoJSON), or ask the operator to raise the limit.",
        ),
        "plans.refused.type": (
            "Die Datei „{file}“ hat keinen unterstützten Typ; erlaubt sind {suffixes} (ein Shapefile als .zip).",
            "The file “{file}” is of no supported type; allowed are {suffixes} (a Shapefile as .zip).",
        ),
        "plans.refused.file": (
            "Die Datei lässt sich so nicht prüfen: {detail}",
            "The file cannot be checked as it is: {detail}",
        ),
        "plans.refused.crs": (
            "Das Koordinatensystem fehlt oder passt nicht zu den Koordinaten: {detail}",
            "The coordinate reference system is missing or does not fit the coordinates: {detail}",
        ),
        "plans.refused.layer": (
            "Die Ebene fehlt oder passt nicht: {detail}",
            "The layer is missing or does not fit: {detail}",
        ),
        "plans.refused.intended_use": (
            "Die geplante Nutzung fehlt oder ist unbekannt: {detail}",
            "The planned use is missing or unknown: {detail}",
        ),
        "plans.refused.name": ("Der Name passt nicht: {detail}", "The name does not fit: {detail}"),
        "plans.spelled": ("„{label}“", "the form field “{label}”"),
        "plans.spelled_value": ("„{label}“ = {value}", "“{label}” = {value}"),
        "plans.earlier": ("Gespeicherte Prüfungen", "Recorded checks"),
        "plans.earlier_own": (
            "Ihre gespeicherten Prüfungen, die neuesten zuerst.",
            "Your recorded checks, newest first.",
        ),
        "plans.earlier_all": (
            "Alle gespeicherten Prüfungen, die neuesten zuerst.",
            "All recorded checks, newest first.",
        ),
        "plans.earlier_more": (
            "Gezeigt werden die neuesten {shown} von {count}.",
            "Showing the newest {shown} of {count}.",
        ),
        "plans.none": ("Noch keine Prüfung gespeichert.", "No check recorded yet."),
        "plans.col.date": ("Geprüft am", "Checked on"),
        "plans.col.plan": ("Plan", "Plan"),
        "plans.col.use": ("Geplante Nutzung", "Planned use"),
        "plans.col.result": ("Ergebnis", "Result"),
        "plans.col.touched": ("Berührte Flächen", "Parcels touched"),
        "plans.col.loss": ("Verlust an Reserve (ha)", "Reserve lost (ha)"),
        "plans.col.loss_m2": ("Verlust an Reserve (m²)", "Reserve lost (m²)"),
        "plans.col.actor": ("Geprüft von", "Checked by"),
        "plans.conflict": ("Konflikt", "Conflict"),
        "plans.no_conflict": ("kein Konflikt", "no conflict"),
        "plans.check_title": ("Planprüfung: {name}", "Plan check: {name}"),
        "plans.meta": (
            "Prüfung Nr. {id} vom {date}, von {actor}. Geplante Nutzung: {use}.",
            "Check no. {id} of {date}, by {actor}. Planned use: {use}.",
        ),
        "plans.recorded": (
            "Die Prüfung ist gespeichert (Nr. {id}); ihre Konflikte erscheinen auf der Beobachtungsliste.",
            "The check is recorded (no. {id}); its conflicts appear on the watch list.",
        ),
        "plans.verdict_conflict": ("Ergebnis: Konflikt", "Result: conflict"),
        "plans.verdict_none": ("Ergebnis: kein Konflikt", "Result: no conflict"),
        "plans.loss_region": (
            "Der Plan würde {ha} ha Gewerbe- und Industriereserve ({m2} m²) einer anderen Nutzung zuführen.",
            "The plan would give {ha} ha of commercial and industrial reserve ({m2} m²) to another use.",
        ),
        "plans.loss_in": ("{municipality}: {ha} ha", "{municipality}: {ha} ha"),
        "plans.abstand_count": (
            "{count} Gewerbe- oder Industrieflächen liegen näher an der geplanten Wohnnutzung, als der "
            "Abstandserlass verlangt.",
            "{count} commercial or industrial parcels lie closer to the planned housing than the "
            "Abstandserlass requires.",
        ),
        "plans.no_loss": (
            "Der Plan kostet keine Gewerbe- und Industriereserve, und keine Fläche liegt zu nah an geplantem Wohnen.",
            "The plan costs no commercial and industrial reserve, and no parcel lies too close to planned housing.",
        ),
        "plans.touched": ("Berührte Gewerbe- und Industrieflächen", "Commercial and industrial parcels touched"),
        "plans.touched_none": (
            "Der Geltungsbereich berührt keine Gewerbe- oder Industriefläche.",
            "The plan area touches no commercial or industrial parcel.",
        ),
        "plans.touched_caption": (
            "{count} Flächen im Geltungsbereich, nach betroffener Fläche absteigend",
            "{count} parcels inside the plan area, by area affected, largest first",
        ),
        "plans.col.parcel": ("Fläche", "Parcel"),
        "plans.col.municipality": ("Gemeinde", "Municipality"),
        "plans.col.category": ("Kategorie", "Category"),
        "plans.col.status": ("Status", "Status"),
        "plans.col.area": ("Größe (m²)", "Size (m²)"),
        "plans.col.affected": ("im Plan (m²)", "inside the plan (m²)"),
        "plans.col.share": ("Anteil", "Share"),
        "plans.col.conflict": ("Konflikt", "Conflict"),
        "plans.col.distance": ("Abstand (m)", "Distance (m)"),
        "plans.col.class": ("Abstandsklasse", "Distance class"),
        "plans.col.required": ("verlangt (m)", "required (m)"),
        "plans.conflict.flaechensicherung": (
            "Flächensicherung: Gewerbe-/Industriereserve ginge an eine andere Nutzung verloren",
            "Safeguarding: commercial/industrial reserve would be lost to another use",
        ),
        "plans.where": ("Lage: {places}.", "Location: {places}."),
        "plans.designations": ("Festsetzungen des Plans", "Designations of the plan"),
        "plans.designations_caption": (
            "{count} Baugebiete, jedes mit seiner eigenen Nutzung geprüft",
            "{count} designated areas, each checked with its own use",
        ),
        "plans.col.designation": ("Festsetzung", "Designation"),
        "plans.col.checked_as": ("geprüft als", "checked as"),
        "plans.col.designation_area": ("Fläche (m²)", "Area (m²)"),
        "plans.conflict.keiner": ("kein Konflikt", "no conflict"),
        "plans.conflict.abstandserlass": (
            "Abstandserlass: {distance} m entfernt, Klasse {klass} verlangt {required} m",
            "Abstandserlass: {distance} m away, class {klass} requires {required} m",
        ),
        "plans.abstand": ("Abstandserlass", "Abstandserlass"),
        "plans.abstand_caption": (
            "{count} Flächen näher an der geplanten Wohnnutzung als erlaubt",
            "{count} parcels closer to the planned housing than allowed",
        ),
        "plans.map": ("Karte: Geltungsbereich und berührte Flächen", "Map: plan area and parcels touched"),
        "plans.legend.area": ("Geltungsbereich", "Plan area"),
        "plans.legend.flaechensicherung": ("Konflikt Flächensicherung", "Safeguarding conflict"),
        "plans.legend.abstandserlass": ("Konflikt Abstandserlass", "Abstandserlass conflict"),
        "plans.legend.keiner": ("ohne Konflikt", "no conflict"),
        "plans.map_note": (
            "Die Karte zeigt die Flächen, die Sie sehen dürfen; die Tabelle nennt das Ergebnis der Prüfung.",
            "The map shows the parcels you may see; the table gives the result of the check.",
        ),
        "plans.back": ("Zur Planprüfung", "To the plan check"),
        "plans.not_found": (
            "Diese Planprüfung gibt es nicht, oder sie ist nicht Ihre.",
            "This plan check does not exist, or it is not yours.",
        ),
    }
)


# -- the core's refusals as this page says them ------------------------------------------------------
#: The inputs the core names (PlanError.field) that this form has under another name.
_FORM_FIELD = {"geometry": "file", "classes": "file"}


def _spelling(lang: str) -> Callable[[str, str | None], str]:
    """How a refusal names an option on this page: by its form field's label."""

    def spell(name: str, value: str | None) -> str:
        label = t(FIELD_KEYS[name], lang) if name in FIELD_KEYS else name
        return t("plans.spelled", lang, label=label) if value is None else t("plans.spelled_value", lang, label=label, value=value)  # fmt: skip

    return spell


def refusal(exc: ImportRefused, lang: str) -> tuple[str, str]:
    """The form field a refusal of the core concerns (by its ``field``), and what the page says
    there: what is wrong in the person's language, then the core's message (in that language where
    the catalogue has it)."""
    field = exc.field if exc.field in FIELD_KEYS else _FORM_FIELD.get(exc.field or "", "file")
    spell = _spelling(lang)
    detail = exc.render(spell, lang)
    return field, t(f"plans.refused.{field}", lang, detail=detail)


# -- the form ----------------------------------------------------------------------------------------
def _size(limit: int, lang: str) -> str:
    return f"{number(limit / 1024**2, lang, 1)} MiB" if limit >= 1024**2 else f"{number(limit, lang)} Bytes"


def body_limit() -> int:
    """The bound of a plan upload: the body limit of every request, as ``POST /safeguarding/plan-checks/file`` has it."""
    return get_settings().max_body_bytes


@dataclass
class _Form:
    values: dict[str, str]
    errors: dict[str, str]
    file: UploadFile | None
    crs: int | None


def _read_form(form: FormData, lang: str) -> _Form:
    values = {}
    errors = {}
    for name in ("intended_use", "name", "layer", "crs"):
        value = form.get(name)
        values[name] = value.strip() if isinstance(value, str) else ""
        if len(values[name]) > TEXT_MAX:
            errors[name] = t("plans.too_long", lang, max=TEXT_MAX)
    if values["intended_use"] not in ("", *USES) and "intended_use" not in errors:
        errors["intended_use"] = t("plans.no_use", lang)
    crs = None
    if values["crs"] and "crs" not in errors:
        digits = re.fullmatch(r"(?:EPSG:)?(\d{1,7})", values["crs"], re.I)
        crs = int(digits[1]) if digits else None
        if crs is None or not 1 <= crs <= EPSG_MAX:
            errors["crs"] = t("plans.crs_number", lang, max=number(EPSG_MAX, lang))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = t("plans.no_file", lang)
        upload = None
    return _Form(values, errors, upload, crs)


def _form_page(
    request: Request,
    current: users.Session,
    values: dict | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
):
    lang = lang_of(request)
    principal = current.user.principal
    with request.app.state.engine.connect() as conn:
        checks, count = recorded_checks(conn, principal, LISTED)
    return page(
        request,
        "plans/form.html",
        {
            "values": values or {},
            "errors": errors or {},
            "labels": {name: t(key, lang) for name, key in FIELD_KEYS.items()},
            "uses": [(code, DESIGNATION.label(code, lang)) for code in USES],
            "accept": ",".join(sorted(PLAN_FILES)),
            "limit": body_limit(),
            "limit_text": _size(body_limit(), lang),
            "checks": [_listed(c, lang) for c in checks],
            "count": count,
            "sees_all": principal.sees_all(),
        },
        status_code=status_code,
    )


class _PlanUpload(CappedUpload):
    """The upload's route, bounded by the body limit of every request (api/limits.py leaves this
    path to it): over the limit, the form again, saying so at the file field (413)."""

    setting = "LANDREG_MAX_BODY_BYTES"

    def limit(self, request: Request) -> int:
        return body_limit()

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except FileTooLarge as exc:
                current = await run_in_threadpool(current_session, request)
                if current is None or current.user.role not in ROLES:
                    raise
                lang = lang_of(request)
                message = t("plans.too_large", lang, limit=_size(exc.limit_bytes, lang))
                response = await run_in_threadpool(_form_page, request, current, None, {"file": message}, 413)
                response.headers["Connection"] = "close"  # the rest of the body is not read
                return response

        return handle


router = APIRouter()
upload_router = APIRouter(route_class=_PlanUpload)


@router.get(PATH)
def plan_check_form(request: Request, current: Checker):
    return _form_page(request, current)


@upload_router.post(PATH)
def run_plan_check(request: Request, current: Checker, form: CheckedForm):
    """Read the plan's area, check it and record it as ``POST /safeguarding/plan-checks/file`` does;
    then the recorded check's page."""
    lang = lang_of(request)
    read = _read_form(form, lang)
    if read.errors:
        return _form_page(request, current, read.values, read.errors, 422)
    values = read.values
    with tempfile.TemporaryDirectory(prefix="landreg-plan-") as tmp:
        try:
            path = save_upload(read.file, Path(tmp), PLAN_FILES)
        except ImportRefused:
            message = t("plans.refused.type", lang, file=Path(read.file.filename).name, suffixes=", ".join(sorted(PLAN_FILES)))  # fmt: skip
            return _form_page(request, current, values, {"file": message}, 422)
        try:
            plan = read_plan_file(path, values["layer"] or None, read.crs)
        except PlanError as exc:
            field, message = refusal(exc, lang)
            return _form_page(request, current, values, {field: message}, 422)
    principal = current.user.principal
    try:
        with request.app.state.engine.begin() as conn:
            check = check_plan(
                conn,
                plan.area,
                values["intended_use"] or None,
                view=view_of(principal),
                record=(principal.owner, values["name"] or plan.name),
                municipalities=plan.municipalities,
                designations=plan.designations,
            )
    except PlanError as exc:
        field, message = refusal(exc, lang)
        return _form_page(request, current, values, {field: message}, 422)
    return RedirectResponse(f"{PATH}/{check.id}?neu=1", status_code=303)


# -- recorded checks ---------------------------------------------------------------------------------
def outlines(conn: Connection, principal: Principal, ids: list[str]) -> dict[str, dict]:
    """The outlines (GeoJSON, EPSG:4326) of those parcels the person sees, as they see them."""
    if not ids:
        return {}
    rows = visible_rows(view_of(principal))
    wanted = sorted({uuid.UUID(i) for i in ids})
    found = conn.execute(
        select(rows.c.id, func.ST_AsGeoJSON(func.ST_Transform(rows.c.geom, 4326), 7)).where(rows.c.id.in_(wanted))
    )
    return {str(parcel_id): json.loads(geometry) for parcel_id, geometry in found}


# -- showing a check ---------------------------------------------------------------------------------
def _when(value: dt.datetime, lang: str) -> str:
    local = value.astimezone(BERLIN)
    return local.strftime("%d.%m.%Y, %H:%M Uhr" if lang == "de" else "%Y-%m-%d %H:%M")


def _use(code: str | None, lang: str) -> str:
    """A use as people read it; a plan checked by its designations has several (``GI+WA``)."""
    uses = (code or "").split("+")
    return " + ".join(DESIGNATION.label(u, lang) if u in DESIGNATION.codes else u for u in uses)


def _label(codes, code: str | None, lang: str) -> str:
    return codes.label(code, lang) if code in codes.codes else (code or "–")


def _listed(row: dict, lang: str) -> dict:
    return row | {
        "when": _when(row["checked_at"], lang),
        "use": _use(row["intended_use"], lang),
        "loss_ha": number(row["loss_m2"] / 10_000, lang, 2),
    }


def _parcel_row(entry: dict, names: dict[str, str], seen: set[str], lang: str) -> dict:
    """A touched parcel of the core's result as the table shows it."""
    area, affected = entry.get("area_m2") or 0.0, entry.get("affected_m2") or 0.0
    conflict = entry.get("conflict") or "keiner"
    return {
        "id": entry["id"],
        "link": entry["id"] in seen,
        "ref": entry.get("local_ref") or "",
        "name": entry.get("name") or "",
        "municipality": entry.get("municipality") or names.get(entry.get("ags"), entry.get("ags") or ""),
        "category": _label(CATEGORY, entry.get("category"), lang),
        "status": _label(STATUS, entry.get("status"), lang),
        "area": number(area, lang),
        "affected": number(affected, lang),
        "affected_m2": affected,
        "share": number(100 * affected / area, lang, 1) + "\u00a0%" if area else "–",
        "conflict": conflict,
        "conflict_text": t(f"plans.conflict.{conflict}", lang),
    }


def _designation_row(entry: dict, lang: str) -> dict:
    """A designated area of the plan (an XPlanGML Baugebiet), checked with its own use."""
    loss = entry.get("loss_region_m2") or 0.0
    return {
        "use": entry.get("use_label") or _use(entry.get("use"), lang),
        "checked_as": _use(entry.get("checked_as"), lang),
        "area": number(entry.get("area_m2") or 0.0, lang),
        "loss": number(loss, lang),
        "conflict": bool(entry.get("conflict")),
    }


def _abstand_row(entry: dict, names: dict[str, str], seen: set[str], lang: str) -> dict:
    distance = entry.get("distance_m") or 0.0
    return {
        "id": entry["id"],
        "link": entry["id"] in seen,
        "ref": entry.get("local_ref") or "",
        "name": entry.get("name") or "",
        "municipality": names.get(entry.get("ags"), entry.get("ags") or ""),
        "category": _label(CATEGORY, entry.get("category"), lang),
        "distance": number(distance, lang),
        "klass": entry.get("abstand_class"),
        "required": number(entry.get("required_m") or 0, lang),
        "conflict_text": t(
            "plans.conflict.abstandserlass", lang, distance=number(distance, lang), klass=entry.get("abstand_class"),
            required=number(entry.get("required_m") or 0, lang),
        ),
    }  # fmt: skip


def _map_data(area: str, parcels: list[dict], abstand: list[dict], shapes: dict[str, dict]) -> Markup:
    """What the map draws: the plan area and the outlines of the parcels the person sees, with the
    conflict each has (a parcel built over keeps that conflict, as the record of the check does)."""
    conflicts = {p["id"]: p["conflict"] for p in parcels}
    for a in abstand:
        if conflicts.get(a["id"], "keiner") == "keiner":
            conflicts[a["id"]] = "abstandserlass"
    labels = {r["id"]: r["ref"] + (f" – {r['name']}" if r["name"] else "") for r in (*abstand, *parcels)}
    features = [
        {"type": "Feature", "id": pid, "geometry": shapes[pid], "properties": {"conflict": c, "label": labels[pid]}}
        for pid, c in conflicts.items()
        if pid in shapes
    ]
    shown = {"area": json.loads(area), "parcels": {"type": "FeatureCollection", "features": features}}
    return _script_json(json.dumps(shown, ensure_ascii=False))


@router.get(PATH + "/{check_id:int}")
def plan_check_page(request: Request, current: Checker, check_id: int):
    """A recorded check: the core's result as recorded, the plan area and the parcels on a map."""
    lang = lang_of(request)
    principal = current.user.principal
    with request.app.state.engine.connect() as conn:
        try:
            check = recorded_check(conn, principal, check_id)
        except NotFound:
            raise NotFound(t("plans.not_found", lang)) from None
        result = check["result"] or {}
        parcels, abstand = result.get("parcels") or [], result.get("abstand") or []
        losses = result.get("loss_by_municipality") or {}
        names = municipality_names(conn, sorted({e["ags"] for e in (*parcels, *abstand)} | set(losses)))
        shapes = outlines(conn, principal, [e["id"] for e in (*parcels, *abstand)])
    seen = set(shapes)
    parcel_rows = [_parcel_row(e, names, seen, lang) for e in parcels]
    abstand_rows = [_abstand_row(e, names, seen, lang) for e in abstand]
    loss_m2 = result.get("loss_region_m2") or 0.0
    return page(
        request,
        "plans/check.html",
        {
            "check": check,
            "when": _when(check["checked_at"], lang),
            "use": _use(check["intended_use"], lang),
            "places": ", ".join(
                f"{m.get('name') or m.get('ags')} ({number(100 * (m.get('share') or 0), lang)} %)"
                for m in result.get("municipalities") or []
            ),
            "designations": [_designation_row(d, lang) for d in result.get("designations") or []],
            "new": request.query_params.get("neu") == "1",
            "parcels": parcel_rows,
            "abstand": abstand_rows,
            "loss_m2": number(loss_m2, lang),
            "loss_ha": number(loss_m2 / 10_000, lang, 2),
            "has_loss": loss_m2 > 0,
            "losses": [
                (names.get(ags, ags), number(m2 / 10_000, lang, 2))
                for ags, m2 in sorted(losses.items(), key=lambda item: -item[1])
            ],
            "map_data": _map_data(check["area"], parcel_rows, abstand_rows, shapes),
        },
    )


router.include_router(upload_router)
