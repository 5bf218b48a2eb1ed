"""Workspace area `drawing`: a new parcel drawn on a map, and a parcel's outline edited.

* ``/app/flaechen/neu``: a Leaflet map with Leaflet-Geoman to draw the outline, snapping to the
  parcels around (those of the planner's view, from :func:`landreg.register.features_page` through
  ``/app/zeichnen/flaechen``), and the parcel's fields with the registry's labels and code lists.
  The outline travels as GeoJSON in EPSG:4326 in the form's ``geometry`` field (``drawing.js``
  writes it; it can be pasted there too); :func:`landreg.parcels.geometry_from_geojson` transforms
  it, :func:`landreg.register.create` records it as the signed-in planner, and the page then shows
  the municipality and area the database derived.
* ``/app/flaechen/{id}/geometrie``: the outline editable (vertices, snapping to the neighbours),
  saved with :func:`landreg.register.update` based on the version the page showed; a conflict
  shows the current version, with a reload link and a button that applies the outline to it.
* ALKIS: where Flurstücke are loaded (``landreg alkis load``) in the planner's municipalities, the
  new-parcel page offers them instead of drawing: ``/app/zeichnen/flurstuecke`` gives those in the
  map's extent (:func:`landreg.alkis.flurstuecke_in`), the planner ticks them on the map or in the
  list, and :func:`landreg.alkis.parcel_from_flurstuecke` records the parcel of their union.
  Flurstücke of other municipalities are shown grey and cannot be ticked: the cadastre is open
  data, and seeing where the own municipality ends explains why a neighbour cannot be chosen.

Refusals of the core are shown at their field (``ParcelError.field``), the outline kept.
"""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from typing import Annotated

import shapely
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.web.pages import lang_of, page
from api.web.session import CheckedForm, require
from api.web.texts import register as register_texts
from api.web.texts import t
from landreg import alkis, fields, flurstueck, params, register, users
from landreg.access import AccessDenied, require_edit, view_of
from landreg.errors import InvalidParameter, NotFound, VersionConflict
from landreg.features import COLLECTIONS
from landreg.parcels import MAX_TEXT, ParcelError, geometry_from_geojson, value_from_text

router = APIRouter()
#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = [("/app/flaechen/neu", "drawing.nav", ("planner",))]

#: The fields of a new parcel's form, in this order (the parcel page has every field).
FORM_FIELDS = tuple(
    fields.field(name)
    for name in ("local_ref", "name", "category", "status", "designation", "availability", "data_date")
) + (fields.field("publication_allowed"),)
NEIGHBOURS_URL = "/app/zeichnen/flaechen"
#: Parcels the drawing map loads around its extent at most, and the largest extent it asks for
#: (degrees): zoomed out further, the map asks the planner to zoom in.
NEIGHBOURS_MAX, NEIGHBOURS_SPAN = 2_000, 0.2
#: The loaded ALKIS Flurstücke of the map's extent: at most so many (more: the map asks to zoom in),
#: in an extent of at most so many degrees (about 2 km × 3 km in the Ruhr).
FLURSTUECKE_URL = "/app/zeichnen/flurstuecke"
FLURSTUECKE_MAX, FLURSTUECKE_SPAN = 300, 0.03
#: The form's choice how the outline is given: drawn (or pasted), or the union of Flurstücke.
SOURCES = ("zeichnen", "flurstuecke")
#: The parcel fields the neighbours carry (labels in their tooltips).
NEIGHBOUR_PROPERTIES = ["local_ref", "name", "category", "ags"]
#: Coordinates of an outline sent back unchanged are equal to these degrees (what was sent has 7 digits).
_SAME_DEGREES = 1e-9

Planner = Annotated[users.Session, Depends(require("planner"))]

register_texts(
    {
        "drawing.nav": ("Neue Fläche", "New parcel"),
        "drawing.new_title": ("Neue Fläche zeichnen", "Draw a new parcel"),
        "drawing.new_intro": (
            "Zeichnen Sie den Umriss auf der Karte (Werkzeug „Polygon“ oder „Rechteck“ links oben; "
            "Ecken rasten an den Umrissen der Flächen in der Nähe ein) und füllen Sie die Felder aus. "
            "Gemeinde und Flächengröße ermittelt das Register aus dem Umriss.",
            "Draw the outline on the map (the “polygon” or “rectangle” tool at the top left; corners snap "
            "to the outlines of the parcels nearby) and fill in the fields. The register derives the "
            "municipality and the area from the outline.",
        ),
        "drawing.alkis_note": (
            "Für Ihre Gemeinde sind keine ALKIS-Flurstücke geladen; die Administration lädt sie mit "
            "„landreg alkis load DATEI“. Bis dahin: den Umriss zeichnen oder als GeoJSON einfügen.",
            "No ALKIS Flurstücke are loaded for your municipality; the administration loads them with "
            "“landreg alkis load FILE”. Until then: draw the outline, or paste it as GeoJSON.",
        ),
        "drawing.source": ("Umriss der Fläche", "The parcel's outline"),
        "drawing.source_zeichnen": ("zeichnen oder als GeoJSON einfügen", "draw it, or paste it as GeoJSON"),
        "drawing.source_flurstuecke": ("aus ALKIS-Flurstücken zusammenstellen", "compose it of ALKIS Flurstücke"),
        "drawing.alkis_intro": (
            "Klicken Sie auf der Karte die Flurstücke an, aus denen die Fläche besteht, oder kreuzen Sie sie "
            "in der Liste an. Umriss und Flächengröße ergeben sich aus ihrer Vereinigung; grau dargestellte "
            "Flurstücke gehören zu einer anderen Gemeinde und sind nicht wählbar.",
            "Click the Flurstücke the parcel consists of on the map, or tick them in the list. Outline and "
            "area are their union; Flurstücke shown grey belong to another municipality and cannot be chosen.",
        ),
        "drawing.alkis_list": ("Flurstücke im Kartenausschnitt", "Flurstücke in the map's extent"),
        "drawing.alkis_list_empty": (
            "Keine Flurstücke im Kartenausschnitt; verschieben Sie die Karte dorthin, wo die Fläche liegt.",
            "No Flurstücke in the map's extent; move the map to where the parcel lies.",
        ),
        "drawing.alkis_item": ("{name} · {area}", "{name} · {area}"),
        "drawing.alkis_other": (
            "{name} · Gemeinde {municipality}, nicht wählbar",
            "{name} · municipality {municipality}, cannot be chosen",
        ),
        "drawing.alkis_zoom_in": (
            "Zum Wählen von Flurstücken weiter hineinzoomen.",
            "Zoom in further to choose Flurstücke.",
        ),
        "drawing.alkis_too_many": (
            "Mehr als {limit} Flurstücke im Kartenausschnitt; zum Wählen weiter hineinzoomen.",
            "More than {limit} Flurstücke in the map's extent; zoom in to choose.",
        ),
        "drawing.alkis_loaded": ("{count} Flurstücke im Kartenausschnitt.", "{count} Flurstücke in the map's extent."),
        "drawing.alkis_failed": ("Die Flurstücke konnten nicht geladen werden.", "The Flurstücke could not be loaded."),
        "drawing.alkis_none_chosen": ("Noch kein Flurstück gewählt.", "No Flurstück chosen yet."),
        "drawing.alkis_selection": (
            "Gewählt: {count} Flurstück(e), zusammen etwa {area}",
            "Chosen: {count} Flurstück(e), together about {area}",
        ),
        "drawing.alkis_choose": (
            "Bitte wählen Sie mindestens ein Flurstück (auf der Karte oder in der Liste).",
            "Please choose at least one Flurstück (on the map or in the list).",
        ),
        "drawing.alkis_refused": (
            "Die Flurstücke passen nicht zu einer Fläche: {message}",
            "The Flurstücke do not make a parcel: {message}",
        ),
        "drawing.alkis_notes": ("Hinweise zu den Flurstücken", "Notes on the Flurstücke"),
        "drawing.alkis_created_keys": ("Flurstücke", "Flurstücke"),
        "drawing.legend_flurstuecke": ("Flurstücke (wählbar)", "Flurstücke (can be chosen)"),
        "drawing.legend_chosen": (
            "Gewählte Flurstücke, Umriss ihrer Vereinigung",
            "Chosen Flurstücke, outline of their union",
        ),
        "drawing.legend_other": ("Flurstücke anderer Gemeinden", "Flurstücke of other municipalities"),
        "drawing.map_label": ("Karte zum Zeichnen des Umrisses", "Map for drawing the outline"),
        "drawing.map_help": (
            "Mit der Maus: Werkzeug wählen, Ecken anklicken, mit Klick auf die erste Ecke abschließen; "
            "Ecken danach verschieben, Klick auf eine Kantenmitte fügt eine Ecke hinzu, Rechtsklick "
            "entfernt eine. Ohne Maus: den Umriss als GeoJSON in das Feld unter der Karte einfügen.",
            "With a mouse: choose a tool, click the corners, finish by clicking the first corner; then "
            "drag corners, click the middle of an edge to add a corner, right-click to remove one. "
            "Without a mouse: paste the outline as GeoJSON into the field below the map.",
        ),
        "drawing.geometry": ("Umriss (GeoJSON, EPSG:4326)", "Outline (GeoJSON, EPSG:4326)"),
        "drawing.geometry_help": (
            "Wird beim Zeichnen ausgefüllt; ein eingefügter Umriss (Polygon oder MultiPolygon, Länge/Breite) "
            "erscheint auf der Karte.",
            "Filled in while drawing; an outline pasted here (Polygon or MultiPolygon, longitude/latitude) "
            "appears on the map.",
        ),
        "drawing.geometry_details": ("Umriss als GeoJSON ansehen oder einfügen", "See or paste the outline as GeoJSON"),
        "drawing.clear": ("Umriss löschen", "Remove the outline"),
        "drawing.reset": ("Änderungen am Umriss verwerfen", "Discard the changes to the outline"),
        "drawing.draw_polygon": ("Polygon zeichnen", "Draw a polygon"),
        "drawing.no_outline": ("Noch kein Umriss gezeichnet.", "No outline drawn yet."),
        "drawing.outline_area": ("Gezeichneter Umriss: etwa {area}", "Outline drawn: about {area}"),
        "drawing.zoom_in": (
            "Zum Einrasten an benachbarte Flächen weiter hineinzoomen.",
            "Zoom in further to snap to neighbouring parcels.",
        ),
        "drawing.neighbours": (
            "{count} Flächen in der Nähe geladen; Ecken rasten an ihren Umrissen ein.",
            "{count} parcels nearby loaded; corners snap to their outlines.",
        ),
        "drawing.neighbours_more": (
            "{count} von {matched} Flächen geladen; für alle weiter hineinzoomen.",
            "{count} of {matched} parcels loaded; zoom in for all of them.",
        ),
        "drawing.neighbours_failed": (
            "Die Flächen in der Nähe konnten nicht geladen werden.",
            "The parcels nearby could not be loaded.",
        ),
        "drawing.invalid_geojson": (
            "Das ist kein Polygon oder MultiPolygon als GeoJSON.",
            "That is no Polygon or MultiPolygon as GeoJSON.",
        ),
        "drawing.fields": ("Angaben zur Fläche", "About the parcel"),
        "drawing.required": ("Pflichtfeld", "required"),
        "drawing.missing": ("Pflichtfeld: bitte ausfüllen.", "Required: please fill it in."),
        "drawing.choose": ("– bitte wählen –", "– please choose –"),
        "drawing.none": ("– keine Angabe –", "– not given –"),
        "drawing.create": ("Fläche anlegen", "Create the parcel"),
        "drawing.errors": ("Die Fläche wurde nicht angelegt:", "The parcel was not created:"),
        "drawing.no_geometry": (
            "Bitte zeichnen Sie den Umriss der Fläche (oder fügen Sie ihn als GeoJSON ein).",
            "Please draw the parcel's outline (or paste it as GeoJSON).",
        ),
        "drawing.not_json": ("Der Umriss ist kein gültiges JSON: {error}", "The outline is not valid JSON: {error}"),
        "drawing.refused": (
            "Das Register hat die Fläche abgelehnt: {message}",
            "The register refused the parcel: {message}",
        ),
        "drawing.created": ("Fläche {ref} angelegt", "Parcel {ref} created"),
        "drawing.created_facts": (
            "Das Register hat aus dem Umriss ermittelt: Gemeinde {ags} {municipality}, Fläche {area}. "
            "Version {version}; die Änderung wartet auf die Prüfung.",
            "The register derived from the outline: municipality {ags} {municipality}, area {area}. "
            "Version {version}; the change waits for review.",
        ),
        "drawing.to_parcel": ("Zur Fläche {ref}", "To parcel {ref}"),
        "drawing.another": ("Eine weitere Fläche zeichnen", "Draw another parcel"),
        "drawing.edit_title": ("Umriss von {ref} bearbeiten", "Edit the outline of {ref}"),
        "drawing.edit_intro": (
            "Verschieben Sie die Ecken des Umrisses (sie rasten an den Nachbarflächen ein), klicken Sie auf "
            "eine Kantenmitte, um eine Ecke hinzuzufügen, oder rechts auf eine Ecke, um sie zu entfernen. "
            "Gespeichert wird auf Grundlage von Version {version}.",
            "Drag the outline's corners (they snap to the neighbouring parcels), click the middle of an edge "
            "to add a corner, or right-click a corner to remove it. The change is saved based on version "
            "{version}.",
        ),
        "drawing.save_outline": ("Umriss speichern", "Save the outline"),
        "drawing.back_to_parcel": ("Zurück zur Fläche", "Back to the parcel"),
        "drawing.saved": (
            "Umriss gespeichert: Version {version}, Fläche jetzt {area}. Die Änderung wartet auf die Prüfung.",
            "Outline saved: version {version}, area now {area}. The change waits for review.",
        ),
        "drawing.unchanged": (
            "Der Umriss ist unverändert; es wurde nichts gespeichert.",
            "The outline is unchanged; nothing was saved.",
        ),
        "drawing.conflict": (
            "Die Fläche wurde inzwischen geändert: jetzt Version {current}, Ihr Umriss beruht auf Version "
            "{based}. Der aktuelle Umriss ist gestrichelt dargestellt.",
            "The parcel has changed meanwhile: it is now version {current}, your outline is based on "
            "version {based}. The current outline is shown dashed.",
        ),
        "drawing.conflict_reload": (
            "Aktuelle Version {current} laden (Ihre Änderung verwerfen)",
            "Load the current version {current} (discard your change)",
        ),
        "drawing.conflict_apply": (
            "Meinen Umriss auf Version {current} speichern",
            "Save my outline on version {current}",
        ),
        "drawing.save_errors": ("Der Umriss wurde nicht gespeichert:", "The outline was not saved:"),
        "drawing.area": ("{m2} m² ({ha} ha)", "{m2} m² ({ha} ha)"),
        "drawing.legend": ("Legende", "Legend"),
        "drawing.vertex": ("Ecke des Umrisses (ziehen zum Verschieben)", "Corner of the outline (drag to move)"),
        "drawing.vertex_middle": (
            "Kantenmitte (klicken fügt eine Ecke ein)",
            "Middle of an edge (click to add a corner)",
        ),
        "drawing.legend_outline": ("Umriss", "Outline"),
        "drawing.fact_ags": ("Gemeinde (AGS)", "Municipality (AGS)"),
        "drawing.fact_area": ("Fläche", "Area"),
        "drawing.edit_outline": ("Umriss bearbeiten", "Edit the outline"),
        "drawing.legend_neighbours": ("Flächen in der Nähe", "Parcels nearby"),
        "drawing.legend_current": ("Aktueller Umriss", "Current outline"),
    }
)


# -- formatting and small reads --------------------------------------------------------------------
def number(value: float, lang: str, digits: int = 0) -> str:
    """A number as people read it: ``1.234,5`` in German, ``1,234.5`` in English."""
    written = f"{value:,.{digits}f}"
    return written if lang == "en" else written.translate(str.maketrans(",.", ".,"))


def area_text(area_m2: float | None, lang: str) -> str:
    if area_m2 is None:
        return "–"
    return t("drawing.area", lang, m2=number(area_m2, lang, 1), ha=number(area_m2 / 10_000, lang, 2))


def municipality_names(conn: Connection, ags: list[str] | tuple[str, ...]) -> dict[str, str]:
    """AGS -> name of the given municipalities, by name."""
    rows = conn.execute(
        text("SELECT ags, name FROM municipality WHERE ags = ANY(:ags) ORDER BY name"), {"ags": list(ags)}
    )
    return {r.ags.strip(): r.name for r in rows}


def _bounds(conn: Connection, ags: tuple[str, ...]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the municipalities (the map's first extent)."""
    row = conn.execute(
        text("""SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n
                  FROM (SELECT ST_Extent(ST_Transform(geom, 4326)) AS e FROM municipality WHERE ags = ANY(:ags)) x"""),
        {"ags": list(ags)},
    ).one()
    return None if row.w is None else [[row.s, row.w], [row.n, row.e]]


def _feature(conn: Connection, current: users.Session, parcel_id: uuid.UUID) -> dict:
    """The parcel as the signed-in person sees it, in EPSG:4326 (NotFound when it does not)."""
    return register.one_feature(conn, COLLECTIONS["parcels"], view_of(current.user.principal), str(parcel_id))


# -- reading the form ------------------------------------------------------------------------------
def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_fields(form: FormData, lang: str) -> tuple[dict, dict[str, str], dict[str, str]]:
    """The parcel fields of the form: (attributes, errors by field in the person's language, the
    values as sent); read by the core's :func:`landreg.parcels.value_from_text`."""
    attributes: dict = {}
    errors: dict[str, str] = {}
    sent: dict[str, str] = {}
    for f in FORM_FIELDS:
        raw = _text(form, f.name)
        sent[f.name] = raw
        if f.kind == "bool":
            attributes[f.name] = raw in ("on", "true", "1")
        elif raw:  # the core checks what a value may be (code lists, lengths)
            try:
                attributes[f.name] = value_from_text(f.name, raw)
            except ParcelError as exc:
                errors[f.name] = exc.text(lang)
    return attributes, errors, sent


def parse_geometry(raw: str, lang: str) -> tuple[shapely.Geometry | None, shapely.Geometry | None, str | None]:
    """The outline of the form: (as sent in EPSG:4326, in the storage CRS, the error)."""
    if not raw:
        return None, None, t("drawing.no_geometry", lang)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return None, None, t("drawing.not_json", lang, error=str(exc)[:200])
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        return None, None, t("drawing.invalid_geojson", lang)
    try:
        stored = geometry_from_geojson(value, 4326)
    except InvalidParameter as exc:
        return None, None, exc.text(lang)
    return shapely.geometry.shape(value), stored, None


def _map_config(request: Request, mode: str, **extra) -> dict:
    lang = lang_of(request)
    keys = ("zoom_in", "neighbours", "neighbours_more", "neighbours_failed", "invalid_geojson", "no_outline", "vertex",
            "vertex_middle")  # fmt: skip
    return {
        "mode": mode,
        "lang": lang,
        "neighbours": NEIGHBOURS_URL,
        "span": NEIGHBOURS_SPAN,
        "text": {key: t(f"drawing.{key}", lang) for key in keys}
        | {"outline_area": t("drawing.outline_area", lang, area="{area}")},
        "codes": {
            code: fields.CODE_FIELDS["category"].label(code, lang) for code in fields.CODE_FIELDS["category"].codes
        },
        **extra,
    }


def _field_options(lang: str) -> list[dict]:
    """Each form field as the template draws it: label, kind, its code list's (value, label)."""
    out = []
    for f in FORM_FIELDS:
        options = [(code, f.codes.label(code, lang)) for code in f.codes.codes] if f.codes else []
        default = f.default.strip("'") if f.default and f.kind == "code" else ""
        out.append(
            {"name": f.name, "label": f.label(lang), "kind": f.kind, "required": f.required, "options": options,
             "default": default}
        )  # fmt: skip
    return out


# -- a new parcel ------------------------------------------------------------------------------------
def _alkis_loaded(conn: Connection, bounds: list[list[float]] | None) -> bool:
    """Whether Flurstücke are loaded within the extent of the planner's municipalities."""
    if bounds is None:
        return False
    (south, west), (north, east) = bounds
    return bool(alkis.flurstuecke_in(conn, (west, south, east, north), limit=1).features)


def _new_page(
    request: Request,
    current: users.Session,
    *,
    sent: dict | None = None,
    geometry: str = "",
    errors: dict[str, str] | None = None,
    refusal: str | None = None,
    created: dict | None = None,
    source: str = "zeichnen",
    chosen: list[str] | None = None,
    status_code: int = 200,
    conn: Connection | None = None,
):
    """The drawing page; ``conn``: read on it (a saving transaction's, so that the page of a saved
    parcel is complete before the commit)."""
    lang = lang_of(request)
    principal = current.user.principal
    with request.app.state.engine.connect() if conn is None else nullcontext(conn) as conn:
        bounds = _bounds(conn, principal.ags)
        loaded = bool(chosen) or _alkis_loaded(conn, bounds)  # chosen: keep offering them after a refusal
    alkis_config = None
    if loaded:
        keys = ("alkis_zoom_in", "alkis_loaded", "alkis_failed", "alkis_none_chosen", "alkis_list_empty")
        alkis_config = {
            "url": FLURSTUECKE_URL,
            "span": FLURSTUECKE_SPAN,
            "chosen": [{"kennzeichen": k, "bezeichnung": flurstueck.readable(k)} for k in chosen or []],
            "text": {key: t(f"drawing.{key}", lang) for key in keys}
            | {
                "too_many": t("drawing.alkis_too_many", lang, limit=FLURSTUECKE_MAX),
                "item": t("drawing.alkis_item", lang, name="{name}", area="{area}"),
                "other": t("drawing.alkis_other", lang, name="{name}", municipality="{municipality}"),
                "selection": t("drawing.alkis_selection", lang, count="{count}", area="{area}"),
            },
        }
    return page(
        request,
        "drawing/new.html",
        {
            "fields": _field_options(lang),
            "max_text": MAX_TEXT,
            "labels": {f.name: f.label(lang) for f in FORM_FIELDS}
            | {"geometry": t("drawing.geometry", lang), "flurstueck": t("drawing.alkis_list", lang)},
            "sent": sent or {},
            "geometry": geometry,
            "errors": errors or {},
            "refusal": refusal,
            "created": created,
            "alkis_loaded": loaded,
            "source": source if loaded else "zeichnen",
            "config": _map_config(request, "new", bounds=bounds, alkis=alkis_config),
        },
        status_code=status_code,
    )


def _created(conn: Connection, current: users.Session, parcel_id: uuid.UUID, lang: str, notes=()) -> dict:
    """What the page shows of a parcel just created: what the register derived, the core's notes."""
    props = _feature(conn, current, parcel_id)["properties"]
    names = municipality_names(conn, [props["ags"]])
    keys = props.get("flurstueckskennzeichen")
    return {
        "id": str(parcel_id),
        "ref": props["local_ref"],
        "ags": props["ags"],
        "municipality": names.get(props["ags"], ""),
        "area": area_text(props["area_m2"], lang),
        "area_m2": props["area_m2"],
        "version": props["version"],
        "flurstuecke": [flurstueck.readable(k) for k in keys.split(",")] if keys else [],
        "notes": list(notes),
    }


@router.get("/app/flaechen/neu")
def new_parcel(request: Request, current: Planner, angelegt: Annotated[uuid.UUID | None, Query()] = None):
    """The drawing page; ``?angelegt=<id>``: after creating, with what the register derived."""
    created = None
    if angelegt is not None:
        with request.app.state.engine.connect() as conn:
            created = _created(conn, current, angelegt, lang_of(request))
    return _new_page(request, current, created=created)


def _checked_fields(form: FormData, lang: str) -> tuple[dict, dict[str, str], dict[str, str]]:
    """:func:`parse_fields` and the required fields' check."""
    attributes, errors, sent = parse_fields(form, lang)
    for f in FORM_FIELDS:
        if f.required and f.name not in attributes and f.name not in errors:
            errors[f.name] = t("drawing.missing", lang)
    return attributes, errors, sent


@router.post("/app/flaechen/neu")
def create_parcel(request: Request, current: Planner, form: CheckedForm):
    if _text(form, "source") == "flurstuecke":
        return _create_from_flurstuecke(request, current, form)
    lang = lang_of(request)
    attributes, errors, sent = _checked_fields(form, lang)
    raw_geometry = _text(form, "geometry")
    _, geom, problem = parse_geometry(raw_geometry, lang)
    if problem:
        errors["geometry"] = problem
    if errors:
        return _new_page(request, current, sent=sent, geometry=raw_geometry, errors=errors, status_code=422)
    try:
        with Session(request.app.state.engine) as session:
            parcel_id = register.create(session, current.user.principal, attributes | {"geom": geom}).id
            session.commit()  # the id read before: the commit expires it, and a query after it could fail
    except ParcelError as exc:
        field = "geometry" if exc.field == "geom" else exc.field
        return _new_page(
            request, current, sent=sent, geometry=raw_geometry, errors={field: exc.text(lang)}, status_code=422
        )
    except AccessDenied as exc:  # e.g. an outline in another municipality: the database derived its AGS
        return _new_page(
            request, current, sent=sent, geometry=raw_geometry,
            refusal=t("drawing.refused", lang, message=str(exc)), status_code=403,
        )  # fmt: skip
    return RedirectResponse(f"/app/flaechen/neu?angelegt={parcel_id}", status_code=303)


def _shown_again(values: list[str]) -> list[str]:
    """The ticked Flurstücke to tick again after a refusal: those that are Kennzeichen, stored form."""
    keys = []
    for value in values[: flurstueck.MAX_KEYS]:
        try:
            keys.append(flurstueck.key(value))
        except ValueError:
            continue
    return sorted(set(keys))


def _create_from_flurstuecke(request: Request, current: users.Session, form: FormData):
    """A new parcel of the ticked Flurstücke (:func:`landreg.alkis.parcel_from_flurstuecke`). The page
    is answered directly, not redirected, because the core's notes belong to this one saving."""
    lang = lang_of(request)
    attributes, errors, sent = _checked_fields(form, lang)
    chosen = [v.strip() for v in form.getlist("flurstueck") if isinstance(v, str) and v.strip()]
    again = {"sent": sent, "source": "flurstuecke", "chosen": _shown_again(chosen)}
    if not chosen:
        errors["flurstueck"] = t("drawing.alkis_choose", lang)
    if errors:
        return _new_page(request, current, errors=errors, status_code=422, **again)
    try:
        with Session(request.app.state.engine) as session:
            composed = alkis.parcel_from_flurstuecke(session, current.user.principal, chosen, attributes)
            # the page, read in the saving transaction: after the commit no query can fail the answer
            # to a change that was saved (the person would save it twice)
            conn = session.connection()
            created = _created(conn, current, composed.parcel.id, lang, composed.notes)
            answer = _new_page(request, current, created=created, source="flurstuecke", conn=conn)
            session.commit()
    except ParcelError as exc:
        field = "flurstueck" if exc.field in ("geom", "ags", "flurstueckskennzeichen") else exc.field
        message = exc.text(lang) if field != "flurstueck" else t("drawing.alkis_refused", lang, message=exc.text(lang))
        return _new_page(request, current, errors={field: message}, status_code=422, **again)
    except (InvalidParameter, NotFound) as exc:  # what ALKIS says contradicts the choice, or none loaded
        message = t("drawing.alkis_refused", lang, message=str(exc))
        return _new_page(request, current, errors={"flurstueck": message}, status_code=422, **again)
    except AccessDenied as exc:  # Flurstücke of another municipality
        refusal = t("drawing.refused", lang, message=str(exc))
        return _new_page(request, current, refusal=refusal, status_code=403, **again)
    return answer


# -- editing an outline ----------------------------------------------------------------------------
def _geometry_page(
    request: Request,
    current: users.Session,
    feature: dict,
    *,
    based_on: int | None = None,
    geometry: str | None = None,
    errors: dict[str, str] | None = None,
    conflict: dict | None = None,
    saved: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
):
    props = feature["properties"]
    version = props["version"] if based_on is None else based_on
    config = _map_config(
        request,
        "edit",
        parcelId=feature["id"],
        original=feature["geometry"],
        reference=feature["geometry"] if conflict else None,
    )
    return page(
        request,
        "drawing/geometry.html",
        {
            "parcel": {"id": feature["id"], "ref": props["local_ref"], "name": props.get("name")},
            "version": version,
            "geometry": json.dumps(feature["geometry"]) if geometry is None else geometry,
            "errors": errors or {},
            "conflict": conflict,
            "saved": saved,
            "notice": notice,
            "config": config,
        },
        status_code=status_code,
    )


def _editable(request: Request, current: users.Session, parcel_id: uuid.UUID) -> dict:
    """The parcel, if the signed-in planner may see it (404 otherwise) and change it (403)."""
    with request.app.state.engine.connect() as conn:
        feature = _feature(conn, current, parcel_id)
    require_edit(current.user.principal, feature["properties"]["ags"])
    return feature


@router.get("/app/flaechen/{parcel_id}/geometrie")
def edit_geometry(
    request: Request, current: Planner, parcel_id: uuid.UUID, gespeichert: Annotated[int | None, Query(ge=1)] = None
):
    feature = _editable(request, current, parcel_id)
    saved = None
    if gespeichert is not None:
        lang = lang_of(request)
        saved = t("drawing.saved", lang, version=gespeichert, area=area_text(feature["properties"]["area_m2"], lang))
    return _geometry_page(request, current, feature, saved=saved)


def _same_outline(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    multi = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in (a, b)]
    return shapely.equals_exact(multi[0], multi[1], tolerance=_SAME_DEGREES)


@router.post("/app/flaechen/{parcel_id}/geometrie")
def save_geometry(request: Request, current: Planner, parcel_id: uuid.UUID, form: CheckedForm):
    lang = lang_of(request)
    feature = _editable(request, current, parcel_id)
    raw_geometry = _text(form, "geometry")
    try:
        based_on = params.typed(int, _text(form, "version"), "version")
    except InvalidParameter as exc:
        return _geometry_page(request, current, feature, geometry=raw_geometry, errors={"version": str(exc)},
                              status_code=400)  # fmt: skip
    sent, geom, problem = parse_geometry(raw_geometry, lang)
    if problem:
        return _geometry_page(request, current, feature, based_on=based_on, geometry=raw_geometry,
                              errors={"geometry": problem}, status_code=422)  # fmt: skip
    current_outline = shapely.geometry.shape(feature["geometry"])
    if based_on == feature["properties"]["version"] and _same_outline(sent, current_outline):
        return _geometry_page(request, current, feature, notice=t("drawing.unchanged", lang))
    try:
        with Session(request.app.state.engine) as session:
            version = register.update(session, current.user.principal, parcel_id, {based_on}, {"geom": geom}).version
            session.commit()  # the version read before: a query after the commit could fail a saved change
    except VersionConflict as exc:
        conflict = {"current": exc.current_version, "based": based_on}
        return _geometry_page(
            request, current, feature, based_on=exc.current_version, geometry=raw_geometry,
            conflict=conflict, status_code=409,
        )  # fmt: skip
    except ParcelError as exc:
        field = "geometry" if exc.field == "geom" else exc.field
        return _geometry_page(request, current, feature, based_on=based_on, geometry=raw_geometry,
                              errors={field: exc.text(lang)}, status_code=422)  # fmt: skip
    return RedirectResponse(f"/app/flaechen/{parcel_id}/geometrie?gespeichert={version}", status_code=303)


def _small_box(bbox: str, span: float) -> list[float]:
    """A map extent (west, south, east, north in degrees) at most ``span`` degrees wide and high."""
    box = params.bbox(bbox)
    if len(box) != 4:
        raise InvalidParameter("bbox: 4 numbers (west, south, east, north)", "bbox")
    west, south, east, north = box
    if not (west <= east and south <= north):
        raise InvalidParameter("bbox: west <= east and south <= north", "bbox")
    if east - west > span or north - south > span:
        raise InvalidParameter(f"bbox: at most {span} degrees wide and high; zoom in", "bbox")
    return box


# -- the parcels around, for snapping -------------------------------------------------------------
@router.get(NEIGHBOURS_URL)
def neighbours(request: Request, current: Planner, bbox: Annotated[str, Query(max_length=200)]):
    """The parcels the signed-in person sees within ``bbox`` (lon/lat, at most :data:`NEIGHBOURS_SPAN`
    degrees wide and high) as a GeoJSON FeatureCollection, at most :data:`NEIGHBOURS_MAX` of them."""
    box = _small_box(bbox, NEIGHBOURS_SPAN)
    query = register.FeatureQuery(
        collection=COLLECTIONS["parcels"],
        view=view_of(current.user.principal),
        bbox=box,
        limit=NEIGHBOURS_MAX,
        properties=NEIGHBOUR_PROPERTIES,
    )
    with request.app.state.engine.connect() as conn:
        found = register.features_page(conn, query)
    body = (
        f'{{"type":"FeatureCollection","numberMatched":{int(found.matched)},'
        f'"numberReturned":{len(found.features)},"features":[{",".join(found.features)}]}}'
    )
    return Response(body, media_type="application/geo+json", headers={"Cache-Control": "private, no-store"})


# -- the Flurstücke around, to choose from --------------------------------------------------------
@router.get(FLURSTUECKE_URL)
def flurstuecke(request: Request, current: Planner, bbox: Annotated[str, Query(max_length=200)]):
    """The loaded ALKIS Flurstücke within ``bbox`` (lon/lat, at most :data:`FLURSTUECKE_SPAN` degrees
    wide and high) as a GeoJSON FeatureCollection in EPSG:4326; ``selectable`` says whether the planner
    may compose a parcel of one (a Flurstück of their municipalities by its gemeindezugehoerigkeit;
    one without it, by where its outline lies, the register decides when saving). More than
    :data:`FLURSTUECKE_MAX`: none, and ``tooMany`` (a part would be an arbitrary cut of the extent)."""
    box = _small_box(bbox, FLURSTUECKE_SPAN)
    principal = current.user.principal
    with request.app.state.engine.connect() as conn:
        found = alkis.flurstuecke_in(conn, box, limit=FLURSTUECKE_MAX)
        shown = [] if found.truncated else found.features
        names = municipality_names(conn, sorted({f["ags"] for f in shown if f["ags"]}))
    features = [
        {
            "type": "Feature",
            "id": f["kennzeichen"],
            "geometry": f["geometry"],
            "properties": {
                "kennzeichen": f["kennzeichen"],
                "bezeichnung": f["bezeichnung"],
                "ags": f["ags"],
                "municipality": names.get(f["ags"] or "", f["ags"]),
                "amtliche_flaeche": f["amtliche_flaeche"],
                "area_m2": round(f["area_m2"], 2),
                "selectable": f["ags"] is None or principal.may_edit(f["ags"]),
            },
        }
        for f in shown
    ]
    body = {"type": "FeatureCollection", "numberReturned": len(features), "tooMany": found.truncated,
            "limit": FLURSTUECKE_MAX, "features": features}  # fmt: skip
    return Response(
        json.dumps(body, separators=(",", ":")),
        media_type="application/geo+json",
        headers={"Cache-Control": "private, no-store"},
    )


__all__ = ["FORM_FIELDS", "NAV", "area_text", "municipality_names", "number", "router"]
