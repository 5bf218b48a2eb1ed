"""Reading XPlanGML 5.x and 6.0 plans (tests/data/xplan), and the coordinate mistakes of plan files.

The files are small plans made for these tests; the variants with wrong coordinates are made from
them here, each named after the mistake a planner's export makes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer

from landreg.importer.refusals import render
from landreg.safeguarding.plans import PlanError, read_plan_area, read_plan_file
from landreg.safeguarding.xplan import read_designations, read_plan

DATA = Path(__file__).parent / "data" / "xplan"
BPLAN_54 = DATA / "bplan_5_4_bereich_ohne_geometrie.gml"
BPLAN_60 = DATA / "bplan_6_0.gml"
FPLAN_51 = DATA / "fplan_5_1.gml"
_NUMBERS = re.compile(r"(<gml:(?:posList|lowerCorner|upperCorner)[^>]*>)([^<]*)(<)")


def _cli(name: str, value: str | None) -> str:
    return f"--{name}" if value is None else f"--{name} {value}"


def variant(source: Path, target: Path, move: Callable[[float, float], tuple[float, float]], **replace: str) -> Path:
    """A copy of an XPlanGML file with every coordinate pair moved by ``move`` (and texts replaced)."""

    def moved(match: re.Match) -> str:
        values = [float(v) for v in match[2].split()]
        pairs = [move(x, y) for x, y in zip(values[::2], values[1::2])]
        return match[1] + " ".join(f"{x:.3f} {y:.3f}" for x, y in pairs) + match[3]

    text = _NUMBERS.sub(moved, source.read_text(encoding="utf-8"))
    for old, new in replace.items():
        text = text.replace(old, new)
    target.write_text(text, encoding="utf-8")
    return target


def shifted_to(lon: float, lat: float) -> Callable[[float, float], tuple[float, float]]:
    """Moves the 5.4 plan (its south-west corner) to a place given in longitude/latitude."""
    x, y = Transformer.from_crs(4326, 25832, always_xy=True).transform(lon, lat)
    return lambda px, py: (px - 393500 + x, py - 5708000 + y)


def test_xplangml_5_4_with_a_bereich_without_geometry_takes_the_plans_geltungsbereich(tmp_path):
    plan_file = Path(shutil.copy(BPLAN_54, tmp_path))
    plan = read_plan(plan_file)
    assert plan.area_source == "BP_Plan.raeumlicherGeltungsbereich"
    assert plan.area.equals(shapely.MultiPolygon([shapely.box(393500, 5708000, 393800, 5708200)]))
    assert (plan.name, plan.number, plan.ags, plan.version) == (
        "B-Plan 501 Wohnen und Arbeiten am Hafen",
        "0501",  # the leading zero kept: numbers are text
        "05913000",
        "5.4",
    )
    assert plan.legal_status == "In Kraft getreten" and plan.date == dt.date(2024, 3, 15)
    assert plan.dates["satzungsbeschlussDatum"] == dt.date(2024, 2, 1)
    designations = plan.designations
    assert list(designations["use"]) == ["WA", "GI"] and designations.crs.to_epsg() == 25832
    assert list(designations["use_label"]) == ["Allgemeines Wohngebiet", "Industriegebiet"]
    assert set(designations["plan_name"]) == {plan.name}
    assert designations.geometry.iloc[0].equals(shapely.box(393500, 5708000, 393650, 5708200))
    assert sorted(p.name for p in tmp_path.iterdir()) == [plan_file.name]  # no .gfs left beside the file
    # the old entry point reads the same area, where it crashed with "'DataFrame' object has no attribute 'crs'"
    area, name = read_plan_area(plan_file)
    assert area.equals(plan.area) and name == plan.name


def test_xplangml_6_0_takes_the_bereichs_geometry_and_the_ags_from_the_regionalschluessel():
    plan = read_plan(BPLAN_60)
    assert plan.version == "6.0" and plan.area_source == "BP_Bereich.geltungsbereich"
    assert plan.area.area == pytest.approx(200 * 100)
    assert plan.ags == "05913000"  # rs 059130000000: Land, RB, Kreis + the last three digits
    assert plan.legal_status == "Entwurf" and plan.date == dt.date(2025, 9, 30)
    designations = read_designations(BPLAN_60)
    assert dict(zip(designations["use"], designations.area)) == pytest.approx({"MU": 10_000.0, "GE": 10_000.0})
    assert "GML_sonst" not in set(designations["gml_id"])  # "sonstiges Gebiet" names no use


def test_fnp_bauflaechen_are_designations_by_their_general_use():
    plan = read_plan(FPLAN_51)
    assert plan.plan_type == "FP" and plan.legal_status == "Wirksam" and plan.date == dt.date(2004, 12, 21)
    assert dict(zip(plan.designations["use"], plan.designations["use_label"])) == {
        "G": "Gewerbliche Baufläche",
        "W": "Wohnbaufläche",
    }


def test_read_plan_file_gives_the_claimed_municipality_and_the_designations():
    plan = read_plan_file(BPLAN_54)
    assert plan.municipalities == ("05913000",) and len(plan.designations) == 2 and plan.xplan is not None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda: Transformer.from_crs(25832, 31467, always_xy=True).transform,
            r"look like Gauß-Krüger zone 3 .* not EPSG:25832 .*; declare --crs 31467",
            id="gauss-krueger-31467-declared-as-25832",
        ),
        pytest.param(
            lambda: lambda x, y: (x + 32_000_000, y),
            r"carry the zone prefix 32 .* EPSG:4647, not EPSG:25832 .*; declare --crs 4647",
            id="zone-prefixed-utm-4647",
        ),
        pytest.param(lambda: lambda x, y: (y, x), r"the axes appear to be swapped", id="swapped-axes"),
        pytest.param(
            lambda: lambda x, y: (x - 393500, y - 5708000),
            r"the coordinates look local \(e\.g\. 150\.0, 100\.0.*export the plan georeferenced.*a CRS given with --crs cannot place",
            id="local-coordinates",
        ),
        pytest.param(
            lambda: shifted_to(11.5755, 48.1372),  # München
            r"plan.gml: the plan does not lie in North Rhine-Westphalia",
            id="outside-nrw",
        ),
    ],
)
def test_coordinates_in_another_crs_are_refused_with_the_fix(tmp_path, make, expected):
    plan_file = variant(BPLAN_54, tmp_path / "plan.gml", make())
    with pytest.raises(PlanError) as refused:
        read_plan(plan_file)
    assert refused.value.field == "crs"
    assert re.search(expected, refused.value.render(_cli)), refused.value.render(_cli)


def test_local_coordinates_within_the_range_of_degrees_are_local_not_longitude_latitude(tmp_path):
    plan_file = variant(BPLAN_60, tmp_path / "plan.gml", lambda x, y: (x - 395000, y - 5710000))  # 0..200, 0..100
    with pytest.raises(PlanError, match=r"plan.gml: the coordinates look local \(e\.g\. 100\.0, 50\.0"):
        read_plan(plan_file)


def test_a_wrong_srsname_is_corrected_with_crs(tmp_path):
    """Gauß-Krüger coordinates under srsName EPSG:25832: the refusal says --crs 31467, and that works."""
    to_gk = Transformer.from_crs(25832, 31467, always_xy=True).transform
    plan_file = variant(BPLAN_54, tmp_path / "plan.gml", to_gk)
    plan = read_plan(plan_file, crs=31467)
    assert plan.area.area == pytest.approx(300 * 200, rel=1e-3)  # the same plan, back in 25832
    assert plan.area.centroid.distance(shapely.Point(393650, 5708100)) < 1


def test_a_plan_without_srsname_needs_crs(tmp_path):
    plan_file = variant(BPLAN_54, tmp_path / "plan.gml", lambda x, y: (x, y), **{' srsName="EPSG:25832"': ""})
    with pytest.raises(PlanError) as refused:
        read_plan(plan_file)
    assert refused.value.field == "crs"
    assert "does not say which coordinate reference system it uses; give it with --crs" in refused.value.render(_cli)
    assert read_plan(plan_file, crs=25832).area.area == pytest.approx(60_000)


def test_geojson_in_metres_without_a_crs_member_names_crs_and_then_works(tmp_path):
    plan_file = tmp_path / "plan.geojson"
    ring = [[393500, 5708000], [393800, 5708000], [393800, 5708200], [393500, 5708000]]
    feature = {
        "type": "Feature",
        "properties": {"name": "B-Plan 9"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    plan_file.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(PlanError) as refused:
        read_plan_area(plan_file)
    message = refused.value.render(_cli)
    assert (
        'the coordinates look like projected metres (e.g. 393725.0, 5708100.0), but the file is GeoJSON without a "crs"'
        in message
    )
    assert "--crs 25832" in message
    assert "inf" not in message
    area, name = read_plan_area(plan_file, crs=25832)  # the fix the message names: no contradicting advice
    assert name == "B-Plan 9" and area.area == pytest.approx(shapely.Polygon(ring).area)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<xplan:XPlanAuszug", r"not well-formed XML"),
        (
            '<x:XPlanAuszug xmlns:x="http://www.xplanung.de/xplangml/4/1" xmlns:gml="http://www.opengis.net/gml">'
            '<gml:featureMember><x:BP_Plan gml:id="P"/></gml:featureMember></x:XPlanAuszug>',
            r"is XPlanGML 4\.1; supported are 5\.x and 6\.x",
        ),
        (
            '<x:XPlanAuszug xmlns:x="http://www.xplanung.de/xplangml/5/4" xmlns:gml="http://www.opengis.net/gml/3.2">'
            '<gml:featureMember><x:BP_Bereich gml:id="B"/></gml:featureMember></x:XPlanAuszug>',
            r"holds no plan",
        ),
        (
            '<x:XPlanAuszug xmlns:x="http://www.xplanung.de/xplangml/5/4" xmlns:gml="http://www.opengis.net/gml/3.2">'
            '<gml:featureMember><x:BP_Plan gml:id="P"><x:name>Ohne Fläche</x:name></x:BP_Plan></gml:featureMember>'
            "</x:XPlanAuszug>",
            r"the plan has no area: neither its BP_Plan\.raeumlicherGeltungsbereich nor a Bereich",
        ),
        (
            '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
            '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
            '<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>'
            '<x:XPlanAuszug xmlns:x="http://www.xplanung.de/xplangml/5/4"><x:name>&h;</x:name></x:XPlanAuszug>',
            r"not well-formed XML \(limit on input amplification",
        ),
        (
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            '<x:XPlanAuszug xmlns:x="http://www.xplanung.de/xplangml/5/4"><x:name>&e;</x:name></x:XPlanAuszug>',
            r"not well-formed XML \(undefined entity",
        ),
    ],
    ids=["not-xml", "xplangml-4", "no-plan", "no-geometry-at-all", "entity-expansion", "external-entity"],
)
def test_broken_xplangml_is_refused_by_name(tmp_path, content, expected):
    plan_file = tmp_path / "plan.gml"
    plan_file.write_text(content, encoding="utf-8")
    with pytest.raises(PlanError, match=expected) as refused:
        read_plan(plan_file)
    assert refused.value.field == "file" and str(tmp_path) not in render(refused.value.template)


def test_areas_that_cannot_be_united_are_refused_by_name(tmp_path):
    """Two features, one a bow-tie: GEOS cannot unite them (a TopologyException, once a traceback)."""
    plan_file = tmp_path / "plan.geojson"
    bowtie = [[393500, 5708000], [393600, 5708100], [393600, 5708000], [393500, 5708100], [393500, 5708000]]
    square = [[393550, 5708050], [393700, 5708050], [393700, 5708200], [393550, 5708200], [393550, 5708050]]
    features = [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [r]}}
        for r in (bowtie, square)
    ]
    plan_file.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(
        PlanError, match=r"plan.geojson: its areas cannot be united .* invalid \(TopologyException"
    ) as refused:
        read_plan_area(plan_file, crs=25832)
    assert refused.value.field == "file"
