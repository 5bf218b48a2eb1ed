"""The planner's pages: "Meine Flächen" (list, filters, sorting, paging, map) and the parcel page
(form with the code lists, validation at the field, save with optimistic locking and the conflict
view, retiring, history, scores, data quality, review), in HTTP and in a real browser; and the core
helpers they read (landreg.worklist, landreg.versions, landreg.review.states, quality.parcel_quality).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from landreg import clock, quality, register, review, versions, worklist
from landreg.access import FULL, AccessDenied, Principal, View, view_of
from landreg.errors import InvalidParameter, NotFound
from landreg.features import COLLECTIONS
from landreg.parcels import create_parcel
from landreg.review.states import PARCEL_STATES, review_states, submissions_of
from landreg.vocab import RETIRE_REASON
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, database_url, live_server, utm
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

ESSEN, DORTMUND = "05113000", "05913000"
EX, EY = utm(*ESSEN_HBF)
DX, DY = utm(*DORTMUND_REINOLDIKIRCHE)
PLANNER = Principal(None, "planung.essen", "planner", (ESSEN,))
DORTMUND_PLANNER = Principal(None, "planung.dortmund", "planner", (DORTMUND,))
REVIEWER = Principal(None, "pruefung.rvr", "reviewer")
MINISTRY = Principal(None, "ministerium", "ministry")
OLD = clock.today() - dt.timedelta(days=800)
RECENT = clock.today() - dt.timedelta(days=30)

#: Essen: eight parcels in a row; Dortmund: one published, one not.
ESSEN_PARCELS = [
    # ref, name, category, status, data_date, published
    ("E-01", "Zeche Helene", "brachflaeche", "potenzial", OLD, True),
    ("E-02", "Gewerbepark Nord", "gewerbeflaeche", "verfuegbar", RECENT, True),
    ("E-03", "Baulücke Rüttenscheid", "bauluecke", "verfuegbar", None, False),
    ("E-04", "Industrie am Kanal", "industrieflaeche", "reserviert", RECENT, True),
    ("E-05", "100% Bahnfläche_Ost", "brachflaeche", "in_entwicklung", OLD, False),
    ("E-06", "Hafen O'Neill", "gewerbeflaeche", "potenzial", RECENT, True),
    ("E-07", "Altes Stahlwerk", "industrieflaeche", "genutzt", RECENT, False),
    ("E-08", "Kleine Lücke", "bauluecke", "potenzial", RECENT, True),
]


def _essen_box(i: int, size: float = 80) -> shapely.Polygon:
    return shapely.box(EX + 120 * i, EY, EX + 120 * i + size, EY + size)


def _record(session) -> dict[str, uuid.UUID]:
    """The parcels above (recorded by the operator: approved as made), by reference."""
    made = {}
    for i, (ref, name, category, status, date, published) in enumerate(ESSEN_PARCELS):
        made[ref] = create_parcel(
            session, "seed", local_ref=ref, name=name, category=category, status=status, data_date=date,
            publication_allowed=published, internal_notes=f"intern {ref}", geom=_essen_box(i),
        ).id  # fmt: skip
    for ref, published, dx in (("D-01", True, 0), ("D-02", False, 200)):
        made[ref] = create_parcel(
            session, "seed", local_ref=ref, name=f"Dortmund {ref}", category="gewerbeflaeche",
            publication_allowed=published, internal_notes="geheim", owner_contact="Frau Geheim",
            geom=shapely.box(DX + dx, DY, DX + dx + 100, DY + 100),
        ).id  # fmt: skip
    session.flush()
    return made


@pytest.fixture
def parcels(session):
    return _record(session)


def _refs(conn, principal, **wanted) -> list[str]:
    page = worklist.list_page(conn, principal, worklist.ListRequest(limit=100, **wanted))
    return [row["local_ref"] for row in page.rows]


# -- the core: the list's query ------------------------------------------------------------------
def test_a_planner_lists_their_own_municipality_with_search_filters_and_sorting(session, parcels):
    conn = session.connection()
    assert _refs(conn, PLANNER) == [ref for ref, *_ in ESSEN_PARCELS]  # own only, by reference
    assert _refs(conn, PLANNER, q="zeche") == ["E-01"]  # name, ignoring case
    assert _refs(conn, PLANNER, q="e-0") == [ref for ref, *_ in ESSEN_PARCELS]  # reference
    assert _refs(conn, PLANNER, q="100%") == ["E-05"]  # a % is a character, not a wildcard
    assert _refs(conn, PLANNER, q="E_01") == []  # nor is _ (it would match E-01)
    assert _refs(conn, PLANNER, q="Bahnfläche_Ost") == ["E-05"]
    assert _refs(conn, PLANNER, q="O'Neill") == ["E-06"]  # a quote is a character too
    assert _refs(conn, PLANNER, q='") OR 1=1 --') == []
    assert _refs(conn, PLANNER, category="bauluecke") == ["E-03", "E-08"]
    assert _refs(conn, PLANNER, status="verfuegbar", category="gewerbeflaeche") == ["E-02"]
    assert _refs(conn, PLANNER, due=True) == ["E-01", "E-03", "E-05"]  # older than 12 months, or none
    assert _refs(conn, PLANNER, finding="stand_aelter_24_monate") == ["E-01", "E-03", "E-05"]
    assert _refs(conn, PLANNER, sort="name") == ["E-05", "E-07", "E-03", "E-02", "E-06", "E-04", "E-08", "E-01"]
    assert _refs(conn, PLANNER, sort="local_ref", descending=True)[0] == "E-08"
    dates = [r["data_date"] for r in worklist.list_page(conn, PLANNER, worklist.ListRequest(sort="data_date")).rows]
    assert dates == sorted(d for d in dates if d) + [None]  # missing last, either way
    page = worklist.list_page(conn, PLANNER, worklist.ListRequest(limit=10, offset=0, sort="local_ref"))
    assert page.matched == 8 and len(page.rows) == 8
    collection = json.loads(page.geojson)
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 8
    lon, lat = collection["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 6.9 < lon < 7.1 and 51.4 < lat < 51.5  # WGS84
    assert collection["features"][0]["properties"]["local_ref"] == "E-01"


def test_the_list_pages_and_others_see_every_municipality_with_a_filter(session, parcels):
    conn = session.connection()
    second = worklist.list_page(conn, PLANNER, worklist.ListRequest(limit=10, offset=0))
    assert second.matched == 8
    assert set(_refs(conn, MINISTRY)) >= {"E-01", "D-01", "D-02"}  # the ministry: every municipality
    assert _refs(conn, REVIEWER, ags=DORTMUND) == ["D-01", "D-02"]
    assert _refs(conn, MINISTRY, ags=DORTMUND, sort="ags") == ["D-01", "D-02"]
    names = {m["ags"] for m in worklist.municipalities(conn, FULL)}
    assert {ESSEN, DORTMUND} <= names
    assert worklist.municipalities(conn, view_of(PLANNER)) == [{"ags": ESSEN, "name": "Essen"}]


@pytest.mark.parametrize(
    ("wanted", "field"),
    [
        ({"category": "Bauluecke"}, "category"),
        ({"status": "frei"}, "status"),
        ({"finding": "x"}, "finding"),
        ({"review": "offen"}, "review"),
        ({"sort": "internal_notes"}, "sort"),
        ({"limit": 7}, "limit"),
        ({"offset": -1}, "offset"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"ags": "0511300"}, "ags"),
        ({"ags": DORTMUND}, "ags"),  # a planner's list is their own municipality's
    ],
)
def test_list_values_are_checked_and_named(wanted, field):
    with pytest.raises(InvalidParameter) as refused:
        worklist.feature_query(PLANNER, worklist.ListRequest(**wanted))
    assert refused.value.field == field


def test_the_list_is_for_signed_in_people():
    with pytest.raises(AccessDenied):
        worklist.feature_query(None, worklist.ListRequest())


# -- the core: review states, versions, quality ----------------------------------------------------
def _change(session, principal, parcel_id, **attributes):
    current = session.get(register.Parcel, parcel_id).version
    return register.update(session, principal, parcel_id, {current}, attributes)


def test_review_states_of_parcels_and_the_filter_by_them(session, parcels):
    conn = session.connection()
    _change(session, PLANNER, parcels["E-01"], status="verfuegbar")  # waits
    _change(session, PLANNER, parcels["E-02"], status="reserviert")  # rejected below
    waiting = {s["id"] for s in review.submissions(conn, REVIEWER, "wartend", ESSEN)}
    e02 = next(s for s in waiting if review.submission(conn, REVIEWER, s)["changes"][0]["local_ref"] == "E-02")
    review.reject(conn, REVIEWER, [e02], "Status bitte belegen")
    states = review_states(conn, [parcels["E-01"], parcels["E-02"], parcels["E-03"]], view_of(PLANNER))
    assert [states[parcels[r]]["state"] for r in ("E-01", "E-02", "E-03")] == ["wartend", "abgelehnt", "freigegeben"]
    assert states[parcels["E-02"]]["submission"]["comment"] == "Status bitte belegen"
    assert states[parcels["E-03"]]["submission"] is None
    assert review_states(conn, [parcels["E-01"]], view_of(DORTMUND_PLANNER)) == {}  # not theirs to know
    assert _refs(conn, PLANNER, review="wartend") == ["E-01"]
    assert _refs(conn, PLANNER, review="abgelehnt") == ["E-02"]
    assert "E-01" not in _refs(conn, PLANNER, review="freigegeben")
    assert _refs(conn, REVIEWER, review="wartend", ags=ESSEN) == ["E-01"]
    listed = submissions_of(conn, view_of(PLANNER), parcels["E-02"])
    assert [(s["kind"], s["state"], s["comment"]) for s in listed] == [
        ("aenderung", "abgelehnt", "Status bitte belegen")
    ]
    assert submissions_of(conn, view_of(DORTMUND_PLANNER), parcels["E-02"]) == []
    assert set(PARCEL_STATES) == {"wartend", "abgelehnt", "freigegeben"}
    with pytest.raises(InvalidParameter):
        register.features_page(conn, register.FeatureQuery(COLLECTIONS["parcels"], FULL, review_state="offen"))


def test_versions_say_what_changed_field_by_field_in_the_view(session, parcels):
    conn = session.connection()
    e01 = parcels["E-01"]
    _change(session, PLANNER, e01, status="verfuegbar", internal_notes="neu")
    _change(session, PLANNER, e01, geom=_essen_box(0, 90))
    own = versions.changes(conn, view_of(PLANNER), e01)
    assert [v["version"] for v in own] == [1, 2, 3]
    assert [(c["field"], c["before"], c["after"]) for c in own[1]["changes"]] == [
        ("status", "potenzial", "verfuegbar"), ("internal_notes", "intern E-01", "neu"),
    ]  # fmt: skip
    assert own[1]["geometry"] is None and own[2]["changes"] == []
    grown = own[2]["geometry"]
    assert grown["area_before_m2"] == 6400 and grown["area_after_m2"] == 8100 and grown["area_added_m2"] == 1700
    assert grown["before"]["type"] == "MultiPolygon" and grown["after"]["type"] == "MultiPolygon"
    # another municipality sees the approved versions of a published parcel, without confidential fields
    other = versions.changes(conn, view_of(DORTMUND_PLANNER), e01)
    assert [v["version"] for v in other] == [1]
    base, now = versions.state(conn, view_of(PLANNER), e01, 1), versions.state(conn, view_of(PLANNER), e01, 3)
    assert base["internal_notes"] == "intern E-01" and base["ags"] == ESSEN
    assert "internal_notes" not in versions.state(conn, view_of(DORTMUND_PLANNER), e01, 1)
    assert [d["field"] for d in versions.difference(base, now)] == ["status", "internal_notes"]
    with pytest.raises(NotFound):
        versions.state(conn, view_of(DORTMUND_PLANNER), e01, 3)  # waits for review: not theirs
    with pytest.raises(NotFound):
        versions.changes(conn, view_of(PLANNER), parcels["D-02"])  # unpublished Dortmund
    assert versions.display(dt.date(2025, 3, 1), "data_date") == "01.03.2025"
    assert versions.display("verfuegbar", "status", "en") == "Available"
    assert versions.display(None, "name") == "—" and versions.display(True, "is_sample") == "ja"


def test_the_quality_of_one_parcel_for_those_who_may_see_it(session, parcels):
    conn = session.connection()
    own = quality.parcel_quality(conn, view_of(PLANNER), parcels["E-03"])
    assert own["current"] and 0 <= own["score"] <= 100
    assert "stand_aelter_24_monate" in [f["code"] for f in own["findings"]]
    assert "data_date" in own["missing"] and set(own["missing"]) <= set(own["required"])
    assert quality.parcel_quality(conn, view_of(DORTMUND_PLANNER), parcels["E-03"]) is None
    assert quality.parcel_quality(conn, FULL, parcels["E-03"])["score"] == own["score"]
    assert quality.parcel_quality(conn, View("public"), parcels["E-01"]) is None


# -- over HTTP -------------------------------------------------------------------------------------
#: The people who work with them (accounts are made where a test needs them: hashing takes a second).
ACCOUNTS = {
    "planung.essen": ("planner", [ESSEN]),
    "planung.dortmund": ("planner", [DORTMUND]),
    "planung.dortmund2": ("planner", [DORTMUND]),
    "pruefung.rvr": ("reviewer",),
    "ministerium": ("ministry",),
}


@pytest.fixture
def world(committed_db):
    """The parcels above, committed."""
    with Session(committed_db) as session:
        made = _record(session)
        session.commit()
    return made


def _accounts(engine, *names: str) -> None:
    people(engine, **{name: ACCOUNTS[name] for name in names})


def _sign_in(client, username: str) -> str:
    """Signed in through the form; returns the session's CSRF token."""
    form = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    answer = client.post(
        "/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token, "next": "/app"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    return _csrf(client.get("/app/flaechen").text)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _no_missing_texts(html: str) -> None:
    """Every text key was found (a missing one shows itself, e.g. "planner.title")."""
    missing = re.findall(r"planner\.(?!css|js)[a-z_.]+", html)
    assert not missing, missing


def _version(engine, parcel_id) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version FROM parcel WHERE id = :i"), {"i": parcel_id}).scalar_one()


def _form_of(html: str) -> dict[str, str]:
    """The parcel form's fields as a browser would send them (selected options, checked boxes)."""
    form = html[html.index('id="parcel-form"') : html.index("</form>", html.index('id="parcel-form"'))]
    values: dict[str, str] = {}
    for m in re.finditer(r"<input([^>]*)>", form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', m.group(1)))
        if "name" not in attrs:
            continue
        if attrs.get("type") == "checkbox":
            if " checked" in m.group(1):
                values[attrs["name"]] = attrs["value"]
            continue
        values[attrs["name"]] = attrs.get("value", "")
    for m in re.finditer(r'<select[^>]*name="(\w+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', m.group(2))
        first = re.search(r'<option value="([^"]*)"', m.group(2))
        values[m.group(1)] = (chosen or first).group(1)
    for m in re.finditer(r'<textarea[^>]*name="(\w+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[m.group(1)] = m.group(2)
    return values


def test_the_list_page_shows_own_parcels_with_filters_and_refuses_bad_values_naming_the_field(world, committed_db):
    _accounts(committed_db, "planung.essen")
    with app_client(committed_db) as client:
        assert client.get("/app/flaechen", follow_redirects=False).status_code == 303  # sign in first
        _sign_in(client, "planung.essen")
        page = client.get("/app/flaechen")
        assert page.status_code == 200 and "Meine Flächen" in page.text
        assert "E-01" in page.text and "D-01" not in page.text and "8 Flächen gefunden" in page.text
        assert 'id="planner-geojson"' in page.text and "Zeche Helene" in page.text
        _no_missing_texts(page.text)
        english = client.get("/app/flaechen?lang=en")
        assert "My parcels" in english.text and "8 parcels found" in english.text
        _no_missing_texts(english.text)
        client.get("/app/flaechen?lang=de")
        filtered = client.get("/app/flaechen", params={"q": "helene", "category": "brachflaeche", "due": "1"})
        assert "1 Fläche gefunden" in filtered.text and "E-01" in filtered.text and "E-02" not in filtered.text
        paged = client.get("/app/flaechen", params={"limit": "10", "sort": "name", "dir": "desc"})
        assert paged.status_code == 200 and 'aria-sort="descending"' in paged.text
        tiny = client.get("/app/flaechen", params={"limit": "10", "offset": "0"})
        assert tiny.status_code == 200
        for query, label in (
            ({"category": "Bauluecke"}, "Kategorie"),
            ({"status": "x"}, "Status"),
            ({"limit": "abc"}, "Flächen pro Seite"),
            ({"limit": "7"}, "Flächen pro Seite"),
            ({"offset": "-5"}, "Seiten"),
            ({"sort": "internal_notes"}, "Sortieren nach"),
            ({"dir": "seitwärts"}, "Reihenfolge"),
            ({"due": "vielleicht"}, "Nur fällige"),
            ({"review": "offen"}, "Prüfung"),
            ({"finding": "<script>"}, "Qualitätshinweis"),
            ({"ags": DORTMUND}, "Gemeinde"),
            ({"q": "x" * 500}, "Suche"),
        ):
            refused = client.get("/app/flaechen", params=query)
            assert refused.status_code == 400, query
            assert f"Ungültige Eingabe im Feld „{label}" in refused.text, query
            name = next(iter(query))
            assert f'id="error-{name}"' in refused.text, query
            assert "<script>" not in refused.text.split("<main", 1)[1].split("</main>", 1)[0].replace(
                '<script type="application/json"', ""
            ), query
        for query, german in (  # the core's reason, in the page's language too
            ({"limit": "7"}, "limit: Flächen je Seite sind eine von"),
            ({"offset": "-5"}, "offset: muss zwischen 0 und"),
            ({"dir": "seitwärts"}, "dir: asc oder desc, nicht „seitwärts“"),
            ({"q": "x" * 500}, "q: der Suchtext hat 500 Zeichen"),
            ({"category": "schloss"}, "category: unbekannter Wert „schloss“"),
            ([("limit", "20"), ("limit", "100")], "limit: 2-mal angegeben; nur einmal angeben"),
        ):
            assert german in client.get("/app/flaechen", params=query).text, query
        geojson = client.get("/app/flaechen.geojson", params={"limit": "7"})  # an error page of the core's
        assert geojson.status_code == 400 and "limit: Flächen je Seite sind eine von" in geojson.text
        geojson = client.get("/app/flaechen.geojson", params={"category": "bauluecke"})
        assert geojson.headers["content-type"].startswith("application/geo+json")
        assert [f["properties"]["local_ref"] for f in geojson.json()["features"]] == ["E-03", "E-08"]
        assert client.get("/app/flaechen.geojson", params={"category": "nix"}).status_code == 400


def test_the_ministry_and_reviewers_list_every_municipality_and_choose_one(world, committed_db):
    _accounts(committed_db, "ministerium")
    with app_client(committed_db) as client:
        _sign_in(client, "ministerium")
        page = client.get("/app/flaechen")
        assert "Flächen aller Gemeinden" in page.text and "E-01" in page.text and "D-02" in page.text
        assert '<select id="f-ags" name="ags"' in page.text
        dortmund = client.get("/app/flaechen", params={"ags": DORTMUND})
        assert "2 Flächen gefunden" in dortmund.text and "E-01" not in dortmund.text
        assert client.get("/app/flaechen", params={"ags": "123"}).status_code == 400


def test_a_planner_saves_a_change_and_sees_it_in_the_history_under_their_name(world, committed_db):
    _accounts(committed_db, "planung.essen")
    e02 = world["E-02"]
    with app_client(committed_db) as client:
        _sign_in(client, "planung.essen")
        page = client.get(f"/app/flaechen/{e02}")
        assert page.status_code == 200 and 'id="parcel-form"' in page.text
        for name in ("local_ref", "category", "status", "designation", "restriction_class", "owner_contact",
                     "internal_notes", "publication_allowed", "data_date", "ags", "is_sample", "abstand_class"):  # fmt: skip
            assert f'id="p-{name}"' in page.text, name
        assert '<label for="p-status">Status' in page.text and ">Verfügbar</option>" in page.text
        assert 'type="date" id="p-data_date"' in page.text
        _no_missing_texts(page.text)
        _no_missing_texts(client.get(f"/app/flaechen/{e02}?lang=en").text)
        _no_missing_texts(client.get(f"/app/flaechen/{e02}/bewertung").text)
        _no_missing_texts(client.get(f"/app/flaechen/{e02}/stilllegen").text)
        client.get(f"/app/flaechen/{e02}?lang=de")
        form = _form_of(page.text)
        assert form["status"] == "verfuegbar" and form["version"] == "1" and form["publication_allowed"] == "true"
        saved = client.post(f"/app/flaechen/{e02}", data=form | {"status": "reserviert"}, follow_redirects=False)
        assert saved.status_code == 303 and saved.headers["location"].endswith("gespeichert=1#historie")
        assert _version(committed_db, e02) == 2
        after = client.get(saved.headers["location"].split("#")[0])
        assert "Gespeichert: Version 2" in after.text
        history = after.text.split('id="historie"', 1)[1].split("</section>", 1)[0]
        assert "Version 2" in history and "von planung.essen" in history
        assert "Verfügbar" in history and "Reserviert" in history  # the field's before and after
        assert "wartet auf Prüfung" in after.text
        # the same form again: nothing changed, no new version
        again = client.post(f"/app/flaechen/{e02}", data=_form_of(after.text), follow_redirects=False)
        assert again.status_code == 303 and "gespeichert=0" in again.headers["location"]
        assert _version(committed_db, e02) == 2
        # unchecking a box is a change of that field alone
        form = _form_of(after.text)
        del form["publication_allowed"]  # unchecked: only the hidden "false" is sent
        form["publication_allowed"] = "false"
        client.post(f"/app/flaechen/{e02}", data=form, follow_redirects=False)
        with committed_db.connect() as conn:
            row = conn.execute(text("SELECT version, publication_allowed, status FROM parcel WHERE id = :i"),
                               {"i": e02}).one()  # fmt: skip
        assert tuple(row) == (3, False, "reserviert")


def test_validation_messages_appear_at_the_field_and_keep_the_input(world, committed_db):
    _accounts(committed_db, "planung.essen")
    e02 = world["E-02"]
    with app_client(committed_db) as client:
        _sign_in(client, "planung.essen")
        form = _form_of(client.get(f"/app/flaechen/{e02}").text)
        taken = client.post(f"/app/flaechen/{e02}", data=form | {"local_ref": "E-01", "name": "Neuer Name"})
        assert taken.status_code == 422
        assert 'id="err-local_ref"' in taken.text and "trägt schon eine andere Fläche der Gemeinde" in taken.text
        assert 'aria-invalid="true" aria-describedby="err-local_ref"' in taken.text
        assert 'value="E-01"' in taken.text and 'value="Neuer Name"' in taken.text  # the input is kept
        bad_date = client.post(f"/app/flaechen/{e02}", data=form | {"data_date": "31.02.2024"})
        assert bad_date.status_code == 422 and 'id="err-data_date"' in bad_date.text
        assert 'value="31.02.2024"' in bad_date.text and "muss ein Datum (JJJJ-MM-TT" in bad_date.text
        bad_code = client.post(f"/app/flaechen/{e02}", data=form | {"status": "fertig"})
        assert bad_code.status_code == 422 and 'id="err-status"' in bad_code.text
        assert "unbekannter Wert „fertig“; erlaubt: potenzial" in bad_code.text  # German first: the core's message
        in_english = client.post(f"/app/flaechen/{e02}?lang=en", data=form | {"status": "fertig"})
        assert "unknown value &#39;fertig&#39;; allowed: potenzial" in in_english.text
        bad_class = client.post(f"/app/flaechen/{e02}", data=form | {"restriction_class": "7"})
        assert bad_class.status_code == 422 and 'id="err-restriction_class"' in bad_class.text
        no_ref = client.post(f"/app/flaechen/{e02}", data=form | {"local_ref": "  "})
        assert no_ref.status_code == 422 and 'id="err-local_ref"' in no_ref.text
        long_text = client.post(f"/app/flaechen/{e02}", data=form | {"internal_notes": "x" * 6000})
        assert long_text.status_code == 422 and 'id="err-internal_notes"' in long_text.text
        assert client.post(f"/app/flaechen/{e02}", data=form | {"version": "x"}).status_code == 400
        assert client.post(f"/app/flaechen/{e02}", data=form | {"version": "99"}).status_code == 404
        assert _version(committed_db, e02) == 1  # nothing was saved


def test_two_planners_editing_the_same_parcel_the_second_sees_the_conflict_and_reapplies(world, committed_db):
    _accounts(committed_db, "planung.dortmund", "planung.dortmund2")
    d01 = world["D-01"]
    with app_client(committed_db) as first, app_client(committed_db) as second:
        _sign_in(first, "planung.dortmund")
        _sign_in(second, "planung.dortmund2")
        form_1 = _form_of(first.get(f"/app/flaechen/{d01}").text)
        form_2 = _form_of(second.get(f"/app/flaechen/{d01}").text)
        assert form_1["version"] == form_2["version"] == "1"
        ok = first.post(f"/app/flaechen/{d01}", data=form_1 | {"status": "reserviert", "name": "Erste"},
                        follow_redirects=False)  # fmt: skip
        assert ok.status_code == 303
        conflict = second.post(f"/app/flaechen/{d01}", data=form_2 | {"availability": "kurzfristig", "name": "Zweite"})
        assert conflict.status_code == 409 and "Die Fläche wurde inzwischen geändert" in conflict.text
        theirs = conflict.text.split('id="theirs"', 1)[1].split("</table>", 1)[0]
        assert "Reserviert" in theirs and "Erste" in theirs and "Geändert von: planung.dortmund" in conflict.text
        yours = conflict.text.split('id="yours"', 1)[1].split("</table>", 1)[0]
        assert "Kurzfristig" in yours and "Zweite" in yours and "Status" not in yours
        assert yours.count('class="both"') == 1  # the name: changed by both
        reapply = conflict.text.split('id="reapply-form"', 1)[1].split("</form>", 1)[0]
        hidden = dict(re.findall(r'name="(\w+)" value="([^"]*)"', reapply))
        assert hidden["version"] == "2" and hidden["availability"] == "kurzfristig" and "status" not in hidden
        again = second.post(f"/app/flaechen/{d01}", data=hidden, follow_redirects=False)
        assert again.status_code == 303
    with committed_db.connect() as conn:
        row = conn.execute(text("SELECT version, status, availability, name FROM parcel WHERE id = :i"),
                           {"i": d01}).one()  # fmt: skip
    assert tuple(row) == (3, "reserviert", "kurzfristig", "Zweite")  # both changes kept


def test_another_municipality_sees_a_public_read_only_page_and_may_not_edit(world, committed_db):
    _accounts(committed_db, "planung.essen")
    d01, d02 = world["D-01"], world["D-02"]
    with app_client(committed_db) as client:
        csrf = _sign_in(client, "planung.essen")
        public = client.get(f"/app/flaechen/{d01}")
        assert public.status_code == 200 and 'id="parcel-form"' not in public.text
        assert "Veröffentlichte Fläche einer anderen Gemeinde" in public.text
        assert "geheim" not in public.text.lower() and "Frau Geheim" not in public.text  # confidential
        assert 'id="qualitaet"' not in public.text and 'id="pruefung"' not in public.text
        edit = client.post(f"/app/flaechen/{d01}", data={"csrf_token": csrf, "version": "1", "status": "genutzt"})
        assert edit.status_code == 403 and "05913000" in edit.text  # the core's AccessDenied names it
        nothing = client.post(f"/app/flaechen/{d01}", data={"csrf_token": csrf, "version": "1"})
        assert nothing.status_code == 403  # even a form that changes nothing
        assert client.get(f"/app/flaechen/{d01}/stilllegen").status_code == 403
        retire = client.post(
            f"/app/flaechen/{d01}/stilllegen", data={"csrf_token": csrf, "version": "1", "confirm": "ja"}
        )
        assert retire.status_code == 403
        assert client.get(f"/app/flaechen/{d02}").status_code == 404  # unpublished: not there for Essen
        assert client.post(f"/app/flaechen/{d02}", data={"csrf_token": csrf, "version": "1"}).status_code == 404
        assert client.get(f"/app/flaechen/{uuid.uuid4()}").status_code == 404
        assert client.get("/app/flaechen/kein-uuid").status_code == 404  # no parcel page there
    assert _version(committed_db, d01) == 1


def test_reviewers_and_the_ministry_see_parcels_read_only(world, committed_db):
    _accounts(committed_db, "pruefung.rvr")
    e01 = world["E-01"]
    with app_client(committed_db) as client:
        csrf = _sign_in(client, "pruefung.rvr")
        page = client.get(f"/app/flaechen/{e01}")
        assert page.status_code == 200 and 'id="parcel-form"' not in page.text and 'id="read-only"' in page.text
        assert "intern E-01" in page.text and 'id="qualitaet"' in page.text  # every field, the quality
        refused = client.post(f"/app/flaechen/{e01}", data={"csrf_token": csrf, "version": "1", "status": "genutzt"})
        assert refused.status_code == 403 and "may not change parcels" in refused.text
    assert _version(committed_db, e01) == 1


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(world, committed_db):
    _accounts(committed_db, "planung.essen")
    e02 = world["E-02"]
    with app_client(committed_db) as client:
        _sign_in(client, "planung.essen")
        form = _form_of(client.get(f"/app/flaechen/{e02}").text)
        for forged in ({k: v for k, v in form.items() if k != "csrf_token"}, form | {"csrf_token": "falsch"}):
            refused = client.post(f"/app/flaechen/{e02}", data=forged | {"status": "genutzt"})
            assert refused.status_code == 403
        retire = client.post(f"/app/flaechen/{e02}/stilllegen", data={"version": "1", "confirm": "ja"})
        assert retire.status_code == 403
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT version, status FROM parcel WHERE id = :i"), {"i": e02}).one() == (
            1, "verfuegbar",
        )  # fmt: skip


def test_retiring_asks_for_a_reason_and_confirmation_and_leaves_the_parcel_in_the_history(world, committed_db):
    _accounts(committed_db, "planung.essen")
    e08 = world["E-08"]
    url = f"/app/flaechen/{e08}/stilllegen"
    with app_client(committed_db) as client:
        _sign_in(client, "planung.essen")
        confirm = client.get(url)
        assert confirm.status_code == 200 and 'id="confirm"' in confirm.text and 'id="reason"' in confirm.text
        _no_missing_texts(confirm.text)
        options = re.findall(r'<option value="([a-z_]*)"', confirm.text)
        assert options == ["", *(c for c in RETIRE_REASON.codes if c != "nicht_in_lieferung")]  # the import's own
        assert '<textarea id="comment" name="comment"' in confirm.text and "Vertraulich" in confirm.text
        csrf = _csrf(confirm.text)
        form = {"csrf_token": csrf, "version": "1", "confirm": "ja"}
        unconfirmed = client.post(url, data={"csrf_token": csrf, "version": "1", "reason": "bebaut"})
        assert unconfirmed.status_code == 400 and "bestätigen" in unconfirmed.text
        assert 'id="err-confirm"' in unconfirmed.text
        no_reason = client.post(url, data=form)
        assert no_reason.status_code == 422 and 'id="err-reason"' in no_reason.text
        assert "eine Stilllegung braucht einen Grund; erlaubt: bebaut" in no_reason.text
        assert 'aria-invalid="true" aria-describedby="err-reason"' in no_reason.text
        other = client.post(url, data=form | {"reason": "sonstiges", "comment": "  "})
        assert other.status_code == 422 and 'id="err-comment"' in other.text
        assert "braucht einen Kommentar" in other.text and '<option value="sonstiges" selected>' in other.text
        english = client.post(f"{url}?lang=en", data=form | {"reason": "abgerissen"})
        assert english.status_code == 422 and "unknown reason" in english.text
        stale = client.post(f"{url}?lang=de", data=form | {"version": "5", "reason": "bebaut"})
        assert stale.status_code == 409 and "jetzt Version 1" in stale.text
        done = client.post(
            url, data=form | {"reason": "sonstiges", "comment": "an den Nachbarn verkauft"}, follow_redirects=False
        )
        assert done.status_code == 303 and done.headers["location"] == "/app/flaechen?stillgelegt=1"
        listed = client.get(done.headers["location"])
        assert "wurde stillgelegt" in listed.text and "E-08" not in listed.text
        assert client.get(f"/app/flaechen/{e08}").status_code == 404  # no longer current
    with committed_db.connect() as conn:
        row = conn.execute(
            text("SELECT retired_by, retire_reason, retire_comment FROM parcel WHERE id = :i"), {"i": e08}
        ).one()
    assert tuple(row) == ("planung.essen", "sonstiges", "an den Nachbarn verkauft")


def test_the_parcel_page_shows_scores_quality_and_review_with_comments(world, committed_db):
    _accounts(committed_db, "planung.essen")
    from landreg.scoring.profiles import ensure_default_profiles

    e01, e02 = world["E-01"], world["E-02"]
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    with Session(committed_db) as session:
        _change(session, PLANNER, e02, status="reserviert")
        session.commit()
    with committed_db.begin() as conn:
        [waiting] = review.submissions(conn, REVIEWER, "wartend", ESSEN)
        review.reject(conn, REVIEWER, [waiting["id"]], "Bitte den Reservierungsvertrag nennen")
    with app_client(committed_db) as client:
        _sign_in(client, "planung.essen")
        page = client.get(f"/app/flaechen/{e01}")
        assert f'data-load="/app/flaechen/{e01}/bewertung?teil=1"' in page.text  # loaded when the tab opens
        scores = client.get(f"/app/flaechen/{e01}/bewertung?teil=1").text
        assert "<html" not in scores and client.get(f"/app/flaechen/{e01}/bewertung").text.startswith("<!doctype")
        assert "Revitalisierung (Ministerium)" in scores and "Bewertung:" in scores
        assert "Was die Bewertung am meisten erhöhen würde" in scores
        assert "Dieses Profil bewertet die Kategorie der Fläche nicht." in scores  # Wohnen in Baulücken
        quality_section = page.text.split('id="qualitaet"', 1)[1].split("</section>", 1)[0]
        assert "Datenqualität:" in quality_section and "Stand älter als 24 Monate" in quality_section
        rejected = client.get(f"/app/flaechen/{e02}")
        review_section = rejected.text.split('id="pruefung"', 1)[1].split("</section>", 1)[0]
        assert "Änderung abgelehnt" in review_section and "Bitte den Reservierungsvertrag nennen" in review_section
        assert "pruefung.rvr" in review_section
        history = rejected.text.split('id="historie"', 1)[1].split("</section>", 1)[0]
        assert "Bitte den Reservierungsvertrag nennen" in history
        english = client.get(f"/app/flaechen/{e02}?lang=en")
        assert "Review state: change rejected" in english.text and "Reserved" in english.text
        assert "abgelehnt" in client.get("/app/flaechen", params={"review": "abgelehnt"}).text


def test_pages_read_only_work_on_a_read_only_replica(world, committed_db):
    """Every GET of the area answers from a role that may only read (as on a replica)."""
    _accounts(committed_db, "ministerium", "planung.essen")
    url = committed_db.url
    role, password = f"{url.database}_reader", secrets.token_hex(8)
    with committed_db.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
    try:
        from api.app import create_app
        from landreg.scoring.profiles import ensure_default_profiles

        with committed_db.begin() as conn:
            ensure_default_profiles(conn)
        cookies = {}
        for person in ("planung.essen", "ministerium"):
            with app_client(committed_db) as writer:
                _sign_in(writer, person)
                cookies[person] = writer.cookies.get("landreg_session")
        reader = make_url(url).set(username=role, password=password).render_as_string(hide_password=False)
        with TestClient(create_app(reader)) as client:
            for person, cookie in cookies.items():
                client.cookies.set("landreg_session", cookie)
                for path in (
                    "/app/flaechen", "/app/flaechen?due=1&review=wartend&sort=area_m2&dir=desc",
                    "/app/flaechen.geojson", f"/app/flaechen/{world['E-01']}", f"/app/flaechen/{world['D-01']}",
                    f"/app/flaechen/{world['E-02']}/stilllegen", f"/app/flaechen/{world['E-01']}/bewertung",
                ):  # fmt: skip
                    answer = client.get(path)
                    expected = 403 if person == "ministerium" and path.endswith("stilllegen") else 200
                    assert answer.status_code == expected, (person, path, answer.text[:500])
    finally:
        with committed_db.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


# -- in a browser ----------------------------------------------------------------------------------
def _wait(driver, condition, seconds: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def _rows(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#parcel-table tbody tr td:first-child")]


@needs_browser
def test_in_a_browser_a_planner_filters_edits_a_status_and_sees_the_new_version_under_their_name(world, committed_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from api.app import create_app
    from landreg.scoring.profiles import ensure_default_profiles

    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    _accounts(committed_db, "planung.essen")
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/flaechen")
            assert _rows(driver) == [ref for ref, *_ in ESSEN_PARCELS]
            drawn = "return document.querySelectorAll('#planner-map path.leaflet-interactive').length"
            _wait(driver, lambda d: d.execute_script(drawn) == 8)  # the page's parcels on the map
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "meine-flaechen")

            driver.find_element(By.ID, "f-q").send_keys("gewerbe")
            Select(driver.find_element(By.ID, "f-category")).select_by_value("gewerbeflaeche")
            driver.find_element(By.CSS_SELECTOR, ".planner-filters button[type=submit]").click()
            _wait(driver, lambda d: "1 Fläche gefunden" in d.find_element(By.ID, "list-count").text)
            assert _rows(driver) == ["E-02"] and "category=gewerbeflaeche" in driver.current_url
            _wait(driver, lambda d: d.execute_script(drawn) == 1)
            driver.find_element(By.LINK_TEXT, "E-02").click()

            _wait(driver, lambda d: d.find_elements(By.ID, "parcel-form"))
            _wait(driver, lambda d: d.execute_script(drawn.replace("planner-map", "parcel-map")) == 1)
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "flaeche")
            Select(driver.find_element(By.ID, "p-status")).select_by_value("reserviert")
            driver.find_element(By.ID, "save").click()

            _wait(driver, lambda d: "gespeichert=1" in d.current_url)
            assert "Gespeichert: Version 2" in driver.find_element(By.ID, "saved").text
            history_tab = driver.find_element(By.ID, "tab-historie")
            assert history_tab.get_attribute("aria-selected") == "true"  # the save leads to the history
            newest = driver.find_element(By.ID, "version-2")
            assert newest.is_displayed() and "von planung.essen" in newest.text
            assert "Reserviert" in newest.text and "Verfügbar" in newest.text
            assert not driver.find_element(By.ID, "daten").is_displayed()
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.execute_script("window.scrollTo(0, 0)")
            screenshot(driver, "flaeche-historie")
            history_tab.send_keys(Keys.ARROW_RIGHT)  # the tabs work with the keyboard
            assert driver.find_element(By.ID, "tab-bewertung").get_attribute("aria-selected") == "true"
            assert driver.find_element(By.ID, "bewertung").is_displayed()
            assert driver.switch_to.active_element.get_attribute("id") == "tab-bewertung"
            scores = driver.find_element(By.ID, "bewertung")
            _wait(driver, lambda d: scores.get_attribute("data-loaded") == "yes")  # loaded when opened
            assert "Industriestandort (Investor)" in scores.text and "Bewertung:" in scores.text
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.execute_script("window.scrollTo(0, 0)")
            screenshot(driver, "flaeche-bewertung")
    finally:
        driver.quit()
    assert _version(committed_db, world["E-02"]) == 2


@needs_browser
def test_in_two_browsers_the_second_planner_gets_the_conflict_view_and_reapplies(world, committed_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from api.app import create_app

    _accounts(committed_db, "planung.dortmund", "planung.dortmund2")
    d01 = world["D-01"]
    first, second = chromium(), chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            sign_in(first, base, "planung.dortmund")
            sign_in(second, base, "planung.dortmund2")
            for driver in (first, second):
                driver.get(f"{base}/app/flaechen/{d01}")
                _wait(driver, lambda d: d.find_elements(By.ID, "parcel-form"))
            Select(first.find_element(By.ID, "p-status")).select_by_value("reserviert")
            first.find_element(By.ID, "save").click()
            _wait(first, lambda d: "gespeichert=1" in d.current_url)

            Select(second.find_element(By.ID, "p-availability")).select_by_value("mittelfristig")
            second.find_element(By.ID, "save").click()
            _wait(second, lambda d: d.find_elements(By.ID, "conflict"))
            assert "Reserviert" in second.find_element(By.ID, "theirs").text
            assert "planung.dortmund" in second.find_element(By.CSS_SELECTOR, ".conflict").text
            assert "Mittelfristig" in second.find_element(By.ID, "yours").text
            violations = axe_violations(second)
            assert not violations, describe(violations)
            screenshot(second, "flaeche-konflikt")
            second.find_element(By.ID, "reapply").click()
            _wait(second, lambda d: "gespeichert=1" in d.current_url)
            assert "Version 3" in second.find_element(By.ID, "saved").text
    finally:
        first.quit()
        second.quit()
    with committed_db.connect() as conn:
        row = conn.execute(text("SELECT version, status, availability FROM parcel WHERE id = :i"), {"i": d01}).one()
    assert tuple(row) == (3, "reserviert", "mittelfristig")
