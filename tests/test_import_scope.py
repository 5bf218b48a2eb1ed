"""An import changes only the municipalities its importer may change (``landreg.importer.import_scope``):
a planner's upload that retires the parcels its file no longer lists retires none of another
municipality's, whether the file names that municipality (option ``municipality``) or only holds a row
lying in it (refused as not theirs), through the use case and the API alike."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from landreg.access import AccessDenied, Principal
from landreg.importer import ImportOptions, import_file, load
from landreg.importer.refusals import InvalidOption
from tests.helpers import app_client, bearers, utm

GELSENKIRCHEN, ESSEN = "05513000", "05113000"
GE_X, GE_Y = utm(7.1020, 51.5050)  # Gelsenkirchen Hbf
ESSEN_X, ESSEN_Y = utm(7.0146, 51.4513)  # Essen Hbf
PLANNER_GE = Principal(1, "planer.ge", "planner", (GELSENKIRCHEN,))


def _file(tmp_path, name: str, rows: list[tuple[str, float, float]]):
    frame = gpd.GeoDataFrame(
        [{"ref": ref, "category": "bauluecke", "geometry": shapely.box(x, y, x + 40, y + 40)} for ref, x, y in rows],
        crs=25832,
    )
    path = tmp_path / f"{name}.gpkg"
    frame.to_file(path)
    return path


def _registers(conn, tmp_path) -> None:
    """Three parcels in Gelsenkirchen and two in Essen, imported by the operator (no principal)."""
    ge = [(f"GE-{i}", GE_X + 100 * i, GE_Y) for i in range(3)]
    essen = [(f"E-{i}", ESSEN_X + 100 * i, ESSEN_Y) for i in range(2)]
    report = import_file(conn, _file(tmp_path, "all", ge + essen), ImportOptions(actor="seed"))
    assert report.inserted == 5, report.lines()


def _current(conn) -> dict[str, list[str]]:
    rows = conn.execute(
        text("SELECT ags, array_agg(local_ref ORDER BY local_ref) FROM parcel WHERE retired_at IS NULL GROUP BY ags")
    ).all()
    return dict(rows)


def test_a_planners_file_with_a_row_in_another_municipality_retires_none_of_its_parcels(conn, tmp_path):
    _registers(conn, tmp_path)
    # GE-2 no longer delivered; one row lies in Essen (refused: not theirs), kept-valid
    delivery = [("GE-0", GE_X, GE_Y), ("GE-1", GE_X + 100, GE_Y), ("E-9", ESSEN_X + 500, ESSEN_Y)]
    options = ImportOptions(
        actor="planer.ge", principal=PLANNER_GE, mode="keep-valid", retire_missing=True, rejected_rows_file=False
    )
    report = import_file(conn, _file(tmp_path, "delivery", delivery), options)
    assert report.rejected == 1 and report.missing == [(GELSENKIRCHEN, "GE-2")]
    assert report.retired == 1
    assert _current(conn) == {GELSENKIRCHEN: ["GE-0", "GE-1"], ESSEN: ["E-0", "E-1"]}


def test_a_planner_naming_another_municipality_is_refused_before_the_file_is_read(conn, tmp_path):
    _registers(conn, tmp_path)
    options = ImportOptions(actor="planer.ge", principal=PLANNER_GE, retire_missing=True, municipality=ESSEN)
    with pytest.raises(InvalidOption) as refused:
        import_file(conn, tmp_path / "not-even-there.gpkg", options)
    assert refused.value.field == "municipality"
    assert "05113000" in str(refused.value) and GELSENKIRCHEN in str(refused.value)
    assert "dafür dürfen Sie nicht importieren" in refused.value.text("de")
    short = ImportOptions(actor="planer.ge", principal=PLANNER_GE, municipality=ESSEN.lstrip("0"))  # as a number
    with pytest.raises(InvalidOption, match="05113000: you may not import for it"):
        import_file(conn, tmp_path / "not-even-there.gpkg", short)
    assert _current(conn) == {GELSENKIRCHEN: ["GE-0", "GE-1", "GE-2"], ESSEN: ["E-0", "E-1"]}


def test_only_planners_import_and_the_caller_can_only_narrow_their_municipalities(conn, tmp_path):
    reviewer = Principal(2, "pruefer", "reviewer")
    with pytest.raises(AccessDenied, match="may not import"):
        import_file(conn, tmp_path / "x.gpkg", ImportOptions(actor="pruefer", principal=reviewer))
    widened = ImportOptions(actor="planer.ge", principal=PLANNER_GE, allowed_ags=(GELSENKIRCHEN, ESSEN))
    with pytest.raises(InvalidOption):  # an adapter's wider list does not widen the planner's
        import_file(conn, tmp_path / "x.gpkg", ImportOptions(**{**widened.__dict__, "municipality": ESSEN}))


def test_retiring_leaves_parcels_outside_the_scope_whatever_the_list(conn, tmp_path):
    _registers(conn, tmp_path)
    ids = conn.execute(text("SELECT id FROM parcel")).scalars().all()
    assert load.retire(conn, ids, "planer.ge", (GELSENKIRCHEN,)) == 3
    assert _current(conn) == {ESSEN: ["E-0", "E-1"]}


def test_an_upload_naming_another_municipality_is_refused_and_retires_nothing(committed_db, tmp_path):
    with committed_db.begin() as conn:
        _registers(conn, tmp_path)
    headers = bearers(committed_db, planner=("planer.ge", "planner", [GELSENKIRCHEN]))["planner"]
    path = _file(tmp_path, "one", [("GE-0", GE_X, GE_Y)])
    with app_client(committed_db) as client, open(path, "rb") as f:
        answer = client.post(
            "/imports",
            headers=headers,
            files={"file": ("one.gpkg", f)},
            data={"mode": "keep-valid", "retire_missing": "true", "municipality": ESSEN},
        )
    assert answer.status_code == 400, answer.text
    assert "municipality" in answer.text and ESSEN in answer.text
    with committed_db.connect() as conn:
        assert _current(conn) == {GELSENKIRCHEN: ["GE-0", "GE-1", "GE-2"], ESSEN: ["E-0", "E-1"]}
