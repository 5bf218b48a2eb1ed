"""The four maps of the registry, each a function from (connection, options, context) to a Folium map."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from html import escape

import branca.colormap
import folium
import numpy as np
from sqlalchemy import Connection

from landreg import rules
from landreg.access import AccessDenied
from landreg.errors import NotFound
from landreg.safeguarding import recorded_check, supply_by_municipality, watch_list
from landreg.scoring.explain import drivers
from landreg.scoring.profiles import current_profile
from maps import MAP_NAMES, assets, base
from maps.base import Context
from maps.data import (
    Selection,
    municipalities,
    municipality_names,
    plan_check,
    reserves_by_municipality,
    rvr_ags,
)
from maps.options import MapOptions, OptionError
from maps.texts import code_labels, field_labels, t

#: The Standortkarte's default filter: what is offered to investors (:func:`landreg.rules.is_offered`).
OFFERED = rules.code_choices(rules.is_offered)
#: The Flächensicherungskarte's default filter: commercial and industrial land by category.
INDUSTRIAL = rules.code_choices(rules.is_industrial_category)
RESERVE_COLORS = ["#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837"]  # ColorBrewer YlGn, 5 classes
STATUS_COLORS = {
    "potenzial": "#9ecae1",
    "verfuegbar": "#31a354",
    "reserviert": "#fdae6b",
    "in_entwicklung": "#756bb1",
    "genutzt": "#636363",
    "andere_nutzung": "#e31a1c",
}


def _profile(conn: Connection, opts: MapOptions, default: str):
    name = opts.profile or default
    profile = current_profile(conn, name, missing_ok=True)
    if profile is None and opts.profile:
        raise OptionError(f"profile: no scoring profile {opts.profile!r}")
    opts.profile = profile.name if profile else None
    return profile


def _shown(lang: str, summary: dict, how: str) -> str:
    return t("shown_tiles" if how == "tiles" else "shown", lang, n=f"{summary['count']:,}".replace(",", "."))


def standortkarte(conn: Connection, opts: MapOptions, ctx: Context) -> folium.Map:
    """Investors: the sites offered (:func:`landreg.rules.is_offered`) by category, with the public facts
    and the investor priority."""
    profile = _profile(conn, opts, "investor-industrie")
    selection = Selection(ctx.view, opts.parcel_filter(OFFERED), profile)
    summary = selection.summary(conn)
    names = municipality_names(conn)
    m = base.new_map(opts, ctx, summary["bbox"])
    base.configure(m, opts, ctx, names, "category")
    how = base.add_parcels(m, ctx, selection, summary["count"], conn, t("parcels", opts.lang))
    base.add_boundaries(m, municipalities(conn), opts.lang)
    base.add_title(m, opts, "standortkarte", summary, _shown(opts.lang, summary, how))
    base.add_legend(m, t("legend", opts.lang), base.category_legend(opts.lang))
    if ctx.api_url is not None:
        _filter_form(m, opts, conn, names)
    return base.finish(m)


def prioritaetenkarte(conn: Connection, opts: MapOptions, ctx: Context) -> folium.Map:
    """Ministry: parcels coloured by score for a profile, the top N listed with their main drivers."""
    profile = _profile(conn, opts, "ministerium-revitalisierung")
    if profile is None:
        raise OptionError("no scoring profile in the registry; run `landreg score` first")
    selection = Selection(ctx.view, opts.parcel_filter(), profile)
    summary = selection.summary(conn)
    names = municipality_names(conn)
    m = base.new_map(opts, ctx, summary["bbox"])
    base.configure(m, opts, ctx, names, "score")
    how = base.add_parcels(m, ctx, selection, summary["count"], conn, t("parcels", opts.lang))
    top = selection.features(conn, limit=opts.top, ranked=True)
    explained = drivers(conn, profile, [f["id"] for f in top], opts.lang, view=ctx.view)
    for rank, feature in enumerate(top, start=1):
        feature["properties"] |= {"rank": rank, "highlight": True, **explained.get(feature["id"], {})}
    base.add_features(m, top, t("top", opts.lang, n=len(top)))
    base.add_boundaries(m, municipalities(conn), opts.lang)
    base.add_title(
        m,
        opts,
        "prioritaetenkarte",
        summary,
        f"{profile.title} (v{profile.version}) · " + _shown(opts.lang, summary, how),
    )
    base.add_legend(m, t("score_for", opts.lang, profile=profile.name), base.score_legend(opts.lang))
    items = "".join(
        f"<li>{escape(f['properties'].get('name') or f['properties']['local_ref'])} "
        f"({escape(names.get(f['properties']['ags'], ''))}): <b>{f['properties']['score']:.1f}</b></li>"
        for f in top
    )
    base.add_box(m, "lr-list", f"<b>{t('top', opts.lang, n=len(top))}</b><ol class='lr-top'>{items}</ol>")
    return base.finish(m)


def flaechensicherungskarte(conn: Connection, opts: MapOptions, ctx: Context) -> folium.Map:
    """Industrial and commercial reserves by status; losses to other uses stand out in red. Signed-in
    callers also see the watch list and, with ``plan_check``, a recorded plan check's area and conflicts."""
    if opts.plan_check is not None and not ctx.confidential:
        raise OptionError("plan_check: plan checks are internal; this needs a planner's or the ministry's token")
    selection = Selection(ctx.view, opts.parcel_filter(INDUSTRIAL))
    summary = selection.summary(conn)
    m = base.new_map(opts, ctx, summary["bbox"])
    base.configure(m, opts, ctx, municipality_names(conn), "status")
    m.get_root().header.add_child(
        folium.Element(f"<script>window.LANDREG.statusColors = {json.dumps(STATUS_COLORS)};</script>")
    )
    how = base.add_parcels(m, ctx, selection, summary["count"], conn, t("parcels", opts.lang))
    if ctx.confidential:
        entries = {
            e["parcel_id"]: e for e in reversed(watch_list(conn, opts.ags or None, view=ctx.view))
        }  # newest wins
        _highlighted(m, selection, conn, entries, t("watch", opts.lang), lambda e: f"{e['at']:%d.%m.%Y}: {e['detail']}")
    if opts.plan_check is not None:
        try:  # who may read which recorded check is the core's rule
            recorded_check(conn, ctx.principal, opts.plan_check)
        except (NotFound, AccessDenied):
            raise OptionError(f"plan_check: no plan check {opts.plan_check} that you may read") from None
        check = plan_check(conn, opts.plan_check)
        folium.GeoJson(
            {"type": "Feature", "geometry": check["geometry"], "properties": {"name": check["name"]}},
            name=f"{t('conflict', opts.lang)}: {check['name']} ({check['intended_use']})",
            style_function=lambda _: {"color": "#e31a1c", "weight": 3, "dashArray": "8 6", "fillOpacity": 0.08},
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        ).add_to(m)
        conflicts = {pid: {"detail": c} for pid, c in check["parcels"].items() if c != "keiner"}
        _highlighted(m, selection, conn, conflicts, t("conflict", opts.lang), lambda e: e["detail"])
    base.add_boundaries(m, municipalities(conn), opts.lang)
    base.add_title(m, opts, "flaechensicherungskarte", summary, _shown(opts.lang, summary, how))
    labels = code_labels(opts.lang)["status"]
    legend = [(c, labels[s]) for s, c in STATUS_COLORS.items()]
    if ctx.confidential:
        legend.append(("#ffffff; border: 3px solid #e31a1c", t("pressure", opts.lang)))
    base.add_legend(m, t("legend", opts.lang), legend)
    return base.finish(m)


def _highlighted(m, selection: Selection, conn: Connection, entries: dict[str, dict], name: str, describe) -> None:
    """Parcels outlined in red, with why (their "pressure") in the popup."""
    features = selection.features(conn, ids=list(entries))
    for feature in features:
        feature["properties"] |= {"highlight": True, "pressure": describe(entries[feature["id"]])}
    base.add_features(m, features, f"{name} ({len(features)})")


#: The figures a Gemeindeübersicht colours by: the area (ha) of a figure of landreg.rules, or the years
#: of supply of the Flächenbilanz.
AREA_METRICS = tuple(f"{figure}_ha" for figure in ("available", "restriction_free", "reserve"))
assert {m.removesuffix("_ha") for m in AREA_METRICS} == set(rules.FIGURES)
METRICS = (*AREA_METRICS, "years_of_supply")
#: Years of take-up the years of supply average over.
SUPPLY_WINDOW_YEARS = 3


def gemeindeuebersicht(conn: Connection, opts: MapOptions, ctx: Context) -> folium.Map:
    """Ministry and public: a choropleth of the municipalities by the area of one figure of land that
    can be used (verfügbar (Status), restriktionsfreie Reserve or Reserve, of the parcels the caller
    may see, all categories) or by the years of supply of restriction-free industrial land
    (aggregates only, so public). Title, legend and popups name the figure shown."""
    if opts.metric not in METRICS:
        raise OptionError(f"metric: {opts.metric!r} is not one of {', '.join(METRICS)}")
    boundaries = municipalities(conn, opts.ags or None)
    reserves = reserves_by_municipality(conn, ctx.view, opts.ags or None)
    supply = (
        supply_by_municipality(conn, dt.datetime.now(dt.UTC), SUPPLY_WINDOW_YEARS, view=ctx.view)
        if opts.metric == "years_of_supply"
        else {}
    )
    none = {"parcels": 0} | dict.fromkeys(AREA_METRICS, 0.0)
    values = []
    for feature in boundaries["features"]:
        figures = reserves.get(feature["id"], none)
        years = supply.get(feature["id"], {}).get("years_of_supply")
        feature["properties"] |= figures | {"years_of_supply": years if years is not None else t("no_data", opts.lang)}
        value = years if opts.metric == "years_of_supply" else figures[opts.metric]
        if value is not None:
            values.append(value)
    label = t(opts.metric, opts.lang)
    bounds = sorted(set(np.quantile(values, [0, 0.2, 0.4, 0.6, 0.8, 1]).round(1))) if values else [0, 1]
    if len(bounds) < 2:
        bounds = [bounds[0], bounds[0] + 1]
    palette = RESERVE_COLORS[: len(bounds) - 1]
    scale = branca.colormap.StepColormap(palette, index=bounds, vmin=bounds[0], vmax=bounds[-1])

    def fill(properties: dict) -> str:
        value = properties[opts.metric]
        return scale(value) if isinstance(value, int | float) else base.NO_SCORE_COLOR

    summary = {"count": sum(r["parcels"] for r in reserves.values()), "data_date": None, "sample": _sample(conn, ctx)}
    m = base.new_map(opts, ctx, None)
    base.configure(m, opts, ctx, {}, "category")
    shown = [opts.metric, *(k for k in METRICS if k != opts.metric)]  # the figure shown first
    folium.GeoJson(
        boundaries,
        name=label,
        style_function=lambda f: {
            "fillColor": fill(f["properties"]),
            "fillOpacity": 0.75,
            "color": "#444",
            "weight": 1,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", *shown, "parcels"],
            aliases=[t("municipality", opts.lang), *[t(k, opts.lang) for k in shown], t("reserve_count", opts.lang)],
        ),
    ).add_to(m)
    base.add_title(
        m,
        opts,
        "gemeindeuebersicht",
        summary,
        f"{label}: {t(opts.metric + '.about', opts.lang, years=SUPPLY_WINDOW_YEARS)}",
    )
    entries = [(scale(low), f"{low:g}–{high:g}") for low, high in zip(bounds, bounds[1:])]
    base.add_legend(m, label, list(reversed(entries)) + [(base.NO_SCORE_COLOR, t("no_data", opts.lang))])
    return base.finish(m)


def _sample(conn: Connection, ctx: Context) -> bool:
    return Selection(ctx.view).summary(conn)["sample"]


def _filter_form(m: folium.Map, opts: MapOptions, conn: Connection, names: dict[str, str]) -> None:
    """A GET form that reloads the map with other filters (served maps only)."""
    lang = opts.lang

    def select(name: str, options: list[tuple[str, str]], chosen: list[str]) -> str:
        entries = [f'<option value="">{t("all", lang)}</option>'] + [
            f'<option value="{escape(v)}"{" selected" if v in chosen else ""}>{escape(label)}</option>'
            for v, label in options
        ]
        return f'<select name="{name}">{"".join(entries)}</select>'

    codes, fields = code_labels(lang), field_labels(lang)
    rvr = sorted(((a, names[a]) for a in rvr_ags(conn)), key=lambda e: e[1])
    form = (
        f'<details><summary><b>{t("filter", lang)}</b></summary><form method="get">'
        f'<input type="hidden" name="lang" value="{lang}">'
        f"<label>{fields['category']}"
        f"{select('category', list(codes['category'].items()), opts.category)}</label>"
        f"<label>{fields['availability']}"
        f"{select('availability', [(c, codes['availability'][c]) for c in OFFERED['availability']], opts.availability)}</label>"
        f"<label>{t('municipality', lang)}{select('ags', rvr, opts.ags)}</label>"
        f'<label>{t("min_area", lang)}<input name="min_area" type="number" min="0" value="{opts.min_area or ""}"></label>'
        f'<label>{t("max_area", lang)}<input name="max_area" type="number" min="0" value="{opts.max_area or ""}"></label>'
        f'<button type="submit">{t("apply", lang)}</button></form></details>'
    )
    base.add_box(m, "lr-filter", form)


MAPS: dict[str, Callable[[Connection, MapOptions, Context], folium.Map]] = {
    "standortkarte": standortkarte,
    "prioritaetenkarte": prioritaetenkarte,
    "flaechensicherungskarte": flaechensicherungskarte,
    "gemeindeuebersicht": gemeindeuebersicht,
}
assert tuple(MAPS) == MAP_NAMES


def render(conn: Connection, name: str, opts: MapOptions, ctx: Context, standalone: bool = False) -> str:
    """The map's HTML; ``standalone``: with every script inlined (for files)."""
    if name not in MAPS:
        raise OptionError(f"no map {name!r}; maps: {', '.join(MAPS)}")
    html = MAPS[name](conn, opts.check(), ctx).get_root().render()
    return assets.inline(html, ctx.static_url) if standalone else html
