"""The ministry's dashboard: every municipality's figures in one sortable table (``/app/gemeinden``,
also as CSV) and the Flächenbilanz over time as charts (``/app/bilanz``).

The figures are :mod:`landreg.dashboard`'s (one function for the page and the CSV), counted as the
signed-in person sees the register: the reviewed state by default, changes not yet reviewed too for
those who review and ask for them (``unreviewed=1``, refused to others with a 403 page). Planners
see their own municipalities. Invalid parameters are 400 pages naming the field.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.repeats import refuse_repeats
from api.web.pages import error_page, lang_of, page
from api.web.session import require
from api.web.texts import register, t
from landreg import clock, dashboard, rules, users, vocab
from landreg.access import View, view_of
from landreg.errors import InvalidParameter

router = APIRouter()
#: Who sees the dashboard in the navigation; planners open it too (their own municipalities' rows).
ROLES = ("ministry", "reviewer", "admin")
#: (path, text key, roles that see it in the navigation)
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("/app/gemeinden", "dashboard.nav.municipalities", ROLES),
    ("/app/bilanz", "dashboard.nav.balance", ROLES),
]
Reader = Annotated[users.Session, Depends(require(*ROLES, "planner"))]
BERLIN = ZoneInfo("Europe/Berlin")

register(
    {
        "dashboard.nav.municipalities": ("Gemeinden", "Municipalities"),
        "dashboard.nav.balance": ("Flächenbilanz", "Land balance"),
        "dashboard.municipalities.title": ("Gemeinden im Überblick", "Municipalities at a glance"),
        "dashboard.municipalities.intro": (
            "Je Gemeinde: die Reserve nach Kategorie, die restriktionsfreie Reserve an Gewerbe- und "
            "Industrieflächen, ihre jährliche Inanspruchnahme (Mittel der letzten {window} Jahre) und "
            "Reichweite sowie die Anteile aktueller (Stand höchstens 12 Monate alt), vollständiger und "
            "geprüfter Flächen.",
            "Per municipality: the reserve by category, the restriction-free reserve of commercial and "
            "industrial land, its annual take-up (mean of the last {window} years) and years of supply, "
            "and the shares of parcels that are current (data at most 12 months old), complete and reviewed.",
        ),
        "dashboard.state.reviewed": ("Stand: geprüfter Stand.", "State: as reviewed."),
        "dashboard.state.unreviewed": (
            "Stand: einschließlich ungeprüfter Änderungen.",
            "State: including changes not yet reviewed.",
        ),
        "dashboard.unreviewed": ("einschließlich ungeprüfter Änderungen", "including changes not yet reviewed"),
        "dashboard.show": ("Anzeigen", "Show"),
        "dashboard.options": ("Darstellung", "Options"),
        "dashboard.csv": ("Tabelle als CSV herunterladen", "Download the table as CSV"),
        "dashboard.caption": (
            "{count} Gemeinden, sortiert nach „{column}“ ({direction})",
            "{count} municipalities, sorted by “{column}” ({direction})",
        ),
        "dashboard.asc": ("aufsteigend", "ascending"),
        "dashboard.desc": ("absteigend", "descending"),
        "dashboard.none": ("keine Angabe", "no value"),
        "dashboard.no_rows": ("Keine Gemeinden.", "No municipalities."),
        "dashboard.col.name": ("Gemeinde", "Municipality"),
        "dashboard.col.ags": ("AGS", "AGS"),
        "dashboard.col.parcels": ("Flächen", "Parcels"),
        "dashboard.col.reserve_category_ha": ("{reserve} {category} (ha)", "{reserve} {category} (ha)"),
        "dashboard.col.reserve_ha": ("{reserve} gesamt (ha)", "{reserve} total (ha)"),
        "dashboard.col.restriction_free_ha": ("{restriction_free} GE/GI (ha)", "{restriction_free} GE/GI (ha)"),
        "dashboard.col.take_up_per_year_ha": ("Inanspruchnahme GE/GI je Jahr (ha)", "Take-up GE/GI per year (ha)"),
        "dashboard.col.years_of_supply": ("Reichweite (Jahre)", "Years of supply"),
        "dashboard.col.current_share": ("aktuell (%)", "current (%)"),
        "dashboard.col.complete_share": ("vollständig (%)", "complete (%)"),
        "dashboard.col.reviewed_share": ("geprüft (%)", "reviewed (%)"),
        "dashboard.col.last_update": ("letzte Änderung", "last update"),
        "dashboard.field.sort": ("Sortierung", "sort column"),
        "dashboard.field.dir": ("Sortierrichtung", "sort direction"),
        "dashboard.field.unreviewed": ("einschließlich ungeprüfter Änderungen", "including changes not yet reviewed"),
        "dashboard.field.start": ("Startjahr", "start year"),
        "dashboard.field.category": ("Kategorien", "categories"),
        "dashboard.field.ags": ("Gemeinde", "municipality"),
        "dashboard.invalid": ("Ungültige Angabe im Feld „{label}“ ({field}):", "Invalid value in “{label}” ({field}):"),
        "dashboard.balance.title": ("Flächenbilanz im Zeitverlauf", "Land balance over time"),
        "dashboard.balance.intro": (
            "Bestand, Zugänge, Inanspruchnahme und Verluste aus der Historie der Flächen, jeweils zum "
            "Jahresende und heute.",
            "Stock, additions, take-up and losses from the parcels' history, at the end of each year and today.",
        ),
        "dashboard.balance.all": ("Alle Gemeinden (gesamtes Register)", "All municipalities (whole register)"),
        "dashboard.balance.start_hint": ("von {first} bis {last}", "from {first} to {last}"),
        "dashboard.balance.categories_hint": (
            "Ohne Auswahl: Gewerbe- und Industrieflächen.",
            "None chosen: commercial and industrial land.",
        ),
        "dashboard.balance.summary": ("Zusammenfassung", "Summary"),
        "dashboard.balance.stock": ("Bestand der Reserve", "Stock of reserve"),
        "dashboard.balance.stock_chart": (
            "Liniendiagramm: {reserve} und {restriction_free} in ha von {first} bis {last}; die Werte stehen "
            "in der Tabelle darunter.",
            "Line chart: {reserve} and {restriction_free} in ha from {first} to {last}; the values are in the "
            "table below.",
        ),
        "dashboard.balance.stock_caption": (
            "Bestand zum Stichtag, {categories} (ha)",
            "Stock at each date, {categories} (ha)",
        ),
        "dashboard.balance.flows": (
            "Inanspruchnahme, Zugänge und Verluste je Jahr",
            "Take-up, additions and losses per year",
        ),
        "dashboard.balance.flows_chart": (
            "Säulendiagramm: Inanspruchnahme, Zugänge und Verluste je Jahr in ha von {first} bis {last}; die "
            "Werte stehen in der Tabelle darunter.",
            "Bar chart: take-up, additions and losses per year in ha from {first} to {last}; the values are in "
            "the table below.",
        ),
        "dashboard.balance.flows_caption": (
            "Veränderungen je Jahr, {categories} (ha)",
            "Changes per year, {categories} (ha)",
        ),
        "dashboard.balance.date": ("Stichtag", "Date"),
        "dashboard.balance.year": ("Jahr", "Year"),
        "dashboard.balance.today": ("{date} (heute)", "{date} (today)"),
        "dashboard.balance.until_today": ("{year} (bis heute)", "{year} (until today)"),
        "dashboard.balance.take_up": ("Inanspruchnahme (genutzt)", "Take-up (reused)"),
        "dashboard.balance.additions": ("Zugänge", "Additions"),
        "dashboard.balance.lost": ("Verluste (andere Nutzung)", "Losses (other use)"),
        "dashboard.balance.removed": ("stillgelegt", "retired"),
        "dashboard.balance.take_up_mean": (
            "Inanspruchnahme je Jahr (Mittel {window} Jahre)",
            "Take-up per year (mean of {window} years)",
        ),
        "dashboard.balance.no_script": (
            "Das Diagramm braucht JavaScript; die Werte stehen in der Tabelle.",
            "The chart needs JavaScript; the values are in the table.",
        ),
        "dashboard.balance.text_stock": (
            "{place}: Die {reserve} ({categories}) betrug am {first} {start} ha und beträgt heute {end} ha "
            "({change} ha); davon {restriction_free}: {free} ha.",
            "{place}: the {reserve} ({categories}) was {start} ha on {first} and is {end} ha today "
            "({change} ha); of it {restriction_free}: {free} ha.",
        ),
        "dashboard.balance.text_flows": (
            "Seitdem wurden {take_up} ha in Anspruch genommen, {additions} ha kamen hinzu, {lost} ha gingen an "
            "andere Nutzungen verloren.",
            "Since then {take_up} ha were taken up, {additions} ha were added and {lost} ha were lost to other uses.",
        ),
        "dashboard.balance.text_supply": (
            "Bei der Inanspruchnahme der letzten {window} Jahre ({per_year} ha je Jahr) reicht die "
            "{restriction_free} {years} Jahre.",
            "At the take-up of the last {window} years ({per_year} ha per year) the {restriction_free} lasts "
            "{years} years.",
        ),
        "dashboard.balance.text_no_take_up": (
            "In den letzten {window} Jahren wurde nichts in Anspruch genommen; eine Reichweite lässt sich "
            "nicht angeben.",
            "Nothing was taken up in the last {window} years; no years of supply can be given.",
        ),
    }
)


# -- formatting ---------------------------------------------------------------------------------


def number(value: float | int | None, lang: str, decimals: int = 2) -> str:
    """A number as people of ``lang`` write it (German: 1.234,56); empty for none."""
    if value is None:
        return ""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".") if lang == "de" else text


def day(value: dt.date | dt.datetime | None, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(BERLIN).date()
    return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()


def cell(column: str, value, lang: str) -> str:
    """A value of a municipality's row as the table and the CSV show it (empty: none)."""
    kind = dashboard.COLUMNS[column]
    if value is None:
        return ""
    if kind == "text":
        return str(value)
    if kind == "count":
        return number(value, lang, 0)
    if kind == "share":
        return number(100 * value, lang, 1)
    if kind == "datetime":
        return day(value, lang)
    return number(value, lang, 2)  # ha, years


def headers(lang: str) -> dict[str, str]:
    """The column headers of the table and the CSV, naming each figure as :mod:`landreg.rules` does."""
    figures = {"reserve": rules.label("reserve", lang), "restriction_free": rules.label("restriction_free", lang)}
    out = {}
    for column in dashboard.COLUMNS:
        category = column.removeprefix("reserve_").removesuffix("_ha")
        if column.startswith("reserve_") and category in dashboard.CATEGORIES:
            out[column] = t(
                "dashboard.col.reserve_category_ha", lang, reserve=figures["reserve"],
                category=vocab.CATEGORY.label(category, lang),
            )  # fmt: skip
        else:
            out[column] = t(f"dashboard.col.{column}", lang, **figures)
    return out


def _categories_text(categories, lang: str) -> str:
    return ", ".join(vocab.CATEGORY.label(c, lang) for c in categories)


# -- input --------------------------------------------------------------------------------------


def _flag(request: Request, name: str) -> bool:
    refuse_repeats(request, (name,))
    value = request.query_params.get(name, "")
    if value in ("", "0", "false"):
        return False
    if value in ("1", "on", "true"):
        return True
    raise InvalidParameter(f"{name}: {value[:20]!r}; give 1 or leave it out", name)


def _invalid(request: Request, exc: InvalidParameter):
    lang = lang_of(request)
    field = exc.field or "?"
    label = t(f"dashboard.field.{field}", lang)
    return error_page(request, 400, f"{t('dashboard.invalid', lang, label=label, field=field)} {exc}", exc.field)


def _view(current: users.Session, unreviewed: bool) -> View:
    """The signed-in person's view; changes not yet reviewed only for those who review (403 otherwise)."""
    return view_of(current.user.principal, unreviewed)


def _table(request: Request, current: users.Session):
    """The rows of the municipalities' table as asked for, and the options they were asked with."""
    refuse_repeats(request, ("sort", "dir"))
    column, direction = dashboard.check_sort(request.query_params.get("sort"), request.query_params.get("dir"))
    unreviewed = _flag(request, "unreviewed")
    view = _view(current, unreviewed)
    with request.app.state.engine.connect() as conn:
        rows = dashboard.municipality_rows(conn, view)
    return dashboard.sort_rows(rows, column, direction), column, direction, unreviewed


def _query(**params) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "", False)})


# -- pages --------------------------------------------------------------------------------------


@router.get("/app/gemeinden")
def municipalities_page(request: Request, current: Reader):
    try:
        rows, column, direction, unreviewed = _table(request, current)
    except InvalidParameter as exc:
        return _invalid(request, exc)
    lang = lang_of(request)
    names = headers(lang)
    flag = "1" if unreviewed else None
    columns = []
    for key, kind in dashboard.COLUMNS.items():
        current_sort = key == column
        first = "asc" if kind == "text" else "desc"
        next_dir = ("desc" if direction == "asc" else "asc") if current_sort else first
        columns.append(
            {
                "key": key,
                "label": names[key],
                "numeric": kind not in ("text", "datetime"),
                "href": _query(sort=key, dir=next_dir, unreviewed=flag),
                "aria_sort": ("ascending" if direction == "asc" else "descending") if current_sort else None,
            }
        )
    body = [[cell(key, row[key], lang) for key in dashboard.COLUMNS] for row in rows]
    context = {
        "columns": columns,
        "rows": body,
        "sort": column,
        "dir": direction,
        "unreviewed": unreviewed,
        "may_review": current.user.principal.may_review(),
        "csv_href": "/app/gemeinden.csv" + _query(sort=column, dir=direction, unreviewed=flag, lang=lang),
        "caption": t(
            "dashboard.caption",
            lang,
            count=len(rows),
            column=names[column],
            direction=t(f"dashboard.{direction}", lang),
        ),
        "window": number(dashboard.SUPPLY_WINDOW_YEARS, lang, 0),
    }
    return page(request, "dashboard/gemeinden.html", context)


@router.get("/app/gemeinden.csv")
def municipalities_csv(request: Request, current: Reader):
    """The table's rows as CSV, as the page shows them (German: semicolons and decimal commas, so that
    spreadsheet programs set to German read the numbers; with a BOM, so that they read UTF-8)."""
    try:
        rows, _, _, _ = _table(request, current)
    except InvalidParameter as exc:
        return _invalid(request, exc)
    lang = lang_of(request)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if lang == "de" else ",", lineterminator="\r\n")
    writer.writerow(headers(lang).values())
    writer.writerows([cell(key, row[key], lang) for key in dashboard.COLUMNS] for row in rows)
    name = "gemeinden" if lang == "de" else "municipalities"
    return Response(
        ("\ufeff" if lang == "de" else "") + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{clock.today().isoformat()}.csv"'},
    )


def _balance_input(request: Request, current: users.Session, today: dt.date):
    params = request.query_params
    refuse_repeats(request, ("start", "ags"))  # categories may repeat
    unreviewed = _flag(request, "unreviewed")
    view = _view(current, unreviewed)
    start = dashboard.check_start_year(params.get("start"), today)
    categories = dashboard.check_categories(params.getlist("category"))
    return view, start, categories, unreviewed


@router.get("/app/bilanz")
def balance_page(request: Request, current: Reader):
    lang = lang_of(request)
    today = clock.today()
    try:
        view, start, categories, unreviewed = _balance_input(request, current, today)
        with request.app.state.engine.connect() as conn:
            ags = dashboard.check_municipality(conn, view, request.query_params.get("ags"))
            choices = dashboard.municipalities(conn, view)
            series = dashboard.bilanz(conn, view, ags, start, categories, today)
    except InvalidParameter as exc:
        return _invalid(request, exc)
    first, last = dashboard.start_years(today)
    figures = {"reserve": rules.label("reserve", lang), "restriction_free": rules.label("restriction_free", lang)}
    points, years = series["points"], series["years"]
    date_labels = [
        t("dashboard.balance.today", lang, date=day(p["date"], lang)) if p["today"] else day(p["date"], lang)
        for p in points
    ]
    year_labels = [
        t("dashboard.balance.until_today", lang, year=y["year"]) if y["partial"] else str(y["year"]) for y in years
    ]
    flows = [("take_up_ha", "take_up"), ("additions_ha", "additions"), ("lost_ha", "lost")]
    chart_data = {
        "locale": "de-DE" if lang == "de" else "en-GB",
        "unit": "ha",
        "stock": {
            "labels": date_labels,
            "datasets": [
                {"key": "reserve_ha", "label": figures["reserve"], "data": [p["reserve_ha"] for p in points]},
                {
                    "key": "restriction_free_ha",
                    "label": figures["restriction_free"],
                    "data": [p["restriction_free_ha"] for p in points],
                },
            ],
        },
        "flows": {
            "labels": year_labels,
            "datasets": [
                {"key": key, "label": t(f"dashboard.balance.{text}", lang), "data": [y[key] for y in years]}
                for key, text in flows
            ],
        },
    }
    place = dict(choices).get(ags) if ags else t("dashboard.balance.all", lang)
    context = {
        "choices": choices,
        "ags": ags,
        "all_allowed": view.kind != "planner",
        "start": start,
        "first_year": first,
        "last_year": last,
        "categories": categories,
        "category_choices": [(c, vocab.CATEGORY.label(c, lang)) for c in dashboard.CATEGORIES],
        "unreviewed": unreviewed,
        "may_review": current.user.principal.may_review(),
        "chart_data": chart_data,
        "points": [
            {
                "label": label,
                "cells": [
                    number(p["reserve_ha"], lang),
                    number(p["restriction_free_ha"], lang),
                    number(p["take_up_per_year_ha"], lang),
                    number(p["years_of_supply"], lang),
                ],
            }
            for label, p in zip(date_labels, points)
        ],
        "years": [
            {
                "label": label,
                "cells": [number(y[k], lang) for k in ("take_up_ha", "additions_ha", "lost_ha", "removed_ha")],
            }
            for label, y in zip(year_labels, years)
        ],
        "summary": _summary(series, place, figures, lang),
        "figures": figures,
        "categories_text": _categories_text(categories, lang),
        "window": number(dashboard.SUPPLY_WINDOW_YEARS, lang, 0),
        "date_range": (date_labels[0], date_labels[-1]),
        "year_range": (year_labels[0], year_labels[-1]),
    }
    return page(request, "dashboard/bilanz.html", context)


def _summary(series: dict, place: str, figures: dict, lang: str) -> list[str]:
    """A few sentences saying what the charts show."""
    first, last = series["points"][0], series["points"][-1]
    change = last["reserve_ha"] - first["reserve_ha"]
    window = number(series["window_years"], lang, 0)
    sentences = [
        t(
            "dashboard.balance.text_stock", lang, place=place, reserve=figures["reserve"],
            categories=_categories_text(series["categories"], lang), first=day(first["date"], lang),
            start=number(first["reserve_ha"], lang), end=number(last["reserve_ha"], lang),
            change=("+" if change > 0 else "") + number(change, lang), restriction_free=figures["restriction_free"],
            free=number(last["restriction_free_ha"], lang),
        ),
        t(
            "dashboard.balance.text_flows", lang,
            **{k: number(sum(y[f"{k}_ha"] for y in series["years"]), lang) for k in ("take_up", "additions", "lost")},
        ),
    ]  # fmt: skip
    if last["years_of_supply"] is None:
        sentences.append(t("dashboard.balance.text_no_take_up", lang, window=window))
    else:
        sentences.append(
            t(
                "dashboard.balance.text_supply",
                lang,
                window=window,
                per_year=number(last["take_up_per_year_ha"], lang),
                restriction_free=figures["restriction_free"],
                years=number(last["years_of_supply"], lang, 1),
            )
        )
    return sentences
