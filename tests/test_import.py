"""Importing municipal files: every bad input gets a clear error and changes nothing."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from landreg.export import Selection, export_parcels
from landreg.importer import ImportOptions, ImportRefused, import_file
from tests.helpers import BERLIN_ALEXANDERPLATZ, DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, square_at, utm

DO = DORTMUND_REINOLDIKIRCHE


def near(lonlat, east_m: float = 0, north_m: float = 0, size: float = 40):
    x, y = utm(*lonlat)
    return shapely.box(x + east_m, y + north_m, x + east_m + size, y + north_m + size)


def frame(rows: list[dict], crs=25832) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        pd.DataFrame(rows).drop(columns="geometry"), geometry=[r["geometry"] for r in rows], crs=crs
    )


def three_parcels() -> gpd.GeoDataFrame:
    return frame(
        [
            {"Flächen-Nr": "BL-1", "Bezeichnung": "Lücke Kampstraße", "Kategorie": "Baulücke", "geometry": near(DO)},
            {"Flächen-Nr": "BF-2", "Bezeichnung": "Zeche West", "Kategorie": "Brache", "geometry": near(DO, 100)},
            {
                "Flächen-Nr": "GE-3",
                "Bezeichnung": "Gewerbe Ost",
                "Kategorie": "Gewerbefläche",
                "geometry": near(DO, 200),
            },
        ]
    )


def run(conn, path, **options):
    return import_file(conn, path, ImportOptions(actor="planer.test", **options))


def count(conn, sql="SELECT count(*) FROM parcel"):
    return conn.execute(text(sql)).scalar_one()


@pytest.fixture
def gpkg(tmp_path):
    path = tmp_path / "reserven.gpkg"
    three_parcels().to_file(path)
    return path


# -- what lands ---------------------------------------------------------------------------
def test_a_geopackage_lands_with_derived_municipality_and_history(conn, gpkg):
    report = run(conn, gpkg)
    assert (report.status, report.inserted, report.rejected) == ("committed", 3, 0)
    assert report.mapping == {"local_ref": "Flächen-Nr", "name": "Bezeichnung", "category": "Kategorie"}
    rows = conn.execute(text("SELECT local_ref, ags, category, created_by FROM parcel ORDER BY local_ref")).all()
    assert [tuple(r) for r in rows] == [
        ("BF-2", "05913000", "brachflaeche", "planer.test"),
        ("BL-1", "05913000", "bauluecke", "planer.test"),
        ("GE-3", "05913000", "gewerbeflaeche", "planer.test"),
    ]
    assert count(conn, "SELECT count(*) FROM parcel_version") == 3


def test_reimporting_the_same_file_changes_nothing(conn, gpkg):
    run(conn, gpkg)
    again = run(conn, gpkg)
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 3)
    assert count(conn, "SELECT count(*) FROM parcel_version") == 3


def test_a_changed_row_becomes_a_new_version(conn, gpkg, tmp_path):
    run(conn, gpkg)
    changed = three_parcels()
    changed.loc[0, "Bezeichnung"] = "Lücke Kampstraße (neu)"
    changed.loc[1, "geometry"] = near(DO, 100, size=50)
    path = tmp_path / "v2.gpkg"
    changed.to_file(path)
    report = run(conn, path)
    assert (report.changed, report.unchanged) == (2, 1)
    versions = conn.execute(
        text("""
        SELECT v.local_ref, v.version, v.name, round(v.area_m2) FROM parcel_version v ORDER BY 1, 2
    """)
    ).all()
    assert [tuple(v) for v in versions if v[0] in ("BL-1", "BF-2")] == [
        ("BF-2", 1, "Zeche West", 1600),
        ("BF-2", 2, "Zeche West", 2500),
        ("BL-1", 1, "Lücke Kampstraße", 1600),
        ("BL-1", 2, "Lücke Kampstraße (neu)", 1600),
    ]


def test_parcels_missing_from_a_reimport_are_reported_and_retired_only_when_asked(conn, gpkg, tmp_path):
    run(conn, gpkg)
    path = tmp_path / "without_ge3.gpkg"
    three_parcels().iloc[:2].to_file(path)
    report = run(conn, path)
    assert report.missing == [("05913000", "GE-3")] and report.retired == 0
    assert count(conn, "SELECT count(*) FROM parcel WHERE retired_at IS NULL") == 3
    report = run(conn, path, retire_missing=True)
    assert report.retired == 1
    assert count(conn, "SELECT count(*) FROM parcel WHERE retired_at IS NULL") == 2


def test_dry_run_shows_the_report_and_writes_nothing(conn, gpkg):
    report = run(conn, gpkg, dry_run=True)
    assert (report.status, report.inserted) == ("dry-run", 3)
    assert count(conn) == 0 and count(conn, "SELECT count(*) FROM import_run") == 0


def test_every_import_is_recorded(conn, gpkg):
    report = run(conn, gpkg)
    row = conn.execute(
        text("SELECT actor, file_name, sha256, status, inserted FROM import_run WHERE id = :id"),
        {"id": report.import_id},
    ).one()
    assert tuple(row) == ("planer.test", "reserven.gpkg", report.sha256, "committed", 3)
    assert len(report.sha256) == 64


# -- the bad inputs: a clear error per row, and nothing lands --------------------------------
def _rejected_with(conn, tmp_path, rows, name="bad.gpkg", **options):
    path = tmp_path / name
    frame(rows).to_file(path)
    report = run(conn, path, **options)
    assert report.status == "rejected" and count(conn) == 0, report.lines()
    recorded = conn.execute(
        text("SELECT status, rejected FROM import_run WHERE id = :id"), {"id": report.import_id}
    ).one()
    assert tuple(recorded) == ("rejected", report.rejected)
    return report


def test_a_bow_tie_polygon_is_refused_with_its_row(conn, tmp_path):
    x, y = utm(*DO)
    bowtie = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
    report = _rejected_with(
        conn,
        tmp_path,
        [
            {"ref": "OK-1", "category": "bauluecke", "geometry": near(DO, 300)},
            {"ref": "BOW", "category": "bauluecke", "geometry": bowtie},
        ],
    )
    [issue] = report.rejections
    assert (issue.row, issue.field) == (2, "geom")
    assert "Self-intersection" in issue.reason and "tolerated" in issue.reason


def test_a_slightly_invalid_polygon_is_repaired_and_says_so(conn, tmp_path):
    x, y = utm(*DO)
    # a 100 x 100 square whose ring touches itself in a 1 m spike
    spiky = shapely.Polygon(
        [
            (x, y),
            (x + 100, y),
            (x + 100, y + 100),
            (x + 50, y + 100),
            (x + 50, y + 101),
            (x + 50, y + 100),
            (x, y + 100),
        ]
    )
    path = tmp_path / "spike.gpkg"
    frame([{"ref": "S", "category": "bauluecke", "geometry": spiky}]).to_file(path)
    report = run(conn, path)
    assert report.status == "committed" and report.inserted == 1
    assert "repaired" in report.notes[0].reason
    assert count(conn, "SELECT round(area_m2) FROM parcel") == 10_000


@pytest.mark.parametrize(
    "geometry, reason",
    [
        (shapely.Point(393_000, 5_708_000), "a Point where a polygon is needed"),
        (shapely.LineString([(393_000, 5_708_000), (393_100, 5_708_000)]), "a LineString where a polygon"),
        (shapely.Polygon(), "empty"),
    ],
)
def test_empty_and_non_polygonal_geometries_are_refused(conn, tmp_path, geometry, reason):
    report = _rejected_with(
        conn,
        tmp_path,
        [
            {"ref": "OK", "category": "bauluecke", "geometry": near(DO)},
            {"ref": "X", "category": "bauluecke", "geometry": geometry},
        ],
    )
    assert [(i.row, i.field) for i in report.rejections] == [(2, "geom")]
    assert reason in report.rejections[0].reason


def test_a_parcel_in_essen_claimed_for_dortmund_is_refused(conn, tmp_path):
    report = _rejected_with(
        conn,
        tmp_path,
        [
            {"ref": "E-1", "category": "bauluecke", "geometry": near(ESSEN_HBF)},
        ],
        municipality="05913000",
    )
    [issue] = report.rejections
    assert issue.field == "ags"
    assert "05113000 Essen" in issue.reason and "05913000 Dortmund" in issue.reason


def test_a_parcel_across_a_municipal_border_goes_to_the_larger_share(conn, tmp_path):
    # a point on the border of Essen and Bochum, and a rectangle across it, off-centre
    x, y = conn.execute(
        text("""
        SELECT ST_X(p), ST_Y(p) FROM (
            SELECT ST_PointOnSurface(ST_Intersection(ST_Buffer(e.geom, 1), ST_Buffer(b.geom, 1))) AS p
              FROM municipality e, municipality b WHERE e.ags = '05113000' AND b.ags = '05911000') border
    """)
    ).one()
    parcel = shapely.box(x - 50, y - 50, x + 110, y + 110)
    # the shares, computed independently against the whole municipalities (not the importer's pieces)
    shares = conn.execute(
        text("""
        SELECT ags, name, ST_Area(ST_Intersection(geom, ST_GeomFromText(:wkt, 25832))) / :area AS share
          FROM municipality WHERE ST_Intersects(geom, ST_GeomFromText(:wkt, 25832)) ORDER BY share DESC
    """),
        {"wkt": parcel.wkt, "area": parcel.area},
    ).all()
    assert len(shares) == 2 and 0.55 < shares[0].share < 0.95, shares  # it does straddle the border
    larger, smaller = shares

    path = tmp_path / "border.gpkg"
    frame([{"ref": "GRENZE", "category": "gewerbeflaeche", "geometry": parcel}]).to_file(path)
    claimed_wrongly = run(conn, path, municipality=smaller.ags)
    [issue] = claimed_wrongly.rejections
    assert f"lies in {larger.ags} {larger.name} ({round(larger.share * 100)} % of its area)" in issue.reason
    report = run(conn, path)
    assert report.status == "committed", report.lines()
    assert count(conn, "SELECT ags FROM parcel WHERE local_ref = 'GRENZE'") == larger.ags


def test_a_parcel_that_only_touches_the_state_border_is_outside_every_municipality(conn, tmp_path):
    # a triangle outside NRW sharing one edge of a border municipality's outline (Emmerich am Rhein),
    # touching no other municipality
    outlines = conn.execute(
        text("SELECT ST_AsBinary(ST_ExteriorRing(geom)) FROM municipality_part WHERE ags = '05154012'")
    ).scalars()
    edges = [edge for wkb in outlines for c in [shapely.from_wkb(bytes(wkb)).coords] for edge in zip(c, c[1:])]
    for (ax, ay), (bx, by) in edges:
        length = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5
        if length < 20:
            continue
        mid_x, mid_y = (ax + bx) / 2, (ay + by) / 2
        # the apex 10 m off the edge's midpoint, on the side no municipality covers
        for side in (1, -1):
            apex = (mid_x - side * (by - ay) / length * 10, mid_y + side * (bx - ax) / length * 10)
            triangle = shapely.Polygon([(ax, ay), (bx, by), apex])
            sharing_area = conn.execute(
                text(
                    "SELECT count(*) FROM municipality WHERE ST_Relate(geom, ST_GeomFromText(:wkt, 25832), 'T********')"
                ),
                {"wkt": triangle.wkt},
            ).scalar_one()
            touching = conn.execute(
                text("SELECT count(*) FROM municipality WHERE ST_Touches(geom, ST_GeomFromText(:wkt, 25832))"),
                {"wkt": triangle.wkt},
            ).scalar_one()
            if sharing_area == 0 and touching == 1 and triangle.area >= 50:
                break
        else:
            continue
        break
    else:
        pytest.fail("no outline edge on the state border found")
    report = _rejected_with(conn, tmp_path, [{"ref": "AUSSEN", "category": "bauluecke", "geometry": triangle}])
    assert [(i.row, i.field, i.reason) for i in report.rejections] == [
        (1, "geom", "lies outside every municipality in the registry")
    ]


def test_a_parcel_outside_nrw_is_refused(conn, tmp_path):
    report = _rejected_with(
        conn,
        tmp_path,
        [
            {"ref": "OK", "category": "bauluecke", "geometry": near(DO)},
            {"ref": "OK2", "category": "bauluecke", "geometry": near(DO, 100)},
            {"ref": "B-1", "category": "bauluecke", "geometry": square_at(BERLIN_ALEXANDERPLATZ, 40)},
        ],
    )
    assert [(i.row, i.field, i.reason) for i in report.rejections] == [
        (3, "geom", "lies outside North Rhine-Westphalia")
    ]


def test_duplicate_references_are_refused_naming_both_rows(conn, tmp_path):
    report = _rejected_with(
        conn,
        tmp_path,
        [
            {"ref": "D", "category": "bauluecke", "geometry": near(DO)},
            {"ref": "D", "category": "bauluecke", "geometry": near(DO, 100)},
        ],
    )
    assert [(i.row, i.field) for i in report.rejections] == [(1, "local_ref"), (2, "local_ref")]
    assert "rows 1, 2" in report.rejections[0].reason


def test_unknown_category_values_are_refused_with_the_allowed_ones(conn, tmp_path):
    report = _rejected_with(
        conn,
        tmp_path,
        [
            {"ref": "W", "category": "Wiese", "geometry": near(DO)},
        ],
    )
    [issue] = report.rejections
    assert issue.field == "category" and "'Wiese'" in issue.reason and "bauluecke" in issue.reason


def test_a_csv_with_an_unclosed_ring_names_the_row(conn, tmp_path):
    x, y = utm(*DO)
    path = tmp_path / "wkt.csv"
    path.write_text(
        "ref;kategorie;wkt\n"
        f'A;Baulücke;"POLYGON(({x} {y}, {x + 30} {y}, {x + 30} {y + 30}, {x} {y + 30}, {x} {y}))"\n'
        f'B;Baulücke;"POLYGON(({x + 100} {y}, {x + 130} {y}, {x + 130} {y + 30}))"\n',
        encoding="utf-8",
    )
    report = import_file(conn, path, ImportOptions(actor="t", crs="25832"))
    assert report.status == "rejected" and count(conn) == 0
    [issue] = report.rejections
    assert (issue.row, issue.field) == (2, "geom") and "WKT cannot be read" in issue.reason


# -- whole-file problems: refused before anything is written ---------------------------------
def test_geographic_coordinates_declared_as_utm_are_refused(conn, tmp_path):
    path = tmp_path / "degrees.gpkg"
    degrees = gpd.GeoDataFrame(
        {"ref": ["A"], "category": ["bauluecke"]}, geometry=[shapely.box(7.466, 51.513, 7.467, 51.514)], crs=25832
    )
    degrees.to_file(path)
    with pytest.raises(ImportRefused, match="look like longitude/latitude.*crs=4326") as refused:
        run(conn, path)
    assert refused.value.field == "crs"


def test_swapped_axes_are_recognised(conn, tmp_path):
    x, y = utm(*DO)
    path = tmp_path / "swapped.gpkg"
    swapped = gpd.GeoDataFrame(
        {"ref": ["A"], "category": ["bauluecke"]}, geometry=[shapely.box(y, x, y + 40, x + 40)], crs=25832
    )
    swapped.to_file(path)
    with pytest.raises(ImportRefused, match="axes appear to be swapped"):
        run(conn, path)


def test_gauss_krueger_declared_as_utm_is_named(conn, tmp_path):
    gk = gpd.GeoDataFrame({"ref": ["A"], "category": ["bauluecke"]}, geometry=[near(DO)], crs=25832).to_crs(31467)
    gk = gk.set_crs(25832, allow_override=True)
    path = tmp_path / "gk.gpkg"
    gk.to_file(path)
    with pytest.raises(ImportRefused, match="Gauß-Krüger zone 3.*crs=31467"):
        run(conn, path)


def test_a_file_without_crs_needs_crs_given(conn, tmp_path):
    path = tmp_path / "nocrs.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    x, y = utm(*DO)
    path = tmp_path / "nocrs.csv"
    path.write_text(f'ref,category,wkt\nA,bauluecke,"POLYGON(({x} {y},{x + 9} {y},{x + 9} {y + 9},{x} {y}))"\n')
    with pytest.raises(ImportRefused, match="does not say which coordinate reference system.*the option crs"):
        run(conn, path)
    assert run(conn, path, crs="25832").inserted == 1


def test_a_file_in_lon_lat_is_transformed(conn, tmp_path):
    path = tmp_path / "wgs84.geojson"
    three_parcels().to_crs(4326).to_file(path, driver="GeoJSON")
    assert run(conn, path).inserted == 3
    area = conn.execute(text("SELECT area_m2 FROM parcel WHERE local_ref = 'BL-1'")).scalar_one()
    assert area == pytest.approx(1600, abs=0.01)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"PK\x03\x04 this is not really a zip", "not a readable zip archive"),
    ],
)
def test_empty_and_corrupt_archives_are_refused(conn, tmp_path, content, message):
    path = tmp_path / "broken.zip"
    path.write_bytes(content)
    with pytest.raises(ImportRefused, match=message):
        run(conn, path)


def test_a_truncated_geopackage_is_refused(conn, gpkg):
    data = gpkg.read_bytes()
    gpkg.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImportRefused, match="cannot be read"):
        run(conn, gpkg)
    assert count(conn) == 0


def test_a_zip_without_a_shapefile_says_what_it_holds(conn, tmp_path):
    path = tmp_path / "nothing.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("liesmich.txt", "keine Geodaten")
    with pytest.raises(ImportRefused, match="holds no shapefile.*liesmich.txt"):
        run(conn, path)


def test_a_zipped_cp1252_shapefile_keeps_its_umlauts(conn, tmp_path):
    shp = tmp_path / "shp" / "flaechen.shp"
    shp.parent.mkdir()
    data = frame(
        [
            {
                "NR": "K-1",
                "NAME": "Brachfläche Zeche Königsborn",
                "ART": "Brachfläche",
                "geometry": near((7.6615, 51.5365)),
            }
        ]
    )  # Unna-Königsborn
    pyogrio.write_dataframe(data, shp, encoding="cp1252")
    assert b"Brachfl\xe4che Zeche K\xf6nigsborn" in shp.with_suffix(".dbf").read_bytes()
    archive = tmp_path / "flaechen.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in shp.parent.iterdir():
            z.write(part, part.name)
    report = run(conn, archive)
    assert report.inserted == 1, report.lines()
    row = conn.execute(text("SELECT name, category, ags FROM parcel")).one()
    assert tuple(row) == ("Brachfläche Zeche Königsborn", "brachflaeche", "05978036")


# -- all-or-nothing, written batch by batch while the file is read ------------------------
def seven_parcels(**last) -> list[dict]:
    """Seven parcels in Dortmund; ``last`` changes the seventh (in the fourth batch of two)."""
    rows = [{"ref": f"S-{i}", "category": "bauluecke", "geometry": near(DO, 100 * i)} for i in range(1, 8)]
    rows[-1].update(last)
    return rows


@pytest.mark.parametrize(
    ("last", "field", "reason"),
    [
        ({"geometry": near(DO, 700, size=2)}, "geom", "an area of 4.0 m² is implausible"),  # checked in the database
        ({"category": "Wiese"}, "category", "unknown value 'Wiese'"),  # checked while reading
        ({"ref": "S-1"}, "local_ref", "appears more than once for this municipality in the file (rows 1, 7)"),
    ],
)
def test_a_refused_row_in_a_later_batch_undoes_the_batches_already_written(conn, tmp_path, last, field, reason):
    report = _rejected_with(conn, tmp_path, seven_parcels(**last), batch_size=2)
    assert (7, field) in [(i.row, i.field) for i in report.rejections]
    assert any(reason in i.reason for i in report.rejections if i.row == 7), report.lines()
    assert count(conn, "SELECT count(*) FROM parcel_version") == 0


def test_a_retired_reference_in_a_later_batch_undoes_the_changes_already_written(conn, tmp_path):
    path = tmp_path / "seven.gpkg"
    frame(seven_parcels()).to_file(path)
    run(conn, path, batch_size=2)
    retire = "UPDATE parcel SET retired_at = now(), retired_by = 't', retire_reason = 'bebaut' WHERE local_ref = 'S-7'"
    conn.execute(text(retire))
    changed = seven_parcels()
    for row in changed[:6]:  # every earlier row changes: three batches would be written
        row["category"] = "brachflaeche"
    frame(changed).to_file(path)
    report = run(conn, path, batch_size=2)
    assert report.status == "rejected" and [(i.row, i.field) for i in report.rejections] == [(7, "local_ref")]
    assert "was retired on" in report.rejections[0].reason
    assert count(conn, "SELECT count(*) FROM parcel WHERE category = 'bauluecke' AND version = 1") == 7
    assert count(conn, "SELECT count(*) FROM parcel_version") == 7


def test_a_row_the_database_refuses_while_writing_is_a_clear_refusal_and_nothing_lands(conn, tmp_path):
    """A database rule the importer's own checks do not know, met in a later batch."""
    conn.execute(text("ALTER TABLE parcel ADD CONSTRAINT test_no_s7 CHECK (local_ref <> 'S-7')"))
    path = tmp_path / "seven.gpkg"
    frame(seven_parcels()).to_file(path)
    with pytest.raises(ImportRefused, match=r"refused a row while writing.*test_no_s7.*S-7"):
        run(conn, path, batch_size=2)
    assert count(conn) == 0 and count(conn, "SELECT count(*) FROM import_run") == 0


def test_batch_by_batch_writes_the_same_as_one_batch(conn, tmp_path):
    path = tmp_path / "seven.gpkg"
    frame(seven_parcels()).to_file(path)
    first = run(conn, path, batch_size=2)
    assert (first.status, first.inserted) == ("committed", 7)
    changed = seven_parcels(geometry=near(DO, 700, size=50))
    changed[2]["category"] = "brachflaeche"
    frame(changed).to_file(path)
    again = run(conn, path, batch_size=2)
    assert (again.inserted, again.changed, again.unchanged) == (0, 2, 5)
    versions = conn.execute(
        text("SELECT local_ref, max(version), count(*) FROM parcel_version GROUP BY 1 HAVING count(*) > 1 ORDER BY 1")
    ).all()
    assert [tuple(v) for v in versions] == [("S-3", 2, 2), ("S-7", 2, 2)]
    assert count(conn, "SELECT round(area_m2) FROM parcel WHERE local_ref = 'S-7'") == 2500


# -- keep-valid: the valid rows land, the rejected go to a file that can be fixed and re-imported
def test_keep_valid_lands_the_valid_rows_and_writes_the_rejected(conn, tmp_path):
    path = tmp_path / "mixed.gpkg"
    frame(
        [
            {"ref": "A", "category": "bauluecke", "geometry": near(DO)},
            {"ref": "B", "category": "Wiese", "geometry": near(DO, 100)},
        ]
    ).to_file(path)
    report = run(conn, path, mode="keep-valid")
    assert (report.status, report.inserted, report.rejected) == ("committed", 1, 1)
    rejected = gpd.read_file(report.rejected_file)
    assert list(rejected["ref"]) == ["B"] and "unknown value 'Wiese'" in rejected["import_errors"][0]
    assert rejected.crs.to_epsg() == 25832

    rejected["category"] = "gewerbeflaeche"
    rejected.to_file(path)
    again = run(conn, path)
    assert (again.inserted, again.rejected) == (1, 0)
    assert count(conn) == 2


# -- mapping ------------------------------------------------------------------------------
def test_a_german_spreadsheet_with_a_mapping_file(conn, tmp_path):
    x, y = utm(*DO)
    csv = tmp_path / "liste.csv"
    csv.write_text(
        "Aktenzeichen;Art der Fläche;Restriktion;Veröffentlichung;Stand;Fläche;Rechtswert;Hochwert;Planung\n"
        f"A-1;GE-Reserve;1;ja;31.12.2024;1.600,0;{x};{y};Gewerbegebiet\n",
        encoding="cp1252",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "columns:\n  Art der Fläche: category\nvalues:\n  category:\n    GE-Reserve: gewerbeflaeche\n", encoding="utf-8"
    )
    report = import_file(conn, csv, ImportOptions(actor="t", crs="25832", mapping_file=mapping, encoding="cp1252"))
    # x/y give a point: the registry needs an outline, and says so
    assert report.status == "rejected"
    assert report.rejections[0].reason.startswith("a Point where a polygon is needed")
    assert report.mapping["category"] == "Art der Fläche"
    assert report.mapping["declared_area_m2"] == "Fläche"
    assert {i.field for i in report.rejections} == {"geom"}  # every other value translated


def test_values_are_translated_with_german_conventions(conn, tmp_path):
    path = tmp_path / "werte.gpkg"
    frame(
        [
            {
                "ref": "V",
                "Kategorie": "Industrie",
                "Restriktion": "2",
                "Veröffentlichung": "nein",
                "Stand": "01.03.2025",
                "Eigentum": "Stadt",
                "Erschließung": "teilerschlossen",
                "Fläche (ha)": "0,16",
                "geometry": near(DO),
            }
        ]
    ).to_file(path)
    report = run(conn, path)
    assert report.inserted == 1 and not report.notes, report.lines()
    row = conn.execute(
        text("""
        SELECT category, restriction_class, publication_allowed, data_date::text, ownership, servicing FROM parcel
    """)
    ).one()
    assert tuple(row) == ("industrieflaeche", 2, False, "2025-03-01", "oeffentlich", "teilweise")


def test_z_values_are_dropped_with_a_note(conn, tmp_path):
    path = tmp_path / "3d.gpkg"
    flat = near(DO)
    frame([{"ref": "Z", "category": "bauluecke", "geometry": shapely.force_3d(flat, 55.0)}]).to_file(path)
    report = run(conn, path)
    assert report.inserted == 1 and "Z values dropped" in report.notes[0].reason


# -- formats and round trips ---------------------------------------------------------------
@pytest.mark.parametrize(
    "suffix, driver", [(".geojsonl", "GeoJSONSeq"), (".fgb", "FlatGeobuf"), (".kml", "KML"), (".xlsx", None)]
)
def test_other_formats_land(conn, tmp_path, suffix, driver):
    path = tmp_path / f"reserven{suffix}"
    data = three_parcels()
    if suffix == ".kml":
        data = data.to_crs(4326)
    if suffix == ".xlsx":
        table = pd.DataFrame(data.drop(columns="geometry"))
        table["WKT"] = data.geometry.to_wkt()
        pyogrio.write_dataframe(table, path, driver="XLSX")
        report = run(conn, path, crs="25832")
    else:
        pyogrio.write_dataframe(data, path, driver=driver)
        report = run(conn, path)
    assert report.inserted == 3, report.lines()
    assert count(conn, "SELECT count(*) FROM parcel WHERE ags = '05913000'") == 3


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".csv", ".shp", ".fgb"])
def test_an_export_imports_again_without_changes(conn, gpkg, tmp_path, suffix):
    run(conn, gpkg)
    conn.execute(
        text("""
        UPDATE parcel SET status = 'verfuegbar', restriction_class = 1, owner_contact = 'Frau Öztürk',
               publication_allowed = true, data_date = '2025-06-30', owner_willing = 'ja', abstand_class = 'IV'
         WHERE local_ref = 'BL-1'
    """)
    )
    out = tmp_path / f"export{suffix}"
    assert export_parcels(conn, out, Selection(municipality="05913000")) == 3
    report = run(conn, out)
    assert (report.unchanged, report.changed, report.inserted, report.rejected) == (3, 0, 0, 0), report.lines()


# -- at scale -----------------------------------------------------------------------------------


def test_a_large_import_tells_the_planner_how_many_parcels_there_are_now(conn, tmp_path):
    """A table the import's transaction has just filled looks empty to PostgreSQL's planner until it
    is analysed, and the quality check then read every parcel once per parcel (a 100,000-parcel import
    took 17 minutes): the import analyses the table before its checks and scoring."""
    x, y = utm(*DO)
    rows = [
        {"ref": f"R{i:04d}", "category": "gewerbeflaeche", "geometry": shapely.box(x + 40 * (i % 35), y + 40 * (i // 35),
                                                                                     x + 40 * (i % 35) + 30, y + 40 * (i // 35) + 30)}
        for i in range(1_200)
    ]  # fmt: skip
    path = tmp_path / "viele.gpkg"
    frame(rows).to_file(path)
    conn.execute(text("ANALYZE parcel"))  # the statistics of the (nearly) empty table of the test database
    assert conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'parcel'")).scalar_one() < 1_000
    report = run(conn, path, score=False)
    assert report.inserted == 1_200
    assert conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'parcel'")).scalar_one() >= 1_200
    assert count(conn, "SELECT count(*) FROM parcel_quality") >= 1_200  # the checks ran over every parcel
