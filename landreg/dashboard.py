"""The ministry's dashboard: the figures of every municipality in one row each, and the Flächenbilanz
as a series of years.

Nothing is counted here that another module defines; this module only combines:

* stock (Reserve) by category: :func:`landreg.summary.by_group` (the current parcels the view sees,
  in the state it sees them: reviewed, unless it sees the latest);
* restriktionsfreie Reserve, annual take-up and years of supply of commercial and industrial land:
  :func:`landreg.safeguarding.balance.supply_by_municipality`, as the Flächenbilanz computes them;
* shares current, complete and reviewed: :func:`landreg.quality.quality_by_municipality` (over the
  municipality's current parcels in their latest state: what the municipality has to keep up);
* last update: the latest ``updated_at`` of the municipality's parcels (retired ones too: retiring
  is an update; changes waiting for review too: the date says when the municipality last worked on
  its data, not what the figures contain);
* the Flächenbilanz over time: :func:`landreg.safeguarding.balance.balance`'s figures at the end of
  each year from a start year and today, within the limits of the balance.

Cost of :func:`municipality_rows` (independent of the number of municipalities; no query per
municipality): five statements, each one pass — ``by_group`` over the current parcels (plus the
approved versions of those waiting for review), ``supply_by_municipality`` over the history (one
window over every version of the commercial/industrial categories, a sort of the history by
parcel), ``quality_by_municipality`` over the current parcels joined to their quality, the latest
update over the parcels, and the municipalities' names (≈ 400 rows); with parallel workers and
64 MB of work memory (:func:`_aggregating`). Sorting is done in Python on the ≈ 53 rows. Measured
at 1M parcels (the bench register, 400,000 past versions, on a busy 2-core machine): by_group
≈ 3 s, supply ≈ 2.5 s, quality ≈ 3.3 s, latest update ≈ 0.8 s; 7–8 s in all. A planner's rows
read only their municipalities' parcels and history (``by_group`` and ``supply_by_municipality``
given ``ags``; the others filter by an index on the AGS): Dortmund's 100,786 parcels 1.4 s, where
the figures of every published parcel the planner may see took 4.7 s.

Cost of :func:`bilanz`: two passes over the history whatever the number of years
(:func:`landreg.safeguarding.balance.balance_series`: the versions covering the dates with one
window over each parcel's versions, and the take-up events with one window), where
:func:`landreg.safeguarding.balance.balance` would take about four passes per date. Measured as
above: one municipality 3 s, the whole register 6 s (7 dates) to 7 s (20 dates); with ``balance``
at 7 dates 100–130 s.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, text

from landreg import clock, known, rules, summary, vocab
from landreg.access import AccessDenied, View
from landreg.db import plan_each_time
from landreg.errors import InvalidParameter
from landreg.quality import quality_by_municipality
from landreg.safeguarding.balance import EARLIEST_DATE, balance_dates, balance_series, supply_by_municipality
from landreg.settings import get_settings

#: Years of take-up the annual take-up (and so the years of supply) averages over.
SUPPLY_WINDOW_YEARS = 3.0
#: The categories the years of supply are about: commercial and industrial land, as in the Flächenbilanz.
SUPPLY_CATEGORIES = rules.INDUSTRIAL_CATEGORIES
CATEGORIES = vocab.CATEGORY.codes
#: Years a Flächenbilanz series starts back by default.
DEFAULT_YEARS_BACK = 5

#: The columns of a municipality's row, in the order shown, and what kind of value each holds (how it
#: is shown and sorted): text, count, ha, years, share (0..1) or datetime.
COLUMNS: dict[str, str] = {
    "name": "text",
    "ags": "text",
    "parcels": "count",
    **{f"reserve_{category}_ha": "ha" for category in CATEGORIES},
    "reserve_ha": "ha",
    "restriction_free_ha": "ha",
    "take_up_per_year_ha": "ha",
    "years_of_supply": "years",
    "current_share": "share",
    "complete_share": "share",
    "reviewed_share": "share",
    "last_update": "datetime",
}
DIRECTIONS = ("asc", "desc")


def _aggregating(conn: Connection) -> None:
    """The statements below aggregate the whole register: in memory rather than on disk, and with
    parallel workers (which the API's connections leave off for short requests), for the rest of
    the caller's transaction; each planned for its values and these settings (:func:`plan_each_time`)."""
    plan_each_time(conn)
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 2")


def _ha(m2: float | None) -> float:
    return round((m2 or 0.0) / 10_000, 2)


def municipality_rows(conn: Connection, view: View, at: dt.datetime | None = None) -> list[dict]:
    """One row per municipality (keys: :data:`COLUMNS`), ordered by AGS: for the ministry, reviewers
    and admins every RVR municipality and every other municipality with parcels; for a planner their
    own municipalities. The public sees none (the shares derive from confidential fields).

    ``at``: the instant of the years of supply (default now)."""
    if view.kind == "public":
        raise AccessDenied("the municipalities' figures are for the planners of a municipality and the ministry")
    own = list(view.ags) if view.kind == "planner" else None
    if own == []:
        return []
    at = at or dt.datetime.now(dt.UTC)
    _aggregating(conn)
    names = conn.execute(
        text("""SELECT ags, name, region = 'RVR' AS rvr FROM municipality
                 WHERE CAST(:ags AS text[]) IS NULL OR ags = ANY(CAST(:ags AS text[]))"""),
        {"ags": own},
    ).all()
    stocks: dict[str, dict[str, dict]] = {}
    # a planner's rows: of their own municipalities only, not of every published parcel they may see
    for r in summary.by_group(conn, ["municipality", "category"], view, own):
        stocks.setdefault(r["ags"], {})[r["category"]] = r
    supply = supply_by_municipality(conn, at, SUPPLY_WINDOW_YEARS, SUPPLY_CATEGORIES, view, own)
    quality = {q["ags"]: q for q in quality_by_municipality(conn, view, own)}
    updated = dict(
        conn.execute(
            text("""SELECT ags, max(updated_at) FROM parcel
                     WHERE CAST(:ags AS char(8)[]) IS NULL OR ags = ANY(CAST(:ags AS char(8)[])) GROUP BY ags"""),
            {"ags": own},
        ).all()
    )
    rows = []
    for ags, name, rvr in sorted(names):
        if not (rvr or own or ags in stocks or ags in quality or ags in updated):
            continue
        by_category = stocks.get(ags, {})
        figures = supply.get(ags, {})
        shares = quality.get(ags, {})
        reserve = {c: float(by_category[c]["reserve_area_m2"]) if c in by_category else 0.0 for c in CATEGORIES}
        rows.append(
            {
                "name": name,
                "ags": ags,
                "parcels": sum(int(g["parcels"]) for g in by_category.values()),
                **{f"reserve_{c}_ha": _ha(m2) for c, m2 in reserve.items()},
                "reserve_ha": _ha(sum(reserve.values())),
                "restriction_free_ha": _ha(figures.get("restriction_free_available_m2")),
                "take_up_per_year_ha": _ha(figures.get("take_up_per_year_m2")),
                "years_of_supply": figures.get("years_of_supply"),
                "current_share": shares.get("current_share"),
                "complete_share": shares.get("complete_share"),
                "reviewed_share": shares.get("reviewed_share"),
                "last_update": updated.get(ags),
            }
        )
    return rows


def _text_key(value: str) -> str:
    """German alphabetical order (DIN 5007-1): umlauts as their base letter, ß as ss, case ignored."""
    return unicodedata.normalize("NFKD", value.replace("ß", "ss")).encode("ascii", "ignore").decode().casefold()


def check_sort(column: str | None, direction: str | None) -> tuple[str, str]:
    """The column (default: the name) and direction (default: ascending) to sort rows by."""
    column = column or "name"
    direction = direction or "asc"
    if column not in COLUMNS:
        raise InvalidParameter(f"sort: {column[:40]!r} is not a column; sort by one of {', '.join(COLUMNS)}", "sort")
    if direction not in DIRECTIONS:
        raise InvalidParameter(f"dir: {direction[:40]!r}; give asc or desc", "dir")
    return column, direction


def sort_rows(rows: Iterable[dict], column: str, direction: str) -> list[dict]:
    """The rows sorted by ``column``; rows without a value last in either direction, ties by name."""
    column, direction = check_sort(column, direction)
    text_column = COLUMNS[column] == "text"
    by_name = sorted(rows, key=lambda r: (_text_key(r["name"]), r["ags"]))
    present = [r for r in by_name if r[column] is not None]
    missing = [r for r in by_name if r[column] is None]
    present.sort(key=lambda r: _text_key(r[column]) if text_column else r[column], reverse=direction == "desc")
    return present + missing


# -- the Flächenbilanz over time ----------------------------------------------------------------


def start_years(today: dt.date) -> tuple[int, int]:
    """The first and last start year a yearly series may have: it compares the end of the year
    before the start year, the end of each year up to last year, and today, so a series from year
    s has ``today.year - s + 2`` dates (at most ``LANDREG_BALANCE_MAX_DATES``), the first of them
    not before :data:`EARLIEST_DATE`."""
    most = get_settings().balance_max_dates
    return max(EARLIEST_DATE.year + 1, today.year + 2 - most), today.year


def check_start_year(value: str | int | None, today: dt.date, name: str = "start") -> int:
    """A start year from a form: a whole number within :func:`start_years` (default five years back)."""
    first, last = start_years(today)
    if value is None or value == "":
        return max(first, today.year - DEFAULT_YEARS_BACK)
    try:
        year = int(str(value).strip())
    except ValueError:
        raise InvalidParameter(
            f"{name}: {str(value)[:20]!r} is not a year; give a year from {first} to {last}", name
        ) from None
    if not first <= year <= last:
        raise InvalidParameter(
            f"{name}: {year} lies outside the years a Flächenbilanz series covers; give a year from {first} to "
            f"{last} (at most {get_settings().balance_max_dates} dates, LANDREG_BALANCE_MAX_DATES)",
            name,
        )
    return year


def check_categories(values: Sequence[str], name: str = "category") -> tuple[str, ...]:
    """Categories from a form, in the code list's order; none: commercial and industrial land."""
    known.check_categories(values, name)
    return tuple(c for c in CATEGORIES if c in values) or SUPPLY_CATEGORIES


def municipalities(conn: Connection, view: View) -> list[tuple[str, str]]:
    """(AGS, name) of the municipalities the dashboard offers ``view``, by name: for a planner their
    own, for everybody else the RVR's and every other municipality with parcels."""
    if view.kind == "public":
        raise AccessDenied("the municipalities' figures are for the planners of a municipality and the ministry")
    own = list(view.ags) if view.kind == "planner" else None
    rows = conn.execute(
        text("""SELECT ags, name FROM municipality m
                 WHERE CASE WHEN CAST(:ags AS text[]) IS NULL
                            THEN region = 'RVR' OR EXISTS (SELECT FROM parcel p WHERE p.ags = m.ags)
                            ELSE ags = ANY(CAST(:ags AS text[])) END"""),
        {"ags": own},
    ).all()
    return sorted(((a, n) for a, n in rows), key=lambda r: (_text_key(r[1]), r[0]))


def check_municipality(conn: Connection, view: View, ags: str | None, name: str = "ags") -> str | None:
    """The municipality of a series: one :func:`municipalities` offers the view, or None (the whole
    register) for those who see every municipality; a planner's default is their first."""
    if view.kind == "planner":
        if not ags:
            if not view.ags:
                raise AccessDenied("your account has no municipality")
            return sorted(view.ags)[0]
        if ags not in view.ags:
            raise AccessDenied(f"you may see the Flächenbilanz of {', '.join(view.ags)} only, not {ags[:20]}")
        return ags
    if not ags:
        return None
    if ags not in dict(municipalities(conn, view)):
        raise InvalidParameter(f"{name}: {ags[:20]!r} is not the Gemeindeschlüssel of a municipality offered", name)
    return ags


def series_dates(start_year: int, today: dt.date) -> list[str]:
    """The end of the year before ``start_year``, of each year up to last year, and today (ISO)."""
    return [f"{year}-12-31" for year in range(start_year - 1, today.year)] + [today.isoformat()]


def bilanz(
    conn: Connection,
    view: View,
    ags: str | None,
    start_year: int,
    categories: tuple[str, ...] = SUPPLY_CATEGORIES,
    today: dt.date | None = None,
) -> dict:
    """The Flächenbilanz at the end of each year from the year before ``start_year`` and today, as
    ``view`` sees it (:func:`balance`'s figures, computed by :func:`balance_series`), in hectares:
    ``points`` (per date: Reserve, restriktionsfreie Reserve, annual take-up and years of supply)
    and ``years`` (per year: additions, take-up, losses and removals between the end of the year
    before and the end of the year, the current year up to today); ``balance`` is the balance
    itself (m²)."""
    today = today or clock.today()
    start_year = check_start_year(start_year, today)
    categories = check_categories(categories)
    dates = series_dates(start_year, today)
    _aggregating(conn)
    result = balance_series(conn, balance_dates(dates, "start"), ags, categories, SUPPLY_WINDOW_YEARS, view)
    points = [
        {
            "date": dt.date.fromisoformat(day),
            "today": day == dates[-1],
            "reserve_ha": _ha(stock["reserve_m2"]),
            "restriction_free_ha": _ha(stock["restriction_free_available_m2"]),
            "take_up_per_year_ha": _ha(stock["take_up_per_year_m2"]),
            "years_of_supply": stock["years_of_supply"],
        }
        for day, stock in zip(dates, result["stocks"])
    ]
    years = [
        {
            "year": int(end[:4]),
            "partial": end == dates[-1],
            "additions_ha": _ha(change["additions_m2"]),
            "take_up_ha": _ha(change["take_up_m2"]),
            "lost_ha": _ha(change["lost_m2"]),
            "removed_ha": _ha(change["removed_m2"]),
        }
        for end, change in zip(dates[1:], result["changes"])
    ]
    return {
        "ags": ags,
        "categories": categories,
        "start_year": start_year,
        "window_years": SUPPLY_WINDOW_YEARS,
        "points": points,
        "years": years,
        "balance": result,
    }
