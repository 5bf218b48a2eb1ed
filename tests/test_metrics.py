"""/metrics: counters move with requests, labels are route templates, only trusted callers read it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.metrics import record_cache
from landreg.importer import ImportOptions, import_file
from tests.helpers import DORTMUND_REINOLDIKIRCHE, database_url, live_server, utm

LOOPBACK = ("127.0.0.1", 41000)
ROOT = Path(__file__).resolve().parent.parent


def samples(body: str) -> dict[tuple, float]:
    """Every sample of the exposition as {(name, sorted labels): value}, parsed by prometheus-client."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client(committed_db):
    with TestClient(create_app(database_url(committed_db)), client=LOOPBACK) as client:
        yield client


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def test_requests_are_counted_by_route_template_and_status(client):
    template = "/collections/{collectionId}/items/{featureId}"
    before = scrape(client)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for feature in ids:
        assert client.get(f"/collections/parcels/items/{feature}").status_code == 404
    assert client.get("/collections").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)

    counted = "landreg_http_requests_total"
    assert (
        value(after, counted, method="GET", route=template, status="404")
        - value(before, counted, method="GET", route=template, status="404")
        == 3
    )
    assert (
        value(after, counted, method="GET", route="/collections", status="200")
        - value(before, counted, method="GET", route="/collections", status="200")
        == 1
    )
    assert (
        value(after, counted, method="GET", route="<unmatched>", status="404")
        - value(before, counted, method="GET", route="<unmatched>", status="404")
        == 1
    )
    routes = {dict(labels).get("route") for (_, labels) in after}
    assert not any(feature in str(route) for route in routes for feature in ids)  # never the raw path
    assert "/no/such/page" not in routes

    histogram = "landreg_http_request_duration_seconds_count"
    assert (
        value(after, histogram, method="GET", route=template) - value(before, histogram, method="GET", route=template)
        == 3
    )
    assert value(after, "landreg_http_request_duration_seconds_bucket", method="GET", route=template, le="+Inf") >= 3


def test_methods_no_route_knows_are_counted_as_one_series_not_one_each(client):
    """A client choosing its method must not grow /metrics by a series per made-up method."""
    before = scrape(client)
    for method in ("PROPFIND", "BREW", "X-SCAN-1", "X-SCAN-2"):
        assert client.request(method, "/collections").status_code == 405
    after = scrape(client)
    counted = "landreg_http_requests_total"
    other = dict(method="OTHER", route="/collections", status="405")
    assert value(after, counted, **other) - value(before, counted, **other) == 4
    methods = {dict(labels).get("method") for (name, labels) in after if name == counted}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}, methods


def test_pool_cache_and_import_figures(client, committed_db, tmp_path):
    found = scrape(client)
    pools = {dict(labels)["state"]: v for (name, labels), v in found.items() if name == "landreg_db_pool_connections"}
    engine = client.app.state.engine
    primary = getattr(engine, "primary", engine)
    assert pools["limit"] == primary.pool.size() + primary.pool._max_overflow
    assert 1 <= pools["open"] <= pools["limit"] and pools["in_use"] >= 0

    before_hits = value(found, "landreg_cache_requests_total", cache="tiles", result="hit")
    record_cache(True, "tiles")
    record_cache(True, "tiles")
    record_cache(False, "tiles")
    after = scrape(client)
    assert value(after, "landreg_cache_requests_total", cache="tiles", result="hit") - before_hits == 2
    assert value(after, "landreg_cache_requests_total", cache="tiles", result="miss") >= 1

    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    rows = gpd.GeoDataFrame(
        {"Flächen-Nr": ["M-1", "M-2", "M-3"], "Kategorie": ["Brache", "Baulücke", "Fantasie"]},
        geometry=[shapely.box(x + i * 100, y, x + i * 100 + 40, y + 40) for i in range(3)],
        crs=25832,
    )
    path = tmp_path / "metrics.gpkg"
    rows.to_file(path)
    with committed_db.begin() as conn:
        refused = import_file(conn, path, ImportOptions(actor="t"))  # all or nothing: one bad category
        kept = import_file(conn, path, ImportOptions(actor="t", mode="keep-valid"))
    assert (refused.status, kept.status, kept.inserted) == ("rejected", "committed", 2)
    imported = scrape(client)
    assert value(imported, "landreg_imports_total", status="rejected") == 1
    assert value(imported, "landreg_imports_total", status="committed") == 1
    assert value(imported, "landreg_import_rows_total", outcome="inserted") == 2
    assert value(imported, "landreg_import_rows_total", outcome="rejected") == 2  # one in each run
    assert value(imported, "landreg_import_rows_total", outcome="read") == 6


def test_metrics_are_refused_to_other_hosts_and_wrong_tokens(committed_db, monkeypatch):
    app = create_app(database_url(committed_db))
    with TestClient(app, client=("203.0.113.7", 5000)) as outside:
        refused = outside.get("/metrics")
        assert refused.status_code == 403
        assert "LANDREG_METRICS_TOKEN" in refused.json()["detail"]
        monkeypatch.setenv("LANDREG_METRICS_TOKEN", "s3cret-metrics-token")
        assert outside.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert outside.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"}).status_code == 200
    monkeypatch.setenv("LANDREG_METRICS_ALLOW_LOOPBACK", "false")
    with TestClient(app, client=LOOPBACK) as local:
        assert local.get("/metrics").status_code == 403
        assert local.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"}).status_code == 200


def test_behind_a_proxy_the_forwarded_client_counts_not_the_proxy(committed_db):
    """uvicorn takes X-Forwarded-For from a proxy on loopback: a visitor from outside is refused."""
    with live_server(create_app(database_url(committed_db))) as url:
        assert httpx.get(f"{url}/metrics").status_code == 200
        assert httpx.get(f"{url}/metrics", headers={"X-Forwarded-For": "198.51.100.20"}).status_code == 403


_WORKER = """
import sys
from api.metrics import REQUESTS, record_cache
for _ in range(int(sys.argv[1])):
    REQUESTS.labels("GET", "/collections", "200").inc()
    record_cache(True, "tiles")
"""
_SCRAPE = """
import json
from api.metrics import exposition
from prometheus_client.parser import text_string_to_metric_families
body = exposition(None).decode()
print(json.dumps({s.name + str(sorted(s.labels.items())): s.value
                  for f in text_string_to_metric_families(body) for s in f.samples}))
"""


def test_multiprocess_mode_adds_up_the_workers(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, what two worker processes counted is served by a third."""
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", _WORKER, str(n)], env=env, check=True, cwd=ROOT)
    out = subprocess.run([sys.executable, "-c", _SCRAPE], env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    found = json.loads(out.stdout)
    assert found["landreg_http_requests_total[('method', 'GET'), ('route', '/collections'), ('status', '200')]"] == 7
    assert found["landreg_cache_requests_total[('cache', 'tiles'), ('result', 'hit')]"] == 7
