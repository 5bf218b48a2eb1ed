"""ALKIS Flurstücke: NAS and ALKIS vereinfacht files become parcels with their Flurstückskennzeichen,
the amtliche Fläche and the gemeindezugehoerigkeit are checked against the outline, and a planner
composes a parcel of loaded Flurstücke.

Fixtures in tests/data/alkis (made up, in Essen): ``flurstuecke.xml`` (NAS: 101, 102/3 with an
amtliche Fläche 4 % above its outline, 103 with a hole, and a building), ``falsche_gemeinde.xml``
(a Flurstück in Essen whose gemeindezugehoerigkeit says Dortmund) and ``flurstuecke_vereinfacht.zip``
(ALKIS vereinfacht, grouped by the planner's column FLAECHE_NR: BF-7 of two Flurstücke, BF-8 with an
amtliche Fläche 4 % above its outline).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from landreg import alkis, flurstueck, register
from landreg.access import FULL, PUBLIC, Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.features import COLLECTIONS, queryables_schema
from landreg.importer import ImportOptions, ImportRefused, InvalidOption, import_file
from landreg.importer.alkis import read_flurstuecke
from landreg.importer.sources import lists_as_text
from landreg.parcels import ParcelError

DATA = Path(__file__).parent / "data" / "alkis"
NAS = DATA / "flurstuecke.xml"
WRONG_MUNICIPALITY = DATA / "falsche_gemeinde.xml"
SIMPLIFIED = DATA / "flurstuecke_vereinfacht.zip"
ESSEN = Principal(None, "planung.essen", "planner", ("05113000",))

# the outlines of the NAS fixture, written out again: the independent measure of the areas
F101 = shapely.box(362000, 5700500, 362030, 5700540)
F102 = shapely.box(362030, 5700500, 362060, 5700540)
F103 = shapely.Polygon(
    [(362100, 5700500), (362130, 5700500), (362130, 5700530), (362100, 5700530)],
    [[(362110, 5700510), (362110, 5700514), (362115, 5700514), (362115, 5700510)]],
)
AMTLICH = {"05350100200101______": 1200, "053501002001020003__": 1250, "05350100200103______": 882}
OUTLINE = {"05350100200101______": F101, "053501002001020003__": F102, "05350100200103______": F103}


def run(conn, path, **options):
    return import_file(conn, path, ImportOptions(actor="planung.essen", **options))


def parcels(conn) -> dict[str, tuple]:
    rows = conn.execute(text("SELECT local_ref, flurstueckskennzeichen, ags, geom FROM parcel ORDER BY local_ref"))
    return {r.local_ref: (r.flurstueckskennzeichen, r.ags, shapely.from_wkb(r.geom)) for r in rows}


def count(conn, table="parcel") -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


# -- the keys ------------------------------------------------------------------------------------
def test_kennzeichen_are_stored_in_the_20_character_form():
    assert flurstueck.key("05329001100085______") == "05329001100085______"
    assert flurstueck.key("05329001100085") == "05329001100085______"  # padding left out
    assert flurstueck.key("05-3290-11-85/2") == "053290011000850002__"
    assert flurstueck.joined("05-3290-11-85/2; 05329001100085______ 05329001100085") == (
        "053290011000850002__,05329001100085______"  # sorted as text: digits before "_"
    )
    assert flurstueck.readable("053290011000850002__") == "05-3290-11-85/2"
    with pytest.raises(ValueError, match="not a Flurstückskennzeichen.*05329001100085______"):
        flurstueck.key("Flur 11 Nr. 85")


def test_the_ags_of_a_gemeindekennzeichen_as_gdal_reads_it():
    assert flurstueck.ags("05", "1", "13", "000") == "05113000"
    assert flurstueck.ags(5, 9, 13, 0) == "05913000"  # GDAL guessed numbers: zeros restored
    assert flurstueck.ags(None, None, None, None) is None
    with pytest.raises(ValueError, match="incomplete: kreis missing"):
        flurstueck.ags("05", "1", None, "000")


# -- NAS -------------------------------------------------------------------------------------
def test_a_nas_file_with_list_valued_attributes_is_read():
    found = read_flurstuecke(NAS)
    assert (found.layout, found.layer, found.crs.to_epsg()) == ("NAS", "AX_Flurstueck", 25832)
    assert list(found.frame["kennzeichen"]) == list(AMTLICH)
    assert set(found.frame["ags"]) == {"05113000"}
    assert found.attributes["name"].iloc[0] == "2009/95001-52; 1954/     -01"  # a list, as text
    assert not found.problems
    assert not list(DATA.glob("*.gfs"))  # GDAL wrote nothing beside the file


def test_a_nas_flurstueck_becomes_a_parcel_with_its_kennzeichen_and_an_area_note(conn):
    report = run(conn, NAS, from_alkis=True, category="brachflaeche")
    assert (report.status, report.inserted, report.rejected) == ("committed", 3, 0), report.lines()
    assert report.mapping == {
        "local_ref": "local_ref",
        "ags": "gemeindezugehoerigkeit",
        "flurstueckskennzeichen": "flurstueckskennzeichen",
        "declared_area_m2": "amtliche_flaeche",
    }
    stored = parcels(conn)
    assert set(stored) == set(AMTLICH)
    for key, (keys, ags, geom) in stored.items():
        assert (keys, ags) == (key, "05113000")
        assert geom.area == pytest.approx(OUTLINE[key].area)  # the hole of 103 kept
    # a note exactly where the amtliche Fläche and the outline (measured by shapely) differ by more than 1 %
    off = {k for k, a in AMTLICH.items() if abs(OUTLINE[k].area - a) > 0.01 * a}
    assert off == {"053501002001020003__"}
    assert [(n.row, n.field) for n in report.notes] == [(2, "declared_area_m2")]
    assert "1250.0 m²" in report.notes[0].reason and "1200.0 m²" in report.notes[0].reason
    assert not report.missing  # the municipality's other parcels are no concern of an ALKIS import


def test_a_nas_file_imported_without_from_alkis_is_refused_naming_the_option(conn, tmp_path):
    copy = tmp_path / NAS.name  # GDAL may write a .gfs beside the file it reads as plain GML
    shutil.copy(NAS, copy)
    with pytest.raises(
        ImportRefused, match=r"holds ALKIS Flurstücke \(NAS, AX_Flurstueck\): import them with the option from_alkis"
    ) as refused:
        run(conn, copy, layer="AX_Flurstueck", category="brachflaeche")
    assert refused.value.field == "from_alkis"
    assert count(conn) == 0


def test_list_valued_attributes_of_any_gml_are_read_as_text():
    frame = lists_as_text(pd.DataFrame({"art": [np.array(["a", "b"]), None, np.array(["c"])], "n": ["x", "y", "z"]}))
    assert frame["art"][0] == "a; b" and pd.isna(frame["art"][1]) and frame["art"][2] == "c"
    assert frame["n"].tolist() == ["x", "y", "z"]


def test_a_wrong_gemeindezugehoerigkeit_is_refused_and_nothing_written(conn):
    report = run(conn, WRONG_MUNICIPALITY, from_alkis=True, category="brachflaeche")
    assert report.status == "rejected"
    [issue] = report.rejections
    assert issue.field == "ags"
    assert "05113000 Essen" in issue.reason and "05913000 Dortmund" in issue.reason
    assert count(conn) == 0


def test_a_flurstueck_along_the_generalised_border_is_taken_for_its_gemeinde_with_a_note(conn, tmp_path):
    # 10 m × 10 m in Bochum, 4 to 8 m from Essen by the registry's (generalised) boundaries; ALKIS says Essen
    x, y = conn.execute(
        text("""
        SELECT ST_X(p), ST_Y(p) FROM (
            SELECT ST_PointOnSurface(ST_Difference(ST_Intersection(ST_Buffer(e.geom, 8), b.geom), ST_Buffer(e.geom, 4))) AS p
              FROM municipality e, municipality b WHERE e.ags = '05113000' AND b.ags = '05911000') border
    """)
    ).one()
    square = shapely.box(x - 5, y - 5, x + 5, y + 5)
    position = " ".join(f"{a:.3f} {b:.3f}" for a, b in square.exterior.coords)
    source = WRONG_MUNICIPALITY.read_text()
    start = source.index("<gml:posList>") + len("<gml:posList>")
    nas = source[:start] + position + source[source.index("</gml:posList>") :]
    nas = nas.replace("<regierungsbezirk>9</regierungsbezirk>", "<regierungsbezirk>1</regierungsbezirk>")
    nas = nas.replace(
        '<amtlicheFlaeche uom="m2">1200</amtlicheFlaeche>', '<amtlicheFlaeche uom="m2">100</amtlicheFlaeche>'
    )
    path = tmp_path / "grenze.xml"
    path.write_text(nas)
    report = run(conn, path, from_alkis=True, category="brachflaeche")
    assert report.status == "committed", report.lines()
    assert [(n.field, "05911000 Bochum" in n.reason) for n in report.notes] == [("ags", True)]
    assert parcels(conn)["05350100200109______"][1] == "05113000"


def test_grouped_flurstuecke_become_one_parcel_whose_history_lists_the_kennzeichen(conn, tmp_path):
    first = run(conn, NAS, from_alkis=True, category="brachflaeche", group_by="flurnummer")
    assert (first.status, first.inserted) == ("committed", 1), first.lines()
    [(keys, ags, geom)] = parcels(conn).values()
    assert keys == ",".join(sorted(AMTLICH)) and ags == "05113000"
    assert geom.area == pytest.approx(shapely.union_all(list(OUTLINE.values())).area)
    # the same Flur without Flurstück 103: a new version of the parcel "2"
    smaller = tmp_path / "ohne_103.xml"
    source = NAS.read_text()
    start = source.index('<wfs:member>\n<AX_Flurstueck gml:id="DENWTEST00000003">')
    smaller.write_text(source[:start] + source[source.index("</wfs:member>", start) + len("</wfs:member>\n") :])
    second = run(conn, smaller, from_alkis=True, category="brachflaeche", group_by="flurnummer")
    assert (second.status, second.changed) == ("committed", 1), second.lines()
    parcel_id = conn.execute(text("SELECT id FROM parcel")).scalar_one()
    history = register.parcel_history(conn, FULL, parcel_id)
    assert [v["flurstueckskennzeichen"] for v in history] == [
        "05350100200101______,053501002001020003__,05350100200103______",
        "05350100200101______,053501002001020003__",
    ]


def test_the_kennzeichen_is_queryable_by_everybody(conn):
    run(conn, NAS, from_alkis=True, category="brachflaeche")
    parcels_collection = COLLECTIONS["parcels"]
    assert "flurstueckskennzeichen" in queryables_schema(parcels_collection, PUBLIC)["properties"]
    for cql, expected in (
        ("flurstueckskennzeichen = '053501002001020003__'", 1),
        ("flurstueckskennzeichen LIKE '%05350100200103\\_\\_\\_\\_\\_\\_%'", 1),
        ("flurstueckskennzeichen LIKE '0535010020010%'", 3),
    ):
        page = register.features_page(conn, register.FeatureQuery(parcels_collection, FULL, filter=cql))
        assert page.matched == expected, cql


def test_a_kennzeichen_in_another_form_is_refused_by_the_database(conn, session):
    run(conn, NAS, from_alkis=True, category="brachflaeche")
    parcel_id = conn.execute(text("SELECT id FROM parcel WHERE local_ref = '05350100200101______'")).scalar_one()
    with pytest.raises(ParcelError) as refused:
        register.update(session, ESSEN, parcel_id, "*", {"flurstueckskennzeichen": "Flur 2, Nr. 101"})
    assert refused.value.field == "flurstueckskennzeichen"
    assert "'Flur 2, Nr. 101' is not a list of Flurstückskennzeichen" in refused.value.reason


def test_options_that_do_not_fit_an_alkis_import_are_refused(conn):
    with pytest.raises(InvalidOption, match="group_by groups the Flurstücke") as refused:
        run(conn, NAS, group_by="flurnummer", category="brachflaeche")
    assert refused.value.field == "group_by"
    with pytest.raises(InvalidOption, match="would retire all others"):
        run(conn, NAS, from_alkis=True, category="brachflaeche", retire_missing=True)
    with pytest.raises(InvalidOption, match="category") as refused:
        run(conn, NAS, from_alkis=True)
    assert refused.value.field == "category"
    with pytest.raises(ImportRefused, match="no column 'flaechen_nr'.*flurnummer") as refused:
        run(conn, NAS, from_alkis=True, category="brachflaeche", group_by="flaechen_nr")
    assert refused.value.field == "group_by"
    assert count(conn) == 0


# -- ALKIS vereinfacht -----------------------------------------------------------------------
def test_alkis_vereinfacht_grouped_by_the_planners_column(conn):
    report = run(conn, SIMPLIFIED, from_alkis=True, category="gewerbeflaeche", group_by="FLAECHE_NR")
    assert (report.status, report.inserted) == ("committed", 2), report.lines()
    stored = parcels(conn)
    assert stored["BF-7"][0] == "05350100300201______,05350100300202______"
    assert stored["BF-8"][0] == "053501003002030001__"
    assert stored["BF-7"][2].area == pytest.approx(80 * 30) and len(stored["BF-7"][2].geoms) == 1
    # BF-7: 1,200 + 1,203 m² stated, 2,400 m² measured (0.1 %); BF-8: 520 stated, 500 measured (4 %)
    assert [(n.row, n.field) for n in report.notes] == [(2, "declared_area_m2")]


def test_a_group_across_municipalities_is_refused_naming_them(conn, tmp_path):
    frame = gpd.read_file(f"zip://{SIMPLIFIED}")
    frame.loc[2, "FLAECHE_NR"] = "BF-7"
    frame.loc[2, "GMDSCHL"] = "05913000"
    path = tmp_path / "gemischt.gpkg"
    frame.to_file(path)
    report = run(conn, path, from_alkis=True, category="gewerbeflaeche", group_by="FLAECHE_NR")
    [issue] = report.rejections
    assert (report.status, issue.row, issue.field) == ("rejected", 1, "ags")
    assert "several municipalities" in issue.reason and "05113000, 05913000" in issue.reason
    assert count(conn) == 0


def test_keep_valid_writes_the_refused_group_with_its_reason(conn, tmp_path):
    frame = gpd.read_file(f"zip://{SIMPLIFIED}")
    frame.loc[2, "GMDSCHL"] = "05913000"  # BF-8 claimed for Dortmund
    path = tmp_path / "bf8_dortmund.gpkg"
    frame.to_file(path)
    report = run(conn, path, from_alkis=True, category="gewerbeflaeche", group_by="FLAECHE_NR", mode="keep-valid")
    assert (report.status, report.inserted, report.rejected) == ("committed", 1, 1)
    rejected = gpd.read_file(report.rejected_file)
    assert list(rejected["local_ref"]) == ["BF-8"] and "05913000 Dortmund" in rejected["import_errors"][0]
    assert rejected.geometry[0].area == pytest.approx(500)
    assert set(parcels(conn)) == {"BF-7"}


def test_a_flurstueck_without_kennzeichen_is_refused_naming_it(conn, tmp_path):
    frame = gpd.read_file(f"zip://{SIMPLIFIED}")
    frame.loc[1, "FLSTKENNZ"] = "Flur 3"
    path = tmp_path / "kaputt.gpkg"
    frame.to_file(path)
    report = run(conn, path, from_alkis=True, category="gewerbeflaeche", group_by="FLAECHE_NR")
    [issue] = report.rejections
    assert (issue.row, issue.field) == (1, "flurstueckskennzeichen")
    assert "Flurstück in row 2 of the file: 'Flur 3' is not a Flurstückskennzeichen" in issue.reason
    assert count(conn) == 0


# -- loaded Flurstücke -----------------------------------------------------------------------
def test_loading_notes_what_does_not_fit_and_replaces_on_reload(conn):
    first = alkis.load(conn, NAS, "kataster")
    assert (first.layout, first.loaded, first.new, first.replaced) == ("NAS", 3, 3, 0)
    [note] = first.notes
    assert note.startswith("Flurstück 05-3501-2-102/3: amtliche Fläche 1,250 m², the outline measures 1,200.0 m²")
    again = alkis.load(conn, NAS, "kataster")
    assert (again.loaded, again.new, again.replaced) == (3, 0, 3)
    wrong = alkis.load(conn, WRONG_MUNICIPALITY, "kataster")
    assert wrong.notes == [
        "Flurstück 05-3501-2-109: gemeindezugehoerigkeit 05913000 (Dortmund), but its outline lies outside Dortmund"
    ]
    assert count(conn, "alkis_flurstueck") == 4


def test_a_file_with_an_unusable_flurstueck_loads_nothing(conn, tmp_path):
    frame = gpd.read_file(f"zip://{SIMPLIFIED}")
    frame.loc[1, "FLSTKENNZ"] = "Flur 3"
    path = tmp_path / "kaputt.gpkg"
    frame.to_file(path)
    with pytest.raises(
        ImportRefused, match="nothing loaded, 1 Flurstück cannot be used: row 2, flurstueckskennzeichen"
    ):
        alkis.load(conn, path, "kataster")
    assert count(conn, "alkis_flurstueck") == 0


def test_flurstuecke_in_a_box(conn):
    alkis.load(conn, NAS, "kataster")
    page = alkis.flurstuecke_in(conn, (362000, 5700500, 362050, 5700520), limit=10, srid=25832)
    assert [f["kennzeichen"] for f in page.features] == ["05350100200101______", "053501002001020003__"]
    assert not page.truncated and page.features[1]["bezeichnung"] == "05-3501-2-102/3"
    assert page.features[1]["amtliche_flaeche"] == 1250 and page.features[1]["geometry"]["type"] == "MultiPolygon"
    lonlat = alkis.flurstuecke_in(conn, (6.9, 51.3, 7.1, 51.5), limit=2)
    assert len(lonlat.features) == 2 and lonlat.truncated
    assert alkis.flurstuecke_in(conn, (-170, -80, -160, -70)).features == []
    for bad in ((1, 2, 3), (2, 0, 1, 1), (0, 0, float("nan"), 1), "x"):
        with pytest.raises(InvalidParameter, match="bbox"):
            alkis.flurstuecke_in(conn, bad)
    with pytest.raises(InvalidParameter, match="limit"):
        alkis.flurstuecke_in(conn, (6.9, 51.3, 7.1, 51.5), limit=alkis.LIMIT_MAX + 1)


def test_a_planner_composes_a_parcel_of_flurstuecke(conn, session):
    alkis.load(conn, NAS, "kataster")
    composed = alkis.parcel_from_flurstuecke(
        session, ESSEN, ["05-3501-2-101", "053501002001020003__"], {"category": "brachflaeche", "name": "Zeche"}
    )
    parcel = composed.parcel
    assert (parcel.local_ref, parcel.ags) == ("05350100200101______", "05113000")
    assert parcel.flurstueckskennzeichen == "05350100200101______,053501002001020003__"
    assert parcel.area_m2 == pytest.approx(shapely.union_all([F101, F102]).area)
    # 1,200 + 1,250 m² stated, 2,400 m² measured: 2 %
    assert composed.notes == [
        "Flurstück 05-3501-2-101, 05-3501-2-102/3: amtliche Fläche 2,450 m², the outline measures 2,400.0 m² (-2.0 %)"
    ]
    apart = alkis.parcel_from_flurstuecke(
        session, ESSEN, ["05350100200103______", "05350100200101______"], {"category": "bauluecke", "local_ref": "X"}
    )
    assert apart.notes == ["the Flurstücke do not adjoin: the parcel's outline has 2 parts"]


def test_composing_refuses_what_alkis_contradicts_and_writes_nothing(conn, session):
    alkis.load(conn, NAS, "kataster")
    alkis.load(conn, WRONG_MUNICIPALITY, "kataster")
    with pytest.raises(InvalidParameter) as refused:
        alkis.parcel_from_flurstuecke(session, ESSEN, ["05350100200109______"], {"category": "brachflaeche"})
    assert refused.value.field == "flurstueckskennzeichen"
    assert "belong to 05913000 Dortmund, but their outline lies in 05113000 Essen (100 %)" in str(refused.value)
    with pytest.raises(NotFound, match="not loaded: 05-3501-2-999; load them with `landreg alkis load FILE`"):
        alkis.parcel_from_flurstuecke(session, ESSEN, ["05350100200999______"], {"category": "brachflaeche"})
    with pytest.raises(InvalidParameter, match="geom: comes from the Flurstücke"):
        alkis.parcel_from_flurstuecke(session, ESSEN, ["05350100200101______"], {"geom": F101, "category": "x"})
    dortmund = Principal(None, "planung.dortmund", "planner", ("05913000",))
    with pytest.raises(PermissionError):
        alkis.parcel_from_flurstuecke(session, dortmund, ["05350100200101______"], {"category": "brachflaeche"})
    assert count(conn) == 0


# -- the adapters ----------------------------------------------------------------------------
def test_post_imports_with_from_alkis(committed_db):
    from api.app import create_app
    from landreg.auth import create_token

    with committed_db.begin() as conn:
        _, token = create_token(conn, "planung.essen", "planner", ["05113000"])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:

        def upload(path, **form):
            with open(path, "rb") as f:
                return client.post("/imports", files={"file": (path.name, f)}, data=form, headers=headers)

        wrong = upload(WRONG_MUNICIPALITY, from_alkis="true", category="brachflaeche")
        assert wrong.status_code == 422 and wrong.json()["rejections"][0]["field"] == "ags"
        missing = upload(NAS, from_alkis="true")
        assert missing.status_code == 400 and missing.json()["field"] == "category"
        assert "the form field category" in missing.json()["detail"]
        created = upload(NAS, from_alkis="true", category="brachflaeche")
        assert created.status_code == 201, created.text
        assert created.json()["inserted"] == 3 and created.json()["notes"][0]["field"] == "declared_area_m2"
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel WHERE flurstueckskennzeichen IS NOT NULL")).scalar() == 3


def test_the_commands(make_database, tmp_path):
    from sqlalchemy import create_engine

    from landreg import migrate
    from landreg.auth import create_token
    from landreg.seed import load_municipalities

    url = make_database("landreg_alkis_cli")
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        load_municipalities(conn)
        _, token = create_token(conn, "planung.essen", "planner", ["05113000"])
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANDREG_")} | {"LANDREG_DATABASE_URL": url}

    def landreg(*args):
        return subprocess.run(
            [sys.executable, "-m", "landreg.cli", *args], capture_output=True, text=True, env=env, timeout=120
        )

    copy = tmp_path / SIMPLIFIED.name
    shutil.copy(SIMPLIFIED, copy)
    imported = landreg("import", str(copy), "--from-alkis", "--group-by", "FLAECHE_NR", "--category", "bauluecke")
    assert imported.returncode == 0, imported.stderr
    assert "new 2," in imported.stdout, imported.stdout
    no_category = landreg("import", str(copy), "--from-alkis")
    assert (
        no_category.returncode == 2 and "give it with --category (e.g. --category brachflaeche)" in no_category.stderr
    )

    loaded = landreg("alkis", "load", str(NAS))
    assert loaded.returncode == 0 and "3 Flurstücke loaded, 3 new, 0 replaced" in loaded.stdout
    made = landreg("alkis", "parcel", "05-3501-2-103", "--category", "bauluecke", "--token", token)
    assert made.returncode == 0, made.stderr
    assert "parcel 05350100200103______ (05113000) created: 880.0 m²" in made.stdout
    unknown = landreg("alkis", "parcel", "05-3501-2-999", "--category", "bauluecke", "--token", token)
    assert unknown.returncode == 2 and "not loaded: 05-3501-2-999" in unknown.stderr
