"""Enquiries of the public about a public site: stored for that municipality's planners only,
confidential everywhere else, refused when empty, too long, from a bot (honeypot) or the 21st in a
minute from one client (429), and capped in size over HTTP."""

from __future__ import annotations

import re

import pytest
import shapely
from sqlalchemy import text

from landreg import clock, enquiries, publication
from landreg.access import AccessDenied, Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.parcels import create_parcel
from landreg.users import CsrfRefused
from tests.helpers import ESSEN_HBF, app_client, record, square_at
from tests.web import PASSWORD, people

ESSEN, BOTTROP = "05113000", "05512000"
PLANNER_ESSEN = Principal(None, "planung.essen", "planner", (ESSEN,))
PLANNER_BOTTROP = Principal(None, "planung.bottrop", "planner", (BOTTROP,))
MINISTRY = Principal(None, "ministerium", "ministry")
#: In the enquirer's name, address and text: found in no public answer.
MARKER = "Zq8Wv"


def _site(session, ref: str, public: bool = True, dx: float = 0) -> str:
    parcel = create_parcel(
        session,
        "t",
        local_ref=ref,
        name=f"Standort {ref}",
        category="gewerbeflaeche",
        availability="kurzfristig",
        publication_allowed=public,
        geom=shapely.affinity.translate(square_at(ESSEN_HBF, 120), dx, 0),
    )
    session.flush()
    return str(parcel.id)


def _send(conn, site_id, **overrides) -> int:
    values = {"name": f"Erika {MARKER}", "email": f"erika.{MARKER.lower()}@example.org",
              "message": f"Ist die Fläche noch frei? {MARKER}"} | overrides  # fmt: skip
    return enquiries.submit(conn, site_id, **values)


def test_an_enquiry_reaches_the_planners_of_that_municipality_only(session, conn):
    from landreg import users

    users.create_user(conn, "planung.essen", "planner", "richtig-langes-passwort", [ESSEN])
    site = _site(session, "E-1")
    number = _send(conn, site)
    mine = enquiries.enquiries(conn, PLANNER_ESSEN)
    assert [e["id"] for e in mine] == [number]
    assert mine[0]["message"].endswith(MARKER) and mine[0]["site_name"] == "Standort E-1"
    assert enquiries.open_count(conn, PLANNER_ESSEN) == 1
    # the planners' inbox has a notification, without the enquirer's personal data
    note = conn.execute(
        text("SELECT subject, body FROM notification WHERE recipient = 'planung.essen' AND kind = 'anfrage'")
    ).one()
    assert "Standort E-1" in note.subject and MARKER not in note.subject + note.body
    # another municipality's planner, the ministry and the public see nothing
    assert enquiries.enquiries(conn, PLANNER_BOTTROP) == []
    for other in (MINISTRY, None):
        with pytest.raises(AccessDenied):
            enquiries.enquiries(conn, other)
    with pytest.raises(NotFound):
        enquiries.mark_handled(conn, PLANNER_BOTTROP, [number])
    assert enquiries.mark_handled(conn, PLANNER_ESSEN, [number]) == 1
    assert enquiries.mark_handled(conn, PLANNER_ESSEN, [number]) == 0  # handled already
    assert enquiries.enquiries(conn, PLANNER_ESSEN, open_only=True) == []
    assert enquiries.enquiries(conn, PLANNER_ESSEN)[0]["handled_by"] == "planung.essen"
    assert enquiries.mark_handled(conn, PLANNER_ESSEN, [number], handled=False) == 1


def test_unknown_unpublished_and_objected_sites_take_no_enquiry_alike(session, conn):
    hidden = _site(session, "E-SECRET", public=False)
    objected = _site(session, "E-OBJ", dx=300)
    publication.record_objection(conn, PLANNER_ESSEN, objected, clock.today())
    answers = []
    for site in (hidden, objected, "00000000-0000-0000-0000-000000000000", "no-uuid", "1" * 500):
        with pytest.raises(NotFound) as refused:
            _send(conn, site)
        answers.append(refused.value.field)
    assert answers == ["id"] * 5
    assert conn.execute(text("SELECT count(*) FROM enquiry")).scalar_one() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"message": "   "}, "message", "Nachricht: bitte ausfüllen"),
        ({"message": "x" * 4_001}, "message", "höchstens 4.000 Zeichen, nicht 4.001"),
        ({"name": ""}, "name", "Name: bitte ausfüllen"),
        ({"name": "n" * 201}, "name", "höchstens 200 Zeichen"),
        ({"email": "keine-adresse"}, "email", "keine E-Mail-Adresse"),
        ({"email": "a@b.de, c@d.de"}, "email", "keine E-Mail-Adresse"),
        ({"message": "Text\x00mit Nullbyte"}, "message", "Steuerzeichen"),
        ({"honeypot": "http://spam.example"}, "website", "muss leer bleiben"),
    ],
)
def test_bad_enquiries_are_refused_naming_the_field_and_nothing_is_stored(session, conn, overrides, field, says):
    site = _site(session, "E-2")
    with pytest.raises((InvalidParameter, enquiries.BotSuspected)) as refused:
        _send(conn, site, **overrides)
    assert refused.value.field == field and says in str(refused.value)
    assert conn.execute(text("SELECT count(*) FROM enquiry")).scalar_one() == 0


def test_a_message_of_4000_characters_is_taken_whole(session, conn):
    site = _site(session, "E-3")
    _send(conn, site, message="ä" * 4_000)
    assert len(enquiries.enquiries(conn, PLANNER_ESSEN)[0]["message"]) == 4_000


def test_the_21st_enquiry_of_a_minute_from_one_client_is_refused(conn):
    for _ in range(enquiries.RATE_LIMIT):
        enquiries.admit(conn, "198.51.100.7")
    with pytest.raises(enquiries.TooManyEnquiries) as refused:
        enquiries.admit(conn, "198.51.100.7")
    assert 1 <= refused.value.retry_after_s <= 61
    enquiries.admit(conn, "198.51.100.8")  # another client is not held back
    # a minute later the client may send again
    conn.execute(text("UPDATE enquiry_attempt SET at = at - interval '61 seconds'"))
    enquiries.admit(conn, "198.51.100.7")
    # the addresses themselves are not kept
    assert "198.51" not in str(conn.execute(text("SELECT array_agg(client_sha256) FROM enquiry_attempt")).scalar())


def test_form_tokens_are_signed_and_expire(conn):
    token = enquiries.form_token(conn)
    enquiries.check_form_token(conn, token)
    issued, nonce, mac = token.split(".")
    for forged in (None, "", "x", f"{issued}.{nonce}.{mac[:-2]}AA", f"{int(issued) - 2 * 86400}.{nonce}.{mac}",
                   f"{issued}.{nonce}x.{mac}", "a.b.c", token + "." + mac):  # fmt: skip
        with pytest.raises(CsrfRefused):
            enquiries.check_form_token(conn, forged)


# -- over HTTP -------------------------------------------------------------------------------------
@pytest.fixture
def essen_site(committed_db):
    people(committed_db, **{"planung.essen": ("planner", [ESSEN]), "planung.bottrop": ("planner", [BOTTROP])})
    record(
        committed_db,
        {"local_ref": "E-WEB", "name": "Standort Web", "category": "gewerbeflaeche", "availability": "kurzfristig",
         "publication_allowed": True, "owner_contact": "Eigentümer geheim", "geom": square_at(ESSEN_HBF, 150)},
    )  # fmt: skip
    with committed_db.connect() as conn:
        site = str(conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'E-WEB'")).scalar_one())
    return committed_db, site


def _form(client, site: str) -> dict:
    page = client.get(f"/standorte/{site}/anfrage")
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    return {"form_token": token, "name": f"Erika {MARKER}", "email": "erika@example.org",
            "message": f"Frage {MARKER}", "website": ""}  # fmt: skip


def test_an_enquiry_over_http_is_stored_and_never_shown_to_the_public(essen_site):
    engine, site = essen_site
    with app_client(engine) as client:
        form = _form(client, site)
        sent = client.post(f"/standorte/{site}/anfrage", data=form, follow_redirects=False)
        assert sent.status_code == 303, sent.text[:500]
        done = client.get(sent.headers["location"])
        assert done.status_code == 200 and "Ihre Anfrage ist eingegangen" in done.text
        assert MARKER not in done.text
        # public outputs of the site know nothing of it
        for url in (f"/standorte/{site}/anfrage", f"/collections/parcels/items/{site}",
                    "/collections/parcels/items?f=json", f"/collections/parcels/items/{site}?f=html"):  # fmt: skip
            answer = client.get(url)
            assert MARKER not in answer.text and "erika@example.org" not in answer.text, url
        # a form from another site is refused; so is one without a valid token
        foreign = client.post(f"/standorte/{site}/anfrage", data=form, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        hidden = client.post(f"/standorte/{site}/anfrage", data=form, headers={"Origin": "null"})  # sandboxed frame
        assert hidden.status_code == 403
        forged = client.post(f"/standorte/{site}/anfrage", data=form | {"form_token": "1.2.3"})
        assert forged.status_code == 403 and "Formular ist abgelaufen" in forged.text
        # a bot's post (honeypot) and an empty text: refused, with the form again
        bot = client.post(f"/standorte/{site}/anfrage", data=form | {"website": "http://spam.example"})
        assert bot.status_code == 400
        empty = client.post(f"/standorte/{site}/anfrage", data=form | {"message": " "})
        assert empty.status_code == 400 and "Nachricht: bitte ausfüllen" in empty.text
        assert 'aria-invalid="true"' in empty.text and "Erika" in empty.text  # the input is kept
        english = client.post(f"/standorte/{site}/anfrage?lang=en", data=form | {"message": " "})
        assert english.status_code == 400 and "message: required" in english.text
        # unknown and malformed site ids: 404 alike
        for other in ("00000000-0000-0000-0000-000000000000", "abc"):
            assert client.post(f"/standorte/{other}/anfrage", data=form).status_code == 404
            assert client.get(f"/standorte/{other}/anfrage").status_code == 404
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name, email, message FROM enquiry")).all()
    assert [tuple(r) for r in stored] == [(f"Erika {MARKER}", "erika@example.org", f"Frage {MARKER}")]


def test_a_forged_host_reaches_no_mail_of_an_enquiry(essen_site):
    """The planners' notification (e-mailed when SMTP is set) names the workspace by its path only:
    nothing in it comes from the request's Host, which the sender chooses."""
    engine, site = essen_site
    forged = {"Host": "boese.example"}
    with app_client(engine) as client:
        form = _form(client, site)
        sent = client.post(f"/standorte/{site}/anfrage", data=form, headers=forged, follow_redirects=False)
        assert sent.status_code == 303 and "boese.example" not in sent.headers["location"]
    with engine.connect() as conn:
        notes = conn.execute(text("SELECT subject, body, coalesce(link, '') FROM notification WHERE kind = 'anfrage'"))
        notes = [" ".join(n) for n in notes]
    assert notes and all("boese.example" not in n and "://" not in n for n in notes)
    assert all("/app/anfragen" in n for n in notes)


def test_the_21st_post_in_a_minute_answers_429_with_retry_after(essen_site):
    engine, site = essen_site
    with app_client(engine) as client:
        form = _form(client, site)
        answers = [client.post(f"/standorte/{site}/anfrage", data=form | {"message": f"Nr. {i}"},
                               follow_redirects=False) for i in range(21)]  # fmt: skip
    assert [a.status_code for a in answers] == [303] * 20 + [429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 61
    assert "Zu viele Anfragen" in answers[-1].text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM enquiry")).scalar_one() == 20


def test_an_oversized_post_is_refused_before_it_is_read(essen_site):
    engine, site = essen_site
    with app_client(engine) as client:
        form = _form(client, site)
        big = client.post(f"/standorte/{site}/anfrage", data=form | {"message": "x" * 70_000})
        assert big.status_code == 413, big.text[:300]
        assert "64.000 Bytes" in big.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM enquiry")).scalar_one() == 0


def _sign_in(client, username: str) -> None:
    token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/app/login").text).group(1)
    answer = client.post("/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token})
    assert answer.status_code == 200 and "/app/login" not in str(answer.url), answer.text[:300]


def test_planners_see_their_municipalitys_enquiries_in_the_workspace(essen_site):
    engine, site = essen_site
    with app_client(engine) as client:
        form = _form(client, site)
        assert client.post(f"/standorte/{site}/anfrage", data=form, follow_redirects=False).status_code == 303
        # Bottrop's planner: an empty list
        _sign_in(client, "planung.bottrop")
        bottrop = client.get("/app/anfragen")
        assert bottrop.status_code == 200 and MARKER not in bottrop.text
        client.cookies.clear()
        _sign_in(client, "planung.essen")
        essen = client.get("/app/anfragen")
        assert essen.status_code == 200 and f"Frage {MARKER}" in essen.text and "erika@example.org" in essen.text
        number = re.search(r'name="ids" value="(\d+)"', essen.text).group(1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', essen.text).group(1)
        done = client.post("/app/anfragen/erledigt", data={"ids": number, "csrf_token": csrf})
        assert done.status_code == 200 and "erledigt" in done.text
        assert client.get("/app/anfragen?offen=1").text.count(f"Frage {MARKER}") == 0
