"""The request log: one JSON line per request, the request id round trip and in pg_stat_activity."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api import logs
from api.app import create_app
from landreg.db import REQUEST_ID, make_engine
from tests.helpers import bearers, database_url, live_server


@pytest.fixture
def lines(monkeypatch):
    """The request log's lines, parsed."""
    buffer = io.StringIO()
    logs.configure(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for handler in list(logs.log.handlers):
        logs.log.removeHandler(handler)


@pytest.fixture
def client(committed_db):
    with TestClient(create_app(database_url(committed_db))) as client:
        yield client


def test_one_json_line_per_request_with_the_callers_request_id(client, lines):
    response = client.get("/collections/parcels/items/no-such-id", headers={"X-Request-ID": "edge-4711.a_b"})
    assert response.headers["x-request-id"] == "edge-4711.a_b"
    (line,) = [entry for entry in lines() if entry["request_id"] == "edge-4711.a_b"]
    assert line["method"] == "GET"
    assert line["route"] == "/collections/{collectionId}/items/{featureId}"
    assert line["path"] == "/collections/parcels/items/no-such-id"
    assert line["status"] == response.status_code
    assert line["level"] == ("warning" if response.status_code >= 400 else "info")
    assert 0 < line["duration_ms"] < 10_000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert "user" not in line  # nobody signed in


@pytest.mark.parametrize("given", ["a" * 65, "id with spaces", "<script>", "", "ok/../x", "ä"])
def test_a_malformed_request_id_is_replaced(client, lines, given):
    response = client.get("/conformance", headers={"X-Request-ID": given.encode()})
    new = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", new)
    assert [entry["request_id"] for entry in lines()] == [new]


def test_a_generated_id_without_a_header(client, lines):
    first, second = client.get("/conformance"), client.get("/conformance")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert [entry["request_id"] for entry in lines()] == [first.headers["x-request-id"], second.headers["x-request-id"]]


def test_the_caller_is_named_and_the_token_never_written(client, committed_db, lines):
    headers = bearers(committed_db, planner=("planer.essen", "planner", ["05113000"]))["planner"]
    response = client.get("/collections/parcels/items?limit=1", headers=headers | {"X-Request-ID": "with-token"})
    assert response.status_code == 200
    (line,) = [entry for entry in lines() if entry["request_id"] == "with-token"]
    assert (line["user"], line["role"]) == ("planer.essen", "planner")
    token = headers["Authorization"].split()[1]
    assert token not in json.dumps(lines())
    assert "Authorization" not in json.dumps(lines())


def _seen_by_the_server(engine) -> tuple[str, str]:
    """The session's application_name and its running statement, as pg_stat_activity shows them."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT application_name, query FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        ).one()


def test_the_request_id_names_the_session(committed_db):
    """Statements are prepared (their text the same for every request): the id follows the engine's
    name in application_name while the request runs, and goes when the connection serves no request."""
    engine = make_engine(database_url(committed_db), serving=True, application_name="landreg-primary")
    token = REQUEST_ID.set("core-check-1")
    try:
        name, query = _seen_by_the_server(engine)
        assert name == "landreg-primary core-check-1"
        assert query.startswith("SELECT application_name, query FROM pg_stat_activity")
        REQUEST_ID.set("core-check-2")
        assert _seen_by_the_server(engine)[0] == "landreg-primary core-check-2"
    finally:
        REQUEST_ID.reset(token)
    try:
        assert _seen_by_the_server(engine)[0] == "landreg-primary"  # background work after it
    finally:
        engine.dispose()


def test_without_prepared_statements_the_request_id_comes_before_each_statement(committed_db, settings):
    """For a pooler that cannot keep prepared statements: the id as a comment, the name unchanged."""
    settings(DB_PREPARED_STATEMENTS="false")
    engine = make_engine(database_url(committed_db), serving=True, application_name="landreg-primary")
    token = REQUEST_ID.set("core-check-1")
    try:
        name, query = _seen_by_the_server(engine)
    finally:
        REQUEST_ID.reset(token)
        engine.dispose()
    assert name == "landreg-primary"
    assert query.startswith("/* request_id=core-check-1 */ SELECT application_name, query FROM pg_stat_activity")


def test_a_running_request_is_found_in_pg_stat_activity_by_its_id(committed_db):
    """A request blocked on a lock the test holds: its statement, under its id, is seen from outside."""
    found: list[str] = []
    with live_server(create_app(database_url(committed_db))) as url:
        httpx.get(f"{url}/conformance")  # the server is up and its pool warm
        with committed_db.connect() as blocker:
            blocker.execute(text("LOCK TABLE parcel IN ACCESS EXCLUSIVE MODE"))
            answer: list[httpx.Response] = []
            request = threading.Thread(
                target=lambda: answer.append(
                    httpx.get(
                        f"{url}/collections/parcels/items?limit=1", headers={"X-Request-ID": "blocked-42"}, timeout=30
                    )
                )
            )
            request.start()
            with committed_db.connect() as observer:
                for _ in range(100):
                    found = (
                        observer.execute(
                            text(
                                "SELECT query FROM pg_stat_activity WHERE application_name = 'landreg-primary blocked-42'"
                            )
                        )
                        .scalars()
                        .all()
                    )
                    if found:
                        break
                    observer.rollback()  # pg_stat_activity is read once per transaction
                    time.sleep(0.05)
            blocker.rollback()  # lets the request go on
        request.join(timeout=30)
    assert found and "SELECT" in found[0]  # the items query (its text cut at 1 kB: track_activity_query_size)
    assert answer and answer[0].status_code == 200
    assert answer[0].headers["x-request-id"] == "blocked-42"
