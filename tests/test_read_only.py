"""Reads never write: every GET route of the API answers from a role that may only read.

The data (published, unpublished and withdrawn parcels, scores, an import, a plan check, history,
sample parcels and context layers) is written through the ordinary paths; then the app is served
from a role with nothing but SELECT rights whose transactions are read-only, as on a replica, and
every GET route is walked, with every path parameter filled, anonymously and with a planner's and
the ministry's token. A route that writes answers 500 ("cannot execute ... in a read-only
transaction"): the test names it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from landreg import opendata
from landreg.auth import TokenUsage
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm
from tests.routes import build_world, get_routes, path_values, urls_of

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


@pytest.fixture(scope="module")
def world(committed_engine, tmp_path_factory):
    world = build_world(committed_engine, tmp_path_factory.mktemp("upload"))
    with pytest.MonkeyPatch.context() as patch:  # the open data files a refresh wrote; GETs only read them
        patch.setenv("LANDREG_DOWNLOADS_DIR", str(tmp_path_factory.mktemp("downloads")))
        get_settings.cache_clear()
        opendata.refresh(committed_engine)
        yield world
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def reader_url(committed_engine, world):
    """A role that may only read: SELECT rights and read-only transactions by default."""
    url = committed_engine.url
    role = f"{url.database}_reader"
    password = secrets.token_hex(8)
    with committed_engine.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
    yield make_url(url).set(username=role, password=password).render_as_string(hide_password=False)
    with committed_engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


def test_every_get_route_answers_from_a_read_only_role(committed_engine, world, reader_url, caplog, monkeypatch):
    monkeypatch.setenv("LANDREG_METRICS_TOKEN", "scraper-token")  # /metrics is for the operator's scraper
    app = create_app(reader_url)
    values = path_values(world, committed_engine)
    callers = {"anonymous": {}, **world["auth"], "scraper": {"Authorization": "Bearer scraper-token"}}
    problems, answered = [], {}
    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="api.security"):
        app.state.token_usage = TokenUsage(interval=dt.timedelta(0))  # flush on every request
        routes = get_routes(app)
        assert {"/profiles/{name}/parcels/{parcel_id}/explanation", "/maps/{name}"} <= {p for p, _ in routes}
        for path, route in routes:
            for url in urls_of(path, route, values, world):
                for who, headers in callers.items():
                    try:
                        response = client.get(url, headers=headers)
                    except Exception as exc:  # noqa: BLE001 - the app raised: name the route and the cause
                        problems.append(f"{who} GET {url}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                        continue
                    body = response.text
                    if response.status_code >= 500 or "read-only transaction" in body:
                        problems.append(f"{who} GET {url}: {response.status_code} {body[:300]}")
                    answered.setdefault(path, set()).add((who, response.status_code))
    assert not problems, "\n".join(problems)
    # every route really answered (not only refused): the ministry got a 200 from each (/metrics: the scraper)
    unanswered = [p for p, codes in answered.items() if not {("ministry", 200), ("scraper", 200)} & codes]
    assert not unanswered, unanswered
    # token use could not be written on the read-only database: logged, the requests answered
    assert any("could not record token use" in r.getMessage() for r in caplog.records)


def test_the_reader_role_really_cannot_write(reader_url):
    """The guard the test above relies on: a write from this role fails as it would on a replica."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(reader_url)
    try:
        with pytest.raises(DBAPIError, match="read-only transaction"), engine.begin() as conn:
            conn.execute(text("UPDATE api_token SET last_used_at = now()"))
    finally:
        engine.dispose()


def test_every_workspace_page_answers_a_signed_in_person_from_a_read_only_role(committed_engine, world, reader_url):
    """The workspace's pages (``/app``) as a planner, a reviewer and the ministry see them: sessions
    opened on the primary, every page then read from the read-only role. A page that writes (a last
    seen time, a session extended on a read) answers 500 there."""
    from landreg import users
    from tests.web import PASSWORD

    sessions = {}
    with committed_engine.begin() as conn:
        for name, role, ags in (("ro.planung", "planner", ["05913000"]), ("ro.pruefung", "reviewer", None),
                                ("ro.ministerium", "ministry", None)):  # fmt: skip
            users.create_user(conn, name, role, PASSWORD, ags)
            sessions[role] = users.sign_in(conn, name, PASSWORD)[0]
    app = create_app(reader_url)
    values = path_values(world, committed_engine)
    problems, answered = [], {}
    with TestClient(app) as client:
        pages = [(p, r) for p, r in get_routes(app) if p == "/app" or p.startswith("/app/")]
        assert len(pages) > 20, pages
        for path, route in pages:
            for url in urls_of(path, route, values, world):
                for role, session_id in sessions.items():
                    client.cookies.clear()
                    try:
                        cookie = {"Cookie": f"landreg_session={session_id}"}
                        response = client.get(url, headers=cookie, follow_redirects=False)
                    except Exception as exc:  # noqa: BLE001 - the app raised: name the page and the cause
                        problems.append(f"{role} GET {url}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                        continue
                    if response.status_code >= 500 or "read-only transaction" in response.text:
                        problems.append(f"{role} GET {url}: {response.status_code} {response.text[:300]}")
                    answered.setdefault(path, set()).add(response.status_code)
    assert not problems, "\n".join(problems)
    # the sessions were recognised: most pages answered someone with a page, none sent everyone to sign in
    redirected = {p for p, codes in answered.items() if codes == {303} and p != "/app"}  # /app: the role's start
    assert not redirected, redirected
    assert sum(200 in codes for codes in answered.values()) >= len(answered) * 2 // 3, answered
