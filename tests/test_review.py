"""Review of municipal changes: a planner's change waits for a reviewer; the municipality sees it at
once, everybody else (the public, other municipalities, the regional figures) the approved version."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text

from landreg import clock, due, inbox, publication, register, review, worklist
from landreg.access import FULL, LATEST, PUBLIC, AccessDenied, Principal, View, view_of
from landreg.errors import Conflict, InvalidParameter
from landreg.features import COLLECTIONS
from landreg.importer import ImportOptions, import_file
from landreg.parcels import create_parcel
from landreg.quality import quality_by_municipality
from landreg.safeguarding.balance import balance
from landreg.summary import by_group
from tests.helpers import app_client, bearers, record, utm

GELSENKIRCHEN, ESSEN = "05513000", "05113000"
X0, Y0 = utm(7.1020, 51.5050)  # Gelsenkirchen Hbf
PLANNER = Principal(1, "planer.ge", "planner", (GELSENKIRCHEN,))
OTHER = Principal(2, "planer.essen", "planner", (ESSEN,))
REVIEWER = Principal(3, "pruefer.rvr", "reviewer")
MINISTRY = Principal(4, "ministerium", "ministry")


def _box(dx: float, width: float, height: float) -> shapely.Polygon:
    return shapely.box(X0 + dx, Y0, X0 + dx + width, Y0 + height)


@pytest.fixture
def parcels(session):
    """Three published parcels recorded by the operator (approved as made): A 100 × 100 m,
    B 200 × 100 m, C 50 × 50 m."""
    made = {
        ref: create_parcel(session, "seed", local_ref=ref, category=category, name=f"Fläche {ref}",
                           publication_allowed=True, geom=geom).id
        for ref, category, geom in (
            ("A", "gewerbeflaeche", _box(0, 100, 100)),
            ("B", "industrieflaeche", _box(300, 200, 100)),
            ("C", "bauluecke", _box(700, 50, 50)),
        )
    }  # fmt: skip
    session.flush()
    return made


def _seen(session, view: View) -> dict[str, dict]:
    """What ``view`` sees of Gelsenkirchen's parcels through the feature API's use case."""
    query = register.FeatureQuery(COLLECTIONS["parcels"], view, srid=25832, limit=1000, equals={"ags": GELSENKIRCHEN})
    page = register.features_page(session.connection(), query)
    return {f["properties"]["local_ref"]: f["properties"] for f in map(json.loads, page.features)}


def _version(session, parcel_id) -> int:
    return session.connection().execute(text("SELECT version FROM parcel WHERE id = :i"), {"i": parcel_id}).scalar()


def test_a_change_waits_for_review_and_everybody_else_sees_the_approved_version(session, parcels):
    a = parcels["A"]
    register.update(session, PLANNER, a, {1}, {"name": "Fläche A, erweitert", "geom": _box(0, 100, 150)})
    for view in (PUBLIC, FULL, view_of(OTHER)):
        seen = _seen(session, view)["A"]
        assert seen["name"] == "Fläche A" and seen["area_m2"] == pytest.approx(10_000)
        assert seen.get("version") == (1 if view == FULL else None)  # counts confidential edits: for those who see them
    for view in (view_of(PLANNER), LATEST):
        seen = _seen(session, view)["A"]
        assert seen["name"] == "Fläche A, erweitert" and seen["area_m2"] == pytest.approx(15_000)

    conn = session.connection()
    (waiting,) = review.submissions(conn, REVIEWER)
    assert waiting["kind"] == "aenderung" and waiting["actor"] == "planer.ge" and waiting["ags"] == [GELSENKIRCHEN]
    assert review.submissions(conn, PLANNER) == [waiting] and review.submissions(conn, OTHER) == []
    detail = review.submission(conn, REVIEWER, waiting["id"])
    (change,) = detail["changes"]
    assert change["base_version"] == 1 and change["version"] == 2
    assert [(f["field"], f["before"], f["after"]) for f in change["fields"]] == [
        ("name", "Fläche A", "Fläche A, erweitert")
    ]
    added = _box(0, 100, 150).difference(_box(0, 100, 100)).area  # computed by GEOS here, not by PostGIS
    assert change["geometry"]["area_added_m2"] == pytest.approx(added, abs=0.1)
    assert change["geometry"]["area_removed_m2"] == 0
    assert change["geometry"]["area_before_m2"] == pytest.approx(10_000, abs=0.1)

    (decided,) = review.approve(conn, REVIEWER, [waiting["id"]], "plausibel")
    assert decided == {"id": waiting["id"], "state": "freigegeben", "parcels": 1, "superseded": []}
    assert _seen(session, PUBLIC)["A"]["name"] == "Fläche A, erweitert"
    history = register.parcel_history(conn, view_of(PLANNER), a)
    step = history[-1]["review"]["change"]
    assert (step["state"], step["reviewed_by"], step["comment"]) == ("freigegeben", "pruefer.rvr", "plausibel")
    assert "review" not in register.parcel_history(conn, PUBLIC, a)[-1]  # who reviewed is not public
    notes = inbox.inbox(conn, PLANNER)
    assert any("freigegeben" in n["subject"] for n in notes)


def test_new_and_retired_parcels_wait_too(session, parcels):
    new = register.create(session, PLANNER, {"local_ref": "D", "category": "bauluecke", "publication_allowed": True,
                                             "geom": _box(900, 30, 30)})  # fmt: skip
    register.retire(session, PLANNER, parcels["C"], {1}, "bebaut")
    assert "D" not in _seen(session, PUBLIC) and "D" not in _seen(session, FULL)  # nothing approved yet
    assert "C" in _seen(session, PUBLIC) and "C" in _seen(session, FULL)  # retirement not approved
    assert "D" in _seen(session, view_of(PLANNER)) and "C" not in _seen(session, view_of(PLANNER))
    assert "D" in _seen(session, LATEST) and "C" not in _seen(session, LATEST)

    conn = session.connection()
    # an objection while the retirement waits takes the parcel off the public view at once
    objection = publication.record_objection(conn, PLANNER, parcels["C"], clock.today(), "Eigentümer widerspricht")
    assert "C" not in _seen(session, PUBLIC) and "C" in _seen(session, FULL)
    publication.withdraw_objection(conn, PLANNER, objection["id"], clock.today())
    assert "C" in _seen(session, PUBLIC)

    ids = [s["id"] for s in review.submissions(conn, REVIEWER)]
    assert [s["kind"] for s in review.submissions(conn, REVIEWER)] == ["anlage", "stilllegung"]
    review.approve(conn, MINISTRY, ids)  # the ministry may review too
    assert "D" in _seen(session, PUBLIC) and "C" not in _seen(session, PUBLIC)
    assert new.id and review.submissions(conn, REVIEWER) == []


def test_the_planners_list_shows_what_the_planners_view_shows(session, parcels):
    """The workspace's list reads only the own municipality's current rows (an index on Kennung,
    counted apart): the same parcels, states, order and count as the planner's view of the register,
    with changes waiting for review, a new and a retired parcel, and another town's waiting change."""
    register.update(session, PLANNER, parcels["A"], {1}, {"name": "Fläche A, erweitert"})
    register.create(session, PLANNER, {"local_ref": "0-neu", "category": "bauluecke", "geom": _box(900, 30, 30)})
    register.retire(session, PLANNER, parcels["C"], {1}, "bebaut")
    xe, ye = utm(7.0128, 51.4513)  # Essen Hbf: another town's parcel, with a change waiting there too
    essen = create_parcel(session, "seed", local_ref="E", category="bauluecke", publication_allowed=True,
                          geom=shapely.box(xe, ye, xe + 30, ye + 30))  # fmt: skip
    session.flush()
    register.update(session, OTHER, essen.id, {1}, {"name": "Essener Fläche"})
    conn = session.connection()
    for limit, offset in ((10, 0), (10, 1), (10, 5)):
        shown = worklist.list_page(conn, PLANNER, worklist.ListRequest(limit=limit, offset=offset))
        query = register.FeatureQuery(  # the planner's view of the register, not narrowed to its own rows
            COLLECTIONS["parcels"], view_of(PLANNER), limit=limit, offset=offset, equals={"ags": GELSENKIRCHEN},
            sortby="local_ref", properties=list(worklist.PROPERTIES),
        )  # fmt: skip
        page = register.features_page(conn, query)
        expected = [json.loads(f) for f in page.features]
        assert [(r["id"], r["name"], r["version"]) for r in shown.rows] == [
            (f["id"], f["properties"].get("name"), f["properties"]["version"]) for f in expected
        ]
        assert shown.matched == page.matched == 3  # A (as changed), B and the new one; C is retired
    rows = worklist.list_page(conn, PLANNER, worklist.ListRequest(limit=10)).rows
    assert [r["local_ref"] for r in rows] == ["0-neu", "A", "B"]
    assert rows[1]["name"] == "Fläche A, erweitert"  # the latest state, waiting for review
    by_area = worklist.list_page(conn, PLANNER, worklist.ListRequest(sort="area_m2", descending=True, limit=10))
    assert [r["local_ref"] for r in by_area.rows] == ["B", "A", "0-neu"] and by_area.matched == 3


def test_statistics_and_balance_with_and_without_unreviewed_changes(session, parcels):
    """Hand-computed: A grows from 10,000 to 15,000 m², C (2,500 m²) is retired, D (900 m²) is new, B
    (20,000 m²) changes status from potenzial to genutzt."""
    register.update(session, PLANNER, parcels["A"], {1}, {"geom": _box(0, 100, 150)})
    register.retire(session, PLANNER, parcels["C"], {1}, "bebaut")
    register.create(session, PLANNER, {"local_ref": "D", "category": "bauluecke", "publication_allowed": True,
                                       "geom": _box(900, 30, 30)})  # fmt: skip
    register.update(session, PLANNER, parcels["B"], {1}, {"status": "genutzt"})
    conn = session.connection()

    def figures(view):
        (row,) = [r for r in by_group(conn, ["municipality"], view) if r["ags"] == GELSENKIRCHEN]
        return row["parcels"], round(row["area_m2"]), row["by_status"]

    reviewed = (3, 10_000 + 20_000 + 2_500, {"potenzial": 3})
    latest = (3, 15_000 + 20_000 + 900, {"potenzial": 2, "genutzt": 1})
    assert figures(FULL) == figures(PUBLIC) == reviewed
    assert figures(LATEST) == figures(view_of(PLANNER)) == latest

    now = [dt.datetime.now(dt.UTC)]

    def reserve(view):  # industrial categories: A (gewerbeflaeche) and B (industrieflaeche)
        return balance(conn, now, ags=GELSENKIRCHEN, view=view)["stocks"][0]["reserve_m2"]

    assert reserve(FULL) == pytest.approx(10_000 + 20_000)  # both reserve as approved
    assert reserve(LATEST) == pytest.approx(15_000)  # B taken up (genutzt), A grown

    (ge,) = quality_by_municipality(conn, FULL, [GELSENKIRCHEN])
    assert ge["parcels"] == 3 and ge["reviewed_share"] == 0  # A, B and D wait (C is retired)
    review.approve(conn, REVIEWER, [s["id"] for s in review.submissions(conn, REVIEWER)])
    assert quality_by_municipality(conn, FULL, [GELSENKIRCHEN])[0]["reviewed_share"] == 1
    assert figures(FULL) == figures(PUBLIC) == figures(LATEST) == latest
    assert reserve(FULL) == pytest.approx(15_000)


def test_rejected_changes_stay_in_the_history_and_go_back_to_the_planner(session, parcels):
    register.update(session, PLANNER, parcels["B"], {1}, {"name": "falscher Name"})
    conn = session.connection()
    (waiting,) = review.submissions(conn, REVIEWER)
    with pytest.raises(InvalidParameter, match="comment: a rejection needs a comment"):
        review.reject(conn, REVIEWER, [waiting["id"]], " ")
    review.reject(conn, REVIEWER, [waiting["id"]], "Name bitte wie im Bebauungsplan")
    assert _seen(session, PUBLIC)["B"]["name"] == "Fläche B"  # the approved version stays
    assert _seen(session, view_of(PLANNER))["B"]["name"] == "falscher Name"
    (rejected,) = review.submissions(conn, PLANNER, state="abgelehnt")
    assert rejected["comment"] == "Name bitte wie im Bebauungsplan" and rejected["reviewed_by"] == "pruefer.rvr"
    step = register.parcel_history(conn, view_of(PLANNER), parcels["B"])[-1]["review"]["change"]
    assert step["state"] == "abgelehnt"
    assert any("abgelehnt" in n["subject"] for n in inbox.inbox(conn, PLANNER))
    with pytest.raises(Conflict, match="already rejected"):
        review.approve(conn, REVIEWER, [waiting["id"]])
    # the planner corrects it: a new submission, approved; everybody sees the correction
    register.update(session, PLANNER, parcels["B"], {2}, {"name": "Fläche B (GI)"})
    review.approve(conn, REVIEWER, [s["id"] for s in review.submissions(conn, REVIEWER)])
    assert _seen(session, PUBLIC)["B"]["name"] == "Fläche B (GI)"
    # the rejected version 2 is not in the public past either
    assert [v["name"] for v in register.parcel_history(conn, PUBLIC, parcels["B"])] == ["Fläche B", "Fläche B (GI)"]
    assert [v["version"] for v in register.parcel_history(conn, view_of(PLANNER), parcels["B"])] == [1, 2, 3]


def test_only_the_newest_change_is_reviewed(session, parcels):
    register.update(session, PLANNER, parcels["A"], {1}, {"name": "erste Fassung"})
    register.update(session, PLANNER, parcels["A"], {2}, {"name": "zweite Fassung"})
    conn = session.connection()
    first, second = review.submissions(conn, REVIEWER, state=None, limit=10)[::-1]
    assert first["state"] == "ueberholt" and second["state"] == "wartend"
    with pytest.raises(
        Conflict, match=f"superseded by a newer change; review the newest \\(submission {second['id']}\\)"
    ):
        review.approve(conn, REVIEWER, [first["id"]])
    with pytest.raises(Conflict):  # all or none: the waiting one is not approved either
        review.approve(conn, REVIEWER, [first["id"], second["id"]])
    assert _seen(session, PUBLIC)["A"]["name"] == "Fläche A"
    detail = review.submission(conn, REVIEWER, second["id"])  # the diff against what the public sees
    assert [(f["before"], f["after"]) for f in detail["changes"][0]["fields"]] == [("Fläche A", "zweite Fassung")]
    review.approve(conn, REVIEWER, [second["id"]])
    assert _seen(session, PUBLIC)["A"]["name"] == "zweite Fassung"
    # the unapproved first version never reaches the public past
    assert [v["name"] for v in register.parcel_history(conn, PUBLIC, parcels["A"])] == ["Fläche A", "zweite Fassung"]


def test_who_may_review(session, parcels):
    register.update(session, PLANNER, parcels["A"], {1}, {"name": "neu"})
    conn = session.connection()
    (waiting,) = review.submissions(conn, REVIEWER)
    with pytest.raises(AccessDenied, match="reviewing needs the role reviewer"):
        review.approve(conn, PLANNER, [waiting["id"]])  # a planner approving their own change
    same_person = Principal(9, "planer.ge", "reviewer")  # a reviewer's token of the planner who made it
    with pytest.raises(AccessDenied, match="your own change"):
        review.approve(conn, same_person, [waiting["id"]])
    with pytest.raises(AccessDenied, match="may not change parcels"):
        register.update(session, REVIEWER, parcels["B"], {1}, {"name": "vom Prüfer"})  # review only
    with pytest.raises(AccessDenied, match="unreviewed"):
        view_of(PLANNER, unreviewed=True)
    with pytest.raises(AccessDenied, match="unreviewed"):
        view_of(None, unreviewed=True)
    with pytest.raises(AccessDenied):
        review.submissions(conn, None)
    assert review.submissions(conn, OTHER) == []  # another municipality's submissions are not listed


def test_bulk_approval_of_an_import_leaves_a_row_changed_meanwhile_for_its_own_review(session, tmp_path):
    gpkg = tmp_path / "ge.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["I-1", "I-2", "I-3"], "category": ["bauluecke"] * 3, "publication_allowed": [True] * 3},
        geometry=[_box(1200 + 100 * i, 40, 40) for i in range(3)],
        crs=25832,
    ).to_file(gpkg)
    conn = session.connection()
    options = ImportOptions(actor=PLANNER.owner, allowed_ags=PLANNER.ags, principal=PLANNER)
    report = import_file(conn, gpkg, options)
    assert report.inserted == 3 and report.submission_id is not None
    assert {"I-1", "I-2", "I-3"}.isdisjoint(_seen(session, PUBLIC))
    i2 = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'I-2'")).scalar_one()
    register.update(session, PLANNER, i2, {1}, {"name": "nachträglich geändert"})  # a second change meanwhile
    (imported, later) = review.submissions(conn, REVIEWER)
    assert imported["id"] == report.submission_id and imported["kind"] == "import" and imported["waiting"] == 2
    (decided,) = review.approve(conn, REVIEWER, [imported["id"]])
    assert decided["parcels"] == 2 and [s["local_ref"] for s in decided["superseded"]] == ["I-2"]
    public = _seen(session, PUBLIC)
    assert {"I-1", "I-3"} <= set(public) and "I-2" not in public  # I-2 waits for its own review
    review.approve(conn, REVIEWER, [later["id"]])
    assert _seen(session, PUBLIC)["I-2"]["name"] == "nachträglich geändert"


def test_review_over_http(committed_db):
    record(committed_db, {"local_ref": "H-1", "category": "gewerbeflaeche", "name": "alt",
                          "publication_allowed": True, "geom": _box(0, 60, 60)})  # fmt: skip
    tokens = bearers(
        committed_db,
        planner=("planer.ge", "planner", [GELSENKIRCHEN]),
        essen=("planer.essen", "planner", [ESSEN]),
        reviewer=("pruefer.rvr", "reviewer"),
        ministry=("ministerium", "ministry"),
    )
    with app_client(committed_db) as client:
        (feature,) = client.get("/collections/parcels/items?local_ref=H-1").json()["features"]
        url = f"/collections/parcels/items/{feature['id']}"
        etag = client.get(url, headers=tokens["planner"]).headers["etag"]
        changed = client.patch(url, json={"type": "Feature", "properties": {"name": "neu"}},
                               headers=tokens["planner"] | {"If-Match": etag})  # fmt: skip
        assert changed.status_code == 204, changed.text
        assert client.get(url).json()["properties"]["name"] == "alt"
        assert client.get(url, headers=tokens["ministry"]).json()["properties"]["name"] == "alt"
        newest = client.get(url + "?unreviewed=true", headers=tokens["ministry"])
        assert newest.json()["properties"]["name"] == "neu"
        refused = client.get(url + "?unreviewed=true")
        assert refused.status_code == 403 and "unreviewed" in refused.json()["detail"]
        assert client.get("/statistics?unreviewed=true", headers=tokens["planner"]).status_code == 403

        assert client.get("/review/submissions").status_code == 401
        assert client.get("/review/submissions", headers=tokens["essen"]).json() == []
        (waiting,) = client.get("/review/submissions", headers=tokens["planner"]).json()
        detail = client.get(f"/review/submissions/{waiting['id']}", headers=tokens["reviewer"]).json()
        assert detail["changes"][0]["fields"] == [{"field": "name", "label": "Name", "before": "alt", "after": "neu"}]
        assert client.get("/review/submissions?state=unklar", headers=tokens["reviewer"]).status_code == 400
        assert client.get("/review/submissions/99999999", headers=tokens["reviewer"]).status_code == 404

        approve = {"ids": [waiting["id"]], "comment": "ok"}
        assert client.post("/review/approvals", json=approve, headers=tokens["planner"]).status_code == 403
        assert client.post("/review/approvals", json={"ids": []}, headers=tokens["reviewer"]).status_code == 400
        assert client.post("/review/approvals", json={"ids": ["x"]}, headers=tokens["reviewer"]).status_code == 400
        no_comment = client.post("/review/rejections", json={"ids": [waiting["id"]]}, headers=tokens["reviewer"])
        assert no_comment.status_code == 400 and no_comment.json()["field"] == "comment"
        approved = client.post("/review/approvals", json=approve, headers=tokens["reviewer"])
        assert approved.status_code == 200 and approved.json()[0]["state"] == "freigegeben"
        again = client.post("/review/approvals", json=approve, headers=tokens["reviewer"])
        assert again.status_code == 409 and "already approved" in again.json()["detail"]
        assert client.get(url).json()["properties"]["name"] == "neu"
        history = client.get(f"{url}/history", headers=tokens["planner"]).json()["versions"]
        assert history[-1]["review"]["change"]["reviewed_by"] == "pruefer.rvr"


def test_the_due_list_and_reminders(session, parcels):
    conn = session.connection()
    conn.execute(text("UPDATE parcel SET data_date = :d WHERE id = :i"),
                 {"d": clock.today() - dt.timedelta(days=400), "i": parcels["C"]})  # fmt: skip
    register.update(session, PLANNER, parcels["A"], {1}, {"name": "zu prüfen"})
    register.update(session, PLANNER, parcels["B"], {1}, {"name": "wird abgelehnt"})
    rejected = [s for s in review.submissions(conn, REVIEWER) if s["actor"] == "planer.ge"][-1]
    review.reject(conn, REVIEWER, [rejected["id"]], "bitte prüfen")
    listed = due.due(conn, view_of(PLANNER), older_than_months=12)
    stale = {p["local_ref"]: p["data_date"] for p in listed["stale_parcels"]}
    assert stale["C"] == clock.today() - dt.timedelta(days=400) and stale["A"] is None  # no Stand at all
    assert listed["stale_count"] == 3  # A and B without Stand, C older than 12 months
    assert [s["comment"] for s in listed["submissions_rejected"]] == ["bitte prüfen"]
    assert len(listed["submissions_waiting"]) == 1
    assert due.due(conn, view_of(OTHER))["submissions_waiting"] == []  # Essen's list has none of this
    with pytest.raises(AccessDenied):
        due.due(conn, PUBLIC)
    # the planner corrects B: the rejected submission leaves the list, the correction waits
    register.update(session, PLANNER, parcels["B"], {2}, {"name": "korrigiert"})
    listed = due.due(conn, view_of(PLANNER))
    assert listed["submissions_rejected"] == [] and len(listed["submissions_waiting"]) == 2

    conn.execute(text("INSERT INTO api_token (owner, role, ags, token_sha256) VALUES ('planer.ge', 'planner', "
                      "ARRAY['05513000']::char(8)[], repeat('a', 64))"))  # fmt: skip
    assert due.remind(conn) >= 1
    (note,) = [n for n in inbox.inbox(conn, PLANNER) if n["kind"] == "wiedervorlage"]
    assert "2 Änderungen warten auf Prüfung" in note["body"] and "3 Flächen mit Stand" in note["body"]


def test_the_public_history_shows_when_the_contamination_flag_changed(session, parcels):
    """The public does not see the contamination record but its flag (Altlastverdacht): an edit of
    the record alone is a change of its own in the public history where it changed the flag (none →
    'verdacht'), and none where it did not ('verdacht' → 'untersucht')."""
    from landreg import versions
    from landreg.parcels import update_parcel

    a = parcels["A"]
    for contamination in ("verdacht", "untersucht"):
        update_parcel(session, a, "seed", contamination=contamination)
    session.flush()
    conn = session.connection()
    public = versions.changes(conn, PUBLIC, a)
    assert [[(c["field"], c["before"], c["after"]) for c in v["changes"]] for v in public] == [
        [],
        [("contamination_flag", False, True)],
        [],
    ]
    assert "contamination" not in versions.state(conn, PUBLIC, a, 2)
    assert [h["valid_to"] is None for h in register.parcel_history(conn, PUBLIC, a)] == [False, True]
    own = versions.changes(conn, FULL, a)  # who sees the record sees its change, not the flag's
    assert [[c["field"] for c in v["changes"]] for v in own] == [[], ["contamination"], ["contamination"]]


def test_a_confidential_edit_leaves_no_trace_for_those_who_may_not_see_it(committed_db):
    """The version number counts every edit: the public and other municipalities get neither it nor an
    ETag or history entry that moves with an edit of confidential fields only; the own planner does."""
    from sqlalchemy.orm import Session

    record(committed_db, {"local_ref": "V", "category": "gewerbeflaeche", "name": "Fläche V",
                          "publication_allowed": True, "geom": _box(2000, 80, 80)})  # fmt: skip
    with committed_db.connect() as conn:
        parcel = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'V'")).scalar_one()
    tokens = bearers(
        committed_db, ge=("planer.ge", "planner", [GELSENKIRCHEN]), essen=("planer.essen", "planner", [ESSEN])
    )

    def edit_and_approve(**attributes) -> None:
        if attributes:
            with Session(committed_db) as session:
                register.update(session, PLANNER, parcel, "*", attributes)
                session.commit()
        with committed_db.begin() as conn:
            waiting = conn.execute(text("SELECT id FROM submission WHERE state = 'wartend'")).scalars().all()
            review.approve(conn, REVIEWER, waiting)

    with app_client(committed_db) as client:
        item = f"/collections/parcels/items/{parcel}"

        def seen(headers=None) -> tuple:
            one = client.get(item, headers=headers)
            assert one.status_code == 200, one.text
            history = client.get(f"{item}/history", headers=headers).json()["versions"]
            return one.json()["properties"], one.headers["etag"], history

        public, essen = seen(), seen(tokens["essen"])
        assert "version" not in public[0] and essen[0]["version"] is None
        assert [set(h) & {"version", "actor"} for h in public[2]] == [set()]
        edit_and_approve(internal_notes="Eigentümer verhandelt mit einem Investor", owner_willing="ja")
        assert seen() == public and seen(tokens["essen"]) == essen
        own = seen(tokens["ge"])
        assert own[0]["version"] == 2 and own[1] == '"2"' and [h["version"] for h in own[2]] == [1, 2]
        queried = client.get("/collections/parcels/items", params={"filter": "version = 2"})
        assert queried.status_code == 400 and "version" in queried.text

        with Session(committed_db) as session:  # waiting for review: the item is the approved version
            register.update(session, PLANNER, parcel, "*", {"name": "Fläche V, geteilt"})
            session.commit()
        assert seen() == public and seen(tokens["ge"])[0]["name"] == "Fläche V, geteilt"
        assert client.get("/collections/parcels/items/00000000-0000-4000-8000-000000000000").status_code == 404
        edit_and_approve()  # a public change: seen, still without a number
        after = seen()
        assert after[0]["name"] == "Fläche V, geteilt" and after[1] != public[1]
        assert [h["name"] for h in after[2]] == ["Fläche V", "Fläche V, geteilt"] and "version" not in after[2][1]
        assert after[2][0]["valid_to"] == after[2][1]["valid_from"] and after[2][1]["valid_to"] is None
