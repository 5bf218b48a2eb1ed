"""HTML and CSV renderings of API responses: readable pages with a small map that needs no
internet access (an inline SVG of the geometries), German first."""

from __future__ import annotations

import csv as csv_module
import html
import io
import json

import shapely

from landreg.fields import CODE_FIELDS

_STYLE = """<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f3f3f3}svg{border:1px solid #ccc;background:#f8faf8}.note{color:#a33;font-weight:bold}</style>"""


def _page(title: str, body: str, lang: str = "de") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"{_STYLE}</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _links(links: list[dict]) -> str:
    items = "".join(
        f'<li><a href="{html.escape(link["href"])}">{html.escape(link.get("title") or link["rel"])}'
        f"</a> ({html.escape(link.get('type', ''))})</li>"
        for link in links
    )
    return f"<ul>{items}</ul>"


def landing(body: dict, lang: str) -> str:
    return _page(body["title"], f"<p>{html.escape(body['description'])}</p>{_links(body['links'])}", lang)


def listing(title: str, entries: list[str]) -> str:
    return _page(title, "<ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in entries) + "</ul>")


def collections(body: dict) -> str:
    rows = "".join(
        f'<tr><td><a href="{html.escape(c["links"][0]["href"])}/items?f=html">{html.escape(c["id"])}</a></td>'
        f"<td>{html.escape(c['title'])}</td><td>{html.escape(c['description'])}</td></tr>"
        for c in body["collections"]
    )
    return _page(
        "Sammlungen / Collections", f"<table><tr><th>id</th><th>Titel</th><th>Beschreibung</th></tr>{rows}</table>"
    )


def _svg(features: list[dict], width: int = 640, height: int = 400) -> str:
    geoms = [shapely.geometry.shape(f["geometry"]) for f in features if f.get("geometry")]
    if not geoms:
        return ""
    minx, miny, maxx, maxy = shapely.GeometryCollection(geoms).bounds
    span = max(maxx - minx, maxy - miny) or 1.0
    scale = min(width, height) / span * 0.95

    def path(g) -> str:
        parts = []
        for poly in getattr(g, "geoms", [g]):
            rings = [poly.exterior, *poly.interiors] if poly.geom_type == "Polygon" else [poly]
            for ring in rings:
                coords = list(getattr(ring, "coords", []))
                if coords:
                    parts.append(
                        "M" + " L".join(f"{(x - minx) * scale:.1f},{(maxy - y) * scale:.1f}" for x, y, *_ in coords)
                    )
        return " ".join(parts)

    shapes = "".join(
        f'<circle cx="{(g.x - minx) * scale:.1f}" cy="{(maxy - g.y) * scale:.1f}" r="3" fill="#1565c0"/>'
        if g.geom_type == "Point"
        else f'<path d="{path(g)}" fill="#e6a23c" fill-opacity=".6" stroke="#8a5a00"/>'
        for g in geoms
    )
    return f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">{shapes}</svg>'


def _value(name: str, value, lang: str) -> str:
    if name in CODE_FIELDS and isinstance(value, str) and value in CODE_FIELDS[name].labels:
        return CODE_FIELDS[name].label(value, lang)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def items(collection, features: list[dict], matched: int, links: list[dict], lang: str, srid: int) -> str:
    names = list(features[0]["properties"]) if features else []
    sample = any(f["properties"].get("is_sample") for f in features)
    rows = "".join(
        "<tr>"
        + f"<td>{html.escape(str(f['id']))}</td>"
        + "".join(f"<td>{html.escape(_value(n, f['properties'].get(n), lang))}</td>" for n in names)
        + "</tr>"
        for f in features
    )
    note = '<p class="note">Beispieldaten – keine realen Flächen / sample data</p>' if sample else ""
    body = (
        f"{note}<p>{len(features)} von {matched} Objekten</p>{_svg(features)}{_links(links)}"
        f"<table><tr><th>id</th>{''.join(f'<th>{html.escape(n)}</th>' for n in names)}</tr>{rows}</table>"
    )
    return _page(collection.title(lang), body, lang)


def item(collection, feature: dict, lang: str, srid: int) -> str:
    props = feature["properties"]
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_value(k, v, lang))}</td></tr>" for k, v in props.items()
    )
    note = '<p class="note">Beispieldaten – keine reale Fläche / sample data</p>' if props.get("is_sample") else ""
    return _page(f"{collection.title(lang)}: {feature['id']}", f"{note}{_svg([feature])}<table>{rows}</table>", lang)


def csv(features: list[dict]) -> str:
    out = io.StringIO()
    names = list(features[0]["properties"]) if features else []
    writer = csv_module.writer(out)
    writer.writerow(["id", *names, "wkt"])
    for f in features:
        geometry = shapely.geometry.shape(f["geometry"]).wkt if f.get("geometry") else ""
        writer.writerow([f["id"], *[_plain(f["properties"].get(n)) for n in names], geometry])
    return out.getvalue()


def _plain(value):
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
