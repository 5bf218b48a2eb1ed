"""Public area `sites`: the site search (``/standorte``), the exposé of a site (HTML and PDF) and the
comparison of 2–4 sites. No sign-in: everything comes from the core's public view
(:mod:`landreg.sites`). Pages only parse input, call the core and render; a refused parameter is a
400 page naming the form field in the person's language, a site the public may not see a 404.

The PDF is the exposé's template rendered by WeasyPrint on the server, with its stylesheet inline
and a URL fetcher that fetches nothing (no remote fonts, no tiles): its map is an SVG drawn from
the same surroundings the page's map shows.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import text

from api.limits import ClientRate
from api.web.alerts import enquiry_context
from api.web.pages import TEMPLATES, error_page, lang_of, page
from api.web.texts import register, t
from landreg import params, vocab
from landreg.errors import InvalidParameter, NotFound
from landreg.settings import get_settings
from landreg.sites import compare as comparing
from landreg.sites import contacts
from landreg.sites import expose as exposing
from landreg.sites.search import (
    DISTANCES,
    LABELS,
    OFFERED_AVAILABILITY,
    SORTS,
    SitePage,
    SiteQuery,
    SiteQueryError,
    available_distances,
    one_value,
    search_sites,
)
from landreg.tilecache import TileCache
from landreg.users import Throttled

router = APIRouter()
#: Public pages: not in the workspace's navigation.
NAV: list[tuple[str, str, tuple[str, ...]]] = []
PAGE_SIZE = 20
CSS = Path(__file__).parent / "static" / "sites.css"

register(
    {
        "sites.title": ("Standortsuche", "Site search"),
        "sites.lead": (
            "Verfügbare Gewerbe- und Industrieflächen, Brachflächen und Baulücken im Ruhrgebiet: nach Ihren "
            "Kriterien gefiltert, nach Bewertung, Größe oder Entfernung sortiert. Die Adresse dieser Seite "
            "enthält die ganze Suche – zum Teilen und Speichern.",
            "Available commercial and industrial land, brownfields and infill lots in the Ruhr: filtered by your "
            "criteria, sorted by score, size or distance. This page's address holds the whole search – to share "
            "and save.",
        ),
        "sites.filters": ("Suchkriterien", "Search criteria"),
        "sites.search": ("Suchen", "Search"),
        "sites.reset": ("Zurücksetzen", "Reset"),
        "sites.any": ("alle", "any"),
        "sites.km_unavailable": (
            "keine Daten geladen – nicht filterbar",
            "no data loaded – cannot be filtered",
        ),
        "sites.near_hint": (
            "Auf die Karte klicken oder Länge, Breite eingeben (z. B. 7.01,51.45)",
            "Click the map or enter longitude, latitude (e.g. 7.01,51.45)",
        ),
        "sites.sort.score": ("Bewertung (Investorenprofil)", "Score (investor profile)"),
        "sites.sort.size": ("Größe, größte zuerst", "Size, largest first"),
        "sites.sort.size_asc": ("Größe, kleinste zuerst", "Size, smallest first"),
        "sites.sort.distance": ("Entfernung zum Bezugspunkt", "Distance to the reference point"),
        "sites.found": ("{n} Standorte gefunden", "{n} sites found"),
        "sites.unknown": (
            "{n} weitere Standorte passen zu den übrigen Kriterien, aber für „{label}“ fehlen Daten "
            "(unbekannt, nicht „weit entfernt“).",
            "{n} more sites match the other criteria, but “{label}” is unknown for them (no data, not “far away”).",
        ),
        "sites.none": ("Kein Standort passt zu diesen Kriterien.", "No site matches these criteria."),
        "sites.results": ("Ergebnisse", "Results"),
        "sites.map": ("Karte der gefundenen Standorte", "Map of the sites found"),
        "sites.map_note": (
            "Die Karte zeigt die Standorte dieser Seite; die Liste enthält dieselben Angaben. Ein Klick in "
            "die Karte setzt den Bezugspunkt.",
            "The map shows the sites on this page; the list holds the same information. A click on the map sets "
            "the reference point.",
        ),
        "sites.score": ("Bewertung", "Score"),
        "sites.score_of": ("{score} von 100", "{score} of 100"),
        "sites.no_score": ("keine Bewertung", "no score"),
        "sites.area": ("Größe", "Size"),
        "sites.distance": ("Entfernung", "Distance"),
        "sites.compare_pick": ("vergleichen", "compare"),
        "sites.compare_pick_label": ("{ref} zum Vergleich auswählen", "Select {ref} for comparison"),
        "sites.compare_selected": ("Ausgewählte vergleichen (2–4)", "Compare selected (2–4)"),
        "sites.pages": ("Seiten", "Pages"),
        "sites.prev": ("Vorherige Seite", "Previous page"),
        "sites.next": ("Nächste Seite", "Next page"),
        "sites.page_of": ("Seite {page} von {pages}", "Page {page} of {pages}"),
        "sites.invalid": ("Ungültige Eingabe", "Invalid input"),
        "sites.sample": ("Beispieldaten", "Sample data"),
        # the exposé
        "sites.expose": ("Exposé: {name}", "Exposé: {name}"),
        "sites.back": ("Zurück zur Suche", "Back to the search"),
        "sites.facts": ("Eckdaten", "Key facts"),
        "sites.location": ("Lage und Anbindung", "Location and transport"),
        "sites.municipality": ("Gemeinde", "Municipality"),
        "sites.district": ("Kreis", "District"),
        "sites.assessment": ("Bewertung für Industrie und Logistik", "Score for industry and logistics"),
        "sites.assessment_intro": (
            "Öffentliche Variante des Investorenprofils „Industriestandort“: berechnet ohne vertrauliche Angaben.",
            "Public variant of the investor profile “industrial site”: computed without confidential facts.",
        ),
        "sites.strengths": ("Was zur Bewertung beiträgt", "What adds to the score"),
        "sites.would_help": ("Was die Bewertung am meisten erhöhen würde", "What would raise the score most"),
        "sites.unknowns": ("Unbekannt", "Unknown"),
        "sites.withheld": (
            "Nicht enthalten (beruhen auf vertraulichen Angaben): {what}",
            "Not included (built on confidential facts): {what}",
        ),
        "sites.excluded": ("Ausgeschlossen durch: {what}", "Excluded by: {what}"),
        "sites.not_ranked": (
            "Das Investorenprofil bewertet diese Kategorie nicht.",
            "The investor profile does not score this category.",
        ),
        "sites.contact": ("Ansprechpartner: Wirtschaftsförderung", "Contact: economic development office"),
        "sites.no_contact": (
            "Für diese Gemeinde ist noch kein Kontakt hinterlegt.",
            "No contact is recorded for this municipality yet.",
        ),
        "sites.email": ("E-Mail", "E-mail"),
        "sites.phone": ("Telefon", "Phone"),
        "sites.web": ("Internet", "Web"),
        "sites.data_date": ("Datenstand der Fläche: {date}", "Data date of the site: {date}"),
        "sites.as_of": ("Abgerufen am {date}", "Retrieved on {date}"),
        "sites.licence": ("Lizenz: {name}", "Licence: {name}"),
        "sites.attribution": ("Namensnennung: {text}", "Attribution: {text}"),
        "sites.pdf": ("Exposé als PDF", "Exposé as PDF"),
        "sites.print": ("Drucken", "Print"),
        "sites.pdf_busy": (
            "Zu viele PDF-Exposés in kurzer Zeit: höchstens {n} je Minute werden neu erzeugt. Bitte in {s} Sekunden "
            "erneut versuchen oder das Exposé als Seite drucken.",
            "Too many PDF exposés in a short time: at most {n} a minute are produced anew. Please try again in "
            "{s} seconds, or print the exposé page.",
        ),
        "sites.surroundings": ("Karte: Standort und Umgebung", "Map: site and surroundings"),
        "sites.surroundings_note": (
            "Aus den Daten des Registers: der Standort (rot), benachbarte öffentliche Flächen (grau), "
            "Gemeindegrenzen (gestrichelt), Bahnhöfe, Autobahnanschlüsse und Häfen (Punkte).",
            "From the register's own data: the site (red), neighbouring public parcels (grey), municipal borders "
            "(dashed), railway stations, motorway junctions and ports (dots).",
        ),
        "sites.osm": (
            "OpenStreetMap-Hintergrund zeigen (lädt Kacheln aus dem Internet)",
            "Show the OpenStreetMap background (loads tiles from the internet)",
        ),  # fmt: skip
        # the comparison
        "sites.compare": ("Standorte im Vergleich", "Sites compared"),
        "sites.compare_intro": (
            "Dieselben Angaben für jeden Standort; Zeilen mit Unterschieden sind markiert.",
            "The same facts for each site; rows that differ are marked.",
        ),
        "sites.differs": ("unterschiedlich", "differs"),
        "sites.compare_how": (
            "Wählen Sie in der Standortsuche 2 bis 4 Standorte mit „zum Vergleich auswählen“ aus.",
            "In the site search, select 2 to 4 sites with “select for comparison”.",
        ),
        "sites.feature": ("Merkmal", "Feature"),
        "sites.not_found": (
            "Diesen Standort gibt es nicht oder er ist nicht (mehr) öffentlich.",
            "This site does not exist or is not public (any more).",
        ),
    }
)


def _helpers(lang: str) -> dict:
    return {
        "num": lambda value, digits=0: exposing._num(value, digits, lang),
        "code": lambda codes, code: codes.label(code, lang) if code in codes.labels else code,
        "label": lambda name: LABELS[name][1 if lang == "en" else 0],
    }


def _municipalities() -> str:
    return "SELECT ags, name, district_ags, district_name FROM municipality WHERE region = 'RVR' ORDER BY name"


def _paging(request: Request) -> tuple[int, int]:
    # a repeat is refused as the search's own options are: the form re-shown, the field marked
    offset = params.whole_number(one_value(request.query_params.getlist("offset"), "offset"), "offset", 0, 0, 100_000)
    return PAGE_SIZE, offset


def _search_context(conn, lang: str) -> dict:
    rows = conn.execute(text(_municipalities())).all()
    districts = sorted({(r.district_ags.strip(), r.district_name or r.district_ags) for r in rows}, key=lambda d: d[1])
    return {
        "municipalities": [(r.ags.strip(), r.name) for r in rows],
        "districts": districts,
        "codes": {
            "category": [(c, vocab.CATEGORY.label(c, lang)) for c in vocab.CATEGORY.codes],
            "availability": [(c, vocab.AVAILABILITY.label(c, lang)) for c in OFFERED_AVAILABILITY],
            "servicing": [(c, vocab.SERVICING.label(c, lang)) for c in vocab.SERVICING.codes],
            "designation": [(c, vocab.DESIGNATION.label(c, lang)) for c in vocab.DESIGNATION.codes],
        },
        "sorts": [(s, t(f"sites.sort.{s}", lang)) for s in SORTS],
        "distance_names": list(DISTANCES),
        "usable": available_distances(conn),
    }


def _given(request: Request) -> dict[str, list[str]]:
    """The form's values as given (for re-showing them after a refusal)."""
    out: dict[str, list[str]] = {}
    for name in LABELS:
        values = []
        for raw in request.query_params.getlist(name):
            values += [v.strip() for v in raw[:1000].split(",") if v.strip()] if name != "near" else [raw[:100]]
        out[name] = values
    return out


def _script_json(value) -> Markup:
    """JSON inside <script type="application/json">: nothing can end the element early."""
    text_ = json.dumps(value, default=str)
    return Markup(text_.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _url(path: str, query: dict, lang: str, **extra) -> str:
    state = dict(query) | {k: str(v) for k, v in extra.items() if v}
    if lang != "de":
        state["lang"] = lang
    return path + ("?" + urlencode(state) if state else "")


def _search(request: Request, conn, query: SiteQuery, limit: int, offset: int) -> SitePage:
    """A page of the search, as a public answer of the tile cache where the app has one: the same for
    every visitor until the register changes (the first page of an unfiltered search reads every
    offered site: seconds at state scale)."""
    cache: TileCache | None = getattr(request.app.state, "tile_cache", None)
    if cache is None:
        return search_sites(conn, query, limit, offset)
    key = ("sites.search", tuple(sorted(query.to_params().items())), limit, offset)
    page, _ = cache.answer(conn, key, lambda: search_sites(conn, query, limit, offset))
    return page


@router.get("/standorte", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    """The search: filters, the list and the map in step; the whole state in the URL."""
    lang = lang_of(request)
    with request.app.state.engine.connect() as conn:
        context = _search_context(conn, lang) | {"given": _given(request), "helpers": _helpers(lang)}
        try:
            query = SiteQuery.from_params(request.query_params)
            limit, offset = _paging(request)
            result = _search(request, conn, query, limit, offset)
        except SiteQueryError as exc:
            return _refused(request, "sites/search.html", context, exc, lang)
        except InvalidParameter as exc:
            return _refused(request, "sites/search.html", context, SiteQueryError("offset", str(exc), str(exc)), lang)
    labelled = [  # copies: the page may be a shared public answer
        site
        | {
            "category_label": vocab.CATEGORY.label(site["category"], lang),
            "availability_label": vocab.AVAILABILITY.label(site["availability"], lang),
        }
        for site in result.sites
    ]
    result = dataclasses.replace(result, sites=labelled)
    state = query.to_params()
    pages = max(1, -(-result.number_matched // limit))
    current = offset // limit + 1
    features = [
        {
            "type": "Feature",
            "id": s["id"],
            "geometry": json.loads(s["geometry"]),
            "properties": {"local_ref": s["local_ref"], "name": s["name"], "category": s["category"],
                           "href": _url(f"/standorte/{s['id']}", {}, lang)},
        }
        for s in result.sites
    ]  # fmt: skip
    return page(
        request,
        "sites/search.html",
        context
        | {
            "result": result,
            "state": state,
            "page_no": current,
            "pages": pages,
            "prev_url": _url("/standorte", state, lang, offset=offset - limit) if offset > 0 else None,
            "next_url": _url("/standorte", state, lang, offset=offset + limit) if current < pages else None,
            "site_url": lambda site_id: _url(f"/standorte/{site_id}", {}, lang),
            "geojson": _script_json({"type": "FeatureCollection", "features": features}),
            "near": query.near,
            "unknown": [
                (t("sites.unknown", lang, n=n, label=LABELS[k][1 if lang == "en" else 0]), n)
                for k, n in result.unknown.items()
                if n
            ],  # fmt: skip
        },
    )


def _refused(request: Request, template: str, context: dict, exc: SiteQueryError, lang: str) -> Response:
    error = {"field": exc.field, "message": exc.text(lang)}
    return page(request, template, context | {"error": error, "result": None, "state": {}}, status_code=400)


@router.get("/standorte/vergleich", response_class=HTMLResponse)
def compare_page(request: Request) -> Response:
    """2–4 sites side by side, differences marked."""
    lang = lang_of(request)
    raw = ",".join(request.query_params.getlist("ids")) or None
    if raw is None:  # nothing chosen yet: how to choose
        return page(request, "sites/compare.html", {"comparison": None})
    try:
        ids = comparing.parse_ids(raw)
    except SiteQueryError as exc:
        return error_page(request, 400, exc.text(lang), exc.field)
    with request.app.state.engine.connect() as conn:
        try:
            result = comparing.compare(conn, ids, lang)
        except NotFound:
            return error_page(request, 404, t("sites.not_found", lang), "ids")
    return page(
        request,
        "sites/compare.html",
        {"comparison": result, "site_url": lambda site_id: _url(f"/standorte/{site_id}", {}, lang)},
    )


def _expose(request: Request, parcel_id: str, lang: str) -> dict | Response:
    with request.app.state.engine.connect() as conn:
        try:
            return exposing.expose(conn, parcel_id, lang)
        except NotFound:
            return error_page(request, 404, t("sites.not_found", lang))


def _map_svg(surroundings: dict, site: dict, width: int = 640, height: int = 400) -> Markup:
    """The exposé's map as SVG (for print and PDF): the site, its neighbours, borders and context points,
    in WGS84 scaled by the cosine of the latitude (near enough for a few kilometres)."""
    import math

    site_geom = json.loads(site["geometry"])
    points = []

    def walk(coords):
        if coords and isinstance(coords[0], int | float):
            points.append(coords)
        else:
            for c in coords:
                walk(c)

    walk(site_geom["coordinates"])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    k = math.cos(math.radians(cy))
    span = max((max(xs) - min(xs)) * k, max(ys) - min(ys), 0.004) * 4  # degrees of latitude shown
    scale = min(width, height) / span

    def xy(c):
        return (width / 2 + (c[0] - cx) * k * scale, height / 2 - (c[1] - cy) * scale)

    def path(geometry) -> str:
        parts = []

        def rings(coords, depth):
            if depth == 0:
                parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, coords)))
            else:
                for c in coords:
                    rings(c, depth - 1)

        depth = {"Polygon": 1, "MultiPolygon": 2, "LineString": 0, "MultiLineString": 1}.get(geometry["type"])
        if depth is None:
            return ""
        rings(geometry["coordinates"], depth)
        return " ".join(parts)

    shapes = [f'<rect width="{width}" height="{height}" fill="#f7f7f4"/>']
    for f in surroundings["borders"]["features"]:
        if f["geometry"]["type"] in ("LineString", "MultiLineString"):
            shapes.append(f'<path d="{path(f["geometry"])}" fill="none" stroke="#555" stroke-dasharray="6 4"/>')
    for f in surroundings["neighbours"]["features"]:
        shapes.append(f'<path d="{path(f["geometry"])}" fill="#bbb" fill-opacity="0.6" stroke="#777"/>')
    shapes.append(f'<path d="{path(site_geom)}" fill="#d7191c" fill-opacity="0.5" stroke="#a00" stroke-width="2"/>')
    for f in surroundings["context"]["features"]:
        x, y = xy(f["geometry"]["coordinates"])
        if 0 <= x <= width and 0 <= y <= height:
            shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#00557a"/>')
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="site-svg" '
        f'role="img" aria-hidden="true">' + "".join(shapes) + "</svg>"
    )


def _expose_context(data: dict, lang: str) -> dict:
    return {
        "x": data,
        "helpers": _helpers(lang),
        "map_svg": _map_svg(data["surroundings"], data["site"]),
        "map_json": _script_json({"site": json.loads(data["site"]["geometry"]), **data["surroundings"]}),
        "when": lambda d: d.strftime("%d.%m.%Y") if lang == "de" else d.isoformat(),
    }


@router.get("/standorte/{parcel_id}.pdf")
def expose_pdf(request: Request, parcel_id: str) -> Response:
    """The exposé as PDF (A4), rendered from the same data and template, fetching nothing. A public
    answer of the tile cache (kept until the register changes, a contact changes or the day does);
    renders that are not kept count against the client's :class:`~api.limits.ClientRate`."""
    lang = lang_of(request)
    try:
        site_id = str(uuid.UUID(parcel_id[:64]))
    except ValueError:
        return error_page(request, 404, t("sites.not_found", lang))
    cache: TileCache | None = getattr(request.app.state, "tile_cache", None)
    client = request.client.host if request.client else None
    with request.app.state.engine.connect() as conn:

        def render() -> tuple[bytes, str]:
            data = exposing.expose(conn, site_id, lang)
            wait = _pdf_renders(request.app).take(client)
            if wait:
                raise TooManyRenders(wait)
            return _pdf(data, lang)

        try:
            if cache is None:
                pdf, ref = render()
            else:
                key = ("sites.expose_pdf", site_id, lang, contacts.stamp(conn))
                (pdf, ref), _ = cache.answer(conn, key, render)
        except NotFound:
            return error_page(request, 404, t("sites.not_found", lang))
        except TooManyRenders as exc:
            response = error_page(request, 429, t("sites.pdf_busy", lang, s=exc.retry_after_s, n=exc.per_minute))
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="expose-{ref}.pdf"'}
    )


class TooManyRenders(Throttled):
    """More uncached PDF renders than ``LANDREG_PDF_RENDERS_PER_MINUTE`` for one client (429)."""

    def __init__(self, retry_after_s: int):
        self.per_minute = get_settings().pdf_renders_per_minute
        super().__init__(t("sites.pdf_busy", "de", s=retry_after_s, n=self.per_minute), retry_after_s)


def _pdf_renders(app) -> ClientRate:
    """The app's ration of PDF renders per client (made on first use, per process)."""
    rate = getattr(app.state, "pdf_renders", None)
    if rate is None:
        rate = app.state.pdf_renders = ClientRate(get_settings().pdf_renders_per_minute)
    return rate


def _pdf(data: dict, lang: str) -> tuple[bytes, str]:
    """The exposé's PDF and the site's reference for its file name."""
    from weasyprint import HTML  # 0.5 s to import: only when a PDF is asked for

    html = TEMPLATES.get_template("sites/expose_pdf.html").render(
        _expose_context(data, lang)
        | {"lang": lang, "t": lambda key, **v: t(key, lang, **v), "css": Markup(CSS.read_text())}
    )
    pdf = HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    ref = "".join(c for c in (data["site"]["local_ref"] or "standort") if c.isalnum() or c in "-_")[:60]
    return pdf, ref


def _refuse_fetch(url: str, *args, **kwargs):
    """The PDF fetches nothing: no remote fonts, images or tiles (and no local files)."""
    raise ValueError(f"the exposé PDF fetches nothing ({url[:60]})")


@router.get("/standorte/{parcel_id}", response_class=HTMLResponse)
def expose_page(request: Request, parcel_id: str) -> Response:
    """The exposé of one public site: facts, map, score and reasons, contact, Datenstand, licence."""
    lang = lang_of(request)
    data = _expose(request, parcel_id, lang)
    if isinstance(data, Response):
        return data
    return page(
        request,
        "sites/expose.html",
        _expose_context(data, lang)
        | {
            "pdf_url": _url(f"/standorte/{parcel_id}.pdf", {}, lang),
            "back_url": _url("/standorte", {}, lang),
            "enquiry": enquiry_context(request, parcel_id),  # the contact form (api.web.alerts)
        },
    )
