"""The exposé of one site: everything an investor reads, forwards and prints about it.

Built only from what the public may see: the site as the search finds it
(:func:`landreg.sites.search.sites_by_id`: published now, not retired, offered, public fields),
the explanation of its public score (:func:`landreg.scoring.explain.explanation` for
:data:`landreg.access.PUBLIC`: criteria built on a confidential field withheld), the
municipality's economic development contact and the surroundings from the register's own data
(neighbouring public parcels, municipal borders, stations, junctions, ports). A site that is not
public (never published, withdrawn after an objection, retired, unknown) is :class:`NotFound`,
the same answer for each, so that the answer tells nothing about a parcel the public may not see.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy import Connection, any_, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from landreg import clock, fields, vocab
from landreg.access import PUBLIC
from landreg.errors import NotFound
from landreg.features import COLLECTIONS, source
from landreg.scoring.criteria import EXCLUSIONS
from landreg.scoring.explain import explanation
from landreg.scoring.profiles import current_profile
from landreg.sites import contacts
from landreg.sites.search import DISTANCES, PROFILE, sites_by_id

#: The key facts, in the exposé's order (labels from the field registry, values from its code lists).
FACTS = (
    "local_ref", "name", "category", "status", "area_m2", "designation", "planning_status", "servicing",
    "availability", "restriction_class", "contamination_flag", "abstand_class_possible", "data_date",
)  # fmt: skip
#: How far around the site the exposé's map reaches (metres), and at most how many features of each layer.
SURROUNDINGS_M = 1500
CONTEXT_M = 5000
MAX_NEIGHBOURS = 150
MAX_CONTEXT = 40
_CONTEXT_KINDS = tuple(kind for _, kind in DISTANCES.values())


def value_text(name: str, value, lang: str = "de") -> str:
    """A fact as people read it: a code's label, a number in the language's way, yes/no, a date."""
    if value is None or value == "":
        return "—" if lang == "de" else "—"
    if name == "area_m2":
        ha = value / 10_000
        return f"{_num(ha, 2, lang)} ha ({_num(value, 0, lang)} m²)"
    if isinstance(value, bool):
        return ("ja" if value else "nein") if lang == "de" else ("yes" if value else "no")
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()
    f = fields.field(name)
    if f.codes is not None and str(value) in f.codes.labels:
        return f.codes.label(str(value), lang)
    if name == "abstand_class_possible" and value in vocab.ABSTAND_CLASS.labels:
        return vocab.ABSTAND_CLASS.label(value, lang)
    return str(value)


def _num(value: float, digits: int, lang: str) -> str:
    text_ = f"{value:,.{digits}f}"
    return text_.replace(",", "\u202f").replace(".", ",") if lang == "de" else text_


def facts(site: dict, lang: str = "de") -> list[dict]:
    """The key facts of a site: name, label and value as text."""
    return [
        {"name": n, "label": _label(n, lang), "value": value_text(n, site.get(n), lang), "raw": site.get(n)}
        for n in FACTS
    ]


def _label(name: str, lang: str) -> str:
    """The field's label; the area is shown in ha and m², so it is labelled without a unit."""
    if name == "area_m2":
        return "Size" if lang == "en" else "Größe"
    return fields.field(name).label(lang)


def distances(site: dict, lang: str = "de") -> list[dict]:
    """The distances to rail station, motorway junction and port: known, or unknown (never "far")."""
    labels = {
        "dist_rail_station_m": ("Bahnhof", "Railway station"),
        "dist_motorway_m": ("Autobahnanschluss", "Motorway junction"),
        "dist_port_m": ("Hafen", "Port"),
    }
    out = []
    for column, _ in DISTANCES.values():
        metres = site.get(column)
        de, en = labels[column]
        if metres is None:
            shown = "unbekannt (keine Daten für diese Lage)" if lang == "de" else "unknown (no data for this location)"
        else:
            shown = f"{_num(metres / 1000, 1, lang)} km"
        out.append({"name": column, "label": en if lang == "en" else de, "value": shown, "metres": metres})
    return out


def reasons(explained: dict | None, lang: str = "de") -> dict:
    """The score's main reasons in plain language: what adds most, what would help most, what is
    unknown, what is left out (withheld: built on confidential facts) and what excludes it."""
    if explained is None:
        return {"strengths": [], "would_help": [], "unknown": [], "withheld": [], "excluded": []}
    criteria = explained["criteria"]
    de = lang != "en"
    strengths = sorted((c for c in criteria if c["contribution"]), key=lambda c: -c["contribution"])[:3]
    return {
        "strengths": [
            (f"{c['label']}: trägt {_num(c['contribution'], 0, lang)} Punkte bei" if de
             else f"{c['label']}: adds {_num(c['contribution'], 0, lang)} points")
            for c in strengths
        ],
        "would_help": [
            (f"{h['label']}: bis zu +{_num(h['gain'], 0, lang)} Punkte" if de
             else f"{h['label']}: up to +{_num(h['gain'], 0, lang)} points")
            for h in explained["would_help_most"]
        ],
        "unknown": [
            f"{c['label']}: " + (c["note"] or ("unbekannt" if de else "unknown"))
            for c in criteria if c["available"] is False
        ],
        "withheld": [c["label"] for c in criteria if c.get("withheld")],
        "excluded": [EXCLUSIONS[e].name_en if not de else EXCLUSIONS[e].name_de for e in explained["excluded_by"]],
    }  # fmt: skip


def score_of(conn: Connection, site_id: str, lang: str = "de") -> dict | None:
    """The explanation of the site's public score under the investor profile; None where the profile
    does not rank the site (its category) or no profile exists."""
    profile = current_profile(conn, PROFILE, missing_ok=True)
    if profile is None:
        return None
    try:
        return explanation(conn, PUBLIC, site_id, profile, lang)
    except NotFound:
        return None


#: How many nearest outlines (current and awaiting review, each) :func:`_near_candidates` reads.
NEAR_CANDIDATES = 2 * MAX_NEIGHBOURS


def _near_candidates(conn: Connection, outline: bytes, site_id: uuid.UUID) -> tuple[list[uuid.UUID], float | None]:
    """The ids of the parcels nearest to the site, by their current outline and by the approved
    outline of a change awaiting review, read nearest first from the spatial index (``<->``: true
    distance); and the distance up to which this list holds every parcel (``None``: all within
    :data:`SURROUNDINGS_M`).

    Why: at 1M parcels, 15,000 lie within 1.5 km of a site in a dense town, and ordering the
    public view by distance sorts every one of them (about 90 ms); PostgreSQL cannot read the
    view's union nearest first (nor this table when a ``ST_DWithin`` condition sits beside the
    ``ORDER BY``: the reach is applied outside). Which of the candidates the public may see, the
    public view decides, as everywhere (:func:`surroundings`)."""
    reach: float | None = None
    ids: list[uuid.UUID] = []
    for table in ("parcel", "parcel_pending"):
        key = "id" if table == "parcel" else "parcel_id"
        rows = conn.execute(
            text(f"""
            SELECT id, d FROM (SELECT {key} AS id, geom <-> ST_GeomFromWKB(:g, 25832) AS d FROM {table}
                                WHERE {key} <> :site ORDER BY d LIMIT :most) AS nearest
             WHERE d <= :reach
        """),
            {"g": outline, "reach": SURROUNDINGS_M, "site": site_id, "most": NEAR_CANDIDATES},
        ).all()  # fmt: skip
        ids += [r.id for r in rows]
        if len(rows) == NEAR_CANDIDATES:  # more lie beyond the last one read
            reach = rows[-1].d if reach is None else min(reach, rows[-1].d)
    return ids, reach


def surroundings(conn: Connection, site_id: str) -> dict:
    """GeoJSON (WGS84) of what lies around the site, from the register's own data: neighbouring
    public parcels (public view), municipal borders, and stations, junctions and ports."""
    site_id = uuid.UUID(str(site_id))
    src = source(COLLECTIONS["parcels"], PUBLIC)
    # the outline the public sees (the approved one while a change waits for review), not the parcel row's
    outline = conn.execute(select(func.ST_AsBinary(src.geometry)).where(src.id_column == site_id)).scalar_one()
    site_geom = func.ST_GeomFromWKB(outline, 25832)

    def nearest(candidates: list[uuid.UUID] | None, below: float | None):
        query = select(
            src.id_column.label("id"),
            src.properties["local_ref"].label("local_ref"),
            src.properties["category"].label("category"),
            func.ST_AsGeoJSON(func.ST_Transform(func.ST_SimplifyPreserveTopology(src.geometry, 2), 4326), 6).label("g"),
        ).where(src.id_column != site_id)
        distance = func.ST_Distance(src.geometry, site_geom)
        if candidates is None:
            query = query.where(func.ST_DWithin(src.geometry, site_geom, SURROUNDINGS_M))
        else:  # not ST_DWithin: its index condition would read all 15,000 parcels within reach again
            query = query.where(src.id_column == any_(literal(candidates, ARRAY(UUID))), distance <= SURROUNDINGS_M)
        if below is not None:  # beyond it a parcel may be missing from the candidates
            query = query.where(distance < below)
        return conn.execute(query.order_by(distance).limit(MAX_NEIGHBOURS)).all()

    candidates, below = _near_candidates(conn, outline, site_id)
    neighbours = nearest(candidates, below)
    if below is not None and len(neighbours) < MAX_NEIGHBOURS:  # too few public ones among the nearest
        neighbours = nearest(None, None)
    borders = conn.execute(
        text("""
        WITH site AS (SELECT ST_Expand(ST_Envelope(ST_GeomFromWKB(:g, 25832)), :reach) AS box)
        SELECT m.name, ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(ST_Intersection(ST_Boundary(m.geom),
                                                                                        site.box), 5), 4326), 6) AS g
          FROM municipality m, site WHERE ST_Intersects(m.geom, site.box)
    """),
        {"g": outline, "reach": SURROUNDINGS_M * 2},
    ).all()
    context = conn.execute(
        text("""
        SELECT c.kind, c.name, ST_AsGeoJSON(ST_Transform(ST_PointOnSurface(c.geom), 4326), 6) AS g
          FROM context_feature c, ST_GeomFromWKB(:g, 25832) AS site
         WHERE c.kind = ANY(:kinds) AND ST_DWithin(c.geom, site, :reach)
         ORDER BY c.geom <-> site LIMIT :most
    """),
        {"g": outline, "kinds": list(_CONTEXT_KINDS), "reach": CONTEXT_M, "most": MAX_CONTEXT},
    ).all()

    def collection(features):
        return {"type": "FeatureCollection", "features": features}

    return {
        "neighbours": collection(
            [
                {"type": "Feature", "id": str(r.id), "geometry": json.loads(r.g),
                 "properties": {"local_ref": r.local_ref, "category": r.category}}
                for r in neighbours
            ]
        ),
        "borders": collection(
            [{"type": "Feature", "geometry": json.loads(r.g), "properties": {"name": r.name}} for r in borders if r.g]
        ),
        "context": collection(
            [
                {"type": "Feature", "geometry": json.loads(r.g), "properties": {"kind": r.kind, "name": r.name,
                 "label": vocab.CONTEXT_KIND.label(r.kind, "de")}}
                for r in context
            ]
        ),
    }  # fmt: skip


def licence() -> dict:
    """The licence and attribution the register publishes its public data under (one definition:
    :class:`landreg.opendata.OpenDataSettings`)."""
    from landreg.opendata import opendata_settings

    s = opendata_settings()
    return {"id": s.licence_id, "name": s.licence_name, "uri": s.licence_uri, "attribution": s.attribution}


def expose(conn: Connection, site_id: str, lang: str = "de", with_surroundings: bool = True) -> dict:
    """Everything the exposé of a public site shows; NotFound for any id that is not one."""
    site = sites_by_id(conn, [site_id]).get(str(site_id))
    if site is None:
        raise NotFound(f"no public site {str(site_id)[:40]}")
    explained = score_of(conn, site["id"], lang)
    contact = contacts.contact_of(conn, site["ags"])
    return {
        "site": site,
        "facts": facts(site, lang),
        "distances": distances(site, lang),
        "score": site["score"],
        "explanation": explained,
        "reasons": reasons(explained, lang),
        "profile": PROFILE,
        "contact": contact,
        "data_date": site["data_date"],
        "as_of": clock.today(),
        "licence": licence(),
        "surroundings": surroundings(conn, site["id"]) if with_surroundings else None,
    }
