"""Alerts: a saved site search becomes an Atom feed, read back with a real feed parser (feedparser):
matching public sites only, new and changed sites dated by their public facts (the public
Altlastverdacht flag too, never the confidential stage behind it), a site that became unpublished
(objection) gone, unknown tokens 404, bad parameters 400 naming the field; reading a feed writes
nothing (a read-only database serves it); e-mail links only to the configured public address,
never to a request's Host."""

from __future__ import annotations

import datetime as dt
import re
import time

import feedparser
import pytest
import shapely
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from landreg import alerts, clock, publication
from landreg.access import OPERATOR, Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.parcels import create_parcel, update_parcel
from landreg.settings import Settings, get_settings
from landreg.sites import SiteQueryError
from tests.helpers import ESSEN_HBF, app_client, database_url, square_at
from tests.test_cli import landreg
from tests.test_inbox import Mailbox, smtp_server

ESSEN, BOTTROP = "05113000", "05512000"
PLANNER_ESSEN = Principal(None, "planung.essen", "planner", (ESSEN,))
MARKER = "Kx3Qp"  # in every confidential value: never in a feed
BOTTROP_RATHAUS = (6.9290, 51.5236)
SEARCH = {"category": "gewerbeflaeche", "ags": ESSEN, "min_ha": "1"}
PUBLIC_URL = "https://register.example"


def _mail_settings(monkeypatch, smtp_url: str, **more) -> None:
    """Alerts by e-mail set up: a mail server and the public address of the mails' links."""
    settings = Settings(smtp_url=smtp_url, public_url=PUBLIC_URL, **more)
    monkeypatch.setattr(alerts, "get_settings", lambda: settings)


def _site(session, ref: str, side: float = 120, public: bool = True, dx: float = 0, at=ESSEN_HBF, **extra) -> str:
    parcel = create_parcel(
        session,
        "t",
        local_ref=ref,
        name=f"Standort {ref}",
        category=extra.pop("category", "gewerbeflaeche"),
        availability="kurzfristig",
        publication_allowed=public,
        owner_contact=f"Eigentümer {MARKER}",
        internal_notes=f"Notiz {MARKER}",
        geom=shapely.affinity.translate(square_at(at, side), dx, 0),
        **extra,
    )
    session.flush()
    return str(parcel.id)


def _parse(body: bytes):
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def _atom(result) -> bytes:
    return alerts.render_atom(
        result, "https://register.example/standorte/alarm/t.atom", "https://register.example/standorte",
        lambda i: f"https://register.example/standorte/{i}",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_ha": "viel"}, "min_ha"),
        ({"min_ha": "-1"}, "min_ha"),
        ({"category": "schloss"}, "category"),
        ({"ags": "123"}, "ags"),
        ({"groesse": "5"}, "groesse"),
        ({"sort": "distance"}, "near"),
    ],
)
def test_bad_search_parameters_are_refused_naming_the_field(conn, params, field):
    with pytest.raises(SiteQueryError) as refused:
        alerts.create(conn, params)
    assert refused.value.field == field
    assert conn.execute(text("SELECT count(*) FROM saved_search")).scalar_one() == 0


def test_an_email_address_needs_a_mail_server_a_public_address_and_its_form(conn, monkeypatch, caplog):
    with pytest.raises(InvalidParameter) as refused:
        alerts.create(conn, SEARCH, "anleger@example.org")
    assert refused.value.field == "email" and "nicht eingerichtet" in str(refused.value)
    # a mail server but no public address for the links: not offered, and the operator is told why
    monkeypatch.setattr(alerts, "get_settings", lambda: Settings(smtp_url="smtp://127.0.0.1:1"))
    with pytest.raises(InvalidParameter) as refused:
        alerts.create(conn, SEARCH, "anleger@example.org")
    assert refused.value.field == "email" and "nicht eingerichtet" in str(refused.value)
    assert "LANDREG_PUBLIC_URL" in caplog.text and not alerts.email_offered()
    with pytest.raises(alerts.AlertsNotConfigured, match="set LANDREG_PUBLIC_URL"):
        alerts.send_alerts(conn)
    _mail_settings(monkeypatch, "smtp://127.0.0.1:1")
    assert alerts.email_offered()
    for wrong in ("keine-adresse", "a@b", "a@b.de, c@d.de", "x" * 250 + "@b.de"):
        with pytest.raises(InvalidParameter) as refused:
            alerts.create(conn, SEARCH, wrong)
        assert refused.value.field == "email" and "keine E-Mail-Adresse" in str(refused.value)
    _, search = alerts.create(conn, SEARCH, "  ")
    assert search.email is None


def _mails(mailbox) -> list[tuple[list[str], str, object]]:
    return [(rcpt, m.get_content(), m) for rcpt, m in mailbox.messages]


def test_alert_mails_go_only_to_a_confirmed_address_and_only_with_news(session, conn, monkeypatch):
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        _mail_settings(monkeypatch, url, smtp_from="register@example.org")
        first = _site(session, "E-M1")
        token, search = alerts.create(conn, SEARCH, "anleger@example.org")
        base = "https://register.example"
        assert alerts.send_alerts(conn, base) == 1  # the confirmation, nothing else
        ((rcpt, body, message),) = _mails(mailbox)
        assert rcpt == ["anleger@example.org"] and "bestätigen" in message["Subject"]
        assert "Standort E-M1" not in body and token not in body  # the feed's token is kept by its owner only
        mail_token = re.search(rf"{base}/standorte/alarm/(\S+)/bestaetigen", body).group(1)
        assert alerts.send_alerts(conn, base) == 0  # not confirmed: no second mail
        with pytest.raises(NotFound):  # the feed's token (shown to whoever saved it) proves no mailbox
            alerts.confirm(conn, token)
        assert alerts.send_alerts(conn, base) == 0
        alerts.confirm(conn, mail_token)
        assert alerts.send_alerts(conn, base) == 1
        rcpt, body, message = _mails(mailbox)[-1]
        assert "Standort E-M1" in body and f"{base}/standorte/{first}" in body
        assert message["List-Unsubscribe"] == f"<{base}/standorte/alarm/{mail_token}/abbestellen>"
        assert MARKER not in body
        assert alerts.send_alerts(conn, base) == 0  # nothing new
        second = _site(session, "E-M2", dx=400)
        assert alerts.send_alerts(conn, base) == 1
        body = _mails(mailbox)[-1][1]
        assert f"{base}/standorte/{second}" in body and f"{base}/standorte/{first}" not in body
        assert len(mailbox.messages) == 3
    # the mail's links are signed: another search's id or a changed signature finds nothing
    signature = mail_token.split("_", 1)[1]
    for forged in (f"m{search.id + 1}_{signature}", f"m{search.id}_{'A' * 43}"):
        with pytest.raises(NotFound):
            alerts.saved_search(conn, forged)
    alerts.unsubscribe(conn, mail_token)
    with pytest.raises(NotFound):
        alerts.feed(conn, token)


def test_a_mail_server_that_is_down_loses_no_alert(session, conn, monkeypatch, caplog):
    _mail_settings(monkeypatch, "smtp://127.0.0.1:1")
    alerts.create(conn, SEARCH, "anleger@example.org")
    assert alerts.send_alerts(conn) == 0
    assert "not usable" in caplog.text
    assert conn.execute(text("SELECT confirmation_sent_at FROM saved_search")).scalar_one() is None


def test_the_token_is_unguessable_stored_hashed_and_the_search_canonical(conn):
    token, search = alerts.create(conn, {"ags": ESSEN, "category": "gewerbeflaeche,brachflaeche", "min_ha": "1.0",
                                         "limit": "5", "lang": "en"})  # fmt: skip
    assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert search.params == {"category": "brachflaeche,gewerbeflaeche", "min_ha": "1", "ags": ESSEN}
    stored = conn.execute(text("SELECT token_sha256, params FROM saved_search")).one()
    assert token not in stored.token_sha256 and stored.params == search.params
    assert alerts.saved_search(conn, token).id == search.id
    for other in ("", "x", token[:-1] + ("A" if token[-1] != "A" else "B"), "ä" * 43, "a" * 500):
        with pytest.raises(NotFound):
            alerts.saved_search(conn, other)


def test_the_feed_lists_the_matching_public_sites_in_valid_atom(session, conn):
    big = _site(session, "E-BIG")  # 1.44 ha
    _site(session, "E-SMALL", side=60, dx=400)  # 0.36 ha: too small
    _site(session, "E-SECRET", public=False, dx=800)  # not public
    _site(session, "E-BRACHE", dx=1200, category="brachflaeche")  # other category
    _site(session, "B-1", at=BOTTROP_RATHAUS)  # other municipality
    token, _ = alerts.create(conn, SEARCH)
    result = alerts.feed(conn, token)
    assert [e["id"] for e in result.entries] == [big] and result.number_matched == 1
    body = _atom(result)
    assert MARKER.encode() not in body and b"E-SECRET" not in body
    parsed = _parse(body)
    assert parsed.version == "atom10"
    assert parsed.feed.id.startswith("urn:uuid:") and token not in parsed.feed.id
    assert parsed.feed.title and parsed.feed.author == "Flächenregister Ruhr"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == "https://register.example/standorte/alarm/t.atom"
    assert links["alternate"] == "https://register.example/standorte"
    (entry,) = parsed.entries
    assert entry.id == f"urn:uuid:{big}" and entry.link == f"https://register.example/standorte/{big}"
    assert "Standort E-BIG" in entry.title and "Gewerbefläche" in entry.title and "Essen" in entry.title
    assert "1,44 ha" in entry.summary and "Essen" in entry.summary and "kurzfristig" in entry.summary.lower()
    # updated: when its public facts changed last (not when it became public: that is confidential)
    updated = dt.datetime(*entry.updated_parsed[:6], tzinfo=dt.UTC)
    assert updated <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert parsed.feed.updated_parsed == entry.updated_parsed


def test_an_objection_takes_the_site_out_of_the_feed(session, conn):
    site = _site(session, "E-OBJ")
    token, _ = alerts.create(conn, SEARCH)
    assert [e["id"] for e in alerts.feed(conn, token).entries] == [site]
    publication.record_objection(conn, PLANNER_ESSEN, site, clock.today())
    result = alerts.feed(conn, token)
    assert result.entries == [] and _parse(_atom(result)).entries == []


def test_unsubscribing_deletes_the_search(conn, monkeypatch):
    _mail_settings(monkeypatch, "smtp://127.0.0.1:1")
    token, _ = alerts.create(conn, SEARCH, "anleger@example.org")
    alerts.unsubscribe(conn, token)
    assert conn.execute(text("SELECT count(*) FROM saved_search")).scalar_one() == 0
    with pytest.raises(NotFound):
        alerts.feed(conn, token)


# -- over HTTP, with committed data (each change at its own time) -------------------------------------
def _record(engine, ref: str, **extra) -> str:
    with Session(engine) as session:
        site = _site(session, ref, **extra)
        session.commit()
    return site


def _update(engine, site: str, **changes) -> None:
    with Session(engine) as session:
        update_parcel(session, site, OPERATOR.owner, **changes)
        session.commit()


def _entries(client, url: str) -> dict[str, dt.datetime]:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/atom+xml")
    parsed = _parse(answer.content)
    return {e.id.removeprefix("urn:uuid:"): dt.datetime(*e.updated_parsed[:6], tzinfo=dt.UTC) for e in parsed.entries}


def test_new_and_changed_sites_appear_and_unpublished_ones_disappear(committed_db):
    engine = committed_db
    first = _record(engine, "E-1")
    second = _record(engine, "E-2", dx=400)
    with app_client(engine) as client:
        ask = client.get("/standorte/alarm/neu", params=SEARCH)
        assert ask.status_code == 200 and "Gemeinde" in ask.text and ESSEN in ask.text
        token_field = re.search(r'name="form_token" value="([^"]+)"', ask.text).group(1)
        saved = client.post("/standorte/alarm", data=SEARCH | {"form_token": token_field, "email": ""})
        assert saved.status_code == 201, saved.text[:500]
        feed_url = re.search(r'id="feed-url"[^>]*value="([^"]+)"', saved.text).group(1)
        assert re.fullmatch(r"http://testserver/standorte/alarm/[A-Za-z0-9_-]{43}\.atom", feed_url)
        before = _entries(client, feed_url)
        assert set(before) == {first, second}
        time.sleep(1.1)
        _update(engine, first, name="Standort E-1 neu")  # a public change: a later updated
        _update(engine, second, owner_contact=f"anders {MARKER}")  # a confidential one: no change in the feed
        third = _record(engine, "E-3", dx=800)  # newly matching
        after = _entries(client, feed_url)
        assert set(after) == {first, second, third}
        assert after[first] > before[first] and after[second] == before[second]
        body = client.get(feed_url).text
        assert "Standort E-1 neu" in body and MARKER not in body
        assert list(after)[0] in (first, third)  # the newest change first
        with engine.begin() as conn:  # the owner objects: the site leaves the feed
            publication.record_objection(conn, PLANNER_ESSEN, third, clock.today())
        assert set(_entries(client, feed_url)) == {first, second}
        # unknown and malformed tokens: 404
        for wrong in (feed_url.replace(feed_url[-10:-5], "AAAAA"), "/standorte/alarm/kurz.atom"):
            assert client.get(wrong).status_code == 404
        # unsubscribing: a page with a button (a GET deletes nothing), then the feed is gone
        path = feed_url.removeprefix("http://testserver").removesuffix(".atom")
        ask = client.get(f"{path}/abbestellen")
        assert ask.status_code == 200 and client.get(feed_url).status_code == 200
        form_token = re.search(r'name="form_token" value="([^"]+)"', ask.text).group(1)
        done = client.post(f"{path}/abbestellen", data={"form_token": form_token})
        assert done.status_code == 200 and "abbestellt" in done.text
        assert client.get(feed_url).status_code == 404


def test_bad_parameters_over_http_are_400_naming_the_field(committed_db):
    with app_client(committed_db) as client:
        ask = client.get("/standorte/alarm/neu", params={"min_ha": "viel"})
        assert ask.status_code == 400 and "min_ha" in ask.text and "Größe von" in ask.text
        english = client.get("/standorte/alarm/neu", params={"min_ha": "viel", "lang": "en"})
        assert english.status_code == 400 and "Size from (ha) (min_ha): must be a number" in english.text
        form_token = re.search(r'name="form_token" value="([^"]+)"', client.get("/standorte/alarm/neu").text).group(1)
        posted = client.post("/standorte/alarm", data={"form_token": form_token, "max_ha": "1", "min_ha": "2"})
        assert posted.status_code == 400 and "max_ha" in posted.text
        email = client.post("/standorte/alarm?lang=de", data={"form_token": form_token, "email": "a@b.de"})
        assert email.status_code == 400 and "nicht eingerichtet" in email.text  # no SMTP: no address kept
        assert client.post("/standorte/alarm", data={"form_token": "1.2.3"}).status_code == 403
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM saved_search")).scalar_one() == 0


def test_an_address_on_the_form_is_confirmed_by_mail_and_the_command_sends_alerts(committed_db, monkeypatch):
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        monkeypatch.setenv("LANDREG_SMTP_URL", url)
        monkeypatch.setenv("LANDREG_PUBLIC_URL", PUBLIC_URL + "/")
        get_settings.cache_clear()
        forged = {"Host": "boese.example"}  # whoever sends the form chooses the Host; the mail's links do not follow it
        try:
            site = _record(committed_db, "E-MAIL")
            with app_client(committed_db) as client:
                ask = client.get("/standorte/alarm/neu", params=SEARCH, headers=forged)
                assert 'id="alert-email"' in ask.text
                form_token = re.search(r'name="form_token" value="([^"]+)"', ask.text).group(1)
                data = SEARCH | {"form_token": form_token, "email": "anleger@example.org"}
                saved = client.post("/standorte/alarm", data=data, headers=forged)
                assert saved.status_code == 201 and "E-Mail an anleger@example.org" in saved.text
                assert "boese.example" not in saved.text and f"{PUBLIC_URL}/standorte/alarm/" in saved.text
                ((rcpt, body, message),) = _mails(mailbox)  # sent after the answer
                assert rcpt == ["anleger@example.org"]
                assert "boese.example" not in message.as_string() and "testserver" not in message.as_string()
                link = re.search(rf"{PUBLIC_URL}(/standorte/alarm/\S+/bestaetigen)", body).group(1)
                ask = client.get(link)
                assert ask.status_code == 200 and len(mailbox.messages) == 1  # the GET confirms nothing
                form_token = re.search(r'name="form_token" value="([^"]+)"', ask.text).group(1)
                done = client.post(link, data={"form_token": form_token})
                assert done.status_code == 200 and "Bestätigt" in done.text
            db = {"LANDREG_DATABASE_URL": database_url(committed_db), "LANDREG_SMTP_URL": url}
            wrong = landreg("alerts", "send", "--base-url", "register.example", **db)
            assert wrong.returncode == 2 and "--base-url" in wrong.stderr
            unset = landreg("alerts", "send", **db, LANDREG_PUBLIC_URL="")
            assert unset.returncode == 2 and "LANDREG_PUBLIC_URL" in unset.stderr, unset.stderr
            assert "Traceback" not in unset.stderr and len(mailbox.messages) == 1
            sent = landreg("alerts", "send", **db, LANDREG_PUBLIC_URL=PUBLIC_URL)
            assert sent.returncode == 0 and "1 E-Mail(s) versandt" in sent.stdout, sent.stderr
            assert f"{PUBLIC_URL}/standorte/{site}" in _mails(mailbox)[-1][1]
            again = landreg("alerts", "send", "--base-url", "https://anders.example", **db)
            assert "0 E-Mail(s) versandt" in again.stdout
        finally:
            get_settings.cache_clear()


def test_without_a_public_address_the_form_offers_no_email(committed_db, monkeypatch):
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        monkeypatch.setenv("LANDREG_SMTP_URL", url)
        monkeypatch.delenv("LANDREG_PUBLIC_URL", raising=False)
        get_settings.cache_clear()
        try:
            with app_client(committed_db) as client:
                ask = client.get("/standorte/alarm/neu", params=SEARCH, headers={"Host": "boese.example"})
                assert ask.status_code == 200 and 'id="alert-email"' not in ask.text
                form_token = re.search(r'name="form_token" value="([^"]+)"', ask.text).group(1)
                data = SEARCH | {"form_token": form_token, "email": "anleger@example.org"}
                refused = client.post("/standorte/alarm", data=data, headers={"Host": "boese.example"})
                assert refused.status_code == 400 and "nicht eingerichtet" in refused.text
            assert mailbox.messages == []
        finally:
            get_settings.cache_clear()


def test_a_confidential_edit_never_dates_an_entry_the_public_flag_does(committed_db):
    """``contamination_flag`` (Altlastverdacht) is public: its change dates the entry. The stage behind
    it (``contamination``) is confidential: changing it while the flag stays dates nothing."""
    engine = committed_db
    site = _record(engine, "E-ALT")
    with engine.begin() as conn:
        token, _ = alerts.create(conn, SEARCH)

    def updated() -> dt.datetime:
        with engine.connect() as conn:
            (entry,) = alerts.feed(conn, token).entries
        return entry["updated"]

    created = updated()
    _update(engine, site, owner_contact=f"anders {MARKER}", internal_notes=f"neu {MARKER}")
    assert updated() == created  # confidential fields only
    _update(engine, site, contamination="verdacht")  # the public flag turns on
    flagged = updated()
    assert flagged > created
    _update(engine, site, contamination="untersucht")  # the stage changes, the flag stays on
    assert updated() == flagged
    _update(engine, site, contamination="saniert")  # off again: public
    assert updated() > flagged
    with engine.connect() as conn:
        body = _atom(alerts.feed(conn, token))
    assert b"untersucht" not in body and b"saniert" not in body and MARKER.encode() not in body


def test_reading_a_feed_writes_nothing_and_a_read_only_database_serves_it(committed_db):
    site = _record(committed_db, "E-RO")
    with committed_db.begin() as conn:
        token, _ = alerts.create(conn, SEARCH)

    def row_state():
        with committed_db.connect() as conn:  # xmin: the transaction that wrote the row last
            return conn.execute(text("SELECT xmin::text, * FROM saved_search")).one()

    before = row_state()
    with app_client(committed_db) as client:
        engine = client.app.state.engine  # every connection of the app read-only, as on a hot standby

        @event.listens_for(engine, "connect")
        def read_only(dbapi_connection, _record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()

        engine.dispose()
        with engine.connect() as conn:
            assert conn.execute(text("SHOW default_transaction_read_only")).scalar_one() == "on"
        assert set(_entries(client, f"/standorte/alarm/{token}.atom")) == {site}
    with app_client(committed_db) as client:  # a database that may be written: still nothing written
        for _ in range(2):
            assert set(_entries(client, f"/standorte/alarm/{token}.atom")) == {site}
    assert row_state() == before
