"""The reviewer's queue and everybody's inbox in the workspace (/app/pruefung, /app/posteingang):
a planner's change waits, a reviewer sees its diff and approves it, the public sees it; refusals
of the core at their field; the planner finds the decision in the inbox."""

from __future__ import annotations

import re
import uuid

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg import inbox, register, review, users
from landreg.access import Principal
from landreg.errors import InvalidParameter
from landreg.importer import ImportOptions, import_file
from landreg.models import Parcel
from landreg.parcels import create_parcel
from tests.helpers import app_client, database_url, live_server, record, utm
from tests.web import (
    PASSWORD,
    axe_violations,
    chromium,
    describe,
    needs_browser,
    new_page,
    people,
    screenshot,
    sign_in,
    submit,
)

GELSENKIRCHEN, ESSEN = "05513000", "05113000"
X0, Y0 = utm(7.1020, 51.5050)  # Gelsenkirchen Hbf
EX, EY = utm(7.0146, 51.4513)  # Essen Hbf
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
WMQ = morecantile.tms.get("WebMercatorQuad")
ACCOUNTS = {
    "planer.ge": ("planner", [GELSENKIRCHEN]),
    "planer.essen": ("planner", [ESSEN]),
    "pruefer.rvr": ("reviewer",),
    "ministerium": ("ministry",),
}


def _box(dx: float, width: float, height: float, x0: float = X0, y0: float = Y0) -> shapely.Polygon:
    return shapely.box(x0 + dx, y0, x0 + dx + width, y0 + height)


# -- the core's reads for these pages -------------------------------------------------------
def test_outlines_municipalities_and_what_a_planner_reads_of_a_submission(session, tmp_path):
    """Outlines before/after in WGS84 for the map; the municipalities of the submissions one may
    read; a planner of one of two municipalities of an import reads that municipality's parcels."""
    both = Principal(None, "planer.beide", "planner", (ESSEN, GELSENKIRCHEN))
    essen = Principal(None, "planer.essen", "planner", (ESSEN,))
    dortmund = Principal(None, "planer.do", "planner", ("05913000",))
    reviewer = Principal(None, "pruefer.rvr", "reviewer")
    conn = session.connection()
    seeded = create_parcel(session, "seed", local_ref="G-1", category="gewerbeflaeche", name="alt",
                           publication_allowed=True, internal_notes="vertraulich", geom=_box(0, 100, 100))  # fmt: skip
    session.flush()
    register.update(session, both, seeded.id, {1}, {"geom": _box(0, 100, 150), "internal_notes": "neu"})
    (changed,) = review.submissions(conn, reviewer)
    (outline,) = review.outlines(conn, reviewer, changed["id"], [seeded.id])
    assert outline["local_ref"] == "G-1" and outline["retired"] is False
    lon, lat = TO_WGS84.transform(X0 + 50, Y0 + 125)  # in the added strip: after, not before
    point = shapely.Point(lon, lat)
    assert shapely.geometry.shape(outline["after"]).contains(point)
    assert not shapely.geometry.shape(outline["before"]).contains(point)
    assert shapely.geometry.shape(outline["before"]).contains(shapely.Point(*TO_WGS84.transform(X0 + 50, Y0 + 50)))
    assert review.outlines(conn, essen, changed["id"], [seeded.id]) == []  # not Essen's submission
    with pytest.raises(InvalidParameter, match="ags: a municipality is an 8-digit AGS"):
        review.submissions(conn, reviewer, ags="0551300x")

    gpkg = tmp_path / "beide.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["I-GE", "I-E"], "category": ["bauluecke"] * 2, "publication_allowed": [True] * 2,
         "internal_notes": ["nur Gelsenkirchen", "nur Essen"]},
        geometry=[_box(1000, 40, 40), _box(0, 40, 40, EX, EY)],
        crs=25832,
    )  .to_file(gpkg)  # fmt: skip
    report = import_file(conn, gpkg, ImportOptions(actor=both.owner, allowed_ags=both.ags, principal=both))
    full = review.submission(conn, reviewer, report.submission_id)
    assert sorted(c["local_ref"] for c in full["changes"]) == ["I-E", "I-GE"]
    seen = review.submission(conn, essen, report.submission_id)
    assert [c["local_ref"] for c in seen["changes"]] == ["I-E"]  # not Gelsenkirchen's parcel, nor its notes
    ids = [c["parcel_id"] for c in full["changes"]]
    assert [o["local_ref"] for o in review.outlines(conn, essen, report.submission_id, ids)] == ["I-E"]
    (new,) = review.outlines(conn, essen, report.submission_id, ids)
    assert new["before"] is None and new["after"]["type"] == "MultiPolygon"

    places = {m["ags"]: m for m in review.municipalities(conn, reviewer)}
    assert places[GELSENKIRCHEN]["name"] == "Gelsenkirchen" and places[GELSENKIRCHEN]["waiting"] == 2
    assert places[ESSEN]["waiting"] == 1
    assert [m["ags"] for m in review.municipalities(conn, essen)] == [ESSEN, GELSENKIRCHEN]  # the import's
    assert review.municipalities(conn, dortmund) == []


def test_web_accounts_receive_notifications_and_read_them_all_at_once(conn):
    users.create_user(conn, "pruefer.web", "reviewer", PASSWORD)
    users.create_user(conn, "planer.web", "planner", PASSWORD, [ESSEN])
    users.create_user(conn, "planer.weg", "planner", PASSWORD, [ESSEN])
    users.disable_user(conn, "planer.weg")
    assert "pruefer.web" in inbox.reviewers(conn)
    assert "planer.web" in inbox.planners_of(conn, ESSEN) and "planer.weg" not in inbox.planners_of(conn, ESSEN)
    assert "planer.web" not in inbox.planners_of(conn, GELSENKIRCHEN)
    me = users.get_user(conn, "planer.web").principal
    inbox.notify(conn, ["planer.web", "pruefer.web"], "test", "eins", "Text")
    inbox.notify(conn, ["planer.web"], "test", "zwei", "Text")
    assert inbox.unread_count(conn, me) == 2
    assert inbox.mark_all_read(conn, me) == 2 and inbox.unread_count(conn, me) == 0
    assert inbox.unread_count(conn, users.get_user(conn, "pruefer.web").principal) == 1  # others' stay


def test_a_rejection_comment_with_a_nul_character_is_refused(session):
    planner = Principal(None, "planer.ge", "planner", (GELSENKIRCHEN,))
    made = create_parcel(session, "seed", local_ref="N-1", category="bauluecke", publication_allowed=True,
                         geom=_box(0, 30, 30))  # fmt: skip
    session.flush()
    register.update(session, planner, made.id, {1}, {"name": "x"})
    conn = session.connection()
    reviewer = Principal(None, "pruefer.rvr", "reviewer")
    (waiting,) = review.submissions(conn, reviewer)
    with pytest.raises(InvalidParameter, match="comment: a NUL character"):
        review.reject(conn, reviewer, [waiting["id"]], "so\x00nicht")


# -- the pages over HTTP --------------------------------------------------------------------
def _seed(engine, *refs: str) -> dict[str, uuid.UUID]:
    """Published parcels in Gelsenkirchen recorded by the operator (approved), and the accounts."""
    record(engine, *[
        {"local_ref": ref, "category": "gewerbeflaeche", "name": f"Fläche {ref}", "status": "potenzial",
         "publication_allowed": True, "geom": _box(300 * i, 100, 100)}
        for i, ref in enumerate(refs)
    ])  # fmt: skip
    people(engine, **ACCOUNTS)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT local_ref, id FROM parcel WHERE local_ref = ANY(:r)"), {"r": list(refs)})
        return {r.local_ref: r.id for r in rows}


def _change(engine, parcel_id: uuid.UUID, attributes: dict, who: str = "planer.ge") -> int:
    """A planner's change through the core's use case; returns the submission it made."""
    with engine.connect() as conn:
        principal = users.get_user(conn, who).principal
    with Session(engine) as session:
        version = session.get(Parcel, parcel_id).version
        register.update(session, principal, parcel_id, {version}, attributes)
        session.commit()
    with engine.connect() as conn:
        return conn.execute(text("SELECT max(id) FROM submission")).scalar_one()


def _client_sign_in(client, username: str) -> str:
    """Signs in through the form; returns the session's CSRF token (from a page's form)."""
    form = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    answer = client.post("/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/app/posteingang").text).group(1)


def _field_error(html: str) -> str:
    found = re.search(r'id="comment-error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


def test_the_queue_the_diff_and_the_decisions_over_http(committed_db):
    ids = _seed(committed_db, "W-1", "W-2", "W-3")
    first = _change(committed_db, ids["W-1"], {"name": "Fläche W-1, erweitert", "geom": _box(0, 100, 150)})
    second = _change(committed_db, ids["W-2"], {"status": "verfuegbar"})
    third = _change(committed_db, ids["W-3"], {"name": "erste Fassung"})
    with app_client(committed_db) as client:
        assert client.get("/app/pruefung", follow_redirects=False).headers["location"].startswith("/app/login")
        csrf = _client_sign_in(client, "pruefer.rvr")
        queue = client.get("/app/pruefung")
        assert queue.status_code == 200 and "Prüfung eingereichter Änderungen" in queue.text
        for sid in (first, second, third):
            assert f'name="ids" value="{sid}"' in queue.text
        assert queue.text.index(f'id="submission-{first}"') < queue.text.index(f'id="submission-{third}"')
        assert "Gelsenkirchen" in queue.text and "planer.ge" in queue.text and "heute" in queue.text
        assert 'aria-current="page"' in queue.text and ">Prüfung<" in queue.text
        assert client.get(f"/app/pruefung?ags={ESSEN}").text.count('name="ids"') == 0
        assert client.get(f"/app/pruefung?ags={GELSENKIRCHEN}").text.count('name="ids"') == 3
        assert "waiting for review" in client.get("/app/pruefung?lang=en").text
        assert "wartet auf Prüfung" in client.get("/app/pruefung?lang=de").text  # the choice is remembered

        detail = client.get(f"/app/pruefung/{first}")
        assert detail.status_code == 200
        assert re.search(r"<th scope=\"row\">Name</th><td class=\"before\"><del>Fläche W-1</del></td>"
                         r"<td class=\"after\"><ins>Fläche W-1, erweitert</ins>", detail.text)  # fmt: skip
        assert "5.000 m²" in detail.text and "10.000 m²" in detail.text and "15.000 m²" in detail.text
        assert 'id="review-map-data"' in detail.text and "MultiPolygon" in detail.text
        status = client.get(f"/app/pruefung/{second}").text
        assert "Potenzialfläche" in status and "Verfügbar" in status and "Geometrie unverändert" in status
        english = client.get(f"/app/pruefung/{second}?lang=en").text
        assert "Potential site" in english and "before (approved)" in english
        client.get("/app/pruefung?lang=de")

        # a rejection without a comment: the core's message at the comment field, nothing decided
        no_comment = client.post(f"/app/pruefung/{second}/entscheidung",
                                 data={"csrf_token": csrf, "decision": "ablehnen", "comment": "  "})  # fmt: skip
        assert no_comment.status_code == 400
        assert "comment: a rejection needs a comment" in _field_error(no_comment.text)
        assert 'aria-invalid="true"' in no_comment.text
        bulk_no_comment = client.post("/app/pruefung/entscheidung",
                                      data={"csrf_token": csrf, "decision": "ablehnen", "ids": [first, second]})  # fmt: skip
        assert bulk_no_comment.status_code == 400 and "a rejection needs a comment" in _field_error(
            bulk_no_comment.text
        )
        assert f'value="{first}" id="select-{first}" checked' in bulk_no_comment.text  # the ticks stay

        # without the form's CSRF token: refused, nothing decided
        forged = client.post(f"/app/pruefung/{first}/entscheidung", data={"decision": "freigeben"})
        assert forged.status_code == 403 and "Formular" in forged.text
        forged = client.post("/app/pruefung/entscheidung", data={"decision": "freigeben", "ids": [first],
                                                                 "csrf_token": "x" * 40})  # fmt: skip
        assert forged.status_code == 403

        # superseded meanwhile: the core's refusal, naming the newer change
        newer = _change(committed_db, ids["W-3"], {"name": "zweite Fassung"})
        stale = client.post("/app/pruefung/entscheidung",
                            data={"csrf_token": csrf, "decision": "freigeben", "ids": [third, first]})  # fmt: skip
        assert stale.status_code == 409
        assert f"{third}: superseded by a newer change; review the newest (submission {newer})" in stale.text
        assert "Nicht entschieden" in stale.text

        # bulk approval of two with one comment
        approved = client.post("/app/pruefung/entscheidung",
                               data={"csrf_token": csrf, "decision": "freigeben", "ids": [first, second],
                                     "comment": "plausibel", "state": "wartend", "page": "1"})  # fmt: skip
        assert approved.status_code == 200, approved.text
        assert f"Einreichung {first}: freigegeben, 1 Fläche(n)." in approved.text
        assert f"Einreichung {second}: freigegeben" in approved.text and "plausibel" in approved.text
        again = client.post(f"/app/pruefung/{first}/entscheidung", data={"csrf_token": csrf, "decision": "freigeben"})
        assert again.status_code == 409 and "already approved" in again.text
        decided = client.get("/app/pruefung?state=freigegeben").text
        assert "pruefer.rvr" in decided and "plausibel" in decided
        assert 'name="ids"' not in decided  # decided ones cannot be ticked

        assert client.get(f"/collections/parcels/items/{ids['W-1']}").json()["properties"]["name"] == (
            "Fläche W-1, erweitert"
        )
        assert client.get(f"/collections/parcels/items/{ids['W-2']}").json()["properties"]["status"] == "verfuegbar"
        assert client.get(f"/collections/parcels/items/{ids['W-3']}").json()["properties"]["name"] == "Fläche W-3"

        # bad input: a page about it, never a 500
        for url, status in (
            ("/app/pruefung?state=unklar", 400),
            ("/app/pruefung?ags=abc", 400),
            ("/app/pruefung?ags=%00", 400),
            ("/app/pruefung?page=0", 400),
            ("/app/pruefung?page=x", 400),
            ("/app/pruefung/0", 400),
            ("/app/pruefung/99999999999999999999999", 400),
            ("/app/pruefung/987654321", 404),
            (f"/app/pruefung/{first}?page=-1", 400),
            (f"/app/pruefung/{first}?page=999999", 200),
        ):
            answer = client.get(url)
            assert answer.status_code == status and "<html" in answer.text, (url, answer.status_code)
        for data, status in (
            ({"decision": "freigeben", "ids": ["x"]}, 400),
            ({"decision": "freigeben", "ids": ["0"]}, 400),
            ({"decision": "freigeben", "ids": ["١٢"]}, 400),
            ({"decision": "freigeben"}, 400),
            ({"decision": "vielleicht", "ids": [newer]}, 400),
            ({"decision": "freigeben", "ids": ["987654321"]}, 404),
            ({"decision": "ablehnen", "ids": [newer], "comment": "x" * 5001}, 400),
            ({"decision": "ablehnen", "ids": [newer], "comment": "nicht\x00so"}, 400),
            ({"decision": "freigeben", "ids": [newer], "page": "x", "state": "unklar"}, 200),
        ):
            answer = client.post("/app/pruefung/entscheidung", data={"csrf_token": csrf, **data})
            assert answer.status_code == status and "<html" in answer.text, (data, answer.status_code, answer.text)


def test_an_import_pages_through_its_changes_and_its_approval_names_rows_changed_meanwhile(
    committed_db, tmp_path, monkeypatch
):
    from api.web import reviewing

    people(committed_db, **ACCOUNTS)
    gpkg = tmp_path / "ge.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["I-1", "I-2", "I-3"], "category": ["bauluecke"] * 3, "publication_allowed": [True] * 3},
        geometry=[_box(1200 + 100 * i, 40, 40) for i in range(3)],
        crs=25832,
    ).to_file(gpkg)
    with committed_db.begin() as conn:
        planner = users.get_user(conn, "planer.ge").principal
        report = import_file(conn, gpkg, ImportOptions(actor=planner.owner, allowed_ags=planner.ags, principal=planner))
        i2 = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'I-2'")).scalar_one()
    later = _change(committed_db, i2, {"name": "nachträglich geändert"})
    monkeypatch.setattr(reviewing, "CHANGES_PER_PAGE", 2)
    with app_client(committed_db) as client:
        csrf = _client_sign_in(client, "pruefer.rvr")
        queue = client.get("/app/pruefung").text
        assert re.search(rf'id="submission-{report.submission_id}".*?Import.*?<td class="num">3</td>\s*'
                         r'<td class="num">2</td>', queue, re.S)  # fmt: skip
        first = client.get(f"/app/pruefung/{report.submission_id}").text
        assert "Fläche I-1" in first and "Fläche I-2" in first and "Fläche I-3" not in first
        assert "Seite 1 von 2" in first and f'href="/app/pruefung/{report.submission_id}?page=2"' in first
        assert "neue Fläche (Version 1)" in first and "Neue Fläche: alle Angaben sind neu." in first
        assert "überholt durch eine neuere Änderung" in first  # I-2's row
        second = client.get(f"/app/pruefung/{report.submission_id}?page=2").text
        assert "Fläche I-3" in second and "Fläche I-1" not in second and "Seite 2 von 2" in second
        approved = client.post(f"/app/pruefung/{report.submission_id}/entscheidung",
                               data={"csrf_token": csrf, "decision": "freigeben", "page": "2"})  # fmt: skip
        assert approved.status_code == 200
        assert f"Einreichung {report.submission_id}: freigegeben, 2 Fläche(n)." in approved.text
        assert "braucht eine eigene Prüfung" in approved.text and "Fläche I-2" in approved.text
        assert f'id="submission-{later}"' in client.get("/app/pruefung").text  # I-2's change still waits
        public = {
            f["properties"]["local_ref"] for f in client.get("/collections/parcels/items?limit=100").json()["features"]
        }
        assert {"I-1", "I-3"} <= public and "I-2" not in public


def test_planners_read_their_submissions_and_cannot_decide(committed_db):
    ids = _seed(committed_db, "P-1", "P-2")
    sid = _change(committed_db, ids["P-1"], {"name": "geändert"})
    with committed_db.connect() as conn:
        planner = users.get_user(conn, "planer.ge").principal
    with Session(committed_db) as session:
        register.retire(session, planner, ids["P-2"], {1}, "aufgegeben")
        session.commit()
    retired = sid + 1
    with app_client(committed_db) as client:
        csrf = _client_sign_in(client, "planer.ge")
        mine = client.get("/app/pruefung")
        assert mine.status_code == 200 and "Meine Einreichungen" in mine.text
        assert f'href="/app/pruefung/{sid}"' in mine.text and 'name="ids"' not in mine.text  # read only
        detail = client.get(f"/app/pruefung/{sid}")
        assert "geändert" in detail.text and 'name="decision"' not in detail.text
        retirement = client.get(f"/app/pruefung/{retired}").text
        assert "Stilllegung, Gelsenkirchen" in retirement and "Stilllegung der Fläche" in retirement
        assert "durchgezogen rot: stillgelegte Fläche" in retirement and "Sachdaten" not in retirement
        refused = client.post(f"/app/pruefung/{sid}/entscheidung", data={"csrf_token": csrf, "decision": "freigeben"})
        assert refused.status_code == 403 and "reviewing needs the role reviewer" in refused.text
        refused = client.post("/app/pruefung/entscheidung",
                              data={"csrf_token": csrf, "decision": "freigeben", "ids": [sid]})  # fmt: skip
        assert refused.status_code == 403
    with app_client(committed_db) as client:
        _client_sign_in(client, "planer.essen")
        assert f'href="/app/pruefung/{sid}"' not in client.get("/app/pruefung").text  # not Essen's
        assert client.get(f"/app/pruefung/{sid}").status_code == 404
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT state FROM submission WHERE id = :i"), {"i": sid}).scalar() == "wartend"


def test_the_inbox_lists_marks_read_and_counts_in_the_navigation(committed_db):
    people(committed_db, **ACCOUNTS)
    with committed_db.begin() as conn:
        inbox.notify(conn, ["planer.ge"], "pruefung_freigegeben", "Ihre Änderung 12 wurde freigegeben",
                     "pruefer.rvr hat Ihre Änderung 12 freigegeben.", "/review/submissions/12")  # fmt: skip
        inbox.notify(conn, ["planer.ge"], "wiedervorlage", "Wiedervorlage", "3 Flächen", "/due?ags=05513000")
        inbox.notify(conn, ["planer.essen"], "test", "nicht für Gelsenkirchen", "geheim")
    with app_client(committed_db) as client:
        csrf = _client_sign_in(client, "planer.ge")
        page = client.get("/app/posteingang")
        assert page.status_code == 200 and "2 ungelesen" in page.text
        assert re.search(r'href="/app/posteingang"[^>]*>Posteingang <span class="badge">2<', page.text)
        assert 'href="/app/pruefung/12"' in page.text and 'href="/due' not in page.text
        assert "nicht für Gelsenkirchen" not in page.text
        assert page.text.index("Wiedervorlage") < page.text.index("wurde freigegeben")  # newest first
        note = int(re.search(r'name="ids" value="(\d+)"', page.text).group(1))
        assert client.post("/app/posteingang/gelesen", data={"ids": [note]}).status_code == 403  # no CSRF token
        marked = client.post("/app/posteingang/gelesen", data={"csrf_token": csrf, "ids": [note]},
                             follow_redirects=False)  # fmt: skip
        assert marked.status_code == 303 and marked.headers["location"] == "/app/posteingang?gelesen=1"
        after = client.get(marked.headers["location"]).text
        assert "1 Benachrichtigung(en) als gelesen markiert." in after and "1 ungelesen" in after
        assert 'Posteingang <span class="badge">1<' in after
        assert client.get("/app/posteingang?ungelesen=1").text.count('class="unread"') == 1
        with committed_db.connect() as conn:
            other = conn.execute(text("SELECT id FROM notification WHERE recipient = 'planer.essen'")).scalar()
        foreign = client.post("/app/posteingang/gelesen", data={"csrf_token": csrf, "ids": [other]})
        assert foreign.status_code == 404 and "<html" in foreign.text
        for data in ({"ids": ["x"]}, {"ids": ["-1"]}, {"ids": ["9" * 30]}):
            assert client.post("/app/posteingang/gelesen", data={"csrf_token": csrf, **data}).status_code == 400
        for url in ("/app/posteingang?page=0", "/app/posteingang?ungelesen=vielleicht", "/app/posteingang?gelesen=-1"):
            assert client.get(url).status_code == 400, url
        everything = client.post("/app/posteingang/gelesen", data={"csrf_token": csrf, "alle": "1"})
        assert everything.status_code == 200 and "Alles gelesen." in everything.text
        assert 'class="badge"' not in everything.text
        assert "Inbox" in client.get("/app/posteingang?lang=en").text


def test_the_pages_read_from_a_read_only_replica(committed_db):
    """Queue, detail and inbox only read: they answer from a role that may only SELECT."""
    import secrets

    from sqlalchemy.engine import make_url

    from api.app import create_app
    from api.web.session import COOKIE

    ids = _seed(committed_db, "R-1")
    sid = _change(committed_db, ids["R-1"], {"name": "neu", "geom": _box(0, 100, 120)})
    role, password = f"{committed_db.url.database}_web_reader", secrets.token_hex(8)
    with committed_db.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
        sessions = {who: users.sign_in(conn, who, PASSWORD)[0] for who in ("pruefer.rvr", "planer.ge")}
    reader = make_url(committed_db.url).set(username=role, password=password).render_as_string(hide_password=False)
    try:
        from fastapi.testclient import TestClient

        with TestClient(create_app(reader)) as client:
            for who, session_id in sessions.items():
                client.cookies.set(COOKIE, session_id)
                for url in ("/app/pruefung", f"/app/pruefung?state=alle&ags={GELSENKIRCHEN}&page=1",
                            f"/app/pruefung/{sid}", f"/app/pruefung/{sid}?page=1", "/app/posteingang",
                            "/app/posteingang?ungelesen=1"):  # fmt: skip
                    answer = client.get(url)
                    assert answer.status_code == 200, (who, url, answer.text[:500])
                badge = 'class="badge"' in client.get("/app/posteingang").text  # counted, nothing written
                assert badge == (who == "pruefer.rvr")  # the reviewer was told of the change to review
    finally:
        with committed_db.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


# -- in the browser -------------------------------------------------------------------------
def _tile_names(client, parcel_geom: shapely.Polygon, z: int = 16) -> set[str]:
    """The names of the parcels in the public vector tiles over a parcel."""
    (w, s), (e, n) = (TO_WGS84.transform(x, y) for x, y in ((parcel_geom.bounds[0], parcel_geom.bounds[1]),
                                                            (parcel_geom.bounds[2], parcel_geom.bounds[3])))  # fmt: skip
    names = set()
    for tile in WMQ.tiles(w, s, e, n, [z]):
        answer = client.get(f"/collections/parcels/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}")
        assert answer.status_code in (200, 204), answer.text
        if answer.status_code == 200 and answer.content:
            layer = mapbox_vector_tile.decode(answer.content).get("parcels", {"features": []})
            names |= {f["properties"].get("name") for f in layer["features"]}
    return names


@needs_browser
def test_a_reviewer_approves_in_the_browser_and_the_change_reaches_the_public_map(committed_db):
    from selenium.webdriver.common.by import By

    from api.app import create_app

    ids = _seed(committed_db, "B-1")
    sid = _change(committed_db, ids["B-1"], {"name": "Gewerbepark Hbf", "geom": _box(0, 100, 160)})
    with app_client(committed_db) as client:
        assert "Fläche B-1" in _tile_names(client, _box(0, 100, 160))  # the public sees the approved state
        assert "Gewerbepark Hbf" not in _tile_names(client, _box(0, 100, 160))
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            sign_in(driver, base, "pruefer.rvr")
            driver.get(f"{base}/app")
            driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/app/pruefung"]').click()  # "Prüfung"
            assert driver.current_url.endswith("/app/pruefung")
            row = driver.find_element(By.ID, f"submission-{sid}")
            assert "Gelsenkirchen" in row.text and "planer.ge" in row.text
            assert driver.find_element(By.ID, "select-all").get_attribute("aria-label") == "Alle wartenden auswählen"
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "pruefung")

            row.find_element(By.LINK_TEXT, str(sid)).click()
            diff = driver.find_element(By.CSS_SELECTOR, "table.diff").text
            assert "Name" in diff and "Fläche B-1" in diff and "Gewerbepark Hbf" in diff
            assert "6.000 m²" in driver.find_element(By.CSS_SELECTOR, "dl.areas").text  # added
            assert (
                driver.execute_script(
                    "return document.querySelectorAll('#review-map .leaflet-overlay-pane path').length"
                )
                == 2
            )
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "pruefung-detail")

            driver.find_element(By.ID, "comment").send_keys("Abgleich mit B-Plan: passt")
            with new_page(driver):  # the answer is a new page: wait for it (a loaded machine is slow)
                driver.find_element(By.CSS_SELECTOR, "button.approve").click()
            result = driver.find_element(By.ID, f"decided-{sid}").text
            assert f"Einreichung {sid}: freigegeben, 1 Fläche(n)." in result

        with app_client(committed_db) as client:  # anonymously: the items API and the map's tiles
            assert client.get(f"/collections/parcels/items/{ids['B-1']}").json()["properties"]["name"] == (
                "Gewerbepark Hbf"
            )
            names = _tile_names(client, _box(0, 100, 160))
            assert "Gewerbepark Hbf" in names and "Fläche B-1" not in names

        driver.delete_all_cookies()
        with live_server(create_app(database_url(committed_db))) as base:
            sign_in(driver, base, "planer.ge")
            driver.get(f"{base}/app/posteingang")
            badge = driver.find_element(By.CSS_SELECTOR, 'header nav a[href="/app/posteingang"] .badge')
            assert badge.text.startswith("1")
            note = driver.find_element(By.CSS_SELECTOR, "ol.notifications li.unread")
            assert f"Ihre Änderung {sid} wurde freigegeben" in note.text and "Abgleich mit B-Plan" in note.text
            assert note.find_element(By.LINK_TEXT, "Öffnen").get_attribute("href").endswith(f"/app/pruefung/{sid}")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "posteingang")
            submit(driver, note.find_element(By.CSS_SELECTOR, "button[type=submit]"))  # the answer page
            assert "1 Benachrichtigung(en) als gelesen markiert." in driver.find_element(By.TAG_NAME, "body").text
            assert not driver.find_elements(By.CSS_SELECTOR, "ol.notifications li.unread")
            assert not driver.find_elements(By.CSS_SELECTOR, "header nav .badge")
            submit(driver, driver.find_element(By.LINK_TEXT, "Öffnen"))
            assert driver.find_element(By.TAG_NAME, "h1").text.startswith(f"Einreichung {sid}")
            assert "Abgleich mit B-Plan: passt" in driver.find_element(By.CSS_SELECTOR, "dl.summary").text
    finally:
        driver.quit()


@needs_browser
def test_bulk_decisions_in_the_browser_with_the_keyboard(committed_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from api.app import create_app

    ids = _seed(committed_db, "K-1", "K-2", "K-3")
    one = _change(committed_db, ids["K-1"], {"status": "verfuegbar"})
    two = _change(committed_db, ids["K-2"], {"status": "reserviert"})
    three = _change(committed_db, ids["K-3"], {"name": "erste Fassung"})
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            sign_in(driver, base, "ministerium")  # the ministry may review too
            driver.get(f"{base}/app/pruefung")
            # reject without a comment: the core's message at the comment field, the ticks kept
            driver.find_element(By.ID, f"select-{one}").send_keys(Keys.SPACE)
            submit(driver, driver.find_element(By.CSS_SELECTOR, "button.reject"))
            error = driver.find_element(By.ID, "comment-error")
            assert "comment: a rejection needs a comment" in error.text
            comment = driver.find_element(By.ID, "comment")
            assert comment.get_attribute("aria-invalid") == "true"
            assert "comment-error" in comment.get_attribute("aria-describedby")
            assert driver.switch_to.active_element == comment  # the cursor waits in the field
            assert driver.find_element(By.ID, f"select-{one}").is_selected()
            violations = axe_violations(driver)
            assert not violations, describe(violations)

            # superseded while the page was open: refused with the core's message, nothing decided
            newer = _change(committed_db, ids["K-3"], {"name": "zweite Fassung"})
            driver.find_element(By.ID, f"select-{three}").send_keys(Keys.SPACE)
            submit(driver, driver.find_element(By.CSS_SELECTOR, "button.approve"))
            refused = driver.find_element(By.ID, "decision-error").text
            assert f"superseded by a newer change; review the newest (submission {newer})" in refused

            # bulk: tick two, approve with one comment, by keyboard
            driver.get(f"{base}/app/pruefung")
            for sid in (one, two):
                driver.find_element(By.ID, f"select-{sid}").send_keys(Keys.SPACE)
            comment = driver.find_element(By.ID, "comment")
            comment.send_keys("Sammelfreigabe")
            comment.send_keys(Keys.TAB)
            with new_page(driver):
                driver.switch_to.active_element.send_keys(Keys.ENTER)  # the first button: Freigeben
            assert driver.find_element(By.ID, f"decided-{one}").text.startswith(f"Einreichung {one}: freigegeben")
            assert driver.find_element(By.ID, f"decided-{two}").text.startswith(f"Einreichung {two}: freigegeben")
            driver.get(f"{base}/app/pruefung")
            assert not driver.find_elements(By.ID, f"submission-{one}")
            assert driver.find_elements(By.ID, f"submission-{newer}")
    finally:
        driver.quit()
    with app_client(committed_db) as client:
        assert client.get(f"/collections/parcels/items/{ids['K-1']}").json()["properties"]["status"] == "verfuegbar"
        assert client.get(f"/collections/parcels/items/{ids['K-2']}").json()["properties"]["status"] == "reserviert"
        assert client.get(f"/collections/parcels/items/{ids['K-3']}").json()["properties"]["name"] == "Fläche K-3"
