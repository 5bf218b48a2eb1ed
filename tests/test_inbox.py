"""The inbox of each user and e-mail delivery: everybody sees only their own notifications, and
e-mail goes through a real SMTP server (aiosmtpd, on a free loopback port) when one is configured,
losing nothing when it is down or refuses."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import text

from landreg import inbox
from landreg.access import AccessDenied, Principal
from landreg.auth import TokenError, create_token, list_tokens, revoke_token, rotate_token
from landreg.errors import InvalidParameter, NotFound
from landreg.settings import Settings
from tests.helpers import app_client, bearers, database_url
from tests.test_cli import landreg

BOTTROP, ESSEN = "05512000", "05113000"
ANNA = Principal(1, "anna.inbox", "planner", (BOTTROP,))
BERT = Principal(2, "bert.inbox", "reviewer")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts; ``refuse`` answers DATA (or RCPT of the
    addresses in ``refuse_rcpt``) with a 550; after ``accept`` messages it shuts down (421)."""

    def __init__(self, refuse: str | None = None, refuse_rcpt: tuple[str, ...] = (), accept: int | None = None):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse, self.refuse_rcpt, self.accept = refuse, refuse_rcpt, accept

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return "550 5.1.1 Postfach unbekannt / mailbox unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        if self.accept is not None and len(self.messages) >= self.accept:
            return "421 4.3.2 Dienst wird beendet / service shutting down"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(mailbox: Mailbox, **kwargs):
    """A real SMTP server on 127.0.0.1 and a free port: yields its smtp:// URL."""
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@pytest.fixture
def quiet_conn(conn):
    """The test's transaction with every notification already there marked as e-mailed, so that a
    delivery sends this test's only (rolled back with the test)."""
    conn.execute(text("UPDATE notification SET emailed_at = now() WHERE emailed_at IS NULL"))
    return conn


def _emailed(conn, ids: list[int]) -> list:
    return list(
        conn.execute(
            text("SELECT emailed_at FROM notification WHERE id = ANY (CAST(:ids AS bigint[])) ORDER BY id"),
            {"ids": ids},
        ).scalars()
    )


# -- the inbox ------------------------------------------------------------------------------------
def test_each_recipient_gets_one_notification_and_nobody_sees_anothers(conn):
    ids = inbox.notify(conn, [ANNA.owner, BERT.owner, ANNA.owner, ""], "pruefung", "Zu prüfen", "Text", "/x/1")
    assert len(ids) == 2
    (anna,) = inbox.inbox(conn, ANNA)
    (bert,) = inbox.inbox(conn, BERT)
    assert {anna["id"], bert["id"]} == set(ids)
    assert (anna["kind"], anna["subject"], anna["body"], anna["link"], anna["read_at"]) == (
        "pruefung", "Zu prüfen", "Text", "/x/1", None,
    )  # fmt: skip
    assert inbox.inbox(conn, Principal(3, "carla.inbox", "ministry")) == []
    assert inbox.notify(conn, [], "pruefung", "s", "b") == []
    assert len(inbox.notify(conn, "anna.inbox", "x", "one name, not its letters", "b")) == 1


def test_subject_and_body_are_capped_and_the_subject_is_one_line(conn):
    (nid,) = inbox.notify(conn, [ANNA.owner], "test", "Betreff\r\nBcc: x@y " + "s" * 300, "b" * 6000)
    (n,) = inbox.inbox(conn, ANNA)
    assert n["id"] == nid
    assert len(n["subject"]) == inbox.MAX_SUBJECT and n["subject"].startswith("Betreff Bcc: x@y s")
    assert "\n" not in n["subject"] and n["subject"].endswith("…")
    assert len(n["body"]) == inbox.MAX_BODY


def test_unread_filter_marking_and_count(conn):
    first, second, third = (inbox.notify(conn, [ANNA.owner], "test", f"Nr. {i}", "b")[0] for i in range(3))
    assert [n["id"] for n in inbox.inbox(conn, ANNA)] == [third, second, first]  # newest first
    assert [n["id"] for n in inbox.inbox(conn, ANNA, limit=1, offset=1)] == [second]
    assert inbox.unread_count(conn, ANNA) == 3
    assert inbox.mark_read(conn, ANNA, [first, second, first]) == 2
    assert inbox.mark_read(conn, ANNA, [first]) == 0  # read already: nothing new
    assert [n["id"] for n in inbox.inbox(conn, ANNA, unread_only=True)] == [third]
    assert inbox.unread_count(conn, ANNA) == 1
    assert all(n["read_at"] is not None for n in inbox.inbox(conn, ANNA) if n["id"] != third)


def test_nobody_marks_anothers_notification(conn):
    (annas,) = inbox.notify(conn, [ANNA.owner], "test", "s", "b")
    (berts,) = inbox.notify(conn, [BERT.owner], "test", "s", "b")
    with pytest.raises(NotFound, match=f"no notification {annas}, 999999999 in your inbox"):
        inbox.mark_read(conn, BERT, [berts, annas, 999_999_999])
    assert inbox.unread_count(conn, BERT) == 1  # all or none
    assert inbox.unread_count(conn, ANNA) == 1
    with pytest.raises(AccessDenied, match="needs an API token"):
        inbox.inbox(conn, None)
    with pytest.raises(AccessDenied):
        inbox.mark_read(conn, None, [annas])
    with pytest.raises(InvalidParameter, match="ids: at most 500"):
        inbox.mark_read(conn, ANNA, list(range(1, 502)))
    with pytest.raises(InvalidParameter, match="not a notification id"):
        inbox.mark_read(conn, ANNA, [0, "1", True])
    with pytest.raises(InvalidParameter, match="limit"):
        inbox.inbox(conn, ANNA, limit=0)


def test_reviewers_and_planners_are_the_owners_of_active_tokens(conn):
    create_token(conn, "rita.inbox", "reviewer")
    create_token(conn, "rita.inbox", "reviewer")  # two tokens, one name
    create_token(conn, "mona.inbox", "ministry")
    create_token(conn, "adam.inbox", "admin")
    gone, _ = create_token(conn, "gerd.inbox", "reviewer")
    revoke_token(conn, gone)
    old, _ = create_token(conn, "olga.inbox", "planner", [BOTTROP])
    conn.execute(text("UPDATE api_token SET expires_at = now() - interval '1 day' WHERE id = :id"), {"id": old})
    create_token(conn, "paul.inbox", "planner", [BOTTROP, ESSEN])
    create_token(conn, "emil.inbox", "planner", [ESSEN])
    mine = {"rita.inbox", "mona.inbox", "adam.inbox", "gerd.inbox", "olga.inbox", "paul.inbox", "emil.inbox"}
    reviewers = inbox.reviewers(conn)
    assert [r for r in reviewers if r in mine] == ["mona.inbox", "rita.inbox"]
    assert [p for p in inbox.planners_of(conn, BOTTROP) if p in mine] == ["paul.inbox"]
    assert [p for p in inbox.planners_of(conn, ESSEN) if p in mine] == ["emil.inbox", "paul.inbox"]


# -- token e-mail addresses -----------------------------------------------------------------------
def test_a_token_keeps_an_email_address_through_rotation(conn):
    token_id, _ = create_token(conn, "anna.inbox", "planner", [BOTTROP], email=" anna@bottrop.example ")
    new_id, _ = rotate_token(conn, token_id)
    listed = {t.id: t.email for t in list_tokens(conn)}
    assert listed[token_id] == listed[new_id] == "anna@bottrop.example"
    for wrong in ("anna", "a@b@c", "anna@x.example, boss@y.example", "Anna <anna@x.example>", "a@b\nBcc: c@d"):
        with pytest.raises(TokenError, match="is not an e-mail address"):
            create_token(conn, "anna.inbox", "planner", [BOTTROP], email=wrong)


# -- e-mail ---------------------------------------------------------------------------------------
def test_notifications_are_emailed_once_to_the_latest_address(quiet_conn):
    conn = quiet_conn
    create_token(conn, "anna.inbox", "planner", [BOTTROP], email="alt@bottrop.example")
    create_token(conn, "anna.inbox", "planner", [BOTTROP], email="anna@bottrop.example")  # the latest wins
    create_token(conn, "bert.inbox", "reviewer")  # no address: the inbox only
    gone, _ = create_token(conn, "gerd.inbox", "reviewer", email="gerd@example.org")
    revoke_token(conn, gone)
    (anna,) = inbox.notify(conn, [ANNA.owner], "pruefung_freigegeben", "Ihre Änderung 7 wurde freigegeben",
                           "Prüfer Bert hat Ihre Änderung 7 freigegeben.\nKommentar: Grüße", "/review/submissions/7")  # fmt: skip
    bert, gerd = inbox.notify(conn, [BERT.owner, "gerd.inbox"], "pruefung", "Zu prüfen", "b")
    (read,) = inbox.notify(conn, [ANNA.owner], "test", "schon gelesen", "b")
    inbox.mark_read(conn, ANNA, [read])  # read in the app: no e-mail needed any more
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        assert inbox.deliver(conn, url, sender="register@ruhr.example") == 1
        assert inbox.deliver(conn, url, sender="register@ruhr.example") == 0  # sent once only
    ((rcpt, message),) = mailbox.messages
    assert rcpt == ["anna@bottrop.example"]
    assert message["To"] == "anna@bottrop.example" and message["From"] == "register@ruhr.example"
    assert message["Subject"] == "Ihre Änderung 7 wurde freigegeben"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content().replace("\r\n", "\n")  # SMTP carries CRLF
    assert "Prüfer Bert hat Ihre Änderung 7 freigegeben.\nKommentar: Grüße" in body
    assert "/review/submissions/7" in body
    emailed = dict(zip([anna, bert, gerd, read], _emailed(conn, [anna, bert, gerd, read])))
    assert emailed[anna] is not None and emailed[bert] is None and emailed[gerd] is None and emailed[read] is None


def test_a_workspace_account_gets_its_notifications_at_its_own_address(quiet_conn):
    from landreg import users

    conn = quiet_conn
    users.create_user(conn, "rita.inbox", "reviewer", "ein-langes-passwort", email="rita@rvr.example")
    create_token(conn, "rita.inbox", "reviewer", email="alt@rvr.example")  # the account's address wins
    (nid,) = inbox.notify(conn, inbox.reviewers(conn), "pruefung", "Zu prüfen", "b")
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        assert inbox.deliver(conn, url) == 1
    ((rcpt, _),) = mailbox.messages
    assert rcpt == ["rita@rvr.example"]


def test_a_login_is_sent_with_the_url_credentials(quiet_conn):
    conn = quiet_conn
    create_token(conn, "anna.inbox", "planner", [BOTTROP], email="anna@bottrop.example")
    (nid,) = inbox.notify(conn, [ANNA.owner], "test", "Hallo", "b")
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"geh:eim@", handled=False)

    mailbox = Mailbox()
    with smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False) as url:
        with_login = url.replace("smtp://", "smtp://landreg:geh%3Aeim%40@")
        assert inbox.deliver(conn, with_login) == 1
    assert logins == [(b"landreg", b"geh:eim@")] and len(mailbox.messages) == 1
    assert _emailed(conn, [nid])[0] is not None


def test_a_refusing_server_loses_nothing(quiet_conn, caplog):
    conn = quiet_conn
    create_token(conn, "anna.inbox", "planner", [BOTTROP], email="anna@bottrop.example")
    create_token(conn, "bert.inbox", "reviewer", email="bert@ruhr.example")
    anna, bert = inbox.notify(conn, [ANNA.owner, BERT.owner], "test", "Hallo", "b")
    with caplog.at_level(logging.WARNING, logger="landreg.inbox"):
        with smtp_server(Mailbox(refuse="550 5.7.1 abgelehnt / refused")) as url:
            assert inbox.deliver(conn, url) == 0
        assert _emailed(conn, [anna, bert]) == [None, None]
        assert "not sent, it waits" in caplog.text
        # one address refused: the other message goes all the same
        mailbox = Mailbox(refuse_rcpt=("anna@bottrop.example",))
        with smtp_server(mailbox) as url:
            assert inbox.deliver(conn, url) == 1
        assert [rcpt for rcpt, _ in mailbox.messages] == [["bert@ruhr.example"]]
        assert _emailed(conn, [anna])[0] is None and _emailed(conn, [bert])[0] is not None
        # nobody listening: a warning, nothing raised, nothing lost
        caplog.clear()
        assert inbox.deliver(conn, f"smtp://127.0.0.1:{_free_port()}") == 0
        assert _emailed(conn, [anna])[0] is None
        assert "not usable, 1 notifications wait" in caplog.text
        # a wrong password: the same
        with smtp_server(
            Mailbox(), authenticator=lambda *a: AuthResult(success=False, handled=False), auth_require_tls=False
        ) as url:
            assert inbox.deliver(conn, url.replace("smtp://", "smtp://landreg:falsch@")) == 0
        assert _emailed(conn, [anna])[0] is None
        # a malformed URL: a warning, not an error of whoever triggered the delivery
        assert inbox.deliver(conn, "http://mail.example") == 0
        assert "LANDREG_SMTP_URL" in caplog.text
    # and once the server takes it, it goes
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        assert inbox.deliver(conn, url) == 1
    assert [rcpt for rcpt, _ in mailbox.messages] == [["anna@bottrop.example"]]


def test_a_server_failing_midway_keeps_what_it_sent(quiet_conn, caplog):
    conn = quiet_conn
    create_token(conn, "anna.inbox", "planner", [BOTTROP], email="anna@bottrop.example")
    ids = [inbox.notify(conn, [ANNA.owner], "test", f"Nr. {i}", "b")[0] for i in range(3)]
    mailbox = Mailbox(accept=1)
    with caplog.at_level(logging.WARNING, logger="landreg.inbox"), smtp_server(mailbox) as url:
        assert inbox.deliver(conn, url) == 1
    assert [m["Subject"] for _, m in mailbox.messages] == ["Nr. 0"]
    assert [at is not None for at in _emailed(conn, ids)] == [True, False, False]
    assert "failed after 1 of 3 notifications" in caplog.text


def test_without_a_configured_server_nothing_is_sent(quiet_conn, monkeypatch):
    conn = quiet_conn
    create_token(conn, "anna.inbox", "planner", [BOTTROP], email="anna@bottrop.example")
    (nid,) = inbox.notify(conn, [ANNA.owner], "test", "Hallo", "b")
    monkeypatch.setattr(inbox, "get_settings", lambda: Settings(smtp_url=None))
    assert inbox.deliver(conn) == 0
    assert _emailed(conn, [nid]) == [None]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", inbox.SmtpTarget("mail.example", 25, "none")),
        ("smtps://u%40x:p%2Fw@mail.example", inbox.SmtpTarget("mail.example", 465, "ssl", "u@x", "p/w")),
        ("smtp+starttls://mail.example:2525", inbox.SmtpTarget("mail.example", 2525, "starttls")),
    ],
)
def test_smtp_urls(url, expected):
    assert inbox.smtp_target(url) == expected
    assert "p/w" not in str(inbox.smtp_target(url))


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://mail.example:99999", "mail.example"])
def test_malformed_smtp_urls_are_named(url):
    with pytest.raises(InvalidParameter, match="LANDREG_SMTP_URL"):
        inbox.smtp_target(url)


# -- over HTTP and the command line ---------------------------------------------------------------
@pytest.fixture
def committed(committed_db):
    yield committed_db
    with committed_db.begin() as conn:
        conn.execute(text("DELETE FROM notification"))


def test_the_inbox_over_http_is_each_users_own(committed):
    tokens = bearers(committed, anna=("anna.inbox", "planner", [BOTTROP]), bert=("bert.inbox", "reviewer"))
    with committed.begin() as conn:
        (annas,) = inbox.notify(conn, ["anna.inbox"], "pruefung", "Zu prüfen", "Text", "/review/submissions/1")
        (berts,) = inbox.notify(conn, ["bert.inbox"], "pruefung", "Für Bert", "Text")
    with app_client(committed) as client:
        for response in (client.get("/inbox"), client.post("/inbox/read", json={"ids": [annas]})):
            assert response.status_code == 401, response.text
        assert client.get("/inbox", headers={"Authorization": "Bearer lr_wrong"}).status_code == 401

        seen = client.get("/inbox", headers=tokens["anna"])
        assert seen.status_code == 200, seen.text
        assert seen.json()["unread"] == 1
        assert [(n["id"], n["subject"], n["link"]) for n in seen.json()["notifications"]] == [
            (annas, "Zu prüfen", "/review/submissions/1")
        ]
        assert [n["id"] for n in client.get("/inbox", headers=tokens["bert"]).json()["notifications"]] == [berts]

        foreign = client.post("/inbox/read", json={"ids": [berts]}, headers=tokens["anna"])
        assert foreign.status_code == 404 and str(berts) in foreign.json()["detail"], foreign.text
        marked = client.post("/inbox/read", json={"ids": [annas]}, headers=tokens["anna"])
        assert marked.status_code == 200 and marked.json() == {"marked": 1}, marked.text
        unread = client.get("/inbox", params={"unread_only": True}, headers=tokens["anna"]).json()
        assert unread == {"unread": 0, "notifications": []}
        assert client.get("/inbox", headers=tokens["bert"]).json()["unread"] == 1  # Bert's untouched


#: Bodies of POST /inbox/read that are refused, and the field the answer names (None: the body as such).
MALFORMED = [
    ({"json": {"ids": list(range(1, 502))}}, "ids"),
    ({"json": {"ids": ["eins"]}}, "ids.0"),
    ({"json": {"ids": [0]}}, "ids.0"),
    ({"json": {"ids": [2**63]}}, "ids.0"),
    ({"json": {"ids": 5}}, "ids"),
    ({"json": [1, 2]}, "body"),
    ({"json": {}}, "ids"),
    ({"content": b"{kein json", "headers": {"Content-Type": "application/json"}}, None),
]


def test_malformed_requests_are_400_not_500(committed):
    tokens = bearers(committed, anna=("anna.inbox", "planner", [BOTTROP]))
    with app_client(committed) as client:
        for request_kwargs, field in MALFORMED:
            request_kwargs = dict(request_kwargs)
            headers = request_kwargs.pop("headers", {}) | tokens["anna"]
            response = client.post("/inbox/read", headers=headers, **request_kwargs)
            assert response.status_code == 400, (request_kwargs, response.text)
            if field:
                assert response.json()["field"].startswith(field), response.text
        for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"unread_only": "vielleicht"}):
            assert client.get("/inbox", params=params, headers=tokens["anna"]).status_code == 400, params


def test_the_inbox_commands(committed):
    tokens = bearers(committed, anna=("anna.inbox", "planner", [BOTTROP]), bert=("bert.inbox", "reviewer"))
    anna_token = tokens["anna"]["Authorization"].removeprefix("Bearer ")
    with committed.begin() as conn:
        conn.execute(text("UPDATE api_token SET email = 'anna@bottrop.example' WHERE owner = 'anna.inbox'"))
        (annas,) = inbox.notify(conn, ["anna.inbox"], "test", "Für Anna", "Text")
        (berts,) = inbox.notify(conn, ["bert.inbox"], "test", "Für Bert", "Text")
    db = {"LANDREG_DATABASE_URL": database_url(committed)}

    listed = landreg("inbox", "list", "--token", anna_token, **db)
    assert listed.returncode == 0, listed.stderr
    assert '"Für Anna"' in listed.stdout and "Für Bert" not in listed.stdout
    foreign = landreg("inbox", "read", str(berts), "--token", anna_token, **db)
    assert (
        foreign.returncode == 2 and f"no notification {berts}" in foreign.stderr and "Traceback" not in foreign.stderr
    )

    assert "not set: no e-mails sent" in landreg("inbox", "deliver", **db).stdout
    bad = landreg("inbox", "deliver", LANDREG_SMTP_URL="http://mail.example", **db)
    assert bad.returncode == 2 and "LANDREG_SMTP_URL" in bad.stderr
    mailbox = Mailbox()
    with smtp_server(mailbox) as url:
        sent = landreg("inbox", "deliver", LANDREG_SMTP_URL=url, LANDREG_SMTP_FROM="register@ruhr.example", **db)
    assert sent.returncode == 0 and "1 E-Mail(s) versandt / e-mail(s) sent" in sent.stdout, sent.stderr
    ((rcpt, message),) = mailbox.messages
    assert rcpt == ["anna@bottrop.example"] and message["Subject"] == "Für Anna"
    assert message["From"] == "register@ruhr.example"

    read = landreg("inbox", "read", str(annas), "--token", anna_token, **db)
    assert read.returncode == 0 and "1 als gelesen markiert / marked as read" in read.stdout
    with committed.connect() as conn:
        assert inbox.unread_count(conn, ANNA) == 0 and inbox.unread_count(conn, BERT) == 1


def test_token_create_takes_an_email_address(committed):
    db = {"LANDREG_DATABASE_URL": database_url(committed)}
    made = landreg(
        "token", "create", "--owner", "rita.inbox", "--role", "reviewer", "--email", "rita@rvr.example", **db
    )
    assert made.returncode == 0 and "(reviewer)" in made.stdout, made.stderr
    assert "rita@rvr.example" in landreg("token", "list", **db).stdout
    wrong = landreg("token", "create", "--owner", "x", "--role", "reviewer", "--email", "kein-at", **db)
    assert wrong.returncode == 2 and "is not an e-mail address" in wrong.stderr
