"""The import page of the workspace (api/web/imports.py): upload, dry run in the browser, confirm,
and the import as one submission waiting for review."""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text

from api.app import create_app
from api.web.imports import KEEP_SECONDS, KeptUploads
from landreg.errors import NotFound
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, database_url, square_at
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

ESSEN, DORTMUND = "05113000", "05913000"
_TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)


def _wgs84(polygon: shapely.Polygon) -> dict:
    return shapely.geometry.mapping(
        shapely.transform(polygon, lambda xy: np.column_stack(_TO_WGS84.transform(xy[:, 0], xy[:, 1])))
    )


def parcels_file(tmp_path, name: str = "reserven.geojson") -> bytes:
    """Three parcels as GeoJSON: two in Essen, the third in Dortmund (an Essen planner's import rejects it)."""
    rows = [
        ("E-IMP-1", "bauluecke", (ESSEN_HBF[0] - 0.003, ESSEN_HBF[1])),
        ("E-IMP-2", "gewerbeflaeche", (ESSEN_HBF[0] + 0.003, ESSEN_HBF[1])),
        ("DO-IMP-1", "bauluecke", DORTMUND_REINOLDIKIRCHE),
    ]
    features = [
        {"type": "Feature", "properties": {"kennung": ref, "kategorie": category, "bemerkung_intern": "x"},
         "geometry": _wgs84(square_at(place, 50))}
        for ref, category, place in rows
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The data directory (where kept uploads live) of the app under test."""
    monkeypatch.setenv("LANDREG_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture
def planners(committed_db, data_dir):
    people(
        committed_db,
        **{
            "planung.essen": ("planner", [ESSEN]),
            "kollegin.essen": ("planner", [ESSEN]),
            "pruefung": ("reviewer",),
        },
    )
    return committed_db


def _client(engine, **state) -> TestClient:
    app = create_app(database_url(engine))
    for name, value in state.items():
        setattr(app.state, name, value)
    return TestClient(app)


def _sign_in(client, username: str) -> str:
    form = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    answer = client.post("/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/app/import").text).group(1)


def upload(client, csrf: str, content: bytes, name: str = "reserven.geojson", **form):
    data = {"csrf_token": csrf, "mode": "keep-valid"} | form
    return client.post("/app/import", files={"file": (name, content)}, data=data, follow_redirects=False)


def count(engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_the_import_page_is_for_planners(planners):
    with _client(planners) as client:
        assert client.get("/app/import", follow_redirects=False).headers["location"].startswith("/app/login")
        _sign_in(client, "pruefung")
        assert client.get("/app/import").status_code == 403
        _sign_in(client, "planung.essen")
        form = client.get("/app/import")
        assert form.status_code == 200 and '<a href="/app/import" aria-current="page">Import</a>' in form.text
        for label in ("Datei", "Gemeinde", "Kategorie (Vorgabe)", "Modus", "Koordinatensystem", "Essen (05113000)"):
            assert label in form.text
        assert 'enctype="multipart/form-data"' in form.text and "256 MiB" in form.text
        english = client.get("/app/import?lang=en").text
        assert "Import parcels" in english and "Check the file (dry run)" in english
        client.get("/app/import?lang=de")


def test_a_dry_run_shows_the_rejected_rows_and_confirming_imports_the_kept_file_as_one_submission(
    planners, data_dir, tmp_path
):
    with _client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        answer = upload(client, csrf, parcels_file(tmp_path), municipality=ESSEN)
        assert answer.status_code == 303, answer.text
        report_url = answer.headers["location"]
        upload_id = report_url.rsplit("/", 1)[1]
        assert re.fullmatch(r"/app/import/[A-Za-z0-9_-]{43}", report_url)
        assert (data_dir / "web-uploads" / upload_id / "file" / "reserven.geojson").is_file()
        assert count(planners, "SELECT count(*) FROM parcel") == 0  # a dry run writes nothing
        assert count(planners, "SELECT count(*) FROM import_run") == 0

        shown = client.get(report_url)
        assert shown.status_code == 200
        rows = re.findall(
            r'<tr><td class="num">(\d+)</td><td>([^<]+) <span class="muted">\((\w+)\)</span></td><td>([^<]+)</td>',
            shown.text,
        )
        assert [(row, name) for row, _, name, _ in rows] == [("3", "ags")]
        assert "05913000" in rows[0][3] and "Dortmund" in rows[0][3]
        assert re.search(r'id="count-rows_read"><strong>3</strong>', shown.text)
        assert re.search(r'id="count-inserted"><strong>2</strong>', shown.text)
        assert re.search(r'id="count-rejected"><strong>1</strong>', shown.text)
        assert "<code>kennung</code>" in shown.text and "<code>kategorie</code>" in shown.text  # the mapping
        assert 'id="confirm"' in shown.text
        assert "Gemeinde: Essen (05113000)" in shown.text and "Gültige Zeilen übernehmen" in shown.text

        done = client.post(report_url, data={"csrf_token": csrf}, follow_redirects=False)
        assert done.status_code == 201, done.text
        submission = count(planners, "SELECT id FROM submission")
        assert f'href="/app/pruefung/{submission}"' in done.text and re.search(
            r'id="count-inserted"><strong>2<', done.text
        )
        assert not (data_dir / "web-uploads" / upload_id).exists()  # deleted after confirming
        again = client.post(report_url, data={"csrf_token": csrf})
        assert again.status_code == 404 and "nicht (mehr)" in again.text  # confirmed once only
    with planners.connect() as conn:
        parcels = conn.execute(text("SELECT local_ref, ags, created_by FROM parcel ORDER BY local_ref")).all()
        state, kind, run = conn.execute(text("SELECT state, kind, import_run_id FROM submission")).one()
        waiting = conn.execute(text("SELECT count(*) FROM submission_parcel WHERE state = 'wartend'")).scalar_one()
    assert [tuple(p) for p in parcels] == [("E-IMP-1", ESSEN, "planung.essen"), ("E-IMP-2", ESSEN, "planung.essen")]
    assert (state, kind, waiting) == ("wartend", "import", 2) and run is not None


def test_all_or_nothing_with_rejected_rows_offers_no_confirmation_and_can_be_discarded(planners, data_dir, tmp_path):
    with _client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        answer = upload(client, csrf, parcels_file(tmp_path), mode="all-or-nothing")
        shown = client.get(answer.headers["location"])
        assert 'id="confirm-blocked"' in shown.text and 'id="confirm"' not in shown.text
        upload_id = answer.headers["location"].rsplit("/", 1)[1]
        discarded = client.post(f"/app/import/{upload_id}/verwerfen", data={"csrf_token": csrf}, follow_redirects=False)
        assert discarded.status_code == 303 and not (data_dir / "web-uploads" / upload_id).exists()
        assert client.get(answer.headers["location"]).status_code == 404


def test_a_foreign_expired_or_made_up_upload_id_is_refused(planners, data_dir, tmp_path):
    with _client(planners) as essen, _client(planners) as colleague:
        csrf = _sign_in(essen, "planung.essen")
        other_csrf = _sign_in(colleague, "kollegin.essen")
        url = upload(essen, csrf, parcels_file(tmp_path)).headers["location"]
        upload_id = url.rsplit("/", 1)[1]
        # someone else of the same municipality: neither sees nor confirms nor discards it
        assert colleague.get(url).status_code == 404
        assert colleague.post(url, data={"csrf_token": other_csrf}).status_code == 404
        assert colleague.post(f"{url}/verwerfen", data={"csrf_token": other_csrf}).status_code == 404
        assert essen.post(url, data={}).status_code == 403  # and without the form's token: refused
        for made_up in ("x" * 43, "%2e%2e%2fupload.json", "..%2F..%2Fetc", "a" * 500):
            assert essen.get(f"/app/import/{made_up}").status_code == 404, made_up
        assert essen.get(url).status_code == 200  # still there for its owner
        # an hour later: gone
        meta = data_dir / "web-uploads" / upload_id / "upload.json"
        stored = json.loads(meta.read_text())
        meta.write_text(json.dumps(stored | {"created": stored["created"] - KEEP_SECONDS - 1}))
        expired = essen.post(url, data={"csrf_token": csrf})
        assert expired.status_code == 404 and "älter als eine Stunde" in expired.text
        assert not (data_dir / "web-uploads" / upload_id).exists()
    assert count(planners, "SELECT count(*) FROM parcel") == 0


def test_kept_uploads_are_swept_after_an_hour(tmp_path):
    store = KeptUploads(tmp_path / "kept", keep_s=KEEP_SECONDS)

    def save(directory):
        (directory / "a.csv").write_text("x")
        return directory / "a.csv"

    old = store.keep("planung.essen", save, {"mode": "keep-valid"})
    an_hour_ago = time.time() - KEEP_SECONDS - 5
    os.utime(old.directory, (an_hour_ago, an_hour_ago))
    new = store.keep("planung.essen", save, {"mode": "keep-valid"})
    assert not old.directory.exists() and new.directory.exists()
    assert store.find(new.id, "planung.essen").file.read_text() == "x"
    taken = store.take(new.id, "planung.essen")
    with pytest.raises(NotFound):
        store.take(new.id, "planung.essen")  # confirmed once only
    assert taken.file.read_text() == "x"
    store.drop(taken)
    assert list((tmp_path / "kept").iterdir()) == []


def test_an_upload_over_the_limit_is_refused_with_a_clear_message(planners, tmp_path):
    with _client(planners, max_upload_bytes=500) as client:
        csrf = _sign_in(client, "planung.essen")
        refused = upload(client, csrf, parcels_file(tmp_path))
        assert refused.status_code == 413
        assert re.search(
            r'id="err-file">[^<]*larger than the limit of 500 bytes \(LANDREG_MAX_UPLOAD_BYTES\)', refused.text
        )
        assert 'aria-invalid="true"' in refused.text and "Datei" in refused.text
    assert count(planners, "SELECT count(*) FROM import_run") == 0


def test_an_upload_is_not_bound_by_the_body_limit_of_other_requests(planners, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDREG_MAX_BODY_BYTES", "1000")
    get_settings.cache_clear()
    content = parcels_file(tmp_path)
    assert len(content) > 1000
    with _client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        assert upload(client, csrf, content).status_code == 303


def test_refusals_name_the_form_field(planners, tmp_path):
    with _client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        wrong_type = upload(client, csrf, b"hello", name="notizen.txt")
        assert wrong_type.status_code == 422 and re.search(
            r'id="err-file">notizen.txt: unsupported file type', wrong_type.text
        )
        no_file = client.post("/app/import", data={"csrf_token": csrf}, files={"x": ("a", b"")})
        assert no_file.status_code == 422 and 'id="err-file"' in no_file.text
        x, y = shapely.get_coordinates(square_at(ESSEN_HBF, 40))[0]
        csv = f"kennung;kategorie;wkt\nE-CSV-1;bauluecke;POINT ({x} {y})\n".encode()
        no_crs = upload(client, csrf, csv, name="liste.csv", category="bauluecke")
        assert no_crs.status_code == 422
        message = re.search(r'id="err-crs">([^<]+)<', no_crs.text).group(1)
        assert (
            "nennt kein Koordinatensystem; geben Sie es unter „Koordinatensystem (EPSG-Code)“ an" in message
            and "„Koordinatensystem (EPSG-Code)“ = 25832" in message
        )
        assert "--crs" not in no_crs.text and 'value="bauluecke" selected' in no_crs.text  # the options kept
        bad_mode = upload(client, csrf, parcels_file(tmp_path), mode="vielleicht")
        assert bad_mode.status_code == 400 and re.search(r'id="err-mode">[^<]*unknown mode', bad_mode.text)
        bad_encoding = upload(client, csrf, parcels_file(tmp_path), encoding="klingonisch")
        assert bad_encoding.status_code == 400 and 'id="err-encoding"' in bad_encoding.text
        bad_category = upload(client, csrf, parcels_file(tmp_path), category="schloss")
        assert bad_category.status_code == 422 and 'id="err-category"' in bad_category.text
        too_long = upload(client, csrf, parcels_file(tmp_path), layer="l" * 300)
        assert too_long.status_code == 422 and 'id="err-layer"' in too_long.text
        no_token = client.post("/app/import", files={"file": ("a.geojson", b"{}")}, data={})
        assert no_token.status_code == 403
    assert count(planners, "SELECT count(*) FROM import_run") == 0
    assert list((get_settings().data_dir / "web-uploads").iterdir()) == []  # nothing kept of refused files


@needs_browser
def test_the_import_in_chromium_dry_run_confirm_and_accessible(planners, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.helpers import live_server

    path = tmp_path / "reserven.geojson"
    path.write_bytes(parcels_file(tmp_path))
    driver = chromium(height=1500)  # the report with its rejected rows in one screenshot
    try:
        with live_server(create_app(database_url(planners))) as base:
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/import")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.find_element(By.ID, "f-file").send_keys(str(path))
            driver.find_element(By.ID, "mode-keep-valid").click()
            driver.find_element(By.ID, "check").click()
            wait = WebDriverWait(driver, 30)
            wait.until(lambda d: d.find_elements(By.ID, "rejections"))
            assert "05913000" in driver.find_element(By.ID, "rejections").text
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "import")
            driver.find_element(By.ID, "confirm").click()
            wait.until(lambda d: d.find_elements(By.ID, "done"))
            link = driver.find_element(By.ID, "to-review").get_attribute("href")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
    finally:
        driver.quit()
    submission = count(planners, "SELECT id FROM submission WHERE state = 'wartend'")
    assert link.endswith(f"/app/pruefung/{submission}")
    assert count(planners, "SELECT count(*) FROM parcel") == 2
