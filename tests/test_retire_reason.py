"""Retiring a parcel says why (Stilllegung mit Grund): a code of ``landreg.vocab.RETIRE_REASON``
and a comment (required for ``sonstiges``, confidential), checked by the core and the database,
stored with the retired version, shown in the history and the review to those who see the
parcel's confidential facts; the same through the use case, the API, the command line and an
import that retires the parcels its file no longer lists; retirements from before keep an empty
reason ("nicht erfasst")."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from landreg import migrate, register, review, vocab
from landreg.access import FULL, PUBLIC, Principal, view_of
from landreg.importer import ImportOptions, import_file
from landreg.parcels import ParcelError, create_parcel, retire_parcel, update_parcel
from landreg.seed import load_municipalities
from tests.helpers import app_client, bearers, database_url, record, utm

GELSENKIRCHEN, ESSEN = "05513000", "05113000"
X0, Y0 = utm(7.1020, 51.5050)  # Gelsenkirchen Hbf
PLANNER = Principal(1, "planer.ge", "planner", (GELSENKIRCHEN,))
OTHER = Principal(2, "planer.essen", "planner", (ESSEN,))
REVIEWER = Principal(3, "pruefer.rvr", "reviewer")
SECRET = "verkauft an Frau Geheim, Tel. 0209 123"


def _box(dx: float, size: float = 60) -> shapely.Polygon:
    return shapely.box(X0 + dx, Y0, X0 + dx + size, Y0 + size)


@pytest.fixture
def parcel(session):
    """A published parcel of Gelsenkirchen recorded and changed by the operator (approved as made):
    version 2."""
    made = create_parcel(session, "seed", local_ref="R-1", category="gewerbeflaeche", publication_allowed=True,
                         geom=_box(0))  # fmt: skip
    update_parcel(session, made.id, "seed", name="Gewerbe am Kanal")
    session.flush()
    return made.id


def _row(conn, parcel_id):
    return conn.execute(
        text("SELECT version, retired_at, retired_by, retire_reason, retire_comment FROM parcel WHERE id = :i"),
        {"i": parcel_id},
    ).one()


@pytest.mark.parametrize(
    ("reason", "comment", "field", "english", "german"),
    [
        (
            None,
            None,
            "reason",
            "a retirement needs a reason; allowed: bebaut, ",
            "braucht einen Grund; erlaubt: bebaut",
        ),
        ("  ", None, "reason", "a retirement needs a reason", "eine Stilllegung braucht einen Grund"),
        (
            "abgerissen",
            None,
            "reason",
            "unknown reason 'abgerissen'; allowed: bebaut",
            "unbekannter Grund „abgerissen“",
        ),
        ("sonstiges", None, "comment", "the reason sonstiges needs a comment", "„Sonstiges (siehe Kommentar)“ braucht"),
        ("sonstiges", " \n ", "comment", "needs a comment", "braucht einen Kommentar"),
        ("bebaut", "x" * 5001, "comment", "is 5,001 characters long; at most 5,000", "5.001 Zeichen lang"),
        ("bebaut", "a\x00b", "comment", "NUL character", "NUL-Zeichen"),
    ],
)
def test_a_retirement_needs_a_reason_from_the_list(session, parcel, reason, comment, field, english, german):
    with pytest.raises(ParcelError) as refused:
        register.retire(session, PLANNER, parcel, {2}, reason, comment)
    assert refused.value.field == field
    assert english in refused.value.reason and english in str(refused.value)
    assert german in refused.value.text("de")
    assert _row(session.connection(), parcel).retired_at is None  # nothing was retired
    assert review.submissions(session.connection(), REVIEWER) == []  # nothing to review


def test_who_may_retire_and_on_which_version_is_decided_before_the_reason(session, parcel):
    from landreg.access import AccessDenied
    from landreg.errors import VersionConflict

    with pytest.raises(AccessDenied):
        register.retire(session, OTHER, parcel, {2}, None)
    with pytest.raises(VersionConflict):
        register.retire(session, PLANNER, parcel, {1}, None)


def test_the_reason_and_comment_are_stored_with_the_retired_version(session, parcel):
    register.retire(session, PLANNER, parcel, {2}, "sonstiges", f"  {SECRET}  ")
    row = _row(session.connection(), parcel)
    assert (row.version, row.retired_by, row.retire_reason, row.retire_comment) == (2, "planer.ge", "sonstiges", SECRET)
    other = create_parcel(session, "seed", local_ref="R-2", category="bauluecke", geom=_box(200))
    retire_parcel(session, other.id, "seed", "zusammengelegt", "   ")  # a blank comment is none
    assert _row(session.connection(), other.id)[3:] == ("zusammengelegt", None)
    with pytest.raises(ParcelError, match="already retired"):
        retire_parcel(session, other.id, "seed", "bebaut")


def _refused(conn, sql: str, params: dict) -> str:
    """The constraint the database names when it refuses ``sql`` (the test's transaction goes on)."""
    with pytest.raises(DBAPIError) as refused, conn.begin_nested():
        conn.execute(text(sql), params)
    return refused.value.orig.diag.constraint_name


def test_the_database_keeps_the_rules_of_the_reason_without_the_core(session, parcel):
    conn = session.connection()
    retire = "UPDATE parcel SET retired_at = now(), retired_by = 'sql', retire_reason = :r, retire_comment = :c WHERE id = :i"
    assert _refused(conn, retire, {"r": None, "c": None, "i": parcel}) == "parcel_retire_reason_required"
    assert _refused(conn, retire, {"r": "abgerissen", "c": None, "i": parcel}) == "parcel_retire_reason_code"
    assert _refused(conn, retire, {"r": "sonstiges", "c": "  ", "i": parcel}) == "parcel_retire_comment_for_other"
    reason_only = "UPDATE parcel SET retire_reason = 'bebaut' WHERE id = :i"
    assert _refused(conn, reason_only, {"i": parcel}) == "parcel_retire_reason_of_retired"
    conn.execute(text(retire), {"r": "geteilt", "c": None, "i": parcel})
    later = "UPDATE parcel SET retire_reason = 'bebaut', retire_comment = 'anders' WHERE id = :i"
    assert _refused(conn, later, {"i": parcel}) == "parcel_retired_read_only"  # the reason stays as recorded
    assert _row(conn, parcel)[3:] == ("geteilt", None)
    new = conn.execute(
        text("""INSERT INTO parcel (local_ref, category, geom, created_by, retire_reason)
                VALUES ('R-3', 'bauluecke', ST_Multi(ST_GeomFromText(:wkt, 25832)), 'sql', 'bebaut') RETURNING id"""),
        {"wkt": _box(400).wkt},
    ).scalar_one()
    assert _row(conn, new)[1:] == (None, None, None, None)  # a new parcel has no retirement


def test_the_history_tells_those_who_see_the_confidential_facts_why_and_nobody_else(session, parcel):
    register.retire(session, PLANNER, parcel, {2}, "sonstiges", SECRET)  # waits for review
    conn = session.connection()
    retired_at = _row(conn, parcel).retired_at
    for view in (view_of(PLANNER), FULL):
        versions = register.parcel_history(conn, view, parcel)
        assert [v["version"] for v in versions] == [1, 2] and "retirement" not in versions[0]
        assert versions[-1]["retirement"] == {
            "retired_at": retired_at, "retired_by": "planer.ge", "reason": "sonstiges", "comment": SECRET
        }  # fmt: skip
    for view in (PUBLIC, view_of(OTHER)):  # they still see the approved, published parcel's versions
        versions = register.parcel_history(conn, view, parcel)
        assert [v["name"] for v in versions] == [None, "Gewerbe am Kanal"] and versions[-1]["valid_to"] is None
        assert not any("retirement" in v for v in versions) and "Geheim" not in repr(versions)


def test_the_review_of_a_retirement_shows_why(session, parcel):
    other = create_parcel(session, "seed", local_ref="R-2", category="bauluecke", geom=_box(200))
    register.update(session, PLANNER, other.id, {1}, {"name": "Lücke"})
    register.retire(session, PLANNER, parcel, {2}, "sonstiges", SECRET)
    conn = session.connection()
    waiting = {s["kind"]: s["id"] for s in review.submissions(conn, REVIEWER)}
    assert set(waiting) == {"aenderung", "stilllegung"}
    for reader in (REVIEWER, PLANNER):
        (change,) = review.submission(conn, reader, waiting["stilllegung"])["changes"]
        assert change["retired"] and change["retirement"] == {
            "reason": "sonstiges", "label_de": "Sonstiges (siehe Kommentar)", "label_en": "Other (see comment)",
            "comment": SECRET,
        }  # fmt: skip
    (change,) = review.submission(conn, REVIEWER, waiting["aenderung"])["changes"]
    assert change["retirement"] is None
    assert review.submissions(conn, OTHER) == []  # another municipality reads neither


def test_an_import_retires_the_parcels_its_file_no_longer_lists_with_that_reason(conn, tmp_path):
    rows = [{"ref": f"I-{i}", "category": "bauluecke", "geometry": _box(100 * i, 40)} for i in range(3)]
    full, part = tmp_path / "full.gpkg", tmp_path / "part.gpkg"
    gpd.GeoDataFrame(rows, crs=25832).to_file(full)
    gpd.GeoDataFrame(rows[:2], crs=25832).to_file(part)
    import_file(conn, full, ImportOptions(actor="planer.test"))
    report = import_file(conn, part, ImportOptions(actor="planer.test", retire_missing=True))
    assert report.retired == 1
    retired = conn.execute(
        text("SELECT local_ref, retire_reason, retire_comment FROM parcel WHERE retired_at IS NOT NULL")
    ).all()
    assert retired == [("I-2", vocab.RETIRE_REASON_IMPORT, None)]


def test_retirements_from_before_keep_an_empty_reason_and_the_migration_goes_back(make_database):
    engine = create_engine(make_database("landreg_retire_reason"))
    insert = """INSERT INTO parcel (local_ref, category, geom, created_by)
                VALUES (:ref, 'bauluecke', ST_Multi(ST_GeomFromText(:wkt, 25832)), 'a') RETURNING id"""
    old_retirement = "UPDATE parcel SET retired_at = now(), retired_by = 'b' WHERE id = :i"
    try:
        migrate.upgrade(engine, "0018")
        with engine.begin() as conn:
            load_municipalities(conn)
            old = conn.execute(text(insert), {"ref": "ALT", "wkt": _box(0).wkt}).scalar_one()
            conn.execute(text(old_retirement), {"i": old})
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert _row(conn, old)[2:] == ("b", None, None)
            (version,) = register.parcel_history(conn, FULL, old)
            assert version["retirement"]["reason"] is None and version["retirement"]["retired_by"] == "b"
            assert vocab.retire_reason_labels(None) == ("nicht erfasst", "not recorded")
        migrate.downgrade(engine, "0018")
        with engine.begin() as conn:
            columns = conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = 'parcel'")
            ).scalars()
            assert not {"retire_reason", "retire_comment"} & set(columns)
            again = conn.execute(text(insert), {"ref": "NEU", "wkt": _box(200).wkt}).scalar_one()
            conn.execute(text(old_retirement), {"i": again})  # as before 0019: no reason needed
    finally:
        engine.dispose()


# -- the API and the command line ------------------------------------------------------------
@pytest.fixture
def api(committed_db):
    record(committed_db, {"local_ref": "A-1", "category": "bauluecke", "publication_allowed": True, "geom": _box(0)})
    tokens = bearers(committed_db, planner=("planer.ge", "planner", [GELSENKIRCHEN]))
    with app_client(committed_db) as client:
        feature = client.get("/collections/parcels/items", params={"local_ref": "A-1"}).json()["features"][0]
        yield client, tokens["planner"] | {"If-Match": '"1"'}, f"/collections/parcels/items/{feature['id']}"


def test_the_api_asks_for_the_reason_and_names_the_field(api):
    client, planner, url = api
    for query, body, field in (
        ({}, None, "reason"),
        ({"reason": "abgerissen"}, None, "reason"),
        ({"reason": "sonstiges"}, None, "comment"),
        ({}, {"reason": "sonstiges", "comment": " "}, "comment"),
    ):
        answer = client.request("DELETE", url, params=query, json=body, headers=planner)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field and answer.json()["status"] == 422
        assert f"{field}: " in answer.json()["detail"]
        assert field == "comment" or "allowed: bebaut, zusammengelegt" in answer.json()["detail"]
    twice = client.request("DELETE", url, params={"reason": "bebaut"}, json={"reason": "bebaut"}, headers=planner)
    assert twice.status_code == 400 and twice.json()["field"] == "reason"
    typed = client.request("DELETE", url, json={"reason": 7}, headers=planner)
    assert typed.status_code == 400 and "reason" in typed.json()["field"]
    assert client.get(url).status_code == 200  # still current

    done = client.request("DELETE", url, json={"reason": "sonstiges", "comment": SECRET}, headers=planner)
    assert done.status_code == 204, done.text
    history = client.get(f"{url}/history", headers={"Authorization": planner["Authorization"]}).json()
    assert history["versions"][-1]["retirement"]["reason"] == "sonstiges"
    assert history["versions"][-1]["retirement"]["comment"] == SECRET
    public = client.get(f"{url}/history")
    assert public.status_code == 200 and "retirement" not in public.text and "Geheim" not in public.text

    operation = client.get("/openapi.json").json()["paths"]["/collections/parcels/items/{featureId}"]["delete"]
    assert {p["name"] for p in operation["parameters"]} >= {"reason", "comment"}
    assert all(code in operation["description"] for code in vocab.RETIRE_REASON.codes)


def test_the_command_line_retires_with_a_reason_and_names_its_options(api, committed_db):
    from tests.test_cli import landreg

    client, planner, url = api
    token = planner["Authorization"].removeprefix("Bearer ")
    parcel_id = url.rsplit("/", 1)[1]
    db = {"LANDREG_DATABASE_URL": database_url(committed_db)}
    missing = landreg("parcel", "retire", parcel_id, "--version", "1", "--token", token, **db)
    assert missing.returncode == 2 and "--reason: a retirement needs a reason; allowed: bebaut" in missing.stderr
    other = landreg("parcel", "retire", parcel_id, "--version", "1", "--reason", "sonstiges", "--token", token, **db)
    assert other.returncode == 2 and "--comment: the reason sonstiges needs a comment" in other.stderr
    assert "Traceback" not in missing.stderr + other.stderr
    helped = landreg("parcel", "retire", "--help")
    assert helped.returncode == 0 and "nicht_in_lieferung" in helped.stdout and "--comment" in helped.stdout
    done = landreg("parcel", "retire", parcel_id, "--version", "1", "--reason", "geteilt", "--comment", "in A-2 und A-3",
                   "--token", token, **db)  # fmt: skip
    assert done.returncode == 0 and "A-1 (05513000): retired (geteilt)" in done.stdout, done.stderr
    with committed_db.connect() as conn:
        assert _row(conn, parcel_id)[2:] == ("planer.ge", "geteilt", "in A-2 und A-3")
    own = client.get(url, headers={"Authorization": planner["Authorization"]})
    assert own.status_code == 404 and json.loads(own.text)["status"] == 404  # no longer current
