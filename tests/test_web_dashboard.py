"""The ministry's dashboard (``/app/gemeinden``, its CSV) and the Flächenbilanz charts (``/app/bilanz``)
on a small register built by hand in Essen and Dortmund, with a history over three years.

Times (Y: this year): every parcel is recorded on 15 Jan Y-2; on 15 Jun Y-1 Essen's E4 is taken up
(genutzt), on 15 Sep Y-1 Dortmund's D3 is lost to another use; today D4 is recorded in Dortmund and
an Essen planner enlarges E1 (waiting for review). The expected figures below are sums of the
rectangles' areas written out here, not results of the registry's SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from html.parser import HTMLParser

import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg import clock, dashboard, register, rules, vocab
from landreg.access import FULL, LATEST, PUBLIC, Principal, view_of
from landreg.errors import InvalidParameter
from landreg.parcels import create_parcel, retire_parcel, update_parcel
from landreg.quality import quality_by_municipality
from landreg.safeguarding.balance import balance, balance_dates, balance_series, supply_by_municipality
from landreg.summary import by_group
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, record, utm
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

ESSEN, DORTMUND = "05113000", "05913000"
TODAY = clock.today()
Y = TODAY.year
T0 = dt.datetime(Y - 2, 1, 15, 10, tzinfo=dt.UTC)
T_TAKEN_UP = dt.datetime(Y - 1, 6, 15, 10, tzinfo=dt.UTC)
T_LOST = dt.datetime(Y - 1, 9, 15, 10, tzinfo=dt.UTC)
COMPLETE_GE = {  # every field a commercial parcel needs (landreg.quality.REQUIRED) but the availability
    "designation": "GE", "planning_status": "bplan_rechtskraeftig", "restriction_class": 0,
    "servicing": "erschlossen", "ownership": "oeffentlich",
}  # fmt: skip
OLD = TODAY - dt.timedelta(days=800)


def _box(place, dx: float, width: float, height: float) -> shapely.Polygon:
    x, y = utm(*place)
    return shapely.box(x + dx, y, x + dx + width, y + height)


# ref: (place, dx, width, height, attributes)
PARCELS = {
    "E1": (ESSEN_HBF, 0, 100, 100, {"category": "gewerbeflaeche", "status": "verfuegbar", "availability": "kurzfristig", "data_date": TODAY, **COMPLETE_GE}),  # 1.0 ha
    "E2": (ESSEN_HBF, 300, 200, 100, {"category": "industrieflaeche", "status": "potenzial", "restriction_class": 2, "data_date": OLD}),  # 2.0 ha
    "E3": (ESSEN_HBF, 600, 100, 50, {"category": "brachflaeche", "status": "verfuegbar"}),  # 0.5 ha
    "E4": (ESSEN_HBF, 900, 150, 100, {"category": "gewerbeflaeche", "status": "verfuegbar", "availability": "kurzfristig", "data_date": TODAY, **COMPLETE_GE}),  # 1.5 ha
    "D1": (DORTMUND_REINOLDIKIRCHE, 0, 300, 100, {"category": "gewerbeflaeche", "status": "potenzial", "restriction_class": 0, "availability": "mittelfristig", "data_date": TODAY}),  # 3.0 ha
    "D2": (DORTMUND_REINOLDIKIRCHE, 400, 50, 40, {"category": "bauluecke", "status": "verfuegbar", "designation": "WA", "planning_status": "paragraph_34", "availability": "kurzfristig", "ownership": "privat_einzeln", "data_date": TODAY}),  # 0.2 ha
    "D3": (DORTMUND_REINOLDIKIRCHE, 600, 200, 200, {"category": "industrieflaeche", "status": "verfuegbar", "restriction_class": 0, "availability": "kurzfristig"}),  # 4.0 ha
}  # fmt: skip
D4 = (DORTMUND_REINOLDIKIRCHE, 1000, 100, 50, {"category": "gewerbeflaeche", "status": "verfuegbar", "restriction_class": 0, "availability": "kurzfristig", "data_date": TODAY})  # 0.5 ha  # fmt: skip
ESSEN_PLANNER = Principal(None, "planung.essen", "planner", (ESSEN,))

# By hand (ha). Reserve: potenzial, verfuegbar, reserviert, in_entwicklung. E4 is genutzt and D3
# andere_nutzung: in no reserve. Reviewed state: E1 as approved (1.0 ha); latest: E1 enlarged (1.5 ha).
EXPECTED = {
    ESSEN: {
        "parcels": 4,
        "reserve_gewerbeflaeche_ha": 1.0,
        "reserve_industrieflaeche_ha": 2.0,
        "reserve_brachflaeche_ha": 0.5,
        "reserve_bauluecke_ha": 0.0,
        "reserve_ha": 3.5,
        # restriction-free GE/GI: E1 (E2 has class 2); take-up: E4's 1.5 ha over 3 years
        "restriction_free_ha": 1.0,
        "take_up_per_year_ha": 0.5,
        "years_of_supply": 2.0,
        "current_share": 2 / 4,  # E1, E4 (E2 old, E3 without a date)
        "complete_share": 2 / 4,  # E1, E4
        "reviewed_share": 3 / 4,  # E1 waits
    },
    DORTMUND: {
        "parcels": 4,
        "reserve_gewerbeflaeche_ha": 3.0 + 0.5,
        "reserve_industrieflaeche_ha": 0.0,
        "reserve_brachflaeche_ha": 0.0,
        "reserve_bauluecke_ha": 0.2,
        "reserve_ha": 3.7,
        "restriction_free_ha": 3.0 + 0.5,  # D1, D4
        "take_up_per_year_ha": 0.0,  # D3 was lost, not taken up
        "years_of_supply": None,
        "current_share": 3 / 4,  # D1, D2, D4
        "complete_share": 1 / 4,  # D2
        "reviewed_share": 1.0,
    },
}
LATEST_ESSEN = {"reserve_gewerbeflaeche_ha": 1.5, "reserve_ha": 4.0, "restriction_free_ha": 1.5, "years_of_supply": 3.0}
# The Flächenbilanz of commercial and industrial land from Y-1: at the end of Y-2, of Y-1, and today.
SERIES = {
    "reserve_ha": [1.0 + 2.0 + 1.5 + 3.0 + 4.0, 1.0 + 2.0 + 3.0, 1.0 + 2.0 + 3.0 + 0.5],
    "restriction_free_ha": [1.0 + 1.5 + 3.0 + 4.0, 1.0 + 3.0, 1.0 + 3.0 + 0.5],
    "take_up_ha": [1.5, 0.0],
    "additions_ha": [0.0, 0.5],
    "lost_ha": [4.0, 0.0],
}


def _backdate(engine, times: dict[str, list[dt.datetime]]) -> None:
    """Move each parcel's versions to the given times (the start of version 1, 2, …): the history as
    if it had been written then. Triggers are off for this (they would stamp the present)."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for ref, starts in times.items():
            pid = conn.execute(text("SELECT id FROM parcel WHERE local_ref = :r"), {"r": ref}).scalar_one()
            for version, (start, end) in enumerate(zip(starts, starts[1:]), start=1):
                conn.execute(
                    text("""UPDATE parcel_past_version SET valid_from = :a, valid_to = :b
                             WHERE parcel_id = :p AND version = :v"""),
                    {"a": start, "b": end, "p": pid, "v": version},
                )
            conn.execute(
                text("UPDATE parcel SET created_at = :a, updated_at = :b WHERE id = :p"),
                {"a": starts[0], "b": starts[-1], "p": pid},
            )


@pytest.fixture
def ruhr(committed_db):
    """The register above, and accounts: ministry, reviewer, Essen planner."""
    record(
        committed_db,
        *[
            {"local_ref": ref, "geom": _box(place, dx, w, h), "publication_allowed": True, **attrs}
            for ref, (place, dx, w, h, attrs) in PARCELS.items()
        ],
    )
    with Session(committed_db) as session:
        ids = dict(session.execute(text("SELECT local_ref, id FROM parcel")).all())
        update_parcel(session, ids["E4"], "seed", status="genutzt")
        update_parcel(session, ids["D3"], "seed", status="andere_nutzung", designation="WA")
        session.commit()
    _backdate(committed_db, {ref: [T0] for ref in PARCELS} | {"E4": [T0, T_TAKEN_UP], "D3": [T0, T_LOST]})
    place, dx, w, h, attrs = D4
    record(committed_db, {"local_ref": "D4", "geom": _box(place, dx, w, h), "publication_allowed": True, **attrs})
    with Session(committed_db) as session:  # an Essen planner enlarges E1: waits for review
        register.update(session, ESSEN_PLANNER, ids["E1"], {1}, {"geom": _box(ESSEN_HBF, 0, 100, 150)})
        session.commit()
    people(
        committed_db,
        ministerium=("ministry",),
        **{"pruefung.rvr": ("reviewer",), "planung.essen": ("planner", [ESSEN])},
    )
    return committed_db


def test_the_rows_are_the_hand_computed_figures_and_the_core_functions(ruhr):
    with ruhr.connect() as conn:
        rows = {r["ags"]: r for r in dashboard.municipality_rows(conn, FULL)}
        latest = {r["ags"]: r for r in dashboard.municipality_rows(conn, LATEST)}
        rvr = conn.execute(text("SELECT count(*) FROM municipality WHERE region = 'RVR'")).scalar_one()
        now = dt.datetime.now(dt.UTC)
        supply = supply_by_municipality(conn, now, 3.0, view=FULL)
        quality = {q["ags"]: q for q in quality_by_municipality(conn, FULL)}
        updated = dict(conn.execute(text("SELECT ags, max(updated_at) FROM parcel GROUP BY ags")).all())
    assert len(rows) == rvr == 53  # every RVR municipality, with or without parcels
    for ags, expected in EXPECTED.items():
        row = rows[ags]
        for key, value in expected.items():
            assert row[key] == pytest.approx(value), (ags, key)
        # the same figures the core's functions give
        assert row["restriction_free_ha"] == pytest.approx(supply[ags]["restriction_free_available_m2"] / 10_000)
        assert row["years_of_supply"] == supply[ags]["years_of_supply"]
        for share in ("current_share", "complete_share", "reviewed_share"):
            assert row[share] == quality[ags][share]
        assert row["last_update"] == updated[ags]
        assert row["last_update"].date() == dt.datetime.now(dt.UTC).date()  # D4 recorded, E1 changed today
    for key, value in LATEST_ESSEN.items():
        assert latest[ESSEN][key] == pytest.approx(value), key
    bottrop = rows["05512000"]  # an RVR municipality without parcels
    assert bottrop["parcels"] == 0 and bottrop["reserve_ha"] == 0 and bottrop["current_share"] is None
    assert rows[ESSEN]["name"] == "Essen" and rows[DORTMUND]["name"] == "Dortmund"
    with ruhr.connect() as conn:  # a planner: their own municipality only
        (own,) = dashboard.municipality_rows(conn, view_of(ESSEN_PLANNER))
    assert own["ags"] == ESSEN and own["reserve_gewerbeflaeche_ha"] == pytest.approx(1.5)  # their latest state


def test_figures_of_some_municipalities_are_those_of_the_whole_register_for_them(ruhr):
    """A planner's dashboard reads only their municipalities' parcels and history (at a million
    parcels 1.4 s instead of 4.7 s): the same figures as computed over everything the view sees.

    Among them a parcel whose history lies in two municipalities: a 1 ha commercial reserve in Essen,
    redrawn in Dortmund and taken up there; Dortmund's take-up counts it (from its Essen version)."""
    record(ruhr, {"local_ref": "M1", "category": "gewerbeflaeche", "status": "potenzial", "publication_allowed": True,
                  "geom": _box(ESSEN_HBF, 1500, 100, 100)})  # fmt: skip
    with Session(ruhr) as session:
        moved = session.execute(text("SELECT id FROM parcel WHERE local_ref = 'M1'")).scalar_one()
        outline = _box(DORTMUND_REINOLDIKIRCHE, 1500, 100, 100)
        update_parcel(session, moved, "seed", geom=outline, ags=DORTMUND, status="genutzt")
        session.commit()
    _backdate(ruhr, {"M1": [T0, T_TAKEN_UP]})
    now = dt.datetime.now(dt.UTC)
    with ruhr.connect() as conn:
        taken_up = supply_by_municipality(conn, now, 3.0, view=FULL)[DORTMUND]["take_up_per_year_m2"]
        assert taken_up == pytest.approx(10_000 / 3, abs=1)  # only M1 was taken up in Dortmund
        for view in (FULL, view_of(ESSEN_PLANNER)):
            supply = supply_by_municipality(conn, now, 3.0, view=view)
            stocks = [dict(r) for r in by_group(conn, ["municipality", "category"], view)]
            assert {ESSEN, DORTMUND} <= set(supply) and {ESSEN, DORTMUND} <= {r["ags"] for r in stocks}
            for chosen in ([ESSEN], [DORTMUND], [ESSEN, DORTMUND]):
                assert supply_by_municipality(conn, now, 3.0, view=view, ags=chosen) == {a: supply[a] for a in chosen}
                some = [dict(r) for r in by_group(conn, ["municipality", "category"], view, chosen)]
                assert some == [r for r in stocks if r["ags"] in chosen]


def test_a_municipality_outside_the_rvr_with_parcels_gets_a_row(ruhr):
    record(ruhr, {"local_ref": "K1", "category": "gewerbeflaeche", "geom": _box((6.9603, 50.9375), 0, 100, 100)})
    with ruhr.connect() as conn:
        rows = {r["ags"]: r for r in dashboard.municipality_rows(conn, FULL)}
    assert len(rows) == 54 and rows["05315000"]["name"].startswith("Köln")
    assert rows["05315000"]["reserve_gewerbeflaeche_ha"] == pytest.approx(1.0)


def test_sorting_in_german_order_with_missing_values_last():
    rows = [
        {"name": "Lünen", "ags": "05978024", "years_of_supply": 2.0},
        {"name": "Marl", "ags": "05562024", "years_of_supply": None},
        {"name": "Ennepetal", "ags": "05954012", "years_of_supply": 7.5},
        {"name": "Löhne", "ags": "0", "years_of_supply": 1.0},
    ]
    assert [r["name"] for r in dashboard.sort_rows(rows, "name", "asc")] == ["Ennepetal", "Löhne", "Lünen", "Marl"]
    assert [r["name"] for r in dashboard.sort_rows(rows, "years_of_supply", "desc")] == [
        "Ennepetal", "Lünen", "Löhne", "Marl",
    ]  # fmt: skip
    assert [r["name"] for r in dashboard.sort_rows(rows, "years_of_supply", "asc")][-1] == "Marl"
    for column, direction, field in (("area; DROP TABLE", "asc", "sort"), ("name", "up", "dir")):
        with pytest.raises(InvalidParameter) as refused:
            dashboard.sort_rows(rows, column, direction)
        assert refused.value.field == field


def test_a_series_runs_from_the_end_of_the_year_before_the_start_to_today_within_the_balance_limits():
    may = dt.date(2026, 5, 4)
    assert dashboard.series_dates(2025, may) == ["2024-12-31", "2025-12-31", "2026-05-04"]
    assert dashboard.series_dates(2026, may) == ["2025-12-31", "2026-05-04"]
    assert dashboard.start_years(may) == (2026 + 2 - 20, 2026)  # LANDREG_BALANCE_MAX_DATES = 20 dates
    assert len(dashboard.series_dates(2008, may)) == 20
    assert dashboard.check_start_year(None, may) == 2021 and dashboard.check_start_year(" 2010 ", may) == 2010
    for value in ("2007", "2027", "20.5", "MMXX"):
        with pytest.raises(InvalidParameter) as refused:
            dashboard.check_start_year(value, may)
        assert refused.value.field == "start"
    assert dashboard.check_categories([]) == ("gewerbeflaeche", "industrieflaeche")
    assert dashboard.check_categories(["industrieflaeche", "bauluecke"]) == ("bauluecke", "industrieflaeche")
    with pytest.raises(InvalidParameter, match="category: 'wald'"):
        dashboard.check_categories(["wald"])


GELSENKIRCHEN = "05513000"
GE_PLANNER = Principal(None, "planung.ge", "planner", (GELSENKIRCHEN,))
_T = {k: dt.datetime(*v, 9, tzinfo=dt.UTC) for k, v in {
    1: (2021, 3, 1), 2: (2021, 9, 1), 3: (2022, 2, 1), 4: (2022, 2, 20), 5: (2023, 5, 5), 6: (2024, 7, 7),
}.items()}  # fmt: skip


def _close(a, b, path="") -> None:
    """Equal, floats to the cent (both sides round to 2 decimals from sums in a different order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert b == pytest.approx(a, abs=0.011), path
    else:
        assert a == b, path


def test_the_series_of_a_balance_is_the_balance_at_each_date(session):
    """balance_series (two passes) gives what balance (four passes a date) gives, for a history with
    growth, take-up, a loss through a state that lasted less than a year, parcels entering and
    leaving the categories, a retirement, a way back into the reserve, and changes waiting for
    review (a change, a retirement, a new parcel), in every view and for several series of dates."""
    x0, y0 = utm(7.1020, 51.5050)  # Gelsenkirchen

    def box(i, w, h):
        x, y = x0 + 250 * (i % 4), y0 - 250 * (i // 4)
        return shapely.box(x, y, x + w, y + h)

    base = {"publication_allowed": True, "restriction_class": 0, "availability": "kurzfristig"}
    made = {}
    for i, (ref, category, status) in enumerate(
        [("A", "gewerbeflaeche", "verfuegbar"), ("B", "industrieflaeche", "potenzial"),
         ("C", "brachflaeche", "verfuegbar"), ("D", "gewerbeflaeche", "verfuegbar"),
         ("E", "gewerbeflaeche", "verfuegbar"), ("F", "industrieflaeche", "genutzt"),
         ("G", "gewerbeflaeche", "verfuegbar"), ("H", "gewerbeflaeche", "verfuegbar")]
    ):  # fmt: skip
        geom = box(i, 100 + 10 * i, 100)
        made[ref] = create_parcel(
            session, "seed", local_ref=ref, category=category, status=status, geom=geom, **base
        ).id
    session.flush()
    for ref, changes in [("A", {"geom": box(0, 100, 150)}), ("B", {"status": "reserviert"}),
                         ("B", {"status": "andere_nutzung"}), ("C", {"category": "gewerbeflaeche"}),
                         ("D", {"category": "brachflaeche"}), ("F", {"status": "verfuegbar"}),
                         ("A", {"status": "genutzt"})]:  # fmt: skip
        update_parcel(session, made[ref], "seed", **changes)
    retire_parcel(session, made["E"], "seed", "bebaut")
    session.flush()
    conn = session.connection()
    conn.execute(text("SET LOCAL session_replication_role = replica"))
    starts = {"A": [1, 3, 5], "B": [1, 3, 4], "C": [2, 5], "D": [2, 3], "E": [3], "F": [1, 5], "G": [2], "H": [1]}
    for ref, times in starts.items():
        times = [_T[t] for t in times]
        ends = times[1:] + ([_T[6]] if ref == "E" else [])
        for version, (start, end) in enumerate(zip(times, ends), start=1):
            conn.execute(
                text(
                    "UPDATE parcel_past_version SET valid_from = :a, valid_to = :b WHERE parcel_id = :p AND version = :v"
                ),
                {"a": start, "b": end, "p": made[ref], "v": version},
            )
        conn.execute(
            text("""UPDATE parcel SET created_at = :a, updated_at = :b,
                           retired_at = CASE WHEN retired_at IS NOT NULL THEN :b END WHERE id = :p"""),
            {"a": times[0], "b": ends[-1] if ref == "E" else times[-1], "p": made[ref]},
        )
    conn.execute(text("SET LOCAL session_replication_role = origin"))
    # waiting for review: G taken up, H retired, I new
    register.update(session, GE_PLANNER, made["G"], {1}, {"status": "genutzt"})
    register.retire(session, GE_PLANNER, made["H"], {1}, "aufgegeben")
    register.create(session, GE_PLANNER, {"local_ref": "I", "category": "gewerbeflaeche", "geom": box(9, 80, 80)})
    session.flush()

    now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    yearly = [dt.datetime(y, 12, 31, 23, tzinfo=dt.UTC) for y in range(2020, 2026)] + [now]
    series = [
        yearly,
        [_T[3], _T[4], _T[5], now],  # exactly at changes: the new version counts, the old one not
        [_T[1] - dt.timedelta(microseconds=1), _T[1], _T[3] + dt.timedelta(days=10), _T[6], _T[6]],
        [now],
        [_T[2] + dt.timedelta(days=30 * k) for k in range(20)],
    ]
    views = [FULL, LATEST, PUBLIC, view_of(GE_PLANNER), view_of(ESSEN_PLANNER)]
    for dates in series:
        for view in views:
            for ags, categories, window in (
                (GELSENKIRCHEN, rules.INDUSTRIAL_CATEGORIES, 3.0),
                (None, tuple(vocab.CATEGORY.codes), 1.0),
                (GELSENKIRCHEN, ("brachflaeche",), 0.25),
            ):
                expected = balance(conn, dates, ags, categories, window, view)
                _close(
                    expected, balance_series(conn, dates, ags, categories, window, view), f"{view} {ags} {categories}"
                )
    first = balance_series(conn, yearly, GELSENKIRCHEN, view=FULL)
    end_of_2021 = 10_000 + 11_000 + 13_000 + 16_000 + 17_000  # A B D G H reserve, commercial or industrial
    assert [s["reserve_m2"] for s in first["stocks"]][:2] == [0, pytest.approx(end_of_2021)]
    with pytest.raises(InvalidParameter):
        balance_series(conn, list(reversed(yearly)))


class _Table(HTMLParser):
    """The cells of the first table of a page: header texts, aria-sort, body rows."""

    def __init__(self):
        super().__init__()
        self.headers, self.sorted, self.rows, self.links = [], {}, [], []
        self._cell, self._in, self._section, self._done = None, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._done:
            return
        if tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = []
            if self._section == "thead" and "aria-sort" in attrs:
                self.sorted[attrs["data-column"]] = attrs["aria-sort"]
        elif tag == "a" and self._section == "thead":
            self.links.append(attrs["href"])
        elif (
            tag == "span"
            and self._cell is not None
            and ("aria-hidden" in attrs or attrs.get("class") == "visually-hidden")
        ):
            self._in = "hidden"

    def handle_endtag(self, tag):
        if tag == "span":
            self._in = None
        elif tag in ("th", "td") and self._cell is not None:
            value = " ".join("".join(self._cell).split())
            (self.headers if self._section == "thead" else self.rows[-1]).append(value)
            self._cell = None
        elif tag == "table":
            self._done = True

    def handle_data(self, data):
        if self._cell is not None and self._in != "hidden":
            self._cell.append(data)


def _table(html: str) -> _Table:
    parsed = _Table()
    parsed.feed(html)
    return parsed


def _no_missing_texts(html: str) -> None:
    """Every text key of the area has its text (an unknown key would show itself)."""
    assert re.findall(r"\bdashboard\.(?!css\b|js\b)[a-z_.]+", html) == []


def _client_signed_in(client, username: str) -> None:
    form = client.get("/app/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)
    answer = client.post(
        "/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token, "next": "/app"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text


def test_the_page_shows_the_figures_sorted_and_the_csv_is_the_same_rows(ruhr):
    with app_client(ruhr) as client:
        assert client.get("/app/gemeinden", follow_redirects=False).status_code == 303  # sign in first
        _client_signed_in(client, "ministerium")
        page = client.get("/app/gemeinden")
        assert page.status_code == 200
        table = _table(page.text)
        _no_missing_texts(page.text)
        _no_missing_texts(client.get("/app/gemeinden", params={"lang": "en"}).text)
        client.get("/app/gemeinden", params={"lang": "de"})
        assert len(table.rows) == 53 and table.sorted == {"name": "ascending"}
        assert table.headers[:4] == ["Gemeinde", "AGS", "Flächen", "Reserve Brachfläche (ha)"]
        assert "restriktionsfreie Reserve GE/GI (ha)" in table.headers
        names = [r[0] for r in table.rows]
        assert names == sorted(names, key=dashboard._text_key) and names[0] == "Alpen"
        essen = next(r for r in table.rows if r[1] == ESSEN)
        column = {key: i for i, key in enumerate(dashboard.COLUMNS)}
        assert essen[column["reserve_gewerbeflaeche_ha"]] == "1,00" and essen[column["reserve_ha"]] == "3,50"
        assert essen[column["years_of_supply"]] == "2,00" and essen[column["reviewed_share"]] == "75,0"
        assert essen[column["last_update"]] == dt.datetime.now(dt.UTC).astimezone(dashboard_zone()).strftime("%d.%m.%Y")
        dortmund = next(r for r in table.rows if r[1] == DORTMUND)
        assert dortmund[column["years_of_supply"]] == ""  # no take-up: shown as a dash, said as "keine Angabe"
        assert "keine Angabe" in page.text

        by_reserve = client.get("/app/gemeinden", params={"sort": "reserve_ha", "dir": "desc"})
        ranked = _table(by_reserve.text)
        assert [r[1] for r in ranked.rows[:2]] == [DORTMUND, ESSEN]  # 3.7 ha, 3.5 ha
        assert ranked.sorted == {"reserve_ha": "descending"}
        assert "?sort=reserve_ha&dir=asc" in ranked.links  # the header link turns the order round
        by_supply = _table(client.get("/app/gemeinden", params={"sort": "years_of_supply", "dir": "asc"}).text)
        assert by_supply.rows[0][1] == ESSEN  # the only one with a years of supply; the rest have none

        answer = client.get("/app/gemeinden.csv", params={"sort": "reserve_ha", "dir": "desc"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
        assert rows[0] == ranked.headers and rows[0][0] == "Gemeinde"
        assert rows[1:] == ranked.rows  # the same rows, cell for cell, in the same order

        english = client.get("/app/gemeinden.csv", params={"lang": "en"})
        en_rows = list(csv.reader(io.StringIO(english.text)))
        assert en_rows[0][:3] == ["Municipality", "AGS", "Parcels"]
        assert next(r for r in en_rows if r[1] == ESSEN)[column["reserve_ha"]] == "3.50"


def dashboard_zone():
    from api.web.dashboard import BERLIN

    return BERLIN


def test_unreviewed_changes_for_those_who_review_refused_to_planners(ruhr):
    with app_client(ruhr) as client:
        _client_signed_in(client, "pruefung.rvr")
        page = client.get("/app/gemeinden", params={"unreviewed": "1"})
        assert page.status_code == 200 and "einschließlich ungeprüfter Änderungen." in page.text
        essen = next(r for r in _table(page.text).rows if r[1] == ESSEN)
        assert essen[list(dashboard.COLUMNS).index("reserve_gewerbeflaeche_ha")] == "1,50"
        assert 'id="unreviewed"' in client.get("/app/gemeinden").text  # the toggle is offered
    with app_client(ruhr) as client:
        _client_signed_in(client, "planung.essen")
        own = client.get("/app/gemeinden")
        assert own.status_code == 200 and 'id="unreviewed"' not in own.text
        assert [r[1] for r in _table(own.text).rows] == [ESSEN]
        for path in ("/app/gemeinden", "/app/gemeinden.csv", "/app/bilanz"):
            refused = client.get(path, params={"unreviewed": "1"})
            assert refused.status_code == 403 and "<h1>Fehler 403</h1>" in refused.text, path
        assert client.get("/app/bilanz", params={"ags": DORTMUND}).status_code == 403
        mine = client.get("/app/bilanz", params={"start": Y - 1})
        assert mine.status_code == 200 and f'<option value="{ESSEN}" selected>' in mine.text
        assert "Alle Gemeinden" not in mine.text and DORTMUND not in mine.text


@pytest.mark.parametrize(
    ("path", "params", "field", "label"),
    [
        ("/app/bilanz", {"start": "1980"}, "start", "Startjahr"),
        ("/app/bilanz", {"start": str(Y + 1)}, "start", "Startjahr"),
        ("/app/bilanz", {"start": "zwanzig"}, "start", "Startjahr"),
        ("/app/bilanz", {"category": ["gewerbeflaeche", "wald"]}, "category", "Kategorien"),
        ("/app/bilanz", {"ags": "99999999"}, "ags", "Gemeinde"),
        ("/app/bilanz", {"ags": "x" * 5000}, "ags", "Gemeinde"),
        ("/app/bilanz", {"unreviewed": "vielleicht"}, "unreviewed", "ungeprüfter"),
        ("/app/gemeinden", {"sort": "flaeche"}, "sort", "Sortierung"),
        ("/app/gemeinden", {"dir": "aufwaerts"}, "dir", "Sortierrichtung"),
        ("/app/gemeinden.csv", {"sort": "x" * 5000}, "sort", "Sortierung"),
    ],
)
def test_invalid_parameters_are_400_pages_naming_the_field(ruhr, path, params, field, label):
    with app_client(ruhr) as client:
        _client_signed_in(client, "ministerium")
        answer = client.get(path, params=params)
    assert answer.status_code == 400 and "<h1>Fehler 400</h1>" in answer.text
    assert f"({field})" in answer.text and label in answer.text
    assert "x" * 100 not in answer.text  # long input is not echoed back


def test_the_balance_page_embeds_what_balance_computes(ruhr):
    with ruhr.connect() as conn:
        series = dashboard.bilanz(conn, FULL, None, Y - 1)
        direct = balance(conn, balance_dates([f"{Y - 2}-12-31", f"{Y - 1}-12-31", TODAY.isoformat()]), None, view=FULL)
    for key in ("reserve_ha", "restriction_free_ha"):
        assert [p[key] for p in series["points"]] == pytest.approx(SERIES[key]), key
    for key in ("take_up_ha", "additions_ha", "lost_ha"):
        assert [y[key] for y in series["years"]] == pytest.approx(SERIES[key]), key
    _close(direct, series["balance"])
    assert [y["year"] for y in series["years"]] == [Y - 1, Y] and series["years"][-1]["partial"]
    with app_client(ruhr) as client:
        _client_signed_in(client, "ministerium")
        page = client.get("/app/bilanz", params={"start": Y - 1})
        assert page.status_code == 200
        data = json.loads(
            re.search(r'<script type="application/json" id="balance-data">(.*?)</script>', page.text, re.S).group(1)
        )
        stock = {d["key"]: d["data"] for d in data["stock"]["datasets"]}
        flows = {d["key"]: d["data"] for d in data["flows"]["datasets"]}
        assert list(stock) == ["reserve_ha", "restriction_free_ha"]
        assert list(flows) == ["take_up_ha", "additions_ha", "lost_ha"]
        for key, values in (stock | flows).items():
            assert values == pytest.approx(SERIES[key]), key
        assert data["stock"]["labels"][0] == f"31.12.{Y - 2}" and data["stock"]["labels"][-1].endswith("(heute)")
        assert "Die Reserve (Gewerbefläche, Industriefläche) betrug am 31.12." in page.text
        assert "11,50 ha und beträgt heute 6,50 ha (-5,00 ha)" in page.text
        assert "Seitdem wurden 1,50 ha in Anspruch genommen, 0,50 ha kamen hinzu, 4,00 ha gingen" in page.text
        assert '<th scope="row">' in page.text and "<caption" in page.text
        essen = client.get("/app/bilanz", params={"start": Y - 1, "ags": ESSEN, "category": "brachflaeche"})
        data = json.loads(re.search(r'id="balance-data">(.*?)</script>', essen.text, re.S).group(1))
        assert data["stock"]["datasets"][0]["data"] == [0.5, 0.5, 0.5]  # E3 alone
        english = client.get("/app/bilanz", params={"start": Y - 1, "lang": "en"})
        assert "Land balance over time" in english.text and "restriction-free reserve" in english.text
        _no_missing_texts(english.text)
        _no_missing_texts(page.text)


@needs_browser
def test_both_pages_in_a_browser_charts_tables_and_accessibility(ruhr):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app
    from tests.helpers import database_url, live_server

    driver = chromium(1400, 1000)
    try:
        with live_server(create_app(database_url(ruhr))) as base:
            sign_in(driver, base, "ministerium")
            driver.get(f"{base}/app/gemeinden?sort=reserve_ha&dir=desc")
            assert (
                driver.find_element(By.CSS_SELECTOR, "th[aria-sort=descending]").get_attribute("data-column")
                == "reserve_ha"
            )
            nav = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "header nav a")]
            assert "Gemeinden" in nav and "Flächenbilanz" in nav
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "gemeinden")
            # keyboard: the header links are reachable and sort
            link = driver.find_element(By.CSS_SELECTOR, "th[data-column=name] a")
            link.send_keys("\n")
            WebDriverWait(driver, 10).until(lambda d: "sort=name" in d.current_url)
            assert driver.find_element(By.CSS_SELECTOR, "th[aria-sort]").get_attribute("data-column") == "name"

            # people who asked for less motion get the charts without animation (and the screenshot the end state)
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]}
            )
            driver.set_window_size(1400, 2200)
            driver.get(f"{base}/app/bilanz?start={Y - 1}")
            read = (
                "const c = Chart.getChart(document.getElementById(arguments[0]));"
                "return c ? {labels: c.data.labels, datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))} : null;"
            )
            stock = WebDriverWait(driver, 10).until(lambda d: d.execute_script(read, "chart-stock"))
            flows = driver.execute_script(read, "chart-flows")
            assert [d["label"] for d in stock["datasets"]] == ["Reserve", "restriktionsfreie Reserve"]
            assert stock["datasets"][0]["data"] == pytest.approx(SERIES["reserve_ha"])
            assert stock["datasets"][1]["data"] == pytest.approx(SERIES["restriction_free_ha"])
            for dataset, key in zip(flows["datasets"], ("take_up_ha", "additions_ha", "lost_ha")):
                assert dataset["data"] == pytest.approx(SERIES[key]), key
            assert flows["labels"] == [str(Y - 1), f"{Y} (bis heute)"]
            rows = driver.find_elements(By.CSS_SELECTOR, "#table-stock tbody tr")
            assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["11,50", "6,00", "6,50"]
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "flaechenbilanz")
            # the form: choose Essen by keyboard and show
            select = driver.find_element(By.ID, "ags")
            select.send_keys("Essen")
            driver.find_element(By.CSS_SELECTOR, "form.balance-form button[type=submit]").click()
            WebDriverWait(driver, 10).until(lambda d: f"ags={ESSEN}" in d.current_url)
            essen = WebDriverWait(driver, 10).until(lambda d: d.execute_script(read, "chart-stock"))
            assert essen["datasets"][0]["data"] == pytest.approx([1.0 + 2.0 + 1.5, 3.0, 3.0])
    finally:
        driver.quit()
