"""The importer's, the CRS checks' and the plan check's messages: German on the workspace's pages,
English (as it always was) over the API and on the command line; one catalogue with both languages.

The English texts below are written out in full as the importer wrote them before its messages
came from the catalogue: the API and the command line must say them byte for byte.
"""

from __future__ import annotations

import json
import re
import string
from html import unescape

import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from landreg.importer import ImportOptions, ImportRefused, import_file
from landreg.importer.refusals import command_line, form_field, in_language, kept, render
from landreg.messages import CATALOGUE, message
from landreg.settings import get_settings
from tests.helpers import (
    BERLIN_ALEXANDERPLATZ,
    DORTMUND_REINOLDIKIRCHE,
    ESSEN_HBF,
    bearers,
    database_url,
    square_at,
    utm,
)
from tests.web import PASSWORD, people

ESSEN, DORTMUND = "05113000", "05913000"
CRS_LABEL = "„Koordinatensystem (EPSG-Code)“"


# -- the catalogue -------------------------------------------------------------------------------------
#: Codes whose languages name different values on purpose (messages.py: German names a code by its label).
DELIBERATE = {"retire.comment_needed"}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _options(template: str) -> set[str]:
    return set(re.findall(r"⟦([a-z_]+)(?:=[^⟧]*)?⟧", template))


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_message_has_both_languages_with_the_same_values_and_options(code):
    german, english = CATALOGUE[code]
    assert german.strip() and english.strip()
    if code not in DELIBERATE:
        assert _placeholders(german) == _placeholders(english), code
    assert _options(german) == _options(english), code  # each channel names the same options in both


def test_a_kept_message_survives_the_database_and_is_said_in_either_language():
    said = message(
        "import.other_municipality",
        ags=DORTMUND,
        name="Dortmund",
        share=100,
        claimed=ESSEN,
        claimed_name="Essen",
        tolerance=25,
        fix=message("import.claim_fix.option"),
    )
    text = f"ags: {kept(said)}; geom: {kept(message('import.outside_nrw'))}"  # as rejected_reasons joins them
    assert in_language(text) == f"ags: {said.text('en')}; geom: lies outside North Rhine-Westphalia"
    assert render(text, form_field, "de") == (
        "ags: liegt zu 100 % in 05913000 Dortmund, nicht in der angegebenen Gemeinde 05113000 Essen (Teile davon "
        "liegen mehr als 25 m von ihr entfernt); die Angabe municipality gilt für jede Zeile: lassen Sie die Angabe "
        "weg, um die gefundene Gemeinde zu übernehmen; geom: liegt außerhalb Nordrhein-Westfalens"
    ).replace("die Angabe municipality", "the form field municipality")
    assert in_language("plain ⟪{not json⟫ text") == "plain ⟪{not json⟫ text"  # not one of ours: as it stands
    dated = message("import.retired_reference", date=__import__("datetime").date(2025, 3, 1))
    assert in_language(kept(dated), "de").startswith("eine Fläche mit dieser Kennung wurde am 01.03.2025 stillgelegt")
    assert in_language(kept(dated)) == dated.text("en")


# -- files ------------------------------------------------------------------------------------------------
def _utm_square(place, width=50.0):
    return square_at(place, width).wkt


def rows_csv() -> bytes:
    """A table of parcels (EPSG:25832, given as crs) whose rows each have another problem."""
    essen = lambda dx: square_at((ESSEN_HBF[0] + dx, ESSEN_HBF[1]), 50).wkt  # noqa: E731
    x, y = utm(*ESSEN_HBF)
    tiny = shapely.box(x + 300, y, x + 302, y + 2).wkt
    far = shapely.box(900_000, 6_500_000, 900_050, 6_500_050).wkt
    rows = [
        ("E-1", "bauluecke", essen(-0.004)),
        ("E-1", "bauluecke", essen(-0.002)),
        ("E-3", "bauluecke", f"POINT ({x} {y})"),
        ("E-4", "bauluecke", ""),
        ("E-5", "bauluecke", "POLYGON ((1 2, 3"),
        ("E-6", "bauluecke", tiny),
        ("E-7", "", essen(0.002)),
        ("D-8", "bauluecke", square_at(DORTMUND_REINOLDIKIRCHE, 50).wkt),
        ("E-9", "bauluecke", far),
        ("E-10", "bauluecke", essen(0.004)),
        ("E-11", "bauluecke", essen(0.006)),
    ]
    return ("kennung;kategorie;wkt\n" + "".join(f"{r};{c};{w}\n" for r, c, w in rows)).encode()


#: row -> (field, English reason as the API says it)
ENGLISH_ROWS = {
    1: ("local_ref", "reference E-1 appears more than once for this municipality in the file (rows 1, 2)"),
    2: ("local_ref", "reference E-1 appears more than once for this municipality in the file (rows 1, 2)"),
    3: ("geom", "a Point where a polygon is needed: a parcel needs its outline"),
    4: ("geom", "no geometry (the WKT column is empty)"),
    6: ("geom", "an area of 4.0 m² is implausible for a parcel (expected 10 to 20000000 m²)"),
    7: (
        "category",
        "is required: column 'kategorie' is empty; give the rows without one a category with the form field "
        "category (e.g. category=bauluecke)",
    ),
    8: ("ags", f"lies in {DORTMUND} Dortmund, for which you may not import (your municipalities: {ESSEN})"),
    9: ("geom", "lies outside North Rhine-Westphalia"),
}
#: row -> German reason on the import page
GERMAN_ROWS = {
    1: "die Kennung E-1 kommt für diese Gemeinde mehrmals in der Datei vor (Zeilen 1, 2)",
    3: "ein Point, wo ein Polygon nötig ist: eine Fläche braucht ihren Umriss",
    4: "kein Umriss (die WKT-Spalte ist leer)",
    5: "das WKT lässt sich nicht lesen",
    6: "eine Größe von 4,0 m² ist für eine Fläche unplausibel (erwartet: 10 bis 20.000.000 m²)",
    7: "ist ein Pflichtfeld: die Spalte „kategorie“ ist leer; geben Sie den Zeilen ohne Kategorie eine unter "
    "„Kategorie (Vorgabe)“ (z. B. „Kategorie (Vorgabe)“ = bauluecke)",
    8: f"liegt in {DORTMUND} Dortmund, für die Sie nicht importieren dürfen (Ihre Gemeinden: {ESSEN})",
    9: "liegt außerhalb Nordrhein-Westfalens",
}


def lonlat_csv() -> bytes:
    """Longitude/latitude in a table whose CRS is given as EPSG:25832."""
    lon, lat = ESSEN_HBF
    return f"kennung;kategorie;x;y\nE-1;bauluecke;{lon};{lat}\nE-2;bauluecke;{lon + 0.001};{lat}\n".encode()


def no_crs_csv() -> bytes:
    return f"kennung;kategorie;wkt\nE-1;bauluecke;{_utm_square(ESSEN_HBF)}\n".encode()


def cp1252_csv() -> bytes:
    return f"kennung;kategorie;bemerkung_intern;wkt\nE-1;bauluecke;Grünfläche;{_utm_square(ESSEN_HBF)}\n".encode(
        "cp1252"
    )


# -- the workspace -----------------------------------------------------------------------------------
@pytest.fixture
def planners(committed_db, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDREG_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    people(committed_db, **{"planung.essen": ("planner", [ESSEN]), "ministerium": ("ministry",)})
    yield committed_db
    get_settings.cache_clear()


def _sign_in(client, username: str, page: str) -> str:
    form = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    answer = client.post("/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text).group(1)


def _upload(client, csrf: str, content: bytes, name: str, **form):
    data = {"csrf_token": csrf, "mode": "keep-valid"} | form
    return client.post("/app/import", files={"file": (name, content)}, data=data, follow_redirects=False)


def _error(html: str, field: str) -> str:
    return unescape(re.search(rf'id="err-{field}">([^<]+)<', html).group(1))


def _rows(html: str, table: str) -> dict[int, str]:
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return {
        int(row): unescape(reason)
        for row, reason in re.findall(r'<tr><td class="num">(\d+)</td><td>.*?</td><td>([^<]*)</td></tr>', body)
    }


def test_the_import_page_says_the_refusals_of_a_file_in_german_and_names_the_form_fields(planners):
    lon, lat = ESSEN_HBF
    with TestClient(create_app(database_url(planners))) as client:
        csrf = _sign_in(client, "planung.essen", "/app/import")
        cases = [  # (content, name, form, field, German words)
            (no_crs_csv(), "liste.csv", {}, "crs",
             f"liste.csv nennt kein Koordinatensystem; geben Sie es unter {CRS_LABEL} an: nach ihren Werten sind die "
             f"Koordinaten ETRS89 / UTM Zone 32N ({CRS_LABEL} = 25832)"),
            (lonlat_csv(), "liste.csv", {"crs": "25832"}, "crs",
             f"die Koordinaten sehen nach geographischer Länge/Breite in Grad aus (z. B. {str(lon).replace('.', ',')} / "
             f"{str(lat).replace('.', ',')}), aber {CRS_LABEL} nennt EPSG:25832 (ETRS89 / UTM zone 32N); geben Sie "
             f"sie als solche an: {CRS_LABEL} = 4326"),
            (b"kennung;kategorie\nE-1;bauluecke\n", "liste.csv", {"crs": "25832"}, "file",
             "liste.csv: keine Geometrie gefunden: eine Tabelle braucht den Umriss jeder Fläche als WKT"),
            (b"%PDF-1.4 kein Plan", "liste.csv", {}, "file",
             "liste.csv ist ein PDF-Dokument; importieren Sie die Daten selbst (z. B. GeoPackage, Shapefile, CSV)"),
            (b"kennung;kategorie;wkt\n", "leer.csv", {"crs": "25832"}, "file", "leer.csv: die Datei enthält keine Objekte"),
        ]  # fmt: skip
        for content, name, form, field, words in cases:
            answer = _upload(client, csrf, content, name, **form)
            assert answer.status_code in (400, 422), (words, answer.text[:300])
            said = _error(answer.text, field)
            assert words in said, (field, said)
            assert "the form field" not in said and "--" not in said and "⟦" not in said and "⟪" not in said
        # the same refusal in English with the language switch: as the API says it, options as the form's labels
        client.get("/app/import?lang=en")
        english = _error(_upload(client, csrf, no_crs_csv(), "liste.csv").text, "crs")
        assert english == (
            "liste.csv does not say which coordinate reference system it uses; give it with the form field "
            "“Coordinate reference system (EPSG code)”: by their values the coordinates are ETRS89 / UTM 32N "
            "(“Coordinate reference system (EPSG code)” = 25832)"
        )


def test_the_dry_run_shows_the_rows_reasons_and_notes_in_german_and_in_english_on_request(planners):
    with TestClient(create_app(database_url(planners))) as client:
        csrf = _sign_in(client, "planung.essen", "/app/import")
        answer = _upload(client, csrf, rows_csv(), "zeilen.csv", crs="25832")
        assert answer.status_code == 303, answer.text[:500]
        page = client.get(answer.headers["location"]).text
        shown = _rows(page, "rejections")
        for row, words in GERMAN_ROWS.items():
            assert shown[row].startswith(words), (row, shown[row])
        assert "⟪" not in page and "⟦" not in page
        notes = client.post(  # a cp1252 table: how it was read is noted, in German
            "/app/import", files={"file": ("notiz.csv", cp1252_csv())},
            data={"csrf_token": csrf, "mode": "keep-valid", "crs": "25832"},
        )  # fmt: skip
        assert notes.status_code == 200 and 'id="file-notes"' in notes.text  # the dry run's report (redirected)
        noted = unescape(notes.text)
        assert (
            "notiz.csv ist kein UTF-8 und nennt seine Zeichenkodierung nicht: gelesen als Windows-1252 (cp1252), wie "
            "Excel und andere Windows-Programme schreiben; das ergibt ä, ü; falls Buchstaben falsch aussehen, geben Sie "
            "die Kodierung unter „Zeichenkodierung“ an"
        ) in noted
        english = client.get(answer.headers["location"] + "?lang=en").text
        shown = _rows(english, "rejections")
        for row, (_, reason) in ENGLISH_ROWS.items():
            assert shown[row] == reason.replace(
                "the form field category", "the form field “Category (default)”"
            ).replace("category=bauluecke", "“Category (default)” = bauluecke"), row


# -- the API and the command line: English, unchanged --------------------------------------------------
def test_the_api_says_the_rows_reasons_in_english_as_before(planners):
    token = bearers(planners, essen=("planung.essen", "planner", [ESSEN]))["essen"]
    with TestClient(create_app(database_url(planners))) as client:
        answer = client.post(
            "/imports", files={"file": ("zeilen.csv", rows_csv())},
            data={"crs": "25832", "dry_run": "true", "mode": "keep-valid"}, headers=token,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text[:500]
        body = answer.json()
        reasons = {r["row"]: (r["field"], r["reason"]) for r in body["rejections"]}
        for row, expected in ENGLISH_ROWS.items():
            assert reasons[row] == expected, row
        assert reasons[5][1].startswith("WKT cannot be read: ")
        assert "said" not in body and "⟪" not in json.dumps(body)
        counts = body["rejection_counts"]["geom"]
        assert (
            counts["lies outside North Rhine-Westphalia"] == 1 and counts["no geometry (the WKT column is empty)"] == 1
        )
        refused = client.post(
            "/imports", files={"file": ("liste.csv", lonlat_csv())}, data={"crs": "25832", "dry_run": "true"},
            headers=token,
        )  # fmt: skip
        lon, lat = ESSEN_HBF
        assert refused.status_code == 422 and refused.json()["detail"] == (
            f"the coordinates look like longitude/latitude in degrees (e.g. {lon:.5f}, {lat:.5f}), but the form "
            "field crs says EPSG:25832 (ETRS89 / UTM zone 32N); declare them as such with crs=4326"
        )


def test_the_command_line_says_refusals_reasons_and_notes_in_english_as_before(conn, tmp_path):
    options = dict(actor="cli", dry_run=True, mode="keep-valid", spell=command_line)
    no_crs = tmp_path / "liste.csv"
    no_crs.write_bytes(no_crs_csv())
    with pytest.raises(ImportRefused) as refused:
        import_file(conn, no_crs, ImportOptions(**options))
    assert refused.value.render(command_line) == (
        "liste.csv does not say which coordinate reference system it uses; give it with --crs: by their values the "
        "coordinates are ETRS89 / UTM 32N (--crs 25832)"
    )
    table = tmp_path / "zeilen.csv"
    table.write_bytes(rows_csv())
    report = import_file(conn, table, ImportOptions(**options, crs="25832"))
    lines = report.lines(spell=command_line)
    assert "  row 7, category: is required: column 'kategorie' is empty; give the rows without one a category with " \
           "--category (e.g. --category bauluecke)" in lines  # fmt: skip
    assert "  row 9, geom: lies outside North Rhine-Westphalia" in lines
    assert report.rejections[0].reason == ENGLISH_ROWS[1][1]  # the report's own fields: English
    noted = tmp_path / "notiz.csv"
    noted.write_bytes(cp1252_csv())
    report = import_file(conn, noted, ImportOptions(**options, crs="25832"))
    assert "  note: notiz.csv is not UTF-8 and does not say its encoding: read as Windows-1252 (cp1252), as Excel " \
           "and other Windows programs write it, which gives ä, ü; if letters look wrong, give the encoding with " \
           "--encoding" in report.lines(spell=command_line)  # fmt: skip
    assert report.to_dict(lang="de")["file_notes"][0].startswith("notiz.csv ist kein UTF-8")


# -- the plan check page ---------------------------------------------------------------------------------
def _plan(place, width=200.0, lonlat=True) -> bytes:
    from pyproj import Transformer

    square = square_at(place, width)
    if lonlat:
        to_wgs84 = Transformer.from_crs(25832, 4326, always_xy=True)
        square = shapely.ops.transform(to_wgs84.transform, square)
    feature = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(square)}
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def test_the_plan_check_page_says_the_crs_checks_in_german(planners):
    import shapely.ops  # noqa: F401

    with TestClient(create_app(database_url(planners))) as client:
        csrf = _sign_in(client, "ministerium", "/app/planpruefung")
        crs_problem = "Das Koordinatensystem fehlt oder passt nicht zu den Koordinaten: "
        cases = [  # (file, form, field, German words)
            (_plan(BERLIN_ALEXANDERPLATZ), {}, "crs",
             crs_problem + "plan.geojson: der Plan liegt nicht in Nordrhein-Westfalen (erster Punkt "),
            (_plan(DORTMUND_REINOLDIKIRCHE), {"crs": "25832"}, "crs",
             crs_problem + "plan.geojson: die Koordinaten sehen nach geographischer Länge/Breite in Grad aus"),
            (_plan(DORTMUND_REINOLDIKIRCHE, lonlat=False), {"crs": "4326"}, "crs",
             crs_problem + "plan.geojson: die Koordinaten sehen nach projizierten Metern aus"),
        ]  # fmt: skip
        for content, form, field, words in cases:
            data = {"csrf_token": csrf, "intended_use": "WA"} | form
            answer = client.post("/app/planpruefung", files={"file": ("plan.geojson", content)}, data=data,
                                 follow_redirects=False)  # fmt: skip
            assert answer.status_code == 422, answer.text[:300]
            said = unescape(re.search(rf'id="err-{field}">(.*?)</', answer.text, re.S).group(1))
            assert said.startswith(words), (words, said)
            assert "the form field" not in said and "⟦" not in said
        token = bearers(planners, m=("ministerium", "ministry"))["m"]
        api = client.post("/safeguarding/plan-checks/file", files={"file": ("plan.geojson", _plan(BERLIN_ALEXANDERPLATZ))},
                          data={"intended_use": "WA"}, headers=token)  # fmt: skip
        assert api.status_code == 422
        assert "plan.geojson: the plan does not lie in North Rhine-Westphalia (first point " in api.json()["detail"]
