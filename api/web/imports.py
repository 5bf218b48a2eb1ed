"""Workspace area `imports`: the import page of planners (``/app/import``).

The planner uploads a file with the options of ``POST /imports`` as form fields (same file types,
same size limit, :class:`api.imports.CappedUpload`); the page runs the import as a dry run and
shows its report (counts, column mapping, rejected rows with row, field and reason). The file is
kept on the server (:class:`KeptUploads`: a directory under the data directory named by an
unguessable id, bound to the user who uploaded it, for an hour at most) until the planner
confirms: then the same file is imported with the same options without dry run, the kept file is
deleted, and the page shows the result with its submission for review.

Refusals of the file as a whole (:class:`landreg.importer.ImportRefused`) are shown at the form
field they name, spelled as that field's label, as ``api/errors.py`` spells them for ``/imports``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from api.imports import SUFFIXES, CappedUpload, save_upload, upload_limit
from api.web.drawing import municipality_names, number
from api.web.pages import lang_of, page
from api.web.session import CheckedForm, current_session, require
from api.web.texts import register as register_texts
from api.web.texts import t
from landreg import fields, users
from landreg.errors import NotFound
from landreg.importer import MODES, FileTooLarge, ImportOptions, ImportRefused, ImportReport, InvalidOption, import_file
from landreg.messages import LANGS
from landreg.settings import get_settings
from landreg.vocab import CATEGORY

#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = [("/app/import", "imports.nav", ("planner",))]
Planner = Annotated[users.Session, Depends(require("planner"))]
#: The options of the form (names as ImportOptions and POST /imports have them), their text keys.
OPTIONS = {
    "municipality": "imports.municipality",
    "category": "imports.category",
    "mode": "imports.mode",
    "layer": "imports.layer",
    "sheet": "imports.sheet",
    "crs": "imports.crs",
    "encoding": "imports.encoding",
}
FIELD_KEYS = {"file": "imports.file", **OPTIONS}
OPTION_MAX = 200  # characters of an option's value
SHOWN_ROWS = 500  # rejected rows and notes listed on the page (the report counts all of them)
KEEP_SECONDS = 3600
BERLIN = ZoneInfo("Europe/Berlin")

register_texts(
    {
        "imports.nav": ("Import", "Import"),
        "imports.title": ("Flächen importieren", "Import parcels"),
        "imports.intro": (
            "Laden Sie eine Datei Ihrer Flächen hoch. Zuerst prüft das Register sie, ohne etwas zu speichern "
            "(Probelauf), und zeigt, welche Spalten es wie versteht und welche Zeilen es ablehnen würde. "
            "Erst mit „Import bestätigen“ werden die Flächen gespeichert; der Import wartet dann als eine "
            "Einreichung auf die Prüfung.",
            "Upload a file of your parcels. First the register checks it without saving anything (a dry "
            "run) and shows how it reads the columns and which rows it would reject. Only “Confirm import” "
            "saves the parcels; the import then waits for review as one submission.",
        ),
        "imports.file": ("Datei", "File"),
        "imports.file_help": (
            "GeoPackage, Shapefile als ZIP, GeoJSON, FlatGeobuf, KML, CSV oder XLSX; höchstens {limit}.",
            "GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, KML, CSV or XLSX; at most {limit}.",
        ),
        "imports.municipality": ("Gemeinde", "Municipality"),
        "imports.municipality_help": (
            "Die Gemeinde aller Zeilen, die keine eigene nennen.",
            "The municipality of every row that names none.",
        ),
        "imports.from_file": ("– aus der Datei –", "– from the file –"),
        "imports.category": ("Kategorie (Vorgabe)", "Category (default)"),
        "imports.category_help": (
            "Die Kategorie der Zeilen ohne eigene Kategorie.",
            "The category of the rows that have none of their own.",
        ),
        "imports.mode": ("Modus", "Mode"),
        "imports.mode.all-or-nothing": (
            "Alles oder nichts: eine abgelehnte Zeile verhindert den ganzen Import",
            "All or nothing: one rejected row stops the whole import",
        ),
        "imports.mode.keep-valid": (
            "Gültige Zeilen übernehmen, abgelehnte auslassen",
            "Keep the valid rows, leave out the rejected ones",
        ),
        "imports.more": ("Weitere Angaben (nur falls nötig)", "More options (only if needed)"),
        "imports.layer": ("Ebene (Layer)", "Layer"),
        "imports.layer_help": (
            "Bei Dateien mit mehreren Ebenen, z. B. einem GeoPackage.",
            "For files with several layers, e.g. a GeoPackage.",
        ),
        "imports.sheet": ("Tabellenblatt", "Sheet"),
        "imports.sheet_help": (
            "Bei Arbeitsmappen (XLSX, ODS) mit mehreren Blättern voller Flächen.",
            "For workbooks (XLSX, ODS) with several sheets of parcels.",
        ),
        "imports.crs": ("Koordinatensystem (EPSG-Code)", "Coordinate reference system (EPSG code)"),
        "imports.crs_help": (
            "Nur für Dateien ohne Angabe, z. B. 25832 für ETRS89 / UTM 32N.",
            "Only for files without one, e.g. 25832 for ETRS89 / UTM 32N.",
        ),
        "imports.encoding": ("Zeichenkodierung", "Text encoding"),
        "imports.encoding_help": (
            "Nur falls Umlaute falsch erscheinen, z. B. cp1252 oder latin-1.",
            "Only if umlauts come out wrong, e.g. cp1252 or latin-1.",
        ),
        "imports.check": ("Datei prüfen (Probelauf)", "Check the file (dry run)"),
        "imports.errors": ("Die Datei wurde nicht geprüft:", "The file was not checked:"),
        "imports.no_file": ("Bitte wählen Sie eine Datei aus.", "Please choose a file."),
        "imports.too_long": ("höchstens {max} Zeichen", "at most {max} characters"),
        "imports.spelled": ("„{label}“", "the form field “{label}”"),
        "imports.spelled_value": ("„{label}“ = {value}", "“{label}” = {value}"),
        "imports.file_notes": ("So wurde die Datei gelesen", "How the file was read"),
        "imports.dry_title": ("Probelauf: {file}", "Dry run: {file}"),
        "imports.dry_intro": (
            "Noch ist nichts gespeichert. Prüfen Sie die Zuordnung der Spalten und die abgelehnten Zeilen; "
            "die Datei bleibt bis {until} Uhr zum Bestätigen auf dem Server.",
            "Nothing is saved yet. Check how the columns are read and the rejected rows; the file stays on "
            "the server for confirming until {until}.",
        ),
        "imports.counts": ("Ergebnis", "Result"),
        "imports.rows_read": ("Zeilen gelesen", "rows read"),
        "imports.inserted": ("neu", "new"),
        "imports.changed": ("geändert", "changed"),
        "imports.unchanged": ("unverändert", "unchanged"),
        "imports.rejected": ("abgelehnt", "rejected"),
        "imports.retired": ("stillgelegt", "retired"),
        "imports.options": ("Optionen", "Options"),
        "imports.crs_read": ("Koordinatensystem der Datei", "The file's coordinate reference system"),
        "imports.mapping": ("Zuordnung der Spalten", "Column mapping"),
        "imports.field": ("Feld", "Field"),
        "imports.column": ("Spalte der Datei", "Column of the file"),
        "imports.default": ("Vorgabe: {value}", "default: {value}"),
        "imports.unmapped": ("Nicht verwendete Spalten: {columns}", "Columns not used: {columns}"),
        "imports.rejections": ("Abgelehnte Zeilen", "Rejected rows"),
        "imports.row": ("Zeile", "Row"),
        "imports.reason": ("Grund", "Reason"),
        "imports.no_rejections": ("Keine Zeile abgelehnt.", "No row rejected."),
        "imports.more_rows": (
            "… und {count} weitere (gezählt nach Feld und Grund unten).",
            "… and {count} more (counted by field and reason below).",
        ),
        "imports.by_reason": ("Ablehnungen nach Feld und Grund", "Rejections by field and reason"),
        "imports.count": ("Anzahl", "Count"),
        "imports.notes": ("Hinweise", "Notes"),
        "imports.missing": (
            "{count} aktuelle Flächen der Gemeinde fehlen in der Datei; sie bleiben unverändert.",
            "{count} current parcels of the municipality are not in the file; they stay as they are.",
        ),
        "imports.confirm": ("Import bestätigen", "Confirm import"),
        "imports.discard": ("Verwerfen", "Discard"),
        "imports.confirm_blocked": (
            "Im Modus „Alles oder nichts“ würde wegen der abgelehnten Zeilen nichts importiert. Korrigieren "
            "Sie die Datei oder laden Sie sie im Modus „Gültige Zeilen übernehmen“ erneut hoch.",
            "In the mode “all or nothing” nothing would be imported because of the rejected rows. Correct "
            "the file, or upload it again in the mode “keep the valid rows”.",
        ),
        "imports.again": ("Andere Datei hochladen", "Upload another file"),
        "imports.done_title": ("Import gespeichert: {file}", "Import saved: {file}"),
        "imports.done": (
            "Der Import Nr. {import_id} ist gespeichert und wartet als Einreichung {submission} auf die Prüfung.",
            "Import no. {import_id} is saved and waits for review as submission {submission}.",
        ),
        "imports.done_no_review": ("Der Import Nr. {import_id} ist gespeichert.", "Import no. {import_id} is saved."),
        "imports.to_review": ("Zur Einreichung {submission}", "To submission {submission}"),
        "imports.refused_title": ("Nicht importiert: {file}", "Not imported: {file}"),
        "imports.refused": (
            "Wegen abgelehnter Zeilen wurde im Modus „Alles oder nichts“ nichts gespeichert.",
            "Because of rejected rows nothing was saved in the mode “all or nothing”.",
        ),
        "imports.gone": (
            "Diese hochgeladene Datei gibt es nicht (mehr): sie wurde schon importiert oder verworfen, ist "
            "älter als eine Stunde oder gehört jemand anderem. Bitte laden Sie sie erneut hoch.",
            "This uploaded file does not exist (any more): it was imported or discarded already, is older "
            "than an hour, or belongs to someone else. Please upload it again.",
        ),
    }
)


# -- uploads kept between the dry run and the confirmation -----------------------------------------
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_META = "upload.json"


@dataclass
class Kept:
    """An upload kept for confirming: its file, who uploaded it, when, the options, the dry run's report."""

    id: str
    directory: Path
    file: Path
    owner: str
    created: float
    options: dict[str, str | None]
    report: dict | None = None

    @property
    def expires(self) -> float:
        return self.created + KEEP_SECONDS


class KeptUploads:
    """Uploads kept on the server between the dry run and the confirmation: a directory each under
    ``root``, named by an unguessable id and bound to the user name that uploaded it. Anyone else,
    an unknown id and an upload older than ``keep_s`` seconds get :class:`NotFound` (which also
    deletes the expired one); every upload sweeps away those that expired."""

    def __init__(self, root: Path, keep_s: int = KEEP_SECONDS):
        self.root, self.keep_s = root, keep_s

    def keep(self, owner: str, save: Callable[[Path], Path], options: dict[str, str | None]) -> Kept:
        """A new kept upload; ``save(directory)`` writes the file there and returns its path."""
        self.sweep()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        upload_id = secrets.token_urlsafe(32)
        directory = self.root / upload_id
        directory.mkdir(mode=0o700)
        try:
            (directory / "file").mkdir(mode=0o700)
            path = save(directory / "file")
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        kept = Kept(upload_id, directory, path, owner, time.time(), options)
        self._write(kept)
        return kept

    def find(self, upload_id: str, owner: str) -> Kept:
        """The kept upload ``upload_id`` of ``owner``; NotFound for anything else."""
        if not _UPLOAD_ID.fullmatch(upload_id or ""):
            raise NotFound(_gone())
        kept = self._read(self.root / upload_id, upload_id)
        if kept is None or not secrets.compare_digest(kept.owner, owner):
            raise NotFound(_gone())
        if time.time() >= kept.created + self.keep_s:
            self.drop(kept)
            raise NotFound(_gone())
        return kept

    def take(self, upload_id: str, owner: str) -> Kept:
        """The kept upload, moved aside so that nobody confirms it twice (drop it when done)."""
        kept = self.find(upload_id, owner)
        taken = self.root / f"{upload_id}.{secrets.token_hex(4)}.taken"
        try:
            os.rename(kept.directory, taken)  # atomic: a second confirmation finds nothing
        except OSError:
            raise NotFound(_gone()) from None
        return Kept(kept.id, taken, taken / kept.file.relative_to(kept.directory), kept.owner, kept.created,
                    kept.options, kept.report)  # fmt: skip

    def save_report(self, kept: Kept, report: dict) -> None:
        kept.report = report
        self._write(kept)

    def drop(self, kept: Kept) -> None:
        shutil.rmtree(kept.directory, ignore_errors=True)

    def sweep(self) -> None:
        """Delete the uploads (and interrupted confirmations) older than ``keep_s``."""
        if not self.root.is_dir():
            return
        oldest = time.time() - self.keep_s
        for entry in self.root.iterdir():
            try:
                if entry.stat().st_mtime < oldest:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue  # removed meanwhile

    def _write(self, kept: Kept) -> None:
        meta = {"owner": kept.owner, "created": kept.created, "file": kept.file.name, "options": kept.options,
                "report": kept.report}  # fmt: skip
        partial = kept.directory / f"{_META}.part"
        partial.write_text(json.dumps(meta, default=str), encoding="utf-8")
        partial.replace(kept.directory / _META)

    @staticmethod
    def _read(directory: Path, upload_id: str) -> Kept | None:
        try:
            meta = json.loads((directory / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Kept(upload_id, directory, directory / "file" / meta["file"], meta["owner"], meta["created"],
                    meta["options"], meta.get("report"))  # fmt: skip


def _gone() -> str:
    return f"{t('imports.gone', 'de')} / {t('imports.gone', 'en')}"


def kept_uploads() -> KeptUploads:
    """The kept uploads of this server, under ``<LANDREG_DATA_DIR>/web-uploads``."""
    return KeptUploads(get_settings().data_dir / "web-uploads")


# -- the form ----------------------------------------------------------------------------------------
def _spelling(lang: str) -> Callable[[str, str | None], str]:
    """How a refusal names an option on this page: by its form field's label."""

    def spell(name: str, value: str | None) -> str:
        label = t(FIELD_KEYS[name], lang) if name in FIELD_KEYS else name
        if value is None:
            return t("imports.spelled", lang, label=label)
        return t("imports.spelled_value", lang, label=label, value=value)

    return spell


def refusal_message(exc: ImportRefused, lang: str) -> str:
    """The refusal in the person's language, its options named by the form's labels."""
    return exc.render(_spelling(lang), lang)


def _reports(report: ImportReport) -> dict[str, dict]:
    """The report as data in each language the page speaks (kept with the upload: the page is shown
    in the person's language, which may change before confirming), options named by the form's labels."""
    return {
        lang: json.loads(json.dumps(report.to_dict(spell=_spelling(lang), lang=lang), default=str)) for lang in LANGS
    }


def _in_language(reports: dict | None, lang: str) -> dict:
    """The report of :func:`_reports` in ``lang``."""
    reports = reports or {}
    return reports.get(lang) or reports.get("en") or {}


def _size(limit: int, lang: str) -> str:
    return f"{number(limit / 1024**2, lang)} MiB" if limit >= 1024**2 else f"{number(limit, lang)} Bytes"


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
        municipalities = municipality_names(conn, principal.ags)
    values = values or {}
    return page(
        request,
        "imports/form.html",
        {
            "values": values | {"mode": values.get("mode") or MODES[0]},
            "errors": errors or {},
            "labels": {name: t(key, lang) for name, key in FIELD_KEYS.items()},
            "municipalities": municipalities,
            "categories": [(code, CATEGORY.label(code, lang)) for code in CATEGORY.codes],
            "modes": [(mode, t(f"imports.mode.{mode}", lang)) for mode in MODES],
            "accept": ",".join(sorted(SUFFIXES)),
            "limit": _size(upload_limit(request), lang),
        },
        status_code=status_code,
    )


@dataclass
class _Form:
    options: dict[str, str | None]
    errors: dict[str, str]
    file: UploadFile | None


def _read_form(form: FormData, lang: str) -> _Form:
    options: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name in OPTIONS:
        value = form.get(name)
        value = value.strip() if isinstance(value, str) else ""
        if len(value) > OPTION_MAX:
            errors[name] = t("imports.too_long", lang, max=OPTION_MAX)
        options[name] = value or None
    options["mode"] = options["mode"] or MODES[0]
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = t("imports.no_file", lang)
        upload = None
    return _Form(options, errors, upload)


def _import_options(current: users.Session, options: dict[str, str | None], dry_run: bool) -> ImportOptions:
    principal = current.user.principal
    return ImportOptions(
        actor=principal.owner,
        layer=options.get("layer"),
        sheet=options.get("sheet"),
        municipality=options.get("municipality"),
        category=options.get("category"),
        crs=options.get("crs"),
        encoding=options.get("encoding"),
        mode=options.get("mode") or MODES[0],
        dry_run=dry_run,
        rejected_rows_file=False,  # the kept directory goes with the confirmation
        allowed_ags=principal.ags,
        principal=principal,
    )


class _UploadPage(CappedUpload):
    """The upload's route: capped as ``POST /imports`` is; an upload over the limit is answered
    with the form again, saying so at the file field (413)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except FileTooLarge as exc:
                current = await run_in_threadpool(current_session, request)
                if current is None or current.user.role != "planner":
                    raise
                lang = lang_of(request)
                response = await run_in_threadpool(
                    _form_page, request, current, None, {"file": refusal_message(exc, lang)}, 413
                )
                response.headers["Connection"] = "close"  # the rest of the body is not read
                return response

        return handle


router = APIRouter()
upload_router = APIRouter(route_class=_UploadPage)


@router.get("/app/import")
def import_form(request: Request, current: Planner):
    return _form_page(request, current)


@upload_router.post("/app/import")
def upload(request: Request, current: Planner, form: CheckedForm):
    """Keep the file, run the import as a dry run, and show its report (at ``/app/import/{id}``)."""
    lang = lang_of(request)
    read = _read_form(form, lang)
    if read.errors:
        return _form_page(request, current, read.options, read.errors, 422)
    store = kept_uploads()
    try:
        kept = store.keep(current.user.username, lambda d: save_upload(read.file, d, SUFFIXES), read.options)
    except ImportRefused as exc:  # a file type the importer does not read
        return _form_page(request, current, read.options, {exc.field or "file": refusal_message(exc, lang)}, 422)
    try:
        with request.app.state.engine.begin() as conn:
            report = import_file(conn, kept.file, _import_options(current, read.options, dry_run=True))
    except ImportRefused as exc:
        store.drop(kept)
        status = 400 if isinstance(exc, InvalidOption) else 422
        return _form_page(request, current, read.options, {exc.field or "file": refusal_message(exc, lang)}, status)
    except BaseException:
        store.drop(kept)
        raise
    store.save_report(kept, _reports(report))
    return RedirectResponse(f"/app/import/{kept.id}", status_code=303)


def _field_label(name: str, lang: str) -> str:
    try:
        return fields.field(name).label(lang)
    except KeyError:
        return {"geom": "Geometrie" if lang == "de" else "Geometry"}.get(name, name)


def _report_context(report: dict, lang: str) -> dict:
    """The report as the templates show it: labels for fields, the first rows, counts by reason."""
    rejections = report.get("rejections") or []
    notes = report.get("notes") or []
    by_reason = sorted(
        (
            (f, reason, n)
            for f, counts in (report.get("rejection_counts") or {}).items()
            for reason, n in counts.items()
        ),
        key=lambda c: -c[2],
    )
    return {
        "report": report,
        "mapping": [(_field_label(f, lang), column) for f, column in (report.get("mapping") or {}).items()],
        "defaults": [(_field_label(f, lang), value) for f, value in (report.get("defaults") or {}).items()],
        "rejections": [
            {"row": r["row"], "field": r["field"], "label": _field_label(r["field"], lang), "reason": r["reason"]}
            for r in rejections[:SHOWN_ROWS]
        ],
        "more_rejections": len(rejections) - min(len(rejections), SHOWN_ROWS) + (report.get("rejections_omitted") or 0),
        "notes": [{"row": r["row"], "label": _field_label(r["field"], lang), "reason": r["reason"]} for r in notes[:SHOWN_ROWS]],
        "by_reason": [(_field_label(f, lang), reason, n) for f, reason, n in by_reason],
        "fmt": lambda value: number(value or 0, lang),
    }  # fmt: skip


def _options_shown(request: Request, options: dict[str, str | None], lang: str) -> list[tuple[str, str]]:
    """The options of an upload as the page shows them: label, and the value's label where it has one."""
    names = {}
    if options.get("municipality"):
        with request.app.state.engine.connect() as conn:
            names = municipality_names(conn, [options["municipality"]])
    shown = []
    for name, value in options.items():
        if not value or name not in OPTIONS:
            continue
        if name == "mode" and value in MODES:
            value = t(f"imports.mode.{value}", lang)
        elif name == "category" and value in CATEGORY.codes:
            value = CATEGORY.label(value, lang)
        elif name == "municipality" and value in names:
            value = f"{names[value]} ({value})"
        shown.append((t(OPTIONS[name], lang), value))
    return shown


@router.get("/app/import/{upload_id}")
def dry_run_report(request: Request, current: Planner, upload_id: str):
    """The dry run's report of a kept upload, with "Import bestätigen"."""
    lang = lang_of(request)
    kept = kept_uploads().find(upload_id, current.user.username)
    report = _in_language(kept.report, lang)
    blocked = bool(report.get("rejected")) and kept.options.get("mode") == "all-or-nothing"
    options = _options_shown(request, kept.options, lang)
    until = dt.datetime.fromtimestamp(kept.expires, BERLIN).strftime("%H:%M")
    return page(
        request,
        "imports/dry_run.html",
        _report_context(report, lang) | {"kept": kept, "blocked": blocked, "options": options, "until": until},
    )


@router.post("/app/import/{upload_id}")
def confirm(request: Request, current: Planner, upload_id: str, form: CheckedForm):
    """Import the kept upload without dry run (and delete it): the result with its submission."""
    lang = lang_of(request)
    store = kept_uploads()
    kept = store.take(upload_id, current.user.username)
    try:
        with request.app.state.engine.begin() as conn:
            report = import_file(conn, kept.file, _import_options(current, kept.options, dry_run=False))
    except ImportRefused as exc:
        return _form_page(request, current, kept.options, {exc.field or "file": refusal_message(exc, lang)}, 422)
    finally:
        store.drop(kept)
    shown = _in_language(_reports(report), lang)
    status = 201 if report.status == "committed" else 422
    return page(request, "imports/result.html", _report_context(shown, lang), status_code=status)


@router.post("/app/import/{upload_id}/verwerfen")
def discard(request: Request, current: Planner, upload_id: str, form: CheckedForm):
    store = kept_uploads()
    store.drop(store.find(upload_id, current.user.username))
    return RedirectResponse("/app/import", status_code=303)


router.include_router(upload_router)
