"""Municipal files as they come (issue 15): read by their content, their sheet, encoding and geometry
columns found, GeoJSON in metres, messages that lead to the fix on each channel, ignored columns and
parcels along the generalised municipal borders.

Fixtures in tests/data/import (made by ``make.py`` there; parcels in Dortmund): a workbook saved as
``flaechen-excel.csv``, a two-sheet ``flaechen.ods``, Excel's CSV (semicolons, Windows-1252, decimal
commas), its "Unicode text" (UTF-16, tabs, ``.txt``), a ``sep=|`` line, GeoX/GeoY points,
Easting/Northing beside outlines in a column "Location", EWKT, GeoJSON in metres with no or a wrong
``crs`` member, a wrong AGS column, GML and an old ``.xls``. Each case is copied to a temporary
directory before it is read (GDAL and keep-valid write beside a file).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import shapely.affinity
from sqlalchemy import text

from landreg.importer import ImportOptions, ImportRefused, import_file, load
from landreg.importer.refusals import command_line, form_field, listing
from landreg.importer.report import ImportReport
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, database_url, utm
from tests.test_cli import landreg

DATA = Path(__file__).parent / "data" / "import"
DO = DORTMUND_REINOLDIKIRCHE
X, Y = utm(*DO)
PLANNER = ("planer.dortmund", "planner", ["05913000"])
NAMES = {"F-1": "Lücke Kampstraße", "F-2": "Zeche Süd", "F-3": "Gewerbe Ost"}


def fixture(tmp_path, name: str, as_name: str | None = None) -> Path:
    target = tmp_path / (as_name or name)
    shutil.copy(DATA / name, target)
    return target


def run(conn, path, **options):
    return import_file(conn, path, ImportOptions(actor="planer.test", **options))


def count(conn, sql="SELECT count(*) FROM parcel"):
    return conn.execute(text(sql)).scalar_one()


def refused(conn, path, **options) -> ImportRefused:
    """The refusal of a file as a whole, after checking that nothing was written or recorded."""
    with pytest.raises(ImportRefused) as caught:
        run(conn, path, **options)
    assert count(conn) == 0 and count(conn, "SELECT count(*) FROM import_run") == 0
    return caught.value


def landed_squares(conn) -> dict[str, shapely.Geometry]:
    """The parcels written, by reference, as PostGIS returns them."""
    rows = conn.execute(text("SELECT local_ref, ST_AsBinary(geom) FROM parcel")).all()
    return {ref: shapely.from_wkb(bytes(wkb)) for ref, wkb in rows}


def assert_the_three_squares(conn, refs=("F-1", "F-2", "F-3")) -> None:
    """The fixture's 40 m squares, checked against shapely's own, and their names with umlauts intact."""
    landed = landed_squares(conn)
    assert sorted(landed) == sorted(refs)
    for ref, geom in landed.items():
        i = int(ref[2:]) - 1
        expected = shapely.box(X + 100 * i, Y, X + 100 * i + 40, Y + 40)
        assert shapely.hausdorff_distance(geom, expected) < 1e-6, (ref, geom.wkt)
    names = dict(conn.execute(text("SELECT local_ref, name FROM parcel")).all())
    assert names == {ref: NAMES[ref] for ref in refs}


# -- the real format, by content ---------------------------------------------------------------------------
def test_a_workbook_named_csv_is_read_as_a_workbook_and_its_one_sheet_of_parcels_found(conn, tmp_path):
    report = run(conn, fixture(tmp_path, "flaechen-excel.csv"), crs="25832")
    assert (report.status, report.inserted, report.file_format, report.layer) == ("committed", 3, "XLSX", "Flächen")
    assert report.geometry_columns == ["Location"]  # WKT under another name, found by its content
    notes = " | ".join(report.to_dict()["file_notes"])
    assert "flaechen-excel.csv is an Excel workbook (XLSX), not what its name says" in notes
    assert "read 'Flächen', the only one with coordinates or outlines (choose another with the option sheet)" in notes
    assert_the_three_squares(conn)


def test_a_sheet_is_chosen_by_name(conn, tmp_path):
    path = fixture(tmp_path, "flaechen.ods")
    exc = refused(conn, path, crs="25832")
    assert exc.field == "sheet"
    assert exc.render(command_line).endswith("has several sheets ('Stand 2024', 'Stand 2025'); choose one with --sheet")
    assert refused(conn, path, crs="25832", sheet="Stand 2026").field == "sheet"
    report = run(conn, path, crs="25832", sheet="stand 2025")  # as typed: case does not matter
    assert (report.inserted, report.layer, report.file_format) == (3, "Stand 2025", "ODS")
    assert_the_three_squares(conn)


def test_a_sheet_given_for_a_geopackage_or_beside_another_layer_is_refused(conn, tmp_path):
    path = tmp_path / "reserven.gpkg"
    gpd.GeoDataFrame({"Nr": ["A"]}, geometry=[shapely.box(X, Y, X + 40, Y + 40)], crs=25832).to_file(path)
    exc = refused(conn, path, sheet="Tabelle1")
    assert (
        exc.field == "sheet" and "is no spreadsheet" in str(exc) and "choose a layer with the option layer" in str(exc)
    )
    exc = refused(conn, fixture(tmp_path, "flaechen.ods"), sheet="Stand 2025", layer="Stand 2024")
    assert exc.field == "sheet"


@pytest.mark.parametrize(
    "name, encoding, note",
    [
        ("excel-cp1252.csv", "cp1252", "is not UTF-8 and does not say its encoding: read as Windows-1252 (cp1252)"),
        ("unicode-text.txt", "utf-16", "is UTF-16 text"),
        ("sep-line.csv", "utf-8", None),
    ],
)
def test_text_tables_as_excel_writes_them(conn, tmp_path, name, encoding, note):
    report = run(conn, fixture(tmp_path, name), crs="25832")
    assert (report.status, report.inserted, report.encoding) == ("committed", 3, encoding), report.lines()
    assert report.mapping == {"local_ref": "Nr", "name": "Bezeichnung", "category": "Kategorie"}
    assert (note is None and not report.file_notes) or any(note in n for n in report.file_notes), report.file_notes
    assert_the_three_squares(conn)


def test_the_sniffed_encoding_names_the_letters_it_gives_and_the_option(conn, tmp_path):
    report = run(conn, fixture(tmp_path, "excel-cp1252.csv"), crs="25832")
    [note] = [n for n in report.spelled(command_line).file_notes if "Windows-1252" in n]
    assert "which gives ß, ä, ü" in note and "give the encoding with --encoding" in note


@pytest.mark.parametrize("codec", ["cp850", "mac_roman"])
def test_text_no_encoding_can_be_guessed_for_is_refused_asking_for_it(conn, tmp_path, codec):
    path = tmp_path / "dos.csv"
    square = shapely.box(X, Y, X + 40, Y + 40).wkt
    path.write_bytes(f'Nr;Bezeichnung;Kategorie;WKT\nA;Lücke Kampstraße;Baulücke;"{square}"\n'.encode(codec))
    exc = refused(conn, path, crs="25832")
    assert exc.field == "encoding"
    assert "does not say its text encoding and is not UTF-8" in exc.render(form_field)
    assert "give the file's encoding with the form field encoding, e.g. encoding=cp1252" in exc.render(form_field)
    assert run(conn, path, crs="25832", encoding=codec).inserted == 1
    assert count(conn, "SELECT name FROM parcel") == "Lücke Kampstraße"


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "alt.xls",
            None,
            "is an Excel 97–2003 workbook (.xls), which cannot be read here; save it as an Excel workbook",
        ),
        ("plan.csv", b"%PDF-1.7\n", "plan.csv is a PDF document"),
    ],
)
def test_files_that_are_no_table_say_what_they_are(conn, tmp_path, name, content, message):
    path = fixture(tmp_path, name) if content is None else tmp_path / name
    if content is not None:
        path.write_bytes(content)
    exc = refused(conn, path)
    assert exc.field == "file" and message in str(exc)


# -- geometry columns by name and content ------------------------------------------------------------------
@pytest.mark.parametrize(
    "x_name, y_name",
    [
        ("GeoX", "GeoY"),
        ("Easting", "Northing"),
        ("Rechtswert", "Hochwert"),
        ("X-Koordinate (UTM32)", "Y-Koordinate (UTM32)"),
        ("Ost [m]", "Nord [m]"),
        ("x", "y"),
    ],
)
def test_coordinate_columns_are_found_by_their_names(conn, tmp_path, x_name, y_name):
    path = tmp_path / "punkte.csv"
    pd.DataFrame({"Nr": ["A"], "Kategorie": ["Baulücke"], x_name: [f"{X:.1f}".replace(".", ",")], y_name: [Y]}).to_csv(
        path, sep=";", index=False
    )
    report = run(conn, path, crs="25832")
    assert report.geometry_columns == [x_name, y_name] and x_name not in report.unmapped_columns
    # a point is no outline: each row says so, and where the outline should come from
    [issue] = report.rejections
    assert issue.reason.startswith("a Point where a polygon is needed")
    assert f"the columns {x_name!r}/{y_name!r} give a point" in issue.reason
    assert count(conn) == 0


@pytest.mark.parametrize("lon, lat", [("lon", "lat"), ("Longitude", "Latitude"), ("Länge", "Breite")])
def test_longitude_latitude_columns_are_found_and_their_crs_suggested(conn, tmp_path, lon, lat):
    path = tmp_path / "grad.csv"
    pd.DataFrame({"Nr": ["A"], "Kategorie": ["Baulücke"], lon: [DO[0]], lat: [DO[1]]}).to_csv(path, index=False)
    exc = refused(conn, path)
    assert exc.field == "crs"
    assert "by their values the coordinates are longitude/latitude (WGS 84) (--crs 4326)" in exc.render(command_line)
    assert run(conn, path, crs="4326").geometry_columns == [lon, lat]


def test_outlines_are_preferred_to_points_and_found_by_content(conn, tmp_path):
    report = run(conn, fixture(tmp_path, "easting-northing-location.csv"), crs="25832")
    assert (report.status, report.inserted, report.geometry_columns) == ("committed", 3, ["Location"])
    notes = " | ".join(report.spelled(form_field).file_notes)
    assert "the outlines are read as WKT from the column 'Location' (the form field wkt_column)" in notes
    assert "points (columns 'Easting', 'Northing'): the outlines are read, the points left out" in notes
    assert "Easting" not in report.unmapped_columns
    assert_the_three_squares(conn)


def test_cp1252_points_beside_an_outline_column_named_umriss(conn, tmp_path):
    report = run(conn, fixture(tmp_path, "excel-cp1252.csv"), crs="25832")
    assert report.geometry_columns == ["Umriss"] and "Rechtswert" not in report.unmapped_columns


def test_ewkt_carries_its_crs(conn, tmp_path):
    report = run(conn, fixture(tmp_path, "ewkt.csv"))
    assert (report.inserted, report.crs, report.geometry_columns) == (3, "EPSG:25832", ["geom"])
    assert "taken from the WKT's SRID=25832" in " ".join(report.file_notes)
    assert_the_three_squares(conn, ("F-1", "F-2", "F-3"))


def test_ewkt_of_several_crs_is_refused_and_a_later_row_of_another_srid_rejected(conn, tmp_path):
    squares = [shapely.box(X + 30 * i, Y, X + 30 * i + 20, Y + 20).wkt for i in range(101)]
    mixed = tmp_path / "gemischt.csv"
    pd.DataFrame({"Nr": ["A", "B"], "Kategorie": ["Baulücke"] * 2, "geom": [
        f"SRID=25832;{squares[0]}", f"SRID=4647;{squares[1]}"]}).to_csv(mixed, index=False)  # fmt: skip
    exc = refused(conn, mixed)
    assert exc.field == "crs" and "names several coordinate reference systems (SRID=4647, SRID=25832)" in str(exc)
    late = tmp_path / "spaet.csv"
    srids = [25832] * 100 + [4326]
    pd.DataFrame(
        {"Nr": [f"N-{i}" for i in range(101)], "Kategorie": ["Baulücke"] * 101,
         "geom": [f"SRID={srid};{wkt}" for srid, wkt in zip(srids, squares)]}
    ).to_csv(late, index=False)  # fmt: skip
    report = run(conn, late)
    assert report.status == "rejected" and count(conn) == 0
    assert [(i.row, i.field, i.reason) for i in report.rejections] == [
        (101, "geom", "the WKT says SRID=4326, the file's SRID=25832")
    ]


def test_geometry_columns_can_be_named(conn, tmp_path):
    path = fixture(tmp_path, "easting-northing-location.csv")
    points = run(conn, path, crs="25832", x_column="easting", y_column="Northing", dry_run=True)
    assert points.geometry_columns == ["Easting", "Northing"] and points.rejected == 3
    outline = run(conn, path, crs="25832", wkt_column="Location", dry_run=True)
    assert outline.geometry_columns == ["Location"] and outline.rejected == 0 and outline.inserted == 3
    for options, field, words in [
        ({"wkt_column": "Umriss"}, "wkt_column", "has no column 'Umriss' (the option wkt_column)"),
        ({"x_column": "Easting"}, "y_column", "give both the option x_column and the option y_column"),
        ({"wkt_column": "Location", "x_column": "Easting", "y_column": "Northing"}, "wkt_column", "not both"),
    ]:
        exc = refused(conn, path, crs="25832", **options)
        assert exc.field == field and words in str(exc), str(exc)


def test_a_table_without_geometry_names_the_options_and_lists_its_columns(conn, tmp_path):
    path = tmp_path / "breit.csv"
    pd.DataFrame({f"Spalte {i}": ["a"] for i in range(60)}).to_csv(path, index=False)
    exc = refused(conn, path, crs="25832")
    message = exc.render(command_line)
    assert "found no geometry" in message and "name them with --wkt-column, or --x-column and --y-column" in message
    assert message.endswith("Spalte 39 … and 20 more")


# -- GeoJSON in metres without a crs member ----------------------------------------------------------------
def test_geojson_in_metres_without_crs_is_diagnosed_and_crs_replaces_the_rfc_7946_default(conn, tmp_path):
    path = fixture(tmp_path, "metres-without-crs.geojson")
    exc = refused(conn, path)
    assert exc.field == "crs"
    assert exc.render(command_line) == (
        "the coordinates look like projected metres (e.g. 393575.9, 5708099.4), but the file is GeoJSON without "
        'a "crs" member, which means longitude/latitude in degrees (RFC 7946); by their values they are '
        "ETRS89 / UTM 32N: give --crs 25832, which replaces that default"
    )
    report = run(conn, path, crs="25832")
    assert (report.status, report.inserted, report.crs) == ("committed", 3, "EPSG:25832")
    assert report.spelled(form_field).file_notes == [
        'metres-without-crs.geojson is GeoJSON without a "crs" member, which means longitude/latitude in degrees '
        "(RFC 7946): it is read in EPSG:25832 (ETRS89 / UTM zone 32N) as the form field crs says"
    ]
    landed = landed_squares(conn)
    assert shapely.hausdorff_distance(landed["F-1"], shapely.box(X, Y, X + 40, Y + 40)) < 1e-6


def test_a_geojson_whose_crs_member_says_4326_keeps_its_word(conn, tmp_path):
    path = fixture(tmp_path, "metres-crs-4326.geojson")
    exc = refused(conn, path, crs="25832")
    assert "declares EPSG:4326 (WGS 84) but --crs says EPSG:25832" in exc.render(command_line)
    exc = refused(conn, path)
    assert "the file declares EPSG:4326 (WGS 84) (degrees); by their values they are ETRS89 / UTM 32N" in str(exc)


def test_a_shapefile_without_prj_gets_a_suggestion_from_its_coordinates(conn, tmp_path):
    path = tmp_path / "ohne_prj.shp"
    gk = gpd.GeoDataFrame(
        {"Nr": ["A"], "Kategorie": ["bauluecke"]}, geometry=[shapely.box(X, Y, X + 40, Y + 40)], crs=25832
    ).to_crs(31467)
    gk.to_file(path)
    path.with_suffix(".prj").unlink()
    exc = refused(conn, path)
    assert "give it with crs: by their values the coordinates are Gauß-Krüger zone 3 (crs=31467)" in exc.render(
        lambda name, value: name if value is None else f"{name}={value}"
    )


# -- the same message, named for each channel --------------------------------------------------------------
def test_options_are_declared_once_and_spelled_per_channel():
    assert [command_line(n, v) for n, v in [("crs", None), ("crs", "25832"), ("x_column", "GeoX")]] == [
        "--crs",
        "--crs 25832",
        "--x-column GeoX",
    ]
    assert command_line("retire_missing", None) == "--retire-missing"
    assert form_field("retire_missing", None) == "retire_missing=true"
    assert [form_field("sheet", None), form_field("sheet", "Flächen")] == ["the form field sheet", "sheet=Flächen"]
    assert listing(range(5), 3) == "0, 1, 2 … and 2 more" and listing(range(3), 3) == "0, 1, 2"


@pytest.fixture
def no_category(tmp_path) -> Path:
    path = tmp_path / "ohne-kategorie.csv"
    pd.DataFrame({"Nr": ["A"], "WKT": [shapely.box(X, Y, X + 40, Y + 40).wkt]}).to_csv(path, index=False)
    return path


def test_a_missing_category_names_the_fix_as_each_channel_gives_it(committed_db, no_category):
    cli = landreg(
        "import", str(no_category), "--crs", "25832", "--dry-run", LANDREG_DATABASE_URL=database_url(committed_db)
    )
    assert (
        "name its column in a mapping file (--mapping), e.g. columns: {<column>: category}, give the rows without "
        "one a category with --category (e.g. --category bauluecke)" in cli.stdout
    ), cli.stdout + cli.stderr
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client, open(no_category, "rb") as f:
        body = client.post(
            "/imports", files={"file": (no_category.name, f)}, data={"crs": "25832"}, headers=headers
        ).json()
    [reason] = [r["reason"] for r in body["rejections"]]
    assert "(the form field mapping)" in reason and "with the form field category (e.g. category=bauluecke)" in reason
    assert "--" not in reason and "⟦" not in reason
    assert list(body["rejection_counts"]["category"]) == [reason]
    with committed_db.connect() as conn:
        stored = conn.execute(text("SELECT report -> 'rejections' -> 0 ->> 'reason' FROM import_run")).scalar_one()
        assert count(conn) == 0
    assert stored == reason  # recorded as the caller read it


def test_a_missing_reference_points_at_the_mapping_file(conn, tmp_path):
    path = tmp_path / "ohne-nr.csv"
    pd.DataFrame({"Kategorie": ["Baulücke"], "WKT": [shapely.box(X, Y, X + 40, Y + 40).wkt]}).to_csv(path, index=False)
    report = run(conn, path, crs="25832")
    [issue] = report.spelled(command_line).rejections
    assert issue.field == "local_ref"
    assert issue.reason == (
        "is required: no column holds the parcel's own reference (recognised names: 'local_ref', 'ref', "
        "'referenz', 'kennung', 'id_gemeinde', 'flaechen_id' …); name its column in a mapping file (--mapping), "
        "e.g. columns: {<column>: local_ref}"
    )


def test_importing_gml_leaves_nothing_beside_the_planners_file(conn, tmp_path):
    path = fixture(tmp_path, "flaechen.gml")
    before = sorted(p.name for p in path.parent.iterdir())
    report = run(conn, path)
    assert (report.status, report.inserted) == ("committed", 3), report.lines()
    assert sorted(p.name for p in path.parent.iterdir()) == before  # GDAL wrote a .gfs schema file there


def test_gml_is_accepted_over_http_as_on_the_command_line(committed_db, tmp_path):
    path = fixture(tmp_path, "flaechen.gml")
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    with app_client(committed_db) as client, open(path, "rb") as f:
        response = client.post("/imports", files={"file": (path.name, f)}, headers=headers)
    assert response.status_code == 201, response.text
    assert (response.json()["inserted"], response.json()["file_format"]) == (3, "GML")


def test_an_upload_names_its_sheet_and_columns_as_form_fields(committed_db, tmp_path):
    headers = bearers(committed_db, planner=PLANNER)["planner"]
    path = fixture(tmp_path, "flaechen.ods")
    with app_client(committed_db) as client:
        with open(path, "rb") as f:
            unchosen = client.post("/imports", files={"file": (path.name, f)}, data={"crs": "25832"}, headers=headers)
        with open(path, "rb") as f:
            chosen = client.post(
                "/imports",
                files={"file": (path.name, f)},
                data={"crs": "25832", "sheet": "Stand 2024", "wkt_column": "WKT", "dry_run": "true"},
                headers=headers,
            )
    assert (unchosen.status_code, unchosen.json()["field"]) == (422, "sheet")
    assert unchosen.json()["detail"].endswith("choose one with the form field sheet")
    assert chosen.status_code == 200 and (chosen.json()["layer"], chosen.json()["inserted"]) == ("Stand 2024", 2)


def test_the_answer_counts_the_parcels_missing_from_the_file(conn, tmp_path):
    report = ImportReport("f.csv", "0" * 64, None, "EPSG:25832", "all-or-nothing", False)
    report.missing = [("05913000", f"R-{i}") for i in range(3)]
    data = report.to_dict(limit=2)
    assert (len(data["missing"]), data["missing_count"], data["truncated"]) == (2, 3, True)
    assert report.lines(show=2)[-3:-1] == ["  05913000 R-1", "  … and 1 more"]


# -- a mapping can ignore a column -------------------------------------------------------------------------
def test_a_wrong_ags_column_says_how_to_ignore_it_and_an_ignored_column_is_not_read(conn, tmp_path):
    path = fixture(tmp_path, "falsche-ags.csv")
    report = run(conn, path, crs="25832")
    assert report.status == "rejected" and report.rejected == 3 and count(conn) == 0
    assert report.spelled(command_line).rejections[0].reason == (
        "lies in 05913000 Dortmund (100 % of its area), not in the municipality it claims: 05113000 Essen (parts "
        "of it lie more than 25 m from there); if the column 'AGS' is wrong, leave it out with ignore: [AGS] in "
        "the mapping file (--mapping)"
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("ignore: [AGS]\n", encoding="utf-8")
    report = run(conn, path, crs="25832", mapping_file=mapping)
    assert (report.status, report.inserted, report.ignored_columns) == ("committed", 3, ["AGS"])
    assert "ags" not in report.mapping and "AGS" not in report.unmapped_columns
    assert count(conn, "SELECT string_agg(DISTINCT ags, ',') FROM parcel") == "05913000"


@pytest.mark.parametrize(
    "content, words",
    [
        ("ignore: [Gemeinde]\n", "ignore names the column 'Gemeinde', which the file does not have"),
        ("ignore: [AGS]\ncolumns:\n  AGS: ags\n", "the column 'AGS' is both mapped (to ags) and ignored"),
        ("ignore: AGS\n", "the section ignore must be a list of column names"),
    ],
)
def test_a_bad_ignore_section_is_refused(conn, tmp_path, content, words):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(content, encoding="utf-8")
    exc = refused(conn, fixture(tmp_path, "falsche-ags.csv"), crs="25832", mapping_file=mapping)
    assert exc.field == "mapping" and words in str(exc)


# -- municipal borders as they are -------------------------------------------------------------------------
ESSEN, BOCHUM = "05113000", "05911000"


def _beyond_essen(conn, near_m: float, far_m: float) -> shapely.Polygon:
    """A piece of Bochum beside a point of its border with Essen: farther than ``far_m`` from Essen and
    within ``near_m`` of that point (built by PostGIS from the registry's boundaries)."""
    wkt = conn.execute(
        text("""
        WITH border AS (
            SELECT ST_PointOnSurface(ST_Intersection(ST_Buffer(e.geom, 1), ST_Buffer(b.geom, 1))) AS p,
                   e.geom AS essen, b.geom AS bochum
              FROM municipality e, municipality b WHERE e.ags = :essen AND b.ags = :bochum),
        pieces AS (
            SELECT (ST_Dump(ST_Difference(ST_Intersection(ST_Buffer(p, :near), bochum), ST_Buffer(essen, :far)))).geom
              FROM border)
        SELECT ST_AsText(geom) FROM pieces ORDER BY ST_Area(geom) DESC LIMIT 1
    """),
        {"essen": ESSEN, "bochum": BOCHUM, "near": near_m, "far": far_m},
    ).scalar_one()
    return shapely.from_wkt(wkt)


def _within(conn, geom, ags: str, metres: float) -> bool:
    """Whether the geometry lies within ``metres`` of the municipality (PostGIS, whole municipality)."""
    return conn.execute(
        text("SELECT ST_Covers(ST_Buffer(geom, :m), ST_GeomFromText(:wkt, 25832)) FROM municipality WHERE ags = :ags"),
        {"wkt": geom.wkt, "ags": ags, "m": metres},
    ).scalar_one()


def test_a_parcel_just_across_the_generalised_border_is_taken_as_claimed_with_the_shares(conn, tmp_path):
    parcel = _beyond_essen(conn, near_m=18, far_m=2)
    # independently: by the registry's boundaries wholly in Bochum, yet within 25 m of Essen
    assert _within(conn, parcel, BOCHUM, 0) and _within(conn, parcel, ESSEN, 25) and parcel.area > 50
    inside = shapely.box(*utm(7.0146, 51.4513), *(c + 40 for c in utm(7.0146, 51.4513)))  # Essen Hbf
    path = tmp_path / "grenze.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["GRENZE", "MITTE"], "category": ["gewerbeflaeche", "bauluecke"]}, geometry=[parcel, inside], crs=25832
    ).to_file(path)
    report = run(conn, path, municipality=ESSEN)  # all or nothing: before, the one border row refused the file
    assert (report.status, report.inserted, report.rejected) == ("committed", 2, 0), report.lines()
    assert count(conn, "SELECT string_agg(ags, ',' ORDER BY local_ref) FROM parcel") == f"{ESSEN},{ESSEN}"
    [note] = [n for n in report.spelled(command_line).notes if n.field == "ags"]
    assert note.row == 1 and note.reason == (
        "taken as 05113000 Essen, as --municipality says: the registry's generalised boundaries (DVG2) put 100 % "
        "in 05911000 Bochum, 0 % in 05113000 Essen, but all of it lies within 25 m of 05113000 Essen"
    )


def test_a_parcel_taken_within_the_tolerance_can_be_edited_later(conn, tmp_path):
    """The row trigger accepts the claim by the import's rule (migration 0022): editing the outline of a
    border parcel taken as claimed was refused as "lies in Bochum" before."""
    parcel = _beyond_essen(conn, near_m=18, far_m=2)
    path = tmp_path / "grenze.gpkg"
    gpd.GeoDataFrame({"ref": ["GRENZE"], "category": ["gewerbeflaeche"]}, geometry=[parcel], crs=25832).to_file(path)
    assert run(conn, path, municipality=ESSEN).inserted == 1
    smaller = parcel.buffer(-0.5)  # an edit that stays where it was, all of it within 25 m of Essen
    assert _within(conn, smaller, ESSEN, 25) and not _within(conn, smaller, ESSEN, 0)
    edit = text(
        "UPDATE parcel SET geom = ST_Multi(ST_GeomFromText(:wkt, 25832)) WHERE local_ref = 'GRENZE' RETURNING ags"
    )

    conn.execute(text("SET LOCAL landreg.border_tolerance_m = 25"))  # as make_engine's sessions have it
    assert conn.execute(edit, {"wkt": smaller.wkt}).scalar_one() == ESSEN
    farther = shapely.affinity.translate(smaller, *_away_from_essen(conn, smaller, 60))
    assert not _within(conn, farther, ESSEN, 25)
    with pytest.raises(
        Exception, match=r"not in the municipality it claims: 05113000 Essen \(parts of it lie more than 25 m"
    ):
        with conn.begin_nested():
            conn.execute(edit, {"wkt": farther.wkt})

    conn.execute(text("SET LOCAL landreg.border_tolerance_m = ''"))  # a session without it checks strictly
    with pytest.raises(Exception, match="parts of it lie more than 0 m from there"):
        with conn.begin_nested():
            conn.execute(edit, {"wkt": parcel.buffer(-1).wkt})


def _away_from_essen(conn, geom, metres: float) -> tuple[float, float]:
    """A shift of ``metres`` from Essen's nearest point towards the geometry (PostGIS)."""
    dx, dy = conn.execute(
        text("""
        SELECT ST_X(c) - ST_X(n), ST_Y(c) - ST_Y(n) FROM (
            SELECT ST_Centroid(g) AS c, ST_ClosestPoint(m.geom, ST_Centroid(g)) AS n
              FROM municipality m, ST_GeomFromText(:wkt, 25832) g WHERE m.ags = :essen) s
    """),
        {"wkt": geom.wkt, "essen": ESSEN},
    ).one()
    length = (dx * dx + dy * dy) ** 0.5
    return dx / length * metres, dy / length * metres


def test_the_engines_sessions_carry_the_border_tolerance(engine):
    from landreg.db import make_engine

    serving = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with serving.connect() as c:
            assert (
                float(c.execute(text("SHOW landreg.border_tolerance_m")).scalar_one())
                == get_settings().border_tolerance_m
            )
    finally:
        serving.dispose()


def test_a_parcel_farther_across_the_border_is_refused_and_the_tolerance_is_a_setting(conn, tmp_path):
    parcel = _beyond_essen(conn, near_m=90, far_m=40)
    assert not _within(conn, parcel, ESSEN, 25) and _within(conn, parcel, ESSEN, 100)
    path = tmp_path / "weiter.gpkg"
    gpd.GeoDataFrame({"ref": ["W"], "category": ["bauluecke"]}, geometry=[parcel], crs=25832).to_file(path)
    report = run(conn, path, municipality=ESSEN)
    assert report.status == "rejected" and count(conn) == 0
    assert report.spelled(command_line).rejections[0].reason == (
        "lies in 05911000 Bochum (100 % of its area), not in the municipality it claims: 05113000 Essen (parts of it "
        "lie more than 25 m from there); --municipality claims it for every row: leave it out to take the "
        "municipality found"
    )
    assert ImportOptions(actor="t").checks.border_tolerance_m == get_settings().border_tolerance_m == 25
    wider = run(conn, path, municipality=ESSEN, checks=load.Checks(border_tolerance_m=100))
    assert (wider.status, wider.inserted) == ("committed", 1)
    assert "all of it lies within 100 m of 05113000 Essen" in wider.notes[0].reason


def test_a_parcel_across_the_border_claimed_by_its_column_for_the_smaller_share_names_both(conn, tmp_path):
    x, y = conn.execute(
        text("""
        SELECT ST_X(p), ST_Y(p) FROM (
            SELECT ST_PointOnSurface(ST_Intersection(ST_Buffer(e.geom, 1), ST_Buffer(b.geom, 1))) AS p
              FROM municipality e, municipality b WHERE e.ags = :essen AND b.ags = :bochum) border
    """),
        {"essen": ESSEN, "bochum": BOCHUM},
    ).one()
    parcel = shapely.box(x - 12, y - 12, x + 16, y + 16)  # every point within 25 m of the border point
    shares = conn.execute(
        text("""
        SELECT ags, name, ST_Area(ST_Intersection(geom, ST_GeomFromText(:wkt, 25832))) / :area AS share
          FROM municipality WHERE ST_Intersects(geom, ST_GeomFromText(:wkt, 25832)) ORDER BY share DESC
    """),
        {"wkt": parcel.wkt, "area": parcel.area},
    ).all()
    assert len(shares) == 2 and 0.5 < shares[0].share < 0.99, shares  # independently: it straddles the border
    larger, smaller = shares
    path = tmp_path / "quer.csv"
    pd.DataFrame(
        {"Nr": ["Q"], "Kategorie": ["Gewerbefläche"], "Gemeindeschlüssel": [smaller.ags], "WKT": [parcel.wkt]}
    ).to_csv(path, index=False)
    report = run(conn, path, crs="25832")
    assert (report.status, report.inserted) == ("committed", 1), report.lines()
    assert count(conn, "SELECT ags FROM parcel") == smaller.ags
    [note] = report.notes
    assert note.reason == (
        f"taken as {smaller.ags} {smaller.name}, as the column 'Gemeindeschlüssel' says: the registry's generalised "
        f"boundaries (DVG2) put {larger.share * 100:.0f} % in {larger.ags} {larger.name}, "
        f"{smaller.share * 100:.0f} % in {smaller.ags} {smaller.name}, but all of it lies within 25 m of "
        f"{smaller.ags} {smaller.name}"
    )
