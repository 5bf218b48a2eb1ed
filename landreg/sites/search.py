"""The public site search: which offered sites match an investor's criteria, in which order.

A search's whole state is a :class:`SiteQuery`, read from URL parameters (:meth:`SiteQuery.from_params`,
every value checked before any SQL) and written back to them (:meth:`SiteQuery.to_params`, canonical:
the same search always gives the same URL, so a search can be shared and saved).

:func:`search_sites` answers from the public view only (:func:`landreg.features.source` for
:data:`landreg.access.PUBLIC`: published now, not retired, public fields) and of those the sites
offered to investors (:func:`landreg.rules.is_offered`), scored by the public variant of the
investor profile (:data:`PROFILE`). Distances to rail stations, motorway junctions and ports are the
stored indicators (:mod:`landreg.scoring.indicators`): NULL where no layer covers the parcel and
its surroundings. Such a site is *unknown* for a distance criterion, never "far away": it does not
match a distance filter, and the page counts it in :attr:`SitePage.unknown` so that the answer says
how many sites could not be judged. A distance criterion whose layer is not loaded at all is refused.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields

from sqlalchemy import Connection, and_, column, func, null, nulls_last, select, table
from sqlalchemy.sql.elements import ColumnElement

from landreg import STORAGE_SRID, rules
from landreg.access import PUBLIC
from landreg.errors import InvalidParameter
from landreg.features import COLLECTIONS, source
from landreg.scoring import indicators
from landreg.scoring.profiles import current_profile
from landreg.scoring.visible import INDICATOR, SCORE, scored
from landreg.vocab import AVAILABILITY, CATEGORY, DESIGNATION, SERVICING

#: The profile whose (public) score ranks the sites.
PROFILE = "investor-industrie"
SORTS = ("score", "size", "size_asc", "distance")
#: Availabilities of an offered site (:func:`landreg.rules.is_offered`).
OFFERED_AVAILABILITY = tuple(c for c in AVAILABILITY.codes if c != rules.NOT_AVAILABLE)
MAX_HA = 10_000.0
MAX_KM = 100.0
MIN_KM = 0.1
MAX_AGS = 60
MAX_DISTRICTS = 20
MAX_TEXT = 1000  # characters of one parameter's value, before it is split
LIMIT_MAX = 100
OFFSET_MAX = 100_000
#: Where a point of a search may lie (lon, lat): Germany and its neighbours, so that latitude and
#: longitude swapped (51.5,7.2) is refused instead of answered as a point in the Indian Ocean.
POINT_BOUNDS = (2.0, 45.0, 20.0, 57.0)
#: Parameters a URL of the search page may carry besides the search (the page's language and paging).
NOT_SEARCH = frozenset({"lang", "limit", "offset", "f"})
#: Parameters whose values are comma-separated lists (a number may have a German decimal comma).
_LISTS = frozenset({"category", "ags", "district", "availability", "servicing", "designation", "near"})
_AGS = re.compile(r"[0-9]{8}")
_DISTRICT = re.compile(r"[0-9]{5}")

#: Each parameter's form field label (German, English): messages name both.
LABELS: dict[str, tuple[str, str]] = {
    "category": ("Kategorie", "Category"),
    "min_ha": ("Größe von (ha)", "Size from (ha)"),
    "max_ha": ("Größe bis (ha)", "Size up to (ha)"),
    "ags": ("Gemeinde", "Municipality"),
    "district": ("Kreis", "District"),
    "availability": ("Verfügbarkeit", "Availability"),
    "servicing": ("Erschließung", "Servicing"),
    "designation": ("Planungsrecht", "Designation"),
    "rail_km": ("Höchstens … km zum Bahnhof", "At most … km to a railway station"),
    "motorway_km": ("Höchstens … km zur Autobahnanschlussstelle", "At most … km to a motorway junction"),
    "port_km": ("Höchstens … km zum Hafen", "At most … km to a port"),
    "near": ("Bezugspunkt (Länge, Breite)", "Reference point (longitude, latitude)"),
    "sort": ("Sortieren nach", "Sort by"),
    "limit": ("Standorte pro Seite", "Sites per page"),
    "offset": ("Seite", "Page"),
}
#: Labels of the parameters of pages beside the search (the comparison's sites).
OTHER_LABELS = {"ids": ("Standorte zum Vergleich", "Sites to compare")}
#: The distance criteria: parameter -> (indicator column, context kind).
DISTANCES: dict[str, tuple[str, str]] = {
    "rail_km": ("dist_rail_station_m", "bahnhof"),
    "motorway_km": ("dist_motorway_m", "autobahnanschluss"),
    "port_km": ("dist_port_m", "hafen"),
}


class SiteQueryError(InvalidParameter):
    """A search parameter was refused: ``field`` is the parameter (and form field), :meth:`text`
    says why in German or English, naming the form field and the limit."""

    def __init__(self, field: str, de: str, en: str):
        label_de, label_en = (LABELS | OTHER_LABELS).get(field, ("Parameter", "Parameter"))
        self.de, self.en = f"{label_de} ({field}): {de}", f"{label_en} ({field}): {en}"
        super().__init__(self.en, field)

    def text(self, lang: str = "de") -> str:
        return self.en if lang == "en" else self.de


@dataclass(frozen=True)
class SiteQuery:
    """An investor's search: every criterion optional (empty: any), values checked."""

    category: tuple[str, ...] = ()
    min_ha: float | None = None
    max_ha: float | None = None
    ags: tuple[str, ...] = ()
    district: tuple[str, ...] = ()
    availability: tuple[str, ...] = ()
    servicing: tuple[str, ...] = ()
    designation: tuple[str, ...] = ()
    rail_km: float | None = None
    motorway_km: float | None = None
    port_km: float | None = None
    near: tuple[float, float] | None = None  # (lon, lat) in EPSG:4326
    sort: str = "score"

    def __post_init__(self) -> None:
        """The same checks (and the same canonical form) for a query built in code as for one read
        from a URL."""
        checked = SiteQuery.from_params(self.to_params())
        for f in dataclass_fields(self):
            object.__setattr__(self, f.name, getattr(checked, f.name))

    @classmethod
    def from_params(cls, params: Mapping) -> SiteQuery:
        """The search of a URL's (or form's) parameters: a list may be repeated (``category=a&category=b``)
        or comma-separated; empty values are absent. Raises :class:`SiteQueryError` for the first
        parameter at fault, and for a parameter the search does not know (a typo is no filter)."""
        values = {name: _values(params, name) for name in _keys(params)}
        unknown = sorted(set(values) - set(LABELS) - NOT_SEARCH)
        if unknown:
            name = unknown[0][:40]
            known = ", ".join(n for n in LABELS if n not in ("limit", "offset"))
            raise SiteQueryError(
                name, f"unbekannter Parameter; bekannt sind: {known}", f"unknown parameter; known: {known}"
            )
        kw: dict = {}
        for name, codes in (
            ("category", CATEGORY.codes),
            ("availability", OFFERED_AVAILABILITY),
            ("servicing", SERVICING.codes),
            ("designation", DESIGNATION.codes),
        ):
            kw[name] = _codes(values.get(name, []), name, codes)
        kw["ags"] = _pattern(
            values.get("ags", []), "ags", _AGS, MAX_AGS, ("8-stelliger Gemeindeschlüssel", "8-digit AGS")
        )
        kw["district"] = _pattern(
            values.get("district", []),
            "district",
            _DISTRICT,
            MAX_DISTRICTS,
            ("5-stelliger Kreisschlüssel", "5-digit district key"),
        )
        kw["min_ha"] = _number(values.get("min_ha", []), "min_ha", 0.0, MAX_HA, "ha")
        kw["max_ha"] = _number(values.get("max_ha", []), "max_ha", 0.0, MAX_HA, "ha")
        if kw["min_ha"] is not None and kw["max_ha"] is not None and kw["min_ha"] > kw["max_ha"]:
            raise SiteQueryError(
                "max_ha",
                f"muss mindestens so groß sein wie „Größe von“ ({_de(kw['min_ha'])} ha)",
                f"must be at least the size from ({kw['min_ha']:g} ha)",
            )
        for name in DISTANCES:
            kw[name] = _number(values.get(name, []), name, MIN_KM, MAX_KM, "km")
        kw["near"] = _point(values.get("near", []))
        sort = one_value(values.get("sort", []), "sort") or "score"
        if sort not in SORTS:
            raise SiteQueryError(
                "sort",
                f"„{sort[:40]}“ gibt es nicht; möglich: {', '.join(SORTS)}",
                f"unknown {sort[:40]!r}; use one of {', '.join(SORTS)}",
            )
        if sort == "distance" and kw["near"] is None:
            raise SiteQueryError(
                "near",
                "zum Sortieren nach Entfernung einen Bezugspunkt wählen (auf die Karte klicken oder Länge und Breite eingeben)",
                "sorting by distance needs a reference point (click the map or enter longitude and latitude)",
            )
        return _build(cls, kw, sort)

    def to_params(self) -> dict[str, str]:
        """The search as URL parameters, canonical: criteria in a fixed order, lists sorted and
        comma-separated, numbers in their shortest form, defaults left out."""
        out: dict[str, str] = {}
        for f in dataclass_fields(self):
            value = getattr(self, f.name)
            if value is None or value == () or (f.name == "sort" and value == "score"):
                continue
            if f.name == "near":
                out["near"] = f"{_short(round(value[0], 6))},{_short(round(value[1], 6))}"
            elif isinstance(value, tuple):
                out[f.name] = ",".join(sorted(value))
            elif isinstance(value, float):
                out[f.name] = _short(value)
            else:
                out[f.name] = value
        return out

    @property
    def distance_filters(self) -> dict[str, float]:
        """The distance criteria set: parameter -> km."""
        return {name: getattr(self, name) for name in DISTANCES if getattr(self, name) is not None}


def _build(cls, kw: dict, sort: str) -> SiteQuery:
    query = object.__new__(cls)  # checked already: no second round of __post_init__
    for name, value in kw.items():
        object.__setattr__(query, name, value)
    object.__setattr__(query, "sort", sort)
    return query


def _keys(params: Mapping) -> list[str]:
    return list(dict.fromkeys(params.keys()))


def _values(params: Mapping, name: str) -> list[str]:
    """Every value given for ``name`` (repeated or comma-separated), stripped, empty ones dropped."""
    given = params.getlist(name) if hasattr(params, "getlist") else params.get(name)
    if given is None:
        return []
    if isinstance(given, str) or not hasattr(given, "__iter__"):
        given = [given]
    out: list[str] = []
    for raw in given:
        if not isinstance(raw, str):
            raw = str(raw)
        if len(raw) > MAX_TEXT:
            raise SiteQueryError(
                name[:40],
                f"höchstens {MAX_TEXT} Zeichen, nicht {len(raw)}",
                f"at most {MAX_TEXT} characters, not {len(raw)}",
            )
        parts = raw.split(",") if name in _LISTS else [raw]
        out += [p.strip() for p in parts if p.strip()]
    return out


def one_value(values: list[str], name: str) -> str | None:
    """The one value given for a parameter (None: none); more than one is a :class:`SiteQueryError`."""
    if len(values) > 1:
        raise SiteQueryError(name, f"nur ein Wert, nicht {len(values)}", f"one value only, not {len(values)}")
    return values[0] if values else None


def _codes(values: list[str], name: str, codes: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(values))
    wrong = [v for v in chosen if v not in codes]
    if wrong:
        shown = wrong[0][:40]
        raise SiteQueryError(
            name,
            f"unbekannter Wert „{shown}“; möglich: {', '.join(codes)}",
            f"unknown value {shown!r}; allowed: {', '.join(codes)}",
        )
    return tuple(sorted(chosen))


def _pattern(values: list[str], name: str, pattern: re.Pattern, most: int, what: tuple[str, str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(values))
    if len(chosen) > most:
        raise SiteQueryError(
            name, f"höchstens {most} Werte, nicht {len(chosen)}", f"at most {most} values, not {len(chosen)}"
        )
    for value in chosen:
        if not pattern.fullmatch(value):
            raise SiteQueryError(name, f"„{value[:20]}“ ist kein {what[0]}", f"{value[:20]!r} is not an {what[1]}")
    return tuple(sorted(chosen))


def _number(values: list[str], name: str, low: float, high: float, unit: str) -> float | None:
    text = one_value(values, name)
    if text is None:
        return None
    try:
        number = float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise SiteQueryError(name, f"muss eine Zahl sein, nicht „{text[:20]}“", f"must be a number, not {text[:20]!r}")
    if not low <= number <= high:
        raise SiteQueryError(
            name,
            f"muss zwischen {_de(low)} und {_de(high)} {unit} liegen, nicht {_de(number)}",
            f"must lie between {low:g} and {high:g} {unit}, not {number:g}",
        )
    return number


def _point(values: list[str]) -> tuple[float, float] | None:
    if not values:
        return None
    if len(values) != 2:
        raise SiteQueryError(
            "near",
            "zwei Zahlen: geografische Länge, Breite (z. B. 7.01,51.45)",
            "two numbers: longitude, latitude (e.g. 7.01,51.45)",
        )
    try:
        lon, lat = (float(v) for v in values)
    except ValueError:
        lon = lat = math.nan
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise SiteQueryError("near", "Länge und Breite müssen Zahlen sein", "longitude and latitude must be numbers")
    x1, y1, x2, y2 = POINT_BOUNDS
    if not (x1 <= lon <= x2 and y1 <= lat <= y2):
        swapped = x1 <= lat <= x2 and y1 <= lon <= y2
        hint_de = " – Länge und Breite vertauscht? Erst die Länge (≈ 7), dann die Breite (≈ 51)" if swapped else ""
        hint_en = " – longitude and latitude swapped? Longitude (≈ 7) first, then latitude (≈ 51)" if swapped else ""
        raise SiteQueryError(
            "near",
            f"der Punkt muss in Deutschland oder nahe dabei liegen (Länge {x1:g}–{x2:g}, Breite {y1:g}–{y2:g}){hint_de}",
            f"the point must lie in or near Germany (longitude {x1:g}–{x2:g}, latitude {y1:g}–{y2:g}){hint_en}",
        )
    return (lon, lat)


def _short(number: float) -> str:
    return f"{number:.6f}".rstrip("0").rstrip(".") if number != int(number) else str(int(number))


def _de(number: float) -> str:
    return f"{number:g}".replace(".", ",")


# -- the query ------------------------------------------------------------------------------------
@dataclass
class SitePage:
    """One page of the search: the sites in order, how many match in all (``number_matched``), and
    per distance criterion set how many sites matched every other criterion but could not be
    judged on this one (no layer covers them: ``unknown``)."""

    sites: list[dict]
    number_matched: int
    limit: int
    offset: int
    query: SiteQuery
    unknown: dict[str, int] = field(default_factory=dict)
    profile: str = PROFILE


_MUNICIPALITY = table("municipality", column("ags"), column("name"), column("district_ags"), column("district_name"))
#: What each site of a page carries (public fields, or values derived from public ones only).
SITE_FIELDS = (
    "ags", "local_ref", "name", "category", "status", "designation", "planning_status", "availability",
    "servicing", "restriction_class", "contamination_flag", "data_date", "is_sample", "area_m2",
)  # fmt: skip


def _statement(profile_id: int | None, query: SiteQuery):
    """What a search reads: the public view's parcels (:func:`landreg.features.source`) joined with
    the public score of the investor profile's version ``profile_id``, the stored distances of the
    site's version and its municipality; the conditions of every criterion but the distances, and
    the distance columns by parameter."""
    src = source(COLLECTIONS["parcels"], PUBLIC)
    s, i, m = SCORE, INDICATOR, _MUNICIPALITY.alias("m")
    p = src.properties
    frm = scored(src.query, src.id_column, src.version_column, profile_id if profile_id is not None else -1)
    frm = i.joined(frm, src.id_column, src.version_column)
    frm = frm.outerjoin(m, m.c.ags == p["ags"])  # outer joins on unique keys: dropped where unused
    conditions: list[ColumnElement] = [rules.is_offered(_Row(p))]
    for name in ("category", "availability", "servicing", "designation"):
        chosen = getattr(query, name)
        if chosen:
            conditions.append(p[name].in_(chosen))
    if query.ags:
        conditions.append(p["ags"].in_(query.ags))
    if query.district:
        conditions.append(m.c.district_ags.in_(query.district))
    if query.min_ha is not None:
        conditions.append(p["area_m2"] >= query.min_ha * 10_000)
    if query.max_ha is not None:
        conditions.append(p["area_m2"] <= query.max_ha * 10_000)
    distances = {name: getattr(i.c, col) for name, (col, _) in DISTANCES.items()}
    return src, s, m, frm, conditions, distances


class _Row:
    """The public source's columns as attributes, for the named predicates of :mod:`landreg.rules`."""

    def __init__(self, properties: dict):
        self._p = properties

    def __getattr__(self, name: str):
        return self._p[name]


def _point_geom(near: tuple[float, float]) -> ColumnElement:
    return func.ST_Transform(func.ST_SetSRID(func.ST_MakePoint(near[0], near[1]), 4326), STORAGE_SRID)


def search_sites(conn: Connection, query: SiteQuery, limit: int = 20, offset: int = 0) -> SitePage:
    """One page of the offered public sites matching ``query``, in its order, and how many match.

    Sites without a score (not ranked by the profile, or excluded by it) come after the scored ones
    when sorting by score; ties are broken by area, then id, so that paging is stable."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIMIT_MAX:
        raise SiteQueryError("limit", f"von 1 bis {LIMIT_MAX}", f"from 1 to {LIMIT_MAX}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= OFFSET_MAX:
        raise SiteQueryError("offset", f"von 0 bis {OFFSET_MAX}", f"from 0 to {OFFSET_MAX}")
    loaded = indicators.loaded_layers(conn)
    for name in query.distance_filters:
        kind = DISTANCES[name][1]
        if kind not in loaded:
            raise SiteQueryError(
                name,
                "für dieses Kriterium sind keine Daten geladen; es kann nicht gefiltert werden – bitte leer lassen",
                "no data is loaded for this criterion, so it cannot be filtered; leave it empty",
            )
    profile = current_profile(conn, PROFILE, missing_ok=True)
    src, s, m, frm, conditions, distances = _statement(profile.id if profile else None, query)
    p = src.properties
    score = s.c.public_score
    matching = [
        *conditions,
        *(distances[n].is_not(None) & (distances[n] <= km * 1000) for n, km in query.distance_filters.items()),
    ]
    point = _point_geom(query.near) if query.near else None
    to_point = func.ST_Distance(src.geometry, point) if point is not None else null()
    order = {
        "score": [nulls_last(score.desc()), p["area_m2"].desc()],
        "size": [p["area_m2"].desc()],
        "size_asc": [p["area_m2"].asc()],
        "distance": [to_point.asc()],
    }[query.sort] + [src.id_column]
    # the page's ids first (only what filters and orders them is read), then the page's sites
    page = conn.execute(
        select(src.id_column.label("id"), func.count().over().label("n"))
        .select_from(frm)
        .where(*matching)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    ).all()
    if page:
        matched = page[0].n
    else:
        matched = conn.execute(select(func.count()).select_from(frm).where(*matching)).scalar_one()
    ids = [r.id for r in page]
    found = {}
    if ids:
        details = _site_select(src, s, m, distances, to_point).select_from(frm).where(src.id_column.in_(ids))
        found = {site["id"]: site for site in map(_site, conn.execute(details).mappings())}
    sites = [found[str(i)] for i in ids]
    unknown = {}
    if query.distance_filters:  # sites that match every other criterion but cannot be judged on one
        others = query.distance_filters
        counts = []
        for name in others:
            known_rest = [
                distances[o].is_not(None) & (distances[o] <= km * 1000) for o, km in others.items() if o != name
            ]
            counts.append(func.count().filter(and_(distances[name].is_(None), *known_rest)).label(name))
        row = conn.execute(select(*counts).select_from(frm).where(*conditions)).one()
        unknown = {name: getattr(row, name) for name in others}
    return SitePage(sites, matched, limit, offset, query, unknown)


def _site_select(src, s, m, distances: dict, to_point, *extra):
    """The columns of a site (public fields and values derived from public ones only)."""
    p = src.properties
    centre = func.ST_Transform(func.ST_PointOnSurface(src.geometry), 4326)
    outline = func.ST_Transform(func.ST_SimplifyPreserveTopology(src.geometry, 2), 4326)
    return select(
        src.id_column.label("id"),
        *[p[name].label(name) for name in SITE_FIELDS],
        s.c.public_score.label("score"),
        *[col.label(DISTANCES[name][0]) for name, col in distances.items()],
        to_point.label("distance_m"),
        m.c.name.label("municipality"),
        m.c.district_ags.label("district_ags"),
        m.c.district_name.label("district_name"),
        func.ST_X(centre).label("lon"),
        func.ST_Y(centre).label("lat"),
        func.ST_AsGeoJSON(outline, 6).label("geometry"),
        *extra,
    )


def _site(row) -> dict:
    site = dict(row)
    site.pop("n", None)
    site["id"] = str(site["id"])
    site["ags"] = site["ags"].strip()
    site["district_ags"] = site["district_ags"].strip()
    site["area_ha"] = None if site["area_m2"] is None else site["area_m2"] / 10_000
    site["score"] = None if site["score"] is None else round(site["score"], 1)
    return site


def sites_by_id(conn: Connection, ids: list[str]) -> dict[str, dict]:
    """The offered public sites among ``ids`` (as :func:`search_sites` gives them), by id; an id that
    is no uuid, or of a parcel the public may not see or that is not offered, is simply absent."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    profile = current_profile(conn, PROFILE, missing_ok=True)
    src, s, m, frm, conditions, distances = _statement(profile.id if profile else None, SiteQuery())
    statement = (
        _site_select(src, s, m, distances, null()).select_from(frm).where(*conditions, src.id_column.in_(wanted))
    )
    return {site["id"]: site for site in map(_site, conn.execute(statement).mappings())}


def available_distances(conn: Connection) -> dict[str, bool]:
    """Which distance criteria can be filtered: parameter -> whether a layer of its kind is loaded."""
    loaded = indicators.loaded_layers(conn)
    return {name: kind in loaded for name, (_, kind) in DISTANCES.items()}
