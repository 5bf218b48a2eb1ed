"""Imports a careless client or a killed process cannot break (issue 20, the import's part).

* Rejections: the report holds the first 10,000 in full and counts every one; the keep-valid file
  of rejected rows still gets every row.
* Uploads: no answer names a server path; every form field's bad value is a clear 4xx naming it;
  the importer's messages name form fields over HTTP and flags on the command line.
"""

from __future__ import annotations

import os
import tempfile
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from landreg.importer import ImportOptions, import_file
from landreg.importer.report import KEPT_MAX, OTHER_REASONS
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, database_url, utm
from tests.test_cli import landreg

DO = DORTMUND_REINOLDIKIRCHE
PLANNER = ("planer.dortmund", "planner", ["05913000"])


def parcels(categories: list[str], north_m: float = 0) -> gpd.GeoDataFrame:
    """Squares of 20 m on a grid of 30 m in Dortmund (100 a row), one per category given."""
    x, y = utm(*DO)
    y += north_m
    return gpd.GeoDataFrame(
        {"ref": [f"R-{north_m:.0f}-{i}" for i in range(len(categories))], "category": categories},
        geometry=[shapely.box(x + 30 * (i % 100), y + 30 * (i // 100), x + 30 * (i % 100) + 20, y + 30 * (i // 100) + 20)
                  for i in range(len(categories))],
        crs=25832,
    )  # fmt: skip


def csv_of(path, categories: list[str]):
    """A CSV (WKT in EPSG:25832) of parcels with these categories."""
    frame = parcels(categories)
    pd.DataFrame({"ref": frame["ref"], "category": frame["category"], "wkt": frame.geometry.to_wkt()}).to_csv(
        path, index=False
    )
    return path


def bad_category_csv(path, bad: int, good: int = 0):
    """``bad`` rows with an unknown category, then ``good`` valid ones."""
    return csv_of(path, ["Wiese"] * bad + ["bauluecke"] * good)


def upload(client, path, headers, name=None, **form):
    with open(path, "rb") as f:
        return client.post("/imports", files={"file": (name or path.name, f)}, data=form, headers=headers)


# -- 2. rejections: the first 10,000 in full, every one counted --------------------------------
def test_the_report_holds_the_first_rejections_and_counts_all(conn, tmp_path):
    path = bad_category_csv(tmp_path / "wiese.csv", bad=12_000, good=3)
    report = import_file(conn, path, ImportOptions(actor="t", crs="25832", mode="keep-valid"))
    assert (report.status, report.inserted, report.rejected) == ("committed", 3, 12_000)
    assert len(report.rejections) == KEPT_MAX and report.rejections_omitted == 2_000
    assert [i.row for i in report.rejections[:2]] == [1, 2] and report.rejections[-1].row == KEPT_MAX
    [(reason, n)] = report.rejection_counts["category"].items()
    assert n == 12_000 and "unknown value 'Wiese'" in reason
    lines = report.lines()
    assert "  … and 11950 more" in lines and any(line.strip().startswith("12000 × category") for line in lines)
    # the file of rejected rows gets every one of them
    rejected = pd.read_csv(report.rejected_file)
    assert len(rejected) == 12_000 and rejected["source_row"].tolist() == list(range(1, 12_001))
    assert rejected["import_errors"].str.contains("unknown value 'Wiese'").all()
    stored = conn.execute(text("SELECT report FROM import_run WHERE id = :id"), {"id": report.import_id}).scalar_one()
    assert (len(stored["rejections"]), stored["rejections_omitted"], stored["rejected"]) == (KEPT_MAX, 2_000, 12_000)
    assert stored["truncated"] is True


def test_counts_by_reason_are_bounded_too(conn, tmp_path):
    """25 distinct bad values: 20 reasons counted one by one, the other 5 together, the total exact."""
    path = csv_of(tmp_path / "many.csv", [f"Wiese {i}" for i in range(25)])
    report = import_file(conn, path, ImportOptions(actor="t", crs="25832"))
    counts = report.rejection_counts["category"]
    assert len(counts) == 21 and counts[OTHER_REASONS] == 5 and sum(counts.values()) == 25


def test_an_upload_answers_the_first_rejections_and_how_many_more(committed_db, tmp_path):
    path = bad_category_csv(tmp_path / "wiese.csv", bad=10_050)
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client:
        body = upload(client, path, headers, crs="25832").json()
    assert (body["status"], body["rejected"], len(body["rejections"])) == ("rejected", 10_050, KEPT_MAX)
    assert body["rejections_omitted"] == 50 and sum(body["rejection_counts"]["category"].values()) == 10_050


# -- 3. no server paths in any answer ----------------------------------------------------------
def _server_paths() -> list[str]:
    return sorted({"/tmp", tempfile.gettempdir(), os.getcwd(), os.path.realpath(os.getcwd())})


def test_refused_uploads_name_no_server_path(committed_db, tmp_path):
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    x, y = utm(*DO)
    broken = {
        "kaputt.gpkg": b"SQLite format 3\x00" + b"x" * 500,
        "kaputt.xlsx": b"PK\x03\x04 not a spreadsheet",
        "kaputt.zip": b"PK\x03\x04 not an archive",
        "ohne-crs.csv": f'ref,category,wkt\nA,bauluecke,"POLYGON(({x} {y},{x + 9} {y},{x + 9} {y + 9},{x} {y}))"\n'.encode(),
        "umlaute.csv": "ref;kategorie;wkt\nA;Baulücke;POINT(1 2)\n".encode("cp1252"),
        "abgeschnitten.geojson": b'{"type": "FeatureCollection", "features": [{"type": "Feature", ',
    }
    with app_client(committed_db) as client:
        answers = []
        for name, content in broken.items():
            (tmp_path / name).write_bytes(content)
            answers.append(upload(client, tmp_path / name, headers))
        zipped = tmp_path / "zip-ohne-shp.zip"
        with zipfile.ZipFile(zipped, "w") as archive:
            archive.writestr("a.shp", b"garbage" * 10)
        answers.append(upload(client, zipped, headers))
        # a client file name with directories in it: the server keeps only its name
        answers.append(upload(client, tmp_path / "kaputt.gpkg", headers, name="/etc/../../kaputt.gpkg"))
    for response in answers:
        assert 400 <= response.status_code < 500, response.text
        for path in _server_paths():
            assert path not in response.text, response.text
    assert "kaputt.gpkg" in answers[0].json()["detail"]


def test_the_stored_report_over_http_has_no_server_path(committed_db, tmp_path):
    """A command-line import records where it wrote the rejected rows; over HTTP that path is left out."""
    path = bad_category_csv(tmp_path / "gemischt.csv", bad=1, good=1)
    with committed_db.begin() as conn:
        report = import_file(conn, path, ImportOptions(actor="planer.dortmund", crs="25832", mode="keep-valid"))
    assert report.rejected_file and str(tmp_path) in report.rejected_file
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client:
        stored = client.get(f"/imports/{report.import_id}", headers=headers)
        kept = upload(client, path, headers, crs="25832", mode="keep-valid")
    assert stored.status_code == 200 and stored.json()["rejected"] == 1
    assert "rejected_file" not in stored.json() and str(tmp_path) not in stored.text
    assert kept.status_code == 201 and "rejected_file" not in kept.json()
    for path in _server_paths():
        assert path not in kept.text


# -- 4. every form field: a clear 4xx naming it ------------------------------------------------
@pytest.fixture
def csv_25832(tmp_path):
    return bad_category_csv(tmp_path / "liste.csv", bad=0, good=2)


@pytest.mark.parametrize(
    ("form", "code", "field", "words"),
    [
        ({"encoding": "foo"}, 400, "encoding", ["'foo'", "utf-8", "cp1252", "latin-1"]),
        ({"encoding": "rot13"}, 400, "encoding", ["'rot13'"]),
        ({"encoding": "utf-16"}, 422, "encoding", ["not valid utf-16", "encoding=cp1252"]),
        ({"mode": "sometimes"}, 400, "mode", ["'sometimes'", "all-or-nothing or keep-valid"]),
        ({"crs": "EPSG:nonsense"}, 400, "crs", ["unknown CRS"]),
        ({"crs": "4326"}, 422, "crs", ["look like projected metres", "crs=25832"]),
        ({"layer": "nope"}, 422, "layer", ["no layer 'nope'"]),
        ({"category": "Wiese"}, 422, "category", ["the form field category", "unknown value 'Wiese'"]),
        ({"municipality": "Dortmund"}, 422, "municipality", ["the form field municipality", "8-digit AGS"]),
        ({"dry_run": "maybe"}, 400, "dry_run", ["dry_run"]),
        ({"retire_missing": "perhaps"}, 400, "retire_missing", ["retire_missing"]),
    ],
)
def test_a_bad_form_field_is_a_clear_4xx_naming_it(committed_db, csv_25832, form, code, field, words):
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    form = {"crs": "25832"} | form
    with app_client(committed_db) as client:
        response = upload(client, csv_25832, headers, **form)
    body = response.json()
    assert (response.status_code, body["status"], body.get("field")) == (code, code, field), body
    assert all(word in body["detail"] for word in words), body["detail"]
    assert "--" not in body["detail"]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("mapping.yaml", b"columns: [unclosed", ["mapping.yaml", "is not valid YAML", "line 1"]),
        ("mapping.yaml", b"columns:\n  - a\n  - b\n", ["the section columns must be a mapping"]),
        ("mapping.yaml", b"values:\n  category: gewerbe\n", ["values of 'category' must map"]),
        ("mapping.yaml", b"values:\n  category:\n    X: wiese\n", ["'X' of 'category' maps to 'wiese'"]),
        ("mapping.yaml", "columns:\n  Fläche: local_ref\n".encode("cp1252"), ["is not UTF-8 text"]),
        ("mapping.txt", b"columns: {}", ["unsupported file type", ".yaml"]),
    ],
)
def test_a_bad_mapping_file_is_a_422_naming_the_field(committed_db, csv_25832, name, content, words):
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client, open(csv_25832, "rb") as f:
        response = client.post(
            "/imports",
            files={"file": (csv_25832.name, f), "mapping": (name, content)},
            data={"crs": "25832"},
            headers=headers,
        )
    body = response.json()
    assert (response.status_code, body.get("field")) == (422, "mapping"), body
    assert all(word in body["detail"] for word in words), body["detail"]


def test_an_upload_over_the_limit_is_a_413_naming_it(committed_db, csv_25832, tmp_path):
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    big = bad_category_csv(tmp_path / "gross.csv", bad=0, good=40)
    with app_client(committed_db) as client:
        client.app.state.max_upload_bytes = 2_000
        small = upload(client, csv_25832, headers, crs="25832")
        refused = upload(client, big, headers, crs="25832")

        def chunks():  # no Content-Length: counted as the bytes arrive
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="gross.csv"\r\n\r\n'
            for _ in range(10):
                yield b"y" * 1_000
            yield b"\r\n--x--\r\n"

        streamed = client.post(
            "/imports", content=chunks(), headers=headers | {"Content-Type": "multipart/form-data; boundary=x"}
        )
    assert small.status_code == 201, small.text
    for response in (refused, streamed):
        body = response.json()
        assert (response.status_code, body.get("field")) == (413, "file"), body
        assert "2,000 bytes" in body["detail"] and "LANDREG_MAX_UPLOAD_BYTES" in body["detail"]
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel")).scalar_one() == 2


# -- 5. the same message: a flag on the command line, a form field over HTTP --------------------
def test_a_missing_crs_is_named_as_the_caller_passes_it(committed_db, tmp_path):
    x, y = utm(*DO)
    path = tmp_path / "ohne-crs.csv"
    path.write_text(f'ref,category,wkt\nA,bauluecke,"POLYGON(({x} {y},{x + 9} {y},{x + 9} {y + 9},{x} {y}))"\n')
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client:
        body = upload(client, path, headers).json()
    assert body["field"] == "crs" and "give it with the form field crs (e.g. crs=25832" in body["detail"]
    assert "--crs" not in body["detail"]
    cli = landreg("import", str(path), LANDREG_DATABASE_URL=database_url(committed_db))
    assert cli.returncode == 2 and "give it with --crs (e.g. --crs 25832" in cli.stderr, cli.stderr
    assert "form field" not in cli.stderr


def test_text_in_another_encoding_is_a_422_asking_for_it(committed_db, tmp_path):
    x, y = utm(*DO)
    path = tmp_path / "umlaute.csv"
    path.write_bytes(
        f'ref;kategorie;wkt\nA;Baulücke;"POLYGON(({x} {y},{x + 9} {y},{x + 9} {y + 9},{x} {y}))"\n'.encode("cp1252")
    )
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client:
        refused = upload(client, path, headers, crs="25832")
        read = upload(client, path, headers, crs="25832", encoding="cp1252")
    assert (refused.status_code, refused.json()["field"]) == (422, "encoding"), refused.text
    assert "give the file's encoding with the form field encoding, e.g. encoding=cp1252" in refused.json()["detail"]
    assert read.status_code == 201, read.text
