"""The Flächenbilanz: stock, additions, take-up, losses and years of supply between dates, from the
parcel history alone; and the years of supply of every municipality in one pass.

What counts as reserve, take-up, loss and restriction-free reserve is :mod:`landreg.rules`'.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy import Connection, text

from landreg import clock, known, rules
from landreg.access import FULL, View, still_approved_sql, visible_versions_sql
from landreg.db import plan_each_time
from landreg.errors import InvalidParameter
from landreg.rules import INDUSTRIAL_CATEGORIES
from landreg.settings import get_settings

#: The dates a Flächenbilanz accepts: from 1990 (before the registry's oldest history) to the end
#: of the year ten years ahead (a future date answers today's stock; plans look that far).
EARLIEST_DATE = dt.date(1990, 1, 1)
YEARS_AHEAD = 10
#: Years of take-up averaged for the years of supply: at least a quarter, at most 30.
WINDOW_YEARS = (0.25, 30.0)

#: Which figure of :data:`landreg.rules.FIGURES` each stock's area is (labels: :data:`landreg.rules.LABELS`).
FIGURES = {"reserve_m2": "reserve", "restriction_free_available_m2": "restriction_free"}

_STATE_AT = f"""
    SELECT v.parcel_id, v.category, v.status, v.area_m2, v.restriction_class, v.availability,
           {rules.sql(rules.is_reserve, "v")} AS reserve
      FROM parcel_version v
     WHERE v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at OR {{still_approved}})
       AND v.category = ANY(:categories) AND (CAST(:ags AS text) IS NULL OR v.ags = :ags)
       AND {{visible}}
"""
#: Columns of a version ``v`` in a window ``w`` over its parcel's versions: whether the version
#: before was reserve, and its area (take-up is reserve that becomes taken up, counted with that area).
_BEFORE = f"lag({rules.sql(rules.is_reserve, 'v')}) OVER w AS was_reserve, lag(v.area_m2) OVER w AS previous_area"


def latest_date() -> dt.date:
    return dt.date(clock.today().year + YEARS_AHEAD, 12, 31)


def _in_range(day: dt.date, value: str, name: str) -> None:
    if not EARLIEST_DATE <= day <= latest_date():
        raise InvalidParameter(
            f"{name}: {value} lies outside the dates a Flächenbilanz covers; give dates from {EARLIEST_DATE} "
            f"to {latest_date()}",
            name,
        )


def _check_count(count: int, name: str) -> None:
    most = get_settings().balance_max_dates
    if count < 1:
        raise InvalidParameter(f"{name}: give one or more dates", name)
    if count > most:
        raise InvalidParameter(
            f"{name}: {count} dates given, a Flächenbilanz compares at most {most} (LANDREG_BALANCE_MAX_DATES); "
            "ask for fewer, e.g. one per year",
            name,
        )


def balance_dates(values: Sequence[str], name: str = "dates") -> list[dt.datetime]:
    """The instants of a Flächenbilanz from text (as :func:`balance` accepts them): a date means the
    end of that day (the stock "as of 31.12."), a date-time is taken as given (UTC unless it says
    otherwise). ``name`` is the parameter as the caller knows it (``dates``, ``DATES``)."""
    _check_count(len(values), name)
    instants = []
    for value in values:
        try:
            parsed = dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidParameter(f"{name}: {value!r} is not an ISO date (YYYY-MM-DD) or date-time", name) from None
        if isinstance(parsed, dt.datetime):
            _in_range(parsed.date(), value, name)
            instants.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC))
        else:
            _in_range(parsed, value, name)  # before adding a day: 9999-12-31 has no next day
            instants.append(dt.datetime.combine(parsed + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    _check_order(instants, name)
    return instants


def _check_order(instants: list[dt.datetime], name: str) -> None:
    if sorted(instants) != instants:
        raise InvalidParameter(f"{name}: give the dates in ascending order", name)


def check_window_years(window_years: float, name: str = "window_years") -> float:
    low, high = WINDOW_YEARS
    if not (math.isfinite(window_years) and low <= window_years <= high):
        raise InvalidParameter(f"{name}: {window_years} years; average the take-up over {low} to {high:g} years", name)
    return window_years


def balance(
    conn: Connection,
    dates: list[dt.datetime],
    ags: str | None = None,
    categories: tuple[str, ...] = INDUSTRIAL_CATEGORIES,
    window_years: float = 3.0,
    view: View = FULL,
) -> dict:
    """The Flächenbilanz at each date and between consecutive dates, from the history of the parcels
    ``view`` may see (the public: parcels public now, so that no figure contains a parcel it may not
    see; the ministry: all).

    Between two dates every parcel is compared with itself: reserve area that appears is an
    addition, reserve that becomes ``genutzt`` is take-up, reserve that becomes ``andere_nutzung``
    (or leaves the categories) is a loss, reserve retired is removed; the stock at the later date is
    the stock before plus additions minus the rest, to the square metre. Years of supply: reserve
    that is restriction-free and available (:func:`landreg.rules.is_restriction_free`), divided by
    the average annual take-up over ``window_years`` before the date (take-up counted event by
    event from the history).

    Bounded: at most ``LANDREG_BALANCE_MAX_DATES`` dates (each costs a pass over the history),
    each from :data:`EARLIEST_DATE` to :func:`latest_date`, and ``window_years`` within
    :data:`WINDOW_YEARS`; :class:`InvalidParameter` otherwise.
    """
    _check_count(len(dates), "dates")
    known.check_categories(categories, "category")
    if ags is not None:
        known.check_municipalities(conn, [ags], "ags")
    for at in dates:
        _in_range(at.date(), at.isoformat(), "dates")
    _check_order(list(dates), "dates")
    check_window_years(window_years)
    plan_each_time(conn)  # all municipalities or one: a generic plan would serve both the same
    base = {"categories": list(categories), "ags": ags}
    state_at = _STATE_AT.format(visible=visible_versions_sql(view, "v"), still_approved=still_approved_sql(view, "v"))
    stocks = []
    for at in dates:
        rows = conn.execute(
            text(f"""
            SELECT category, status, round(sum(area_m2)::numeric, 2) AS area_m2, count(*) AS parcels
              FROM ({state_at}) s GROUP BY category, status ORDER BY category, status
        """),
            base | {"at": at},
        ).mappings()
        by = [dict(r) | {"area_m2": float(r["area_m2"])} for r in rows]
        reserve = sum(r["area_m2"] for r in by if r["status"] in rules.RESERVE_STATUSES)
        free = conn.execute(
            text(f"""
            SELECT coalesce(sum(area_m2), 0) FROM ({state_at}) s WHERE {rules.sql(rules.is_restriction_free, "s")}
        """),
            base | {"at": at},
        ).scalar_one()
        since = at - dt.timedelta(days=round(365.25 * window_years))
        taken = _take_up(conn, base, since, at, view)
        per_year = taken / window_years
        stocks.append(
            {
                "date": at.isoformat(),
                "by_category_status": by,
                "reserve_m2": round(reserve, 2),
                "restriction_free_available_m2": round(float(free), 2),
                "take_up_per_year_m2": round(per_year, 2),
                "years_of_supply": round(float(free) / per_year, 2) if per_year > 0 else None,
            }
        )
    changes = [
        {"from": a.isoformat(), "to": b.isoformat(), **_flows(conn, state_at, base, a, b)}
        for a, b in zip(dates, dates[1:])
    ]
    return {
        "ags": ags,
        "categories": list(categories),
        "window_years": window_years,
        "stocks": stocks,
        "changes": changes,
    }


def _flows(conn: Connection, state_at: str, base: dict, start: dt.datetime, end: dt.datetime) -> dict:
    row = (
        conn.execute(
            text(f"""
        WITH a AS ({state_at.replace(":at", ":start")}), b AS ({state_at.replace(":at", ":end")})
        SELECT
          coalesce(sum(b.area_m2) FILTER (WHERE b.reserve AND NOT coalesce(a.reserve, false)), 0) AS additions_m2,
          coalesce(sum(a.area_m2) FILTER (WHERE a.reserve AND {rules.sql(rules.is_taken_up, "b")}), 0) AS take_up_m2,
          coalesce(sum(a.area_m2) FILTER (WHERE a.reserve AND {rules.sql(rules.is_lost, "b")}), 0) AS lost_m2,
          coalesce(sum(a.area_m2) FILTER (WHERE a.reserve AND b.parcel_id IS NULL), 0) AS removed_m2,
          coalesce(sum(b.area_m2 - a.area_m2) FILTER (WHERE a.reserve AND b.reserve), 0) AS area_changes_m2
          FROM a FULL JOIN b ON a.parcel_id = b.parcel_id
    """),
            base | {"start": start, "end": end},
        )
        .mappings()
        .one()
    )
    return {k: round(float(v), 2) for k, v in row.items()}


def _take_up(conn: Connection, base: dict, start: dt.datetime, end: dt.datetime, view: View) -> float:
    """Reserve area that was taken up within (start, end], event by event from the history."""
    return float(
        conn.execute(
            text(f"""
            SELECT coalesce(sum(previous_area), 0) FROM (
                SELECT v.valid_from, v.status, v.category, v.ags, {_BEFORE}
                  FROM parcel_version v
                 WHERE {visible_versions_sql(view, "v")}
                WINDOW w AS (PARTITION BY v.parcel_id ORDER BY v.version)
            ) t
             WHERE {rules.sql(rules.is_taken_up, "t")} AND was_reserve AND valid_from > :start AND valid_from <= :end
               AND category = ANY(:categories) AND (CAST(:ags AS text) IS NULL OR ags = :ags)
        """),
            base | {"start": start, "end": end},
        ).scalar_one()
    )


def supply_by_municipality(
    conn: Connection,
    at: dt.datetime,
    window_years: float = 3.0,
    categories: tuple[str, ...] = INDUSTRIAL_CATEGORIES,
    view: View = FULL,
    ags: Sequence[str] | None = None,
) -> dict[str, dict]:
    """Per municipality at ``at``: restriction-free available reserve, annual take-up and years of
    supply, as :func:`balance` computes them, in one pass over the history of the parcels ``view``
    may see; ``ags``: of these municipalities only (a planner's own: their history, not the whole
    register's published one).

    With ``ags``, the history read is that of the parcels that ever lay in them (each version still
    counts where it lay): a parcel moved across a border keeps its earlier versions for the window."""
    rows = conn.execute(
        text(f"""
        WITH versions AS (
            SELECT v.*, {_BEFORE}
              FROM parcel_version v WHERE v.category = ANY(:categories) AND {visible_versions_sql(view, "v")}
               AND (CAST(:ags AS char(8)[]) IS NULL OR v.parcel_id IN (
                       SELECT o.parcel_id FROM parcel_version o WHERE o.ags = ANY(CAST(:ags AS char(8)[]))))
            WINDOW w AS (PARTITION BY v.parcel_id ORDER BY v.version)
        )
        SELECT v.ags,
               coalesce(sum(v.area_m2) FILTER (WHERE v.valid_from <= :at
                   AND (v.valid_to IS NULL OR v.valid_to > :at OR {still_approved_sql(view, "v")})
                   AND {rules.sql(rules.is_restriction_free, "v")}), 0) AS free_m2,
               coalesce(sum(v.previous_area) FILTER (WHERE {rules.sql(rules.is_taken_up, "v")} AND v.was_reserve
                   AND v.valid_from > :since AND v.valid_from <= :at), 0) AS taken_m2
          FROM versions v
         WHERE CAST(:ags AS char(8)[]) IS NULL OR v.ags = ANY(CAST(:ags AS char(8)[]))
         GROUP BY v.ags
    """),
        {
            "ags": None if ags is None else list(ags),
            "categories": list(categories),
            "at": at,
            "since": at - dt.timedelta(days=round(365.25 * window_years)),
        },
    )
    out = {}
    for r in rows:
        per_year = float(r.taken_m2) / window_years
        out[r.ags] = {
            "restriction_free_available_m2": round(float(r.free_m2), 2),
            "take_up_per_year_m2": round(per_year, 2),
            "years_of_supply": round(float(r.free_m2) / per_year, 2) if per_year > 0 else None,
        }
    return out


def balance_series(
    conn: Connection,
    dates: list[dt.datetime],
    ags: str | None = None,
    categories: tuple[str, ...] = INDUSTRIAL_CATEGORIES,
    window_years: float = 3.0,
    view: View = FULL,
) -> dict:
    """:func:`balance`'s answer (the same stocks and changes, to the rounding of the last digit) in two
    passes over the history whatever the number of dates, for series of many dates over a large
    register (:func:`balance` costs about four passes per date).

    Each visible version of the categories *covers* the dates at which it is the parcel's state
    (``valid_from <= date < valid_to``, open ended while it is the latest approved one the view
    sees): a contiguous range of date indexes ``[f, l]``. A stock is the sum over the versions
    covering its date, accumulated from the ranges' ends; the changes between dates k and k+1 happen
    where one covering version follows another (the later one starts at k+1) or where a range ends
    without a successor at k+1 (removed): one window over the covering versions of each parcel.
    Take-up per year is counted event by event as :func:`balance` counts it, once for all dates.
    """
    _check_count(len(dates), "dates")
    for at in dates:
        _in_range(at.date(), at.isoformat(), "dates")
    _check_order(list(dates), "dates")
    check_window_years(window_years)
    n = len(dates)
    params = {"categories": list(categories), "ags": ags, "dates": list(dates), "n": n}
    # #dates before an instant: width_bucket counts the dates at or before it (timestamps in µs)
    before = "width_bucket({} - interval '1 microsecond', CAST(:dates AS timestamptz[]))"
    rows = conn.execute(
        text(f"""
        WITH covering AS (
            SELECT * FROM (
                SELECT v.parcel_id, v.category, v.status, v.area_m2,
                       {rules.sql(rules.is_reserve, "v")} AS reserve,
                       {rules.sql(rules.is_restriction_free, "v")} AS free,
                       {rules.sql(rules.is_taken_up, "v")} AS taken_up,
                       {rules.sql(rules.is_lost, "v")} AS lost,
                       {before.format("v.valid_from")} + 1 AS f,
                       CASE WHEN v.valid_to IS NULL OR {still_approved_sql(view, "v")} THEN :n
                            ELSE {before.format("v.valid_to")} END AS l
                  FROM parcel_version v
                 WHERE v.category = ANY(:categories) AND (CAST(:ags AS text) IS NULL OR v.ags = :ags)
                   AND {visible_versions_sql(view, "v")}
            ) c WHERE f <= l
        ),
        linked AS (
            SELECT c.*, lag(l) OVER w = f - 1 AS follows, lag(reserve) OVER w AS was_reserve,
                   lag(area_m2) OVER w AS previous_area, lead(f) OVER w AS next_f
              FROM covering c WINDOW w AS (PARTITION BY parcel_id ORDER BY f)
        )
        SELECT 'stock' AS kind, f AS i, category, status, sum(CAST(area_m2 AS numeric)) AS area, count(*) AS parcels,
               coalesce(sum(CAST(area_m2 AS numeric)) FILTER (WHERE free), 0) AS free_area,
               0 AS additions, 0 AS take_up, 0 AS lost_area, 0 AS removed, 0 AS area_changes
          FROM covering GROUP BY f, category, status
        UNION ALL
        SELECT 'stock', l + 1, category, status, -sum(CAST(area_m2 AS numeric)), -count(*),
               -coalesce(sum(CAST(area_m2 AS numeric)) FILTER (WHERE free), 0), 0, 0, 0, 0, 0
          FROM covering WHERE l < :n GROUP BY l, category, status
        UNION ALL
        SELECT 'change', f - 1, NULL, NULL, 0, 0, 0,
               coalesce(sum(area_m2) FILTER (WHERE reserve AND NOT (coalesce(follows, false) AND was_reserve)), 0),
               coalesce(sum(previous_area) FILTER (WHERE follows AND was_reserve AND taken_up), 0),
               coalesce(sum(previous_area) FILTER (WHERE follows AND was_reserve AND lost), 0),
               0,
               coalesce(sum(area_m2 - previous_area) FILTER (WHERE follows AND was_reserve AND reserve), 0)
          FROM linked WHERE f > 1 GROUP BY f
        UNION ALL
        SELECT 'change', l, NULL, NULL, 0, 0, 0, 0, 0, 0, coalesce(sum(area_m2) FILTER (WHERE reserve), 0), 0
          FROM linked WHERE l < :n AND (next_f IS NULL OR next_f > l + 1) GROUP BY l
    """),
        params,
    ).mappings()
    deltas: dict[tuple[str, str], list] = {}
    free_delta = [0] * (n + 2)
    flows = [
        dict.fromkeys(("additions_m2", "take_up_m2", "lost_m2", "removed_m2", "area_changes_m2"), 0.0) for _ in range(n)
    ]
    for r in rows:
        if r["kind"] == "stock":
            group = deltas.setdefault((r["category"], r["status"]), [[0, 0] for _ in range(n + 2)])
            group[r["i"]][0] += r["area"]
            group[r["i"]][1] += r["parcels"]
            free_delta[r["i"]] += r["free_area"]
        else:
            flow = flows[r["i"]]
            for key, column in (("additions_m2", "additions"), ("take_up_m2", "take_up"), ("lost_m2", "lost_area"),
                                ("removed_m2", "removed"), ("area_changes_m2", "area_changes")):  # fmt: skip
                flow[key] += float(r[column])
    taken = _take_up_series(conn, params, dates, window_years, view)
    stocks, running, free = [], {key: [0, 0] for key in deltas}, 0
    for i, at in enumerate(dates, start=1):
        for key, group in deltas.items():
            running[key][0] += group[i][0]
            running[key][1] += group[i][1]
        free += free_delta[i]
        by = [
            {"category": c, "status": s, "area_m2": float(round(area, 2)), "parcels": int(count)}
            for (c, s), (area, count) in sorted(running.items())
            if count
        ]
        reserve = sum(g["area_m2"] for g in by if g["status"] in rules.RESERVE_STATUSES)
        per_year = taken[i] / window_years
        stocks.append(
            {
                "date": at.isoformat(),
                "by_category_status": by,
                "reserve_m2": round(reserve, 2),
                "restriction_free_available_m2": round(float(free), 2),
                "take_up_per_year_m2": round(per_year, 2),
                "years_of_supply": round(float(free) / per_year, 2) if per_year > 0 else None,
            }
        )
    changes = [
        {"from": a.isoformat(), "to": b.isoformat(), **{key: round(m2, 2) for key, m2 in flows[i].items()}}
        for i, (a, b) in enumerate(zip(dates, dates[1:]), start=1)
    ]
    return {
        "ags": ags,
        "categories": list(categories),
        "window_years": window_years,
        "stocks": stocks,
        "changes": changes,
    }


def _take_up_series(
    conn: Connection, params: dict, dates: list[dt.datetime], window_years: float, view: View
) -> dict[int, float]:
    """Per date index: the reserve area taken up within ``window_years`` before it (as :func:`_take_up`)."""
    since = [at - dt.timedelta(days=round(365.25 * window_years)) for at in dates]
    rows = conn.execute(
        text(f"""
        WITH events AS (
            SELECT valid_from, previous_area FROM (
                SELECT v.valid_from, v.status, v.category, v.ags, {_BEFORE}
                  FROM parcel_version v
                 WHERE {visible_versions_sql(view, "v")}
                WINDOW w AS (PARTITION BY v.parcel_id ORDER BY v.version)
            ) t
             WHERE {rules.sql(rules.is_taken_up, "t")} AND was_reserve
               AND category = ANY(:categories) AND (CAST(:ags AS text) IS NULL OR ags = :ags)
        )
        SELECT d.i, coalesce(sum(e.previous_area), 0) AS taken
          FROM unnest(CAST(:dates AS timestamptz[]), CAST(:since AS timestamptz[])) WITH ORDINALITY AS d(at, since, i)
          LEFT JOIN events e ON e.valid_from > d.since AND e.valid_from <= d.at
         GROUP BY d.i
    """),
        params | {"since": since},
    )
    return {int(i): float(taken) for i, taken in rows}
