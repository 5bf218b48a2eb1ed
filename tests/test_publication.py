"""Publication under § 200 (3) BauGB: the objection period by German calendar rules, notices and
objections deciding which parcels are public, in every output at once."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from landreg import clock, publication
from landreg.access import Principal
from landreg.errors import InvalidParameter
from landreg.publication.calendar import objection_period_end
from tests.helpers import app_client, bearers, database_url, record, utm
from tests.test_cli import landreg

BOTTROP, ESSEN = "05512000", "05113000"
X0, Y0 = utm(6.9290, 51.5236)  # Bottrop, Rathaus
PLANNER = Principal(1, "planer.bottrop", "planner", (BOTTROP,))
TODAY = clock.today()


@pytest.mark.parametrize(
    ("announced", "end"),
    [
        (dt.date(2026, 11, 2), dt.date(2026, 12, 2)),  # same number in the next month, a Wednesday
        (dt.date(2026, 1, 31), dt.date(2026, 3, 2)),  # no 31 February: the 28th, a Saturday: Monday (§ 193)
        (dt.date(2024, 1, 31), dt.date(2024, 2, 29)),  # leap year: the 29th, a Thursday
        (dt.date(2026, 5, 4), dt.date(2026, 6, 5)),  # 4 June 2026 is Fronleichnam, a holiday in NRW
        (dt.date(2026, 11, 25), dt.date(2026, 12, 28)),  # Christmas, Boxing Day, a Sunday
        (dt.date(2026, 9, 3), dt.date(2026, 10, 5)),  # 3 October, German Unity Day (a Saturday), then Sunday
    ],
)
def test_the_objection_period_follows_the_civil_code(announced, end):
    assert objection_period_end(announced) == end


def _state(conn, ref: str):
    return conn.execute(text("SELECT public_since FROM parcel WHERE local_ref = :r"), {"r": ref}).scalar_one()


@pytest.fixture
def bottrop(committed_db):
    """Bottrop with its standing notice withdrawn: three parcels, two selected for publication."""
    with committed_db.begin() as conn:
        conn.execute(text("UPDATE publication_notice SET withdrawn_at = now(), withdrawn_by = 't' WHERE ags = :a"),
                     {"a": BOTTROP})  # fmt: skip
    record(
        committed_db,
        *[
            {
                "local_ref": ref,
                "category": category,
                "publication_allowed": selected,
                "geom": shapely.box(X0 + 300 * i, Y0, X0 + 300 * i + 100, Y0 + 100),
            }
            for i, (ref, category, selected) in enumerate(
                (("GE", "gewerbeflaeche", True), ("BL", "bauluecke", True), ("NO", "gewerbeflaeche", False))
            )
        ],
    )
    yield committed_db
    with committed_db.begin() as conn:  # the other tests' standing notice for Bottrop again
        conn.execute(text("UPDATE publication_notice SET withdrawn_at = now() WHERE ags = :a AND withdrawn_at IS NULL"),
                     {"a": BOTTROP})  # fmt: skip
        publication.standing_notices(conn, "test-setup")


def test_a_notice_publishes_its_parcels_the_day_after_its_period(bottrop):
    with bottrop.begin() as conn:
        assert _state(conn, "GE") is None  # no notice: not public
        running = publication.announce(conn, PLANNER, BOTTROP, TODAY, categories=["gewerbeflaeche"])
        end = objection_period_end(TODAY)
        assert running["objection_until"] == end and running["state"] == "frist_laeuft"
        assert _state(conn, "GE") == end + dt.timedelta(days=1)  # public later, not now
        assert _state(conn, "BL") is None and _state(conn, "NO") is None  # not its category; not selected
        past = publication.announce(conn, PLANNER, BOTTROP, dt.date(2025, 1, 6), selected_only=False)
        assert _state(conn, "GE") == _state(conn, "BL") == _state(conn, "NO") == past["public_from"]
        publication.withdraw_notice(conn, PLANNER, past["id"])  # overlapping: the other notice still holds
        assert _state(conn, "GE") == end + dt.timedelta(days=1) and _state(conn, "NO") is None


def test_a_notice_may_give_a_longer_period_never_a_shorter_one(bottrop):
    with bottrop.begin() as conn:
        longer = publication.announce(conn, PLANNER, BOTTROP, TODAY, objection_until=TODAY + dt.timedelta(days=60))
        assert longer["objection_until"] == TODAY + dt.timedelta(days=60)
        with pytest.raises(InvalidParameter, match="earlier than the end of the one-month objection period"):
            publication.announce(conn, PLANNER, BOTTROP, TODAY, objection_until=TODAY + dt.timedelta(days=10))
        with pytest.raises(InvalidParameter, match="categories: unknown wald"):
            publication.announce(conn, PLANNER, BOTTROP, TODAY, categories=["wald"])


def test_objections_take_a_parcel_off_and_a_withdrawal_puts_it_back(bottrop):
    with bottrop.begin() as conn:
        notice = publication.announce(conn, PLANNER, BOTTROP, dt.date(2025, 3, 3))
        parcel = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'GE'")).scalar_one()
        assert _state(conn, "GE") == notice["public_from"]
        objection = publication.record_objection(conn, PLANNER, parcel, TODAY, "Eigentümer widerspricht")
        assert _state(conn, "GE") is None  # at once
        publication.withdraw_objection(conn, PLANNER, objection["id"], TODAY)
        assert _state(conn, "GE") == notice["public_from"]
        with pytest.raises(InvalidParameter, match="withdrawn on .* already"):
            publication.withdraw_objection(conn, PLANNER, objection["id"], TODAY)
        with pytest.raises(InvalidParameter, match="received_on"):
            publication.record_objection(conn, PLANNER, parcel, TODAY + dt.timedelta(days=1))


def test_an_objection_withdrawn_within_the_period_publishes_at_its_end(bottrop):
    with bottrop.begin() as conn:
        running = publication.announce(conn, PLANNER, BOTTROP, TODAY)
        parcel = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'BL'")).scalar_one()
        objection = publication.record_objection(conn, PLANNER, parcel, TODAY)
        assert _state(conn, "BL") is None
        publication.withdraw_objection(conn, PLANNER, objection["id"], TODAY)
        assert _state(conn, "BL") == running["public_from"] > TODAY


def test_a_publication_change_makes_no_new_version(bottrop):
    with bottrop.begin() as conn:
        before = conn.execute(text("SELECT version, updated_at FROM parcel WHERE local_ref = 'GE'")).one()
        publication.announce(conn, PLANNER, BOTTROP, dt.date(2025, 3, 3))
        after = conn.execute(text("SELECT version, updated_at FROM parcel WHERE local_ref = 'GE'")).one()
        assert after == before


def test_an_objection_after_publication_removes_the_parcel_from_every_public_output(bottrop, tmp_path):
    """Items, the item, tiles, rankings and the public export, in the next request: nothing is cached."""
    with bottrop.begin() as conn:
        publication.announce(conn, PLANNER, BOTTROP, dt.date(2025, 3, 3))
        parcel = str(conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'GE'")).scalar_one())
    tokens = bearers(
        bottrop, bottrop=("planer.bottrop", "planner", [BOTTROP]), essen=("planer.essen", "planner", [ESSEN])
    )
    with app_client(bottrop) as client:

        def public_refs() -> set[str]:
            items = client.get("/collections/parcels/items?ags=05512000").json()["features"]
            return {f["properties"]["local_ref"] for f in items}

        assert public_refs() == {"GE", "BL"}
        assert client.get(f"/collections/parcels/items/{parcel}").status_code == 200
        other_town = client.post(
            "/publication/objections",
            json={"parcel_id": parcel, "received_on": TODAY.isoformat()},
            headers=tokens["essen"],
        )
        assert other_town.status_code == 403 and ESSEN in other_town.json()["detail"]
        recorded = client.post(
            "/publication/objections",
            json={"parcel_id": parcel, "received_on": TODAY.isoformat(), "note": "Widerspruch per Brief"},
            headers=tokens["bottrop"],
        )
        assert recorded.status_code == 201, recorded.text
        assert public_refs() == {"BL"}
        assert client.get(f"/collections/parcels/items/{parcel}").status_code == 404
        assert client.get(f"/collections/parcels/items/{parcel}/history").status_code == 404
        own = client.get(f"/collections/parcels/items/{parcel}", headers=tokens["bottrop"]).json()["properties"]
        assert own["public_since"] is None and own["publication_allowed"] is True
        # objections are confidential: the public does not see them, another town's planner not these
        assert client.get("/publication/objections").status_code == 401
        assert client.get("/publication/objections", headers=tokens["essen"]).json() == []
        mine = client.get("/publication/objections", headers=tokens["bottrop"]).json()
        assert [o["note"] for o in mine] == ["Widerspruch per Brief"]
        notices = client.get("/publication/notices", params={"ags": BOTTROP}).json()  # public announcements
        assert [n["state"] for n in notices] == ["wirksam"]
    target = tmp_path / "open.geojson"
    assert landreg("export", "--public", "-o", str(target), LANDREG_DATABASE_URL=database_url(bottrop)).returncode == 0
    assert '"GE"' not in target.read_text() and '"BL"' in target.read_text()


def test_notices_over_http_and_their_refusals(bottrop):
    tokens = bearers(bottrop, bottrop=("planer.bottrop", "planner", [BOTTROP]), ministry=("ministerium", "ministry"))
    with app_client(bottrop) as client:
        body = {"ags": BOTTROP, "announced_on": TODAY.isoformat(), "categories": ["gewerbeflaeche"]}
        made = client.post("/publication/notices", json=body, headers=tokens["bottrop"])
        assert made.status_code == 201 and made.json()["state"] == "frist_laeuft"
        assert client.post("/publication/notices", json=body).status_code == 401
        assert (
            client.post("/publication/notices", json=body | {"ags": ESSEN}, headers=tokens["bottrop"]).status_code
            == 403
        )
        bad = client.post("/publication/notices", json=body | {"announced_on": "1800-01-01"}, headers=tokens["bottrop"])
        assert bad.status_code == 400 and bad.json()["field"] == "announced_on"
        due = client.get("/publication/due", params={"within_days": 40}, headers=tokens["ministry"]).json()
        assert [n["id"] for n in due["objection_periods_ending"]] == [made.json()["id"]]
        withdrawn = client.post(f"/publication/notices/{made.json()['id']}/withdrawal", headers=tokens["bottrop"])
        assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "zurueckgezogen"
        again = client.post(f"/publication/notices/{made.json()['id']}/withdrawal", headers=tokens["bottrop"])
        assert again.status_code == 400


def test_the_publication_commands(bottrop):
    token = bearers(bottrop, bottrop=("planer.bottrop", "planner", [BOTTROP]))["bottrop"]["Authorization"][7:]
    db = {"LANDREG_DATABASE_URL": database_url(bottrop), "LANDREG_TOKEN": token}
    made = landreg("publication", "notice", BOTTROP, "2025-03-03", "--category", "gewerbeflaeche", **db)
    assert made.returncode == 0, made.stderr
    assert '"objection_until": "2025-04-03"' in made.stdout and '"state": "wirksam"' in made.stdout
    with bottrop.connect() as conn:
        parcel = str(conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'GE'")).scalar_one())
    objected = landreg("publication", "objection", parcel, TODAY.isoformat(), "--note", "per Brief", **db)
    assert objected.returncode == 0 and '"note": "per Brief"' in objected.stdout
    other = landreg("publication", "notice", ESSEN, "2025-03-03", **db)
    assert other.returncode == 2 and ESSEN in other.stderr and "Traceback" not in other.stderr
    due = landreg("publication", "due", **db)
    assert due.returncode == 0 and '"per Brief"' in due.stdout
    listed = landreg("publication", "notices", "--ags", BOTTROP, **db)
    assert '"kind": "bekanntmachung"' in listed.stdout


def _notice_reads(conn) -> tuple[int, int]:
    """This transaction's sequential reads of ``publication_notice`` and the entries its AGS index returned."""
    return conn.execute(
        text("""
        SELECT pg_stat_get_xact_numscans('publication_notice'::regclass),
               pg_stat_get_xact_tuples_returned('publication_notice_ags_idx'::regclass)
    """)
    ).one()


def test_a_written_parcel_finds_its_municipality_s_notices_by_index(conn):
    """Every written parcel looks up its municipality's notices (``parcel_public_since``): by index.
    Compared as text with the char(8) column, each call read all notices (one per municipality, by
    a scan of the whole index here), two thirds of the time an import took to write 100,000 new
    parcels (migration 0029)."""
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # a test's few notices would be read whole anyway
    own, everyone = conn.execute(
        text("SELECT count(*) FILTER (WHERE ags = :a), count(*) FROM publication_notice WHERE withdrawn_at IS NULL"),
        {"a": BOTTROP},
    ).one()
    assert 0 < own < everyone
    scans_before, entries_before = _notice_reads(conn)
    since = conn.execute(
        text("SELECT parcel_public_since(gen_random_uuid(), :ags, 'gewerbeflaeche', true)"), {"ags": BOTTROP}
    ).scalar_one()
    scans_after, entries_after = _notice_reads(conn)
    assert since is not None  # the municipality's standing notice: published
    assert scans_after == scans_before
    # the municipality's entries (and perhaps a few left dead by rolled-back tests), not everyone's
    assert own <= entries_after - entries_before < everyone


def test_an_import_derives_public_since_by_the_notices_as_a_single_write_does(bottrop, tmp_path):
    """An import writes its new parcels' ``public_since`` in its own statement (migration 0034), from
    the same notices the per-row trigger reads: the same days as ``parcel_public_since``, and a parcel
    written afterwards by anything else is derived by the trigger again."""
    import geopandas as gpd

    from landreg.importer import ImportOptions, import_file

    rows = [  # reference, category, selected, east of the Rathaus
        ("IGE", "gewerbeflaeche", True, 0),
        ("IBL", "bauluecke", True, 300),
        ("INO", "gewerbeflaeche", False, 600),
        ("INN", "gewerbeflaeche", None, 900),  # empty cell: the default, not selected
    ]
    path = tmp_path / "bottrop.geojson"
    gpd.GeoDataFrame(
        {
            "Flaechen_Nr": [r[0] for r in rows],
            "Kategorie": [r[1] for r in rows],
            "veroeffentlichung": pd.array([r[2] for r in rows], dtype="boolean"),
        },
        geometry=[shapely.box(X0 + dx, Y0 + 600, X0 + dx + 80, Y0 + 680) for *_, dx in rows],
        crs=25832,
    ).to_file(path)
    with bottrop.begin() as conn:
        notice = publication.announce(conn, PLANNER, BOTTROP, dt.date(2025, 3, 3), categories=["gewerbeflaeche"])
        report = import_file(conn, path, ImportOptions(actor="planer.bottrop", municipality=BOTTROP))
        assert report.inserted == 4, report.rejections
        derived = dict(
            conn.execute(
                text("""SELECT local_ref, public_since IS NOT DISTINCT FROM
                               parcel_public_since(id, ags, category, publication_allowed)
                          FROM parcel WHERE ags = :ags AND local_ref = ANY(:refs)"""),
                {"ags": BOTTROP, "refs": [r[0] for r in rows]},
            ).all()
        )
        assert derived == dict.fromkeys(("IGE", "IBL", "INO", "INN"), True)
        assert _state(conn, "IGE") == notice["public_from"]  # its category, selected: public
        assert _state(conn, "IBL") is _state(conn, "INO") is _state(conn, "INN") is None
        # after the import, a parcel written by anything else is derived by the trigger again, whatever it says
        conn.execute(
            text("""INSERT INTO parcel (ags, local_ref, category, publication_allowed, public_since, geom,
                                        created_by, updated_by)
                    VALUES (:ags, 'AFTER', 'bauluecke', true, DATE '2000-01-01',
                            ST_Multi(ST_GeomFromText(:wkt, 25832)), 't', 't')"""),
            {"ags": BOTTROP, "wkt": shapely.box(X0 + 1200, Y0 + 600, X0 + 1280, Y0 + 680).wkt},
        )
        assert _state(conn, "AFTER") is None  # no notice for Baulücken
        # an update of other fields keeps the day; a change of category derives it again
        conn.execute(text("UPDATE parcel SET name = 'Gewerbe am Rathaus' WHERE local_ref = 'IGE'"))
        assert _state(conn, "IGE") == notice["public_from"]
        conn.execute(text("UPDATE parcel SET category = 'gewerbeflaeche' WHERE local_ref = 'AFTER'"))
        assert _state(conn, "AFTER") == notice["public_from"]
        conn.execute(text("UPDATE parcel SET category = 'bauluecke' WHERE local_ref = 'IGE'"))
        assert _state(conn, "IGE") is None
