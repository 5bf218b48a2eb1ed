"""Imports a careless client or a killed process cannot break (issue 20, the import's part).

* Half-done imports: what an import commits is scored in its transaction, or found by the
  "unscored" query (``/ready``) and scored by ``landreg score --missing``.
* Rejections: the report holds the first 10,000 in full and counts every one; the keep-valid file
  of rejected rows still gets every row.
* Uploads: no answer names a server path; every form field's bad value is a clear 4xx naming it;
  the importer's messages name form fields over HTTP and flags on the command line.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from landreg.importer import ImportOptions, import_file
from landreg.importer.report import KEPT_MAX, OTHER_REASONS
from landreg.scoring import ensure_default_profiles
from landreg.scoring import unscored as unscored_parcels
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


@pytest.fixture
def scored_registry(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    return committed_db


def unscored_of(engine) -> int:
    with engine.connect() as conn:
        return unscored_parcels.count(conn)


def ready_count(client, expected: int, since: float) -> dict:
    """/ready's body once its count of unscored parcels was taken after ``since`` (counted in the
    background: the first answers may still carry the previous count)."""
    client.app.state.unscored_max_age_s = 0
    deadline = time.monotonic() + 20
    while True:
        body = client.get("/ready").json()
        counted_at = body["unscored_counted_at"]
        fresh = counted_at is not None and pd.Timestamp(counted_at).timestamp() >= since
        if (fresh and body["unscored_parcels"] == expected) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def upload(client, path, headers, name=None, **form):
    with open(path, "rb") as f:
        return client.post("/imports", files={"file": (name or path.name, f)}, data=form, headers=headers)


# -- 1. half-done imports --------------------------------------------------------------------
def test_an_import_killed_before_scoring_is_reported_by_ready_and_scored_by_score_missing(scored_registry, tmp_path):
    url = database_url(scored_registry)
    path = tmp_path / "reserven.gpkg"
    parcels(["bauluecke"] * 5).to_file(path)
    # the process "dies" after its commit and before scoring: simulated by an import told not to score
    imported = landreg("import", str(path), "--no-score", LANDREG_DATABASE_URL=url)
    assert imported.returncode == 0, imported.stderr
    assert "5 new or changed parcels are not scored yet" in imported.stdout
    with app_client(scored_registry) as client:
        since = time.time()
        body = ready_count(client, 5, since)
        assert (client.get("/ready").status_code, body["status"], body["unscored_parcels"]) == (200, "ok", 5)

        missing = landreg("score", "--missing", LANDREG_DATABASE_URL=url)
        assert missing.returncode == 0, missing.stderr
        assert "scored 5 parcels" in missing.stdout
        assert ready_count(client, 0, time.time())["unscored_parcels"] == 0
    assert unscored_of(scored_registry) == 0


def test_many_unscored_parcels_are_scored_by_a_full_run(scored_registry, tmp_path, monkeypatch):
    """More missing scores than an import scores in its transaction: ``score --missing`` runs the full,
    parallel scoring (as after a large import), not chunk after chunk on one connection."""
    from typer.testing import CliRunner

    from landreg import cli
    from landreg.settings import get_settings

    path = tmp_path / "reserven.gpkg"
    parcels(["bauluecke", "brachflaeche", "industrieflaeche", "gewerbeflaeche"]).to_file(path)
    with scored_registry.begin() as conn:
        import_file(conn, path, ImportOptions(actor="t", score=False))
    assert unscored_of(scored_registry) == 4
    runs = "SELECT count(*) FROM scoring_run"
    with scored_registry.connect() as conn:
        before = conn.execute(text(runs)).scalar_one()
        profiles = conn.execute(text("SELECT count(DISTINCT name) FROM scoring_profile")).scalar_one()
    monkeypatch.setattr(cli, "SCORE_IN_IMPORT_MAX", 3)
    monkeypatch.setenv("LANDREG_DATABASE_URL", database_url(scored_registry))
    get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(cli.commands(), ["score", "--missing", "--all-indicators"])
        result = CliRunner().invoke(cli.commands(), ["score", "--missing"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code != 0 and "leave out --all-indicators" in refused.output
    assert result.exit_code == 0, result.output
    assert "4 parcels with a missing or stale score (more than 3): a full run" in result.output
    assert "indicators computed for parcels: 4 of 4" in result.output
    assert unscored_of(scored_registry) == 0
    with scored_registry.connect() as conn:  # a full run: recorded once per profile (a chunk records none)
        assert conn.execute(text(runs)).scalar_one() == before + profiles


def test_scores_lost_after_the_commit_are_found_and_scored_again(scored_registry, tmp_path):
    """The other way to leave parcels unscored: their scores deleted after the import committed."""
    path = tmp_path / "reserven.gpkg"
    parcels(["bauluecke", "brachflaeche", "industrieflaeche"]).to_file(path)
    with scored_registry.begin() as conn:
        report = import_file(conn, path, ImportOptions(actor="t"))
    assert (report.scored, report.unscored) == (3, 0) and unscored_of(scored_registry) == 0
    with scored_registry.begin() as conn:
        conn.execute(
            text("DELETE FROM parcel_score WHERE parcel_id IN (SELECT id FROM parcel WHERE local_ref <> 'R-0-0')")
        )
    assert unscored_of(scored_registry) == 2
    missing = landreg("score", "--missing", LANDREG_DATABASE_URL=database_url(scored_registry))
    assert missing.returncode == 0 and "scored 2 parcels" in missing.stdout, missing.stdout + missing.stderr
    assert unscored_of(scored_registry) == 0


def test_a_score_of_an_older_version_counts_as_missing(scored_registry, tmp_path):
    path = tmp_path / "reserven.gpkg"
    parcels(["bauluecke"] * 2).to_file(path)
    with scored_registry.begin() as conn:
        import_file(conn, path, ImportOptions(actor="t"))
        # changed behind the importer's back (as a write without rescoring would): its score is of version 1
        conn.execute(text("UPDATE parcel SET name = 'neu' WHERE local_ref = 'R-0-1'"))
    assert unscored_of(scored_registry) == 1


def test_an_import_larger_than_its_scoring_limit_leaves_its_parcels_to_be_found(scored_registry, tmp_path):
    """Above ``score_max`` an import commits unscored (the command line then runs a full recompute)."""
    path = tmp_path / "reserven.gpkg"
    parcels(["bauluecke"] * 3).to_file(path)
    with scored_registry.begin() as conn:
        report = import_file(conn, path, ImportOptions(actor="t", score_max=2))
    assert (report.scored, report.unscored) == (0, 3) and unscored_of(scored_registry) == 3
    with scored_registry.begin() as conn:
        assert unscored_parcels.score_missing(conn) == 3
    assert unscored_of(scored_registry) == 0


def test_an_upload_is_scored_by_the_time_it_answers(scored_registry, tmp_path):
    path = tmp_path / "reserven.gpkg"
    parcels(["bauluecke", "bauluecke", "gewerbeflaeche", "gewerbeflaeche"]).to_file(path)
    headers = bearers(scored_registry, planner=PLANNER)["planner"]
    with app_client(scored_registry) as client:
        response = upload(client, path, headers)
    assert response.status_code == 201, response.text
    assert (response.json()["scored"], response.json()["unscored"]) == (4, 0)
    with scored_registry.connect() as conn:
        scores = conn.execute(
            text("""
            SELECT p.local_ref, count(s.*) FROM parcel p
              LEFT JOIN parcel_score s ON s.parcel_id = p.id AND s.parcel_version = p.version
             GROUP BY 1 ORDER BY 1""")
        ).all()
    assert all(n >= 1 for _, n in scores) and len(scores) == 4, scores
    assert unscored_of(scored_registry) == 0


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
    assert refused.headers["connection"] == "close"
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
    # the fix, named as each caller gives it; the CRS the coordinates' values suggest
    suggested = "by their values the coordinates are ETRS89 / UTM 32N"
    assert body["field"] == "crs" and f"give it with the form field crs: {suggested} (crs=25832)" in body["detail"]
    assert "--crs" not in body["detail"]
    cli = landreg("import", str(path), LANDREG_DATABASE_URL=database_url(committed_db))
    assert cli.returncode == 2 and f"give it with --crs: {suggested} (--crs 25832)" in cli.stderr, cli.stderr
    assert "form field" not in cli.stderr


def test_text_in_another_encoding_is_a_422_asking_for_it(committed_db, tmp_path):
    x, y = utm(*DO)
    path = tmp_path / "umlaute.csv"
    # DOS (cp850): "ü" is a byte Windows-1252 does not define, so the encoding cannot be guessed
    path.write_bytes(
        f'ref;kategorie;wkt\nA;Baulücke;"POLYGON(({x} {y},{x + 9} {y},{x + 9} {y + 9},{x} {y}))"\n'.encode("cp850")
    )
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client:
        refused = upload(client, path, headers, crs="25832")
        read = upload(client, path, headers, crs="25832", encoding="cp850")
    assert (refused.status_code, refused.json()["field"]) == (422, "encoding"), refused.text
    assert "give the file's encoding with the form field encoding, e.g. encoding=cp1252" in refused.json()["detail"]
    assert read.status_code == 201, read.text
    assert read.json()["encoding"] == "cp850"
