"""Signing in to the workspace: Argon2id passwords, server-side sessions, CSRF, throttling."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from landreg import users
from landreg.errors import InvalidParameter
from tests.helpers import app_client
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in


def _login_form(client, next_: str = "/app") -> str:
    page = client.get(f"/app/login?next={next_}")
    assert page.status_code == 200
    return re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)


def _sign_in(client, username: str, password: str = PASSWORD, next_: str = "/app"):
    token = _login_form(client, next_)
    return client.post(
        "/app/login",
        data={"username": username, "password": password, "login_csrf": token, "next": next_},
        follow_redirects=False,
    )


def test_accounts_store_argon2id_hashes_and_check_their_input(conn):
    user = users.create_user(conn, "Planung.Essen", "planner", PASSWORD, ["05113000"], "Stadt Essen")
    assert user.username == "planung.essen" and user.principal.ags == ("05113000",)
    stored = conn.execute(text("SELECT password_hash FROM app_user WHERE id = :i"), {"i": user.id}).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    for args, field in (
        (("x", "planner", PASSWORD, ["05113000"]), "username"),
        (("ab cd", "planner", PASSWORD, ["05113000"]), "username"),
        (("p2", "planner", PASSWORD, []), "ags"),
        (("p3", "planner", PASSWORD, ["99999999"]), "ags"),
        (("p4", "chef", PASSWORD), "role"),
        (("p5", "ministry", "kurz"), "password"),
        (("planung.essen", "ministry", PASSWORD), "username"),  # exists already
    ):
        with pytest.raises(InvalidParameter) as refused:
            users.create_user(conn, *args)
        assert refused.value.field == field, args


def test_sessions_are_server_side_and_end_with_sign_out_disable_and_reset(conn):
    users.create_user(conn, "pruefung.rvr", "reviewer", PASSWORD)
    session_id, opened = users.sign_in(conn, "pruefung.rvr", PASSWORD, "127.0.0.1")
    stored = conn.execute(text("SELECT id_sha256 FROM web_session")).scalars().all()
    assert session_id not in stored and len(stored) == 1  # only its hash is kept
    assert users.session(conn, session_id).user.role == "reviewer"
    users.sign_out(conn, session_id)
    assert users.session(conn, session_id) is None
    again, _ = users.sign_in(conn, "pruefung.rvr", PASSWORD)
    users.reset_password(conn, "pruefung.rvr", "ein-neues-langes-passwort")
    assert users.session(conn, again) is None  # a reset ends every session
    third, _ = users.sign_in(conn, "pruefung.rvr", "ein-neues-langes-passwort")
    users.disable_user(conn, "pruefung.rvr")
    assert users.session(conn, third) is None
    with pytest.raises(users.SignInRefused):
        users.sign_in(conn, "pruefung.rvr", "ein-neues-langes-passwort")
    assert opened.csrf_token and users.session(conn, "x" * 500) is None


def test_sign_in_over_http_sets_a_safe_cookie_and_signs_out(committed_db):
    people(committed_db, **{"planung.essen": ("planner", ["05113000"])})
    with app_client(committed_db) as client:
        assert client.get("/app", follow_redirects=False).headers["location"] == "/app/login?next=%2Fapp"
        wrong = _sign_in(client, "planung.essen", "falsches-passwort-123")
        assert wrong.status_code == 401 and "Benutzername oder Passwort falsch" in wrong.text
        unknown = _sign_in(client, "niemand", "falsches-passwort-123")
        assert unknown.status_code == 401 and unknown.text.count("falsch") == wrong.text.count("falsch")
        answer = _sign_in(client, "planung.essen", next_="/app/posteingang")
        assert answer.status_code == 303 and answer.headers["location"] == "/app/posteingang"
        cookie = answer.headers["set-cookie"]
        assert "landreg_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback; behind HTTPS it is Secure
        off_site = _sign_in(client, "planung.essen", next_="https://example.org/")
        assert off_site.headers["location"] == "/app"  # no open redirect
        no_token = client.post("/app/logout", data={}, follow_redirects=False)
        assert no_token.status_code == 403 and "Formular" in no_token.text  # CSRF: refused, still signed in
        home = client.get("/app/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
        assert client.post("/app/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
        assert client.get("/app", follow_redirects=False).status_code == 303  # signed out


def test_a_forged_sign_in_form_is_refused(committed_db):
    people(committed_db, **{"ministerium": ("ministry",)})
    with app_client(committed_db) as client:
        forged = client.post(
            "/app/login", data={"username": "ministerium", "password": PASSWORD, "login_csrf": "x"},
            follow_redirects=False,
        )  # fmt: skip
        assert forged.status_code == 403 and "landreg_session" not in forged.headers.get("set-cookie", "")


def test_five_wrong_passwords_throttle_even_the_right_one(committed_db):
    people(committed_db, **{"ministerium": ("ministry",)})
    with app_client(committed_db) as client:
        for _ in range(users.THROTTLE):
            assert _sign_in(client, "ministerium", "falsches-passwort-123").status_code == 401
        throttled = _sign_in(client, "ministerium")
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 60
        assert "Zu viele fehlgeschlagene Anmeldungen" in throttled.text
    with committed_db.begin() as conn:  # the window passes
        conn.execute(text("UPDATE login_failure SET at = at - interval '16 minutes'"))
    with app_client(committed_db) as client:
        assert _sign_in(client, "ministerium").status_code == 303


@needs_browser
def test_signing_in_in_a_browser_and_the_sign_in_page_is_accessible(committed_db):
    from selenium.webdriver.common.by import By

    from api.app import create_app
    from tests.helpers import database_url, live_server

    people(committed_db, **{"pruefung.rvr": ("reviewer",)})
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            driver.get(f"{base}/app/login")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "anmelden")
            sign_in(driver, base, "pruefung.rvr")
            driver.get(f"{base}/app/login")
            assert "pruefung.rvr" in driver.find_element(By.CSS_SELECTOR, "header .who").text
    finally:
        driver.quit()


def test_disabling_an_account_names_the_api_tokens_owned_under_its_name(conn):
    """Tokens belong to programs, not accounts, and stay valid; those written with the account's name
    are named, so that the operator can revoke them (found in review: a disabled person's token kept
    working unnoticed)."""
    from landreg.auth import create_token, revoke_token

    users.create_user(conn, "planung.essen", "planner", PASSWORD, ["05113000"])
    own = create_token(conn, "Planung.Essen ", "planner", ["05113000"])[0]
    revoked = create_token(conn, "planung.essen", "planner", ["05113000"])[0]
    revoke_token(conn, revoked)
    create_token(conn, "gis-server.essen", "planner", ["05113000"])
    assert users.disable_user(conn, "planung.essen") == [own]
