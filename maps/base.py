"""The frame every landreg map shares: base map, title, legend, scale bar, layer control, and the
parcels themselves, embedded as GeoJSON when few or drawn from vector tiles when many."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import folium
from branca.element import Element, MacroElement
from folium.plugins import VectorGridProtobuf
from folium.utilities import JsCode
from jinja2 import Template
from pygeofilter.backends.cql2_json import to_cql2

from landreg.access import PUBLIC, Principal, View
from maps import assets
from maps.data import Selection
from maps.options import MapOptions
from maps.texts import code_labels, field_labels, t

RUHR_CENTER = (51.48, 7.25)
CATEGORY_COLORS = {
    "brachflaeche": "#a6611a",
    "bauluecke": "#f1b6da",
    "gewerbeflaeche": "#4393c3",
    "industrieflaeche": "#542788",
}
SCORE_CLASSES = [(0, "#d7191c"), (20, "#fdae61"), (40, "#ffffbf"), (60, "#a6d96a"), (80, "#1a9641")]
NO_SCORE_COLOR = "#bdbdbd"
#: Above this many parcels a map hard-embeds nothing and errs: narrow the filter or use tiles.
EMBED_LIMIT = 20_000


class MapError(ValueError):
    pass


@dataclass
class Context:
    """Where a map is drawn.

    ``api_url``: the API that serves tiles, items and explanations (None for a file written
    without one: everything is embedded). ``embed_max``: above this many parcels a map with an
    API draws them from vector tiles, and a popup reads the clicked parcel's record from the item
    (tiles carry only what the map draws). Confidential maps always embed, records and all: the
    browser fetches tiles and items without the caller's token.
    """

    static_url: str
    api_url: str | None
    view: View = PUBLIC
    embed_max: int = 1500
    #: who asks (reads of recorded plan checks are theirs: landreg.safeguarding.recorded_check)
    principal: Principal | None = None

    @property
    def confidential(self) -> bool:
        """Whether the map can carry anything the public may not see."""
        return self.view.confidential


class Script(MacroElement):
    """JavaScript run after everything added to the map before it."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str):
        super().__init__()
        self._name = "LandregScript"
        self.code = code


def new_map(opts: MapOptions, ctx: Context, bbox: list[float] | None) -> folium.Map:
    m = folium.Map(location=RUHR_CENTER, zoom_start=10, tiles=None, control_scale=True)
    assets.use_local_assets(
        m,
        ctx.static_url,
        [assets.LEAFLET_JS, assets.LANDREG_JS],
        [assets.LEAFLET_CSS, assets.LANDREG_CSS],
    )
    folium.TileLayer(
        "OpenStreetMap", name=t("osm", opts.lang), attr="© OpenStreetMap contributors", max_zoom=19
    ).add_to(m)
    if opts.lat is not None:
        m.location = [opts.lat, opts.lon]
        m.options["zoom"] = opts.zoom or 15
    elif bbox:
        m.fit_bounds([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], max_zoom=opts.zoom or 16)
    return m


def configure(m: folium.Map, opts: MapOptions, ctx: Context, names: dict[str, str], color_by: str) -> None:
    """The settings the page's JavaScript needs: labels, colours, municipality names, URLs."""
    lang = opts.lang
    config = {
        "lang": lang,
        "labels": field_labels(lang, ctx.view),
        "codes": code_labels(lang, ctx.view),
        "text": {
            key: t(key, lang, profile=opts.profile or "")
            for key in (
                "count",
                "area",
                "short_term",
                "zoom_in",
                "yes",
                "no",
                "not_scored",
                "drivers",
                "weakness",
                "points",
                "details",
                "rank",
                "pressure",
                "score_for",
                "loading",
            )
        }
        | {"load_failed": t("load_failed", lang, reason="{reason}")}
        | {"sample_short": "Beispiel" if lang == "de" else "Sample"},
        "categoryColors": CATEGORY_COLORS,
        "scoreClasses": SCORE_CLASSES,
        "noScoreColor": NO_SCORE_COLOR,
        "colorBy": color_by,
        "profile": opts.profile,
        "municipalities": names,
    }
    if ctx.api_url is not None:
        config["itemUrl"] = f"{ctx.api_url}/collections/parcels/items/{{id}}?f=html&lang={lang}"
        # the record a popup of a tile's parcel reads (tiles carry only what the map draws)
        config["recordUrl"] = f"{ctx.api_url}/collections/parcels/items/{{id}}?f=json"
        if opts.profile:
            config["explainUrl"] = (
                f"{ctx.api_url}/profiles/{quote(opts.profile)}/parcels/{{id}}/explanation?lang={lang}"
            )
    m.get_root().header.add_child(
        Element(f"<script>window.LANDREG = {json.dumps(config, ensure_ascii=False)};</script>")
    )


def add_box(m: folium.Map, css_class: str, html: str) -> None:
    m.get_root().html.add_child(Element(f'<div class="lr-box {css_class}">{html}</div>'))


def add_title(m: folium.Map, opts: MapOptions, name: str, summary: dict, note: str = "") -> None:
    lang = opts.lang
    facts = []
    if summary.get("data_date"):
        facts.append(f"{t('data_date', lang)}: {summary['data_date']:%d.%m.%Y}")
    if note:
        facts.append(note)
    other = "en" if lang == "de" else "de"
    sample = f'<p><span class="lr-sample">{t("sample", lang)}</span></p>' if summary.get("sample") else ""
    add_box(
        m,
        "lr-title",
        f"<h1>{t(name, lang)}</h1><p>{t(name + '.sub', lang)}</p><p>{' · '.join(facts)}</p>{sample}"
        f'<p><a href="?{urlencode(_query(opts) | {"lang": other}, doseq=True)}" class="lr-lang">{t("language", lang)}</a></p>',
    )


def _query(opts: MapOptions) -> dict:
    """The options as URL query parameters (for the language switch and the filter form)."""
    out: dict = {}
    for key in ("category", "availability", "status", "ags"):
        if getattr(opts, key):
            out[key] = getattr(opts, key)
    for key in ("min_area", "max_area", "profile", "lat", "lon", "zoom"):
        if getattr(opts, key) is not None:
            out[key] = getattr(opts, key)
    return out


def add_legend(m: folium.Map, title: str, entries: list[tuple[str, str]]) -> None:
    rows = "".join(f'<div><i style="background:{color}"></i>{label}</div>' for color, label in entries)
    add_box(m, "lr-legend", f"<b>{title}</b>{rows}")


def category_legend(lang: str) -> list[tuple[str, str]]:
    labels = code_labels(lang)["category"]
    return [(color, labels[code]) for code, color in CATEGORY_COLORS.items()]


def score_legend(lang: str) -> list[tuple[str, str]]:
    bounds = [low for low, _ in SCORE_CLASSES] + [100]
    entries = [(color, f"{low}–{bounds[i + 1]}") for i, (low, color) in enumerate(SCORE_CLASSES)]
    return list(reversed(entries)) + [(NO_SCORE_COLOR, t("not_scored", lang))]


def add_parcels(m: folium.Map, ctx: Context, selection: Selection, count: int, conn, name: str) -> str:
    """The selected parcels as a layer; returns how: ``"geojson"`` or ``"tiles"``."""
    if ctx.api_url is not None and not ctx.confidential and count > ctx.embed_max:
        params = {}
        if selection.node is not None:
            params |= {"filter": json.dumps(to_cql2(selection.node)), "filter-lang": "cql2-json"}
        if selection.profile is not None:
            params["profile"] = selection.profile.name
        url = f"{ctx.api_url}/collections/parcels/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
        if params:
            url += "?" + urlencode(params, quote_via=quote)
        options = (
            '{"vectorTileLayerStyles": {"parcels": function (p, z) { return landreg.style(p, z); }},'
            ' "interactive": true, "maxNativeZoom": 22, "attribution": "landreg"}'
        )
        layer = VectorGridProtobuf(url, name, options)
        assets.use_local_assets(layer, ctx.static_url, [assets.VECTORGRID_JS])
        layer.add_to(m)
        m.add_child(Script(f"landreg.bindTiles({layer.get_name()}, {m.get_name()});"))
        return "tiles"
    if count > EMBED_LIMIT:
        raise MapError(
            f"{count} parcels are too many to embed in one page (at most {EMBED_LIMIT}); narrow the filter"
            + (" or draw the map from a landreg API (--api-url) with vector tiles" if ctx.api_url is None else "")
        )
    add_features(m, selection.features(conn), name)
    if ctx.api_url is not None:
        m.add_child(Script(f"landreg.explainOnOpen({m.get_name()});"))
    return "geojson"


def add_features(m: folium.Map, features: list[dict], name: str) -> None:
    """Parcels embedded as GeoJSON, styled and with popups by the page's script."""
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=name,
        on_each_feature=JsCode("function (feature, layer) { landreg.bindFeature(feature, layer); }"),
    ).add_to(m)


def add_boundaries(m: folium.Map, geojson: dict, lang: str, show: bool = True) -> None:
    folium.GeoJson(
        geojson,
        name=t("municipalities", lang),
        style_function=lambda _: {"fill": False, "color": "#555555", "weight": 1.5, "dashArray": "4 4"},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        show=show,
    ).add_to(m)


def finish(m: folium.Map) -> folium.Map:
    folium.LayerControl(collapsed=False).add_to(m)
    return m
