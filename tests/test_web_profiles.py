"""The profile editor (/app/profile): the ministry moves a weight and the preview shows the core's
ranking of the changed profile; the preview writes nothing; saving makes a new scored version."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg.scoring import ensure_default_profiles, ranking, recompute
from landreg.scoring.engine import save_scored_profile
from landreg.scoring.preview import MOVED_PLACES, definition_from_form, forget
from landreg.scoring.profiles import current_profile
from tests.helpers import app_client, database_url, live_server
from tests.test_scoring_preview import build_register
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

PROFILE = "ministerium-revitalisierung"
EDITOR = f"/app/profile/{PROFILE}"
TABLES = ("parcel", "parcel_indicator", "parcel_score", "scoring_profile", "scoring_run", "parcel_version")
FETCH = {"X-Requested-With": "fetch"}


@pytest.fixture
def world(committed_db):
    with Session(committed_db) as session:
        build_register(session, n=60)
        session.commit()
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    recompute(committed_db, "test")
    people(
        committed_db,
        **{
            "ministerium": ("ministry",),
            "pruefung": ("reviewer",),
            "verwaltung": ("admin",),
            "planung.do": ("planner", ["05913000"]),
        },
    )
    forget()
    return committed_db


def signed_in(client, username: str) -> str:
    """Signs in through the form; returns the session's CSRF token."""
    page = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/app/login",
        data={"username": username, "password": PASSWORD, "login_csrf": token, "next": "/app"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/app/login").text).group(1)


def counts(engine) -> dict:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES} | {
            "scored": str(conn.execute(text("SELECT max(computed_at) FROM parcel_score")).scalar()),
            "indicators": str(conn.execute(text("SELECT max(computed_at) FROM parcel_indicator")).scalar()),
        }


def listed(html: str, table: str) -> list[tuple[str, int]]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [(i, int(r)) for i, r in re.findall(r'data-parcel-id="([^"]+)" data-rank="(\d+)"', body)]


def engine_ranking(engine, form: dict[str, str], n: int = 20) -> tuple[list[tuple[str, int]], int]:
    """The changed profile saved and scored as PUT /profiles does, ranked, and rolled back: its top n
    and how many parcels move more than MOVED_PLACES places."""
    with engine.connect() as conn:
        old = current_profile(conn, PROFILE)
        before = {str(r["parcel_id"]): r["rank"] for r in ranking(conn, old, limit=1000)}
        draft = definition_from_form(old, form)
        new, _ = save_scored_profile(conn, PROFILE, draft.title, draft.purpose, draft.definition, "t")
        after = {str(r["parcel_id"]): r["rank"] for r in ranking(conn, new, limit=1000)}
        top = [(str(r["parcel_id"]), r["rank"]) for r in ranking(conn, new, limit=n)]
        conn.rollback()
    moved = sum(abs(before[i] - after[i]) > MOVED_PLACES for i in set(before) & set(after))
    return top, moved


def test_who_sees_the_profiles(world):
    with app_client(world) as client:
        assert client.get("/app/profile", follow_redirects=False).status_code == 303  # sign in first
        signed_in(client, "planung.do")
        assert client.get("/app/profile").status_code == 403
        assert client.get(EDITOR).status_code == 403
    for who in ("pruefung", "verwaltung"):
        with app_client(world) as client:
            token = signed_in(client, who)
            listing = client.get("/app/profile")
            assert listing.status_code == 200 and "Revitalisierung (Ministerium)" in listing.text
            editor = client.get(EDITOR)
            assert editor.status_code == 200 and "Als neue Version speichern" not in editor.text
            assert 'type="range"' not in editor.text  # read only: the weights as a table
            refused = client.post(f"{EDITOR}/preview", data={"csrf_token": token, "weight.size": "50"})
            assert refused.status_code == 403
    with app_client(world) as client:
        signed_in(client, "ministerium")
        listing = client.get("/app/profile?lang=en")
        assert "Scoring profiles" in listing.text
        for name in ("ministerium-revitalisierung", "investor-industrie", "wohnen-bauluecken"):
            assert f'data-profile="{name}"' in listing.text
        assert re.search(r'<td class="num">1</td>\s*<td>Which brownfields', listing.text)  # version, purpose
        assert "Brownfield" in listing.text  # categories, labelled
        assert 'href="/app/profile" aria-current="page"' in listing.text  # in the navigation
        assert client.get("/app/profile/gibt-es-nicht").status_code == 404
        token = re.search(r'name="csrf_token" value="([^"]+)"', listing.text).group(1)
        for lang, phrase in (("de", "Als neue Version speichern"), ("en", "Save as a new version")):
            pages = [
                client.get(f"{EDITOR}?lang={lang}"),
                client.post(f"{EDITOR}/preview?lang={lang}", data={"csrf_token": token, "weight.size": "50"}),
                client.get(f"{EDITOR}/sensitivity?lang={lang}"),
            ]
            assert phrase in pages[0].text and phrase in pages[1].text
            for shown in pages:  # every text has its translation: no key shows itself
                assert shown.status_code == 200 and not re.findall(r"profiles\.(?!css|js)[a-z_.]+", shown.text)


def test_the_preview_is_the_cores_ranking_and_writes_nothing(world):
    form = {"weight.size": "80", "weight.availability": "2.5"}
    expected, moved = engine_ranking(world, form)
    before = counts(world)
    with app_client(world) as client:
        token = signed_in(client, "ministerium")
        assert client.post(f"{EDITOR}/preview", data=form, headers=FETCH).status_code == 403  # no CSRF token
        answer = client.post(f"{EDITOR}/preview", data=form | {"csrf_token": token}, headers=FETCH)
        assert answer.status_code == 200 and "<html" not in answer.text  # the fragment only
        assert listed(answer.text, "preview-after") == expected
        assert f'data-moved="{moved}"' in answer.text and moved > 0
        with world.connect() as conn:
            old = current_profile(conn, PROFILE)
            assert listed(answer.text, "preview-before") == [
                (str(r["parcel_id"]), r["rank"]) for r in ranking(conn, old, limit=20)
            ]
        full = client.post(f"{EDITOR}/preview", data=form | {"csrf_token": token})  # without script: the page
        assert full.status_code == 200 and "<html" in full.text and listed(full.text, "preview-after") == expected
        assert 'value="80"' in full.text  # the form as sent
    assert counts(world) == before


@pytest.mark.parametrize("value", ["-1", "NaN", "Infinity", "12.345", "100.01", "1000", "1e2", "zwölf", "9" * 300])
def test_invalid_weights_are_refused_at_the_field(world, value):
    with app_client(world) as client:
        token = signed_in(client, "ministerium")
        form = {"csrf_token": token, "weight.size": value}
        for headers in (FETCH, {}):
            answer = client.post(f"{EDITOR}/preview", data=form, headers=headers)
            assert answer.status_code == 400 and "weight.size" in answer.text
        saved = client.post(EDITOR, data=form, follow_redirects=False)
        assert saved.status_code == 400
        assert re.search(r'name="weight.size"[^>]*aria-invalid="true"', saved.text)
        assert 'id="weight-size-error"' in saved.text
    with world.connect() as conn:
        assert current_profile(conn, PROFILE).version == 1


def test_the_editor_and_its_preview_answer_from_a_role_that_may_only_read(world):
    """As on a read-only replica: SELECT rights only, read-only transactions by default."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    role, password = f"{world.url.database}_profile_reader", secrets.token_hex(8)
    with world.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
    reader_url = world.url.set(username=role, password=password).render_as_string(hide_password=False)
    try:
        with app_client(world) as writer:  # signing in writes a session: on the primary
            token = signed_in(writer, "ministerium")
            cookie = writer.cookies.get("landreg_session")
        with TestClient(create_app(reader_url)) as reader:
            reader.cookies.set("landreg_session", cookie)
            assert reader.get(EDITOR).status_code == 200
            form = {"csrf_token": token, "weight.size": "60"}
            answer = reader.post(f"{EDITOR}/preview", data=form, headers=FETCH)
            assert answer.status_code == 200 and listed(answer.text, "preview-after")
            assert reader.get(f"{EDITOR}/sensitivity", headers=FETCH).status_code == 200
            assert reader.post(f"{EDITOR}/sensitivity", data=form, headers=FETCH).status_code == 200
    finally:
        with world.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_invalid_function_parameters_and_texts_are_refused_at_the_field(world):
    with app_client(world) as client:
        token = signed_in(client, "ministerium")
        for field, value in (
            ("fn.size.best", "0.2"),  # worst and best must differ
            ("fn.availability.value.kurzfristig", "2"),
            ("title", ""),
            ("top", "0"),
            ("top", "²"),
        ):
            answer = client.post(f"{EDITOR}/preview", data={"csrf_token": token, field: value}, headers=FETCH)
            assert answer.status_code == 400 and f'data-field="{field}"' in answer.text, field
        for query in ("change=200", "change=%C2%B2", "sensitivity_top=0"):
            refused = client.get(f"{EDITOR}/sensitivity?{query}", headers=FETCH)
            assert refused.status_code == 400 and query.split("=")[0] in refused.text


def test_saving_makes_a_new_version_and_the_ranking_follows(world):
    form = {"weight.size": "70", "weight.transit": "40", "fn.size.best": "3"}
    with app_client(world) as client:
        token = signed_in(client, "ministerium")
        shown = client.post(f"{EDITOR}/preview", data=form | {"csrf_token": token}, headers=FETCH)
        saved = client.post(EDITOR, data=form | {"csrf_token": token}, follow_redirects=False)
        assert saved.status_code == 303 and saved.headers["location"] == f"{EDITOR}?saved=2"
        page = client.get(saved.headers["location"])
        assert "Als Version 2 gespeichert" in page.text
        untouched = dict(
            re.findall(r'<input type="(?:number|text)" id="[^"]+" name="([^"]+)"[^>]*?value="([^"]*)"', page.text)
        )
        assert untouched["weight.size"] != "70"  # shown normalised: 70 of 190 percent points
        again = client.post(EDITOR, data=untouched | {"csrf_token": token}, follow_redirects=False)
        assert again.headers["location"] == f"{EDITOR}?unchanged=2"  # the form as shown: no new version
    with world.connect() as conn:
        profile = current_profile(conn, PROFILE)
        assert profile.version == 2 and profile.functions["size"]["best"] == 3.0
        created_by = conn.execute(
            text("SELECT created_by FROM scoring_profile WHERE name = :n AND version = 2"), {"n": PROFILE}
        ).scalar()
        top = [(str(r["parcel_id"]), r["rank"]) for r in ranking(conn, profile, limit=20)]
    assert created_by == "ministerium"
    assert listed(shown.text, "preview-after") == top  # what the preview showed is the ranking now


def test_the_sensitivity_is_a_chart_with_its_table(world):
    with app_client(world) as client:
        token = signed_in(client, "pruefung")
        answer = client.get(f"{EDITOR}/sensitivity?change=30&sensitivity_top=5", headers=FETCH)
        assert answer.status_code == 200
        assert 'id="sensitivity-chart"' in answer.text and 'role="img"' in answer.text
        assert "Flächengröße" in answer.text and "+30 %" in answer.text
        assert answer.text.count("<tr>") == 1 + 2 * 9  # header, ± for each of the nine criteria
        assert client.post(f"{EDITOR}/sensitivity", data={"csrf_token": token}).status_code == 403
    with app_client(world) as client:
        token = signed_in(client, "ministerium")
        draft = client.post(
            f"{EDITOR}/sensitivity",
            data={"csrf_token": token, "weight.port": "20", "change": "20", "sensitivity_top": "10"},
            headers=FETCH,
        )
        assert draft.status_code == 200 and "Hafen" in draft.text  # the criterion added in the form


@needs_browser
def test_the_ministry_moves_a_weight_and_the_preview_follows_the_core(world):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app

    expected, moved = engine_ranking(world, {"weight.size": "100"})
    driver = chromium(1400, 1100)
    try:
        with live_server(create_app(database_url(world))) as base:
            sign_in(driver, base, "ministerium")
            driver.get(f"{base}/app/profile")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.get(f"{base}{EDITOR}")
            wait = WebDriverWait(driver, 20)

            def after_rows():  # read at once by the page's script: the preview may be replaced meanwhile
                rows = driver.execute_script(
                    "return Array.from(document.querySelectorAll('#preview-after tbody tr[data-parcel-id]'))"
                    ".map(r => [r.dataset.parcelId, Number(r.dataset.rank)])"
                )
                return [(i, r) for i, r in rows]

            wait.until(lambda d: after_rows())  # the current ranking, shown at once
            unchanged = after_rows()
            assert driver.find_element(By.ID, "preview-result").get_attribute("data-moved") == "0"
            slider = driver.find_element(By.ID, "weight-size-range")
            slider.send_keys(Keys.END)  # by keyboard: to 100
            assert driver.find_element(By.ID, "weight-size").get_attribute("value") == "100"
            wait.until(lambda d: after_rows() != unchanged)
            wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("aria-busy") == "false")
            assert after_rows() == expected
            assert driver.find_element(By.ID, "preview-result").get_attribute("data-moved") == str(moved)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sensitivity table.sensitivity"))
            assert driver.execute_script("return Chart.getChart('sensitivity-chart') !== undefined")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.execute_script("window.scrollTo(0, 0)")
            screenshot(driver, "profil-editor")
            driver.execute_script("document.getElementById('sensitivity-heading').scrollIntoView()")
            screenshot(driver, "profil-editor-sensitivitaet")

            number = driver.find_element(By.ID, "weight-transit")  # a refused value: the message at the field
            number.clear()
            number.send_keys("12.345")
            wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("data-state") == "invalid")
            assert number.get_attribute("aria-invalid") == "true"
            assert "weight.transit" in driver.find_element(By.ID, "weight-transit-error").text
            number.clear()
            number.send_keys("15")
            wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("data-state") == "ok")

            driver.find_element(By.ID, "save").click()
            wait.until(lambda d: "saved=2" in d.current_url)
            assert "Version 2" in driver.find_element(By.ID, "notice").text
    finally:
        driver.quit()
    with world.connect() as conn:
        profile = current_profile(conn, PROFILE)
        assert profile.version == 2 and profile.weights["size"] > profile.weights["transit"]


def test_a_form_opened_before_another_save_does_not_overwrite_it_unseen(world):
    """Two ministry editors open version 1; the first saves (version 2); the second's save is a 409
    that shows the saved version under their change, and saving that form again makes version 3."""
    with app_client(world) as client:
        token = signed_in(client, "ministerium")
        opened = client.get(EDITOR)
        assert 'name="based_on" value="1"' in opened.text
        first = client.post(EDITOR, data={"weight.size": "70", "csrf_token": token, "based_on": "1"},
                            follow_redirects=False)  # fmt: skip
        assert first.headers["location"] == f"{EDITOR}?saved=2"
        late = client.post(EDITOR, data={"weight.transit": "40", "csrf_token": token, "based_on": "1"})
        assert late.status_code == 409 and "inzwischen wurde Version 2 dieses Profils gespeichert" in late.text
        assert 'name="based_on" value="2"' in late.text
        again = client.post(EDITOR, data={"weight.transit": "40", "csrf_token": token, "based_on": "2"},
                            follow_redirects=False)  # fmt: skip
        assert again.headers["location"] == f"{EDITOR}?saved=3"
