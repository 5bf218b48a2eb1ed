"""The in-app inbox of each user (Posteingang), and e-mail when SMTP is configured.

A notification belongs to a user by name: the owner of API tokens (``api_token.owner``), so all
tokens of one person share one inbox, and a rotated token keeps it. Everybody reads only their own
notifications; whoever may not see a notification is told it does not exist.

E-mail is never required: :func:`deliver` sends what waits, through the SMTP server of
``LANDREG_SMTP_URL``, to the address of the recipient's latest active token that has one, and does
nothing when no server is configured. A server that is down or refuses loses nothing: the
notification stays in the inbox and waits for the next delivery.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, text

from landreg.access import AccessDenied, Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.settings import get_settings

log = logging.getLogger(__name__)

#: Longest subject and body a notification keeps (longer ones are cut, marked with an ellipsis).
MAX_SUBJECT, MAX_BODY = 200, 5_000
#: Most notifications one call lists, and most one call marks as read.
MAX_LIMIT, MAX_IDS = 200, 500
#: Seconds the SMTP server may take for any step before delivery gives up (and tries next time).
SMTP_TIMEOUT_S = 10
_MAX_ID = 2**63 - 1
#: Tokens that work now; notifications go to people who can still read them.
_ACTIVE = "t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())"


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def notify(
    conn: Connection, recipients: Iterable[str], kind: str, subject: str, body: str, link: str | None = None
) -> list[int]:
    """One notification per distinct recipient (token owner); returns their ids. The subject is one
    line (it becomes an e-mail header), at most 200 characters; the body at most 5,000."""
    if isinstance(recipients, str):  # one name, not its letters
        recipients = [recipients]
    names = list(dict.fromkeys(r for r in recipients if r and r.strip()))
    if not names:
        return []
    return list(
        conn.execute(
            text("""
        INSERT INTO notification (recipient, kind, subject, body, link)
        SELECT r, :kind, :subject, :body, :link FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS u(r, n)
         ORDER BY n
        RETURNING id
    """),
            {
                "names": names,
                "kind": kind,
                "subject": _cut(" ".join(subject.split()), MAX_SUBJECT),
                "body": _cut(body, MAX_BODY),
                "link": link,
            },
        ).scalars()
    )


def reviewers(conn: Connection) -> list[str]:
    """Who reviews planners' changes: owners of active reviewer and ministry tokens, and the
    workspace's reviewer and ministry accounts that are not disabled (a person is known by one name)."""
    return list(
        conn.execute(
            text(f"""SELECT owner FROM api_token t WHERE role IN ('reviewer', 'ministry') AND {_ACTIVE}
                      UNION
                     SELECT username FROM app_user WHERE role IN ('reviewer', 'ministry') AND disabled_at IS NULL
                      ORDER BY 1""")
        ).scalars()
    )


def planners_of(conn: Connection, ags: str) -> list[str]:
    """The planners of municipality ``ags``: owners of active planner tokens for it, and the
    workspace's planner accounts for it that are not disabled."""
    return list(
        conn.execute(
            text(f"""SELECT owner FROM api_token t
                      WHERE role = 'planner' AND CAST(:ags AS char(8)) = ANY (t.ags) AND {_ACTIVE}
                      UNION
                     SELECT username FROM app_user
                      WHERE role = 'planner' AND CAST(:ags AS char(8)) = ANY (ags) AND disabled_at IS NULL
                      ORDER BY 1"""),
            {"ags": ags},
        ).scalars()
    )


def _owner(principal: Principal | None) -> str:
    if principal is None:
        raise AccessDenied("the inbox needs an API token: it shows the notifications of the token's owner")
    return principal.owner


def inbox(
    conn: Connection, principal: Principal | None, unread_only: bool = False, limit: int = 50, offset: int = 0
) -> list[dict]:
    """The principal's own notifications, newest first."""
    owner = _owner(principal)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit: from 1 to {MAX_LIMIT}", "limit")
    if not 0 <= offset <= 10**9:
        raise InvalidParameter("offset: from 0 to 1,000,000,000", "offset")
    rows = conn.execute(
        text("""
        SELECT id, kind, subject, body, link, created_at, read_at, emailed_at FROM notification
         WHERE recipient = :owner AND (NOT :unread OR read_at IS NULL)
         ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset
    """),
        {"owner": owner, "unread": unread_only, "limit": limit, "offset": offset},
    ).mappings()
    return [dict(r) for r in rows]


def unread_count(conn: Connection, principal: Principal | None) -> int:
    return conn.execute(
        text("SELECT count(*) FROM notification WHERE recipient = :owner AND read_at IS NULL"),
        {"owner": _owner(principal)},
    ).scalar_one()


def mark_read(conn: Connection, principal: Principal | None, ids: list[int]) -> int:
    """Mark the principal's own notifications as read; returns how many were unread until now.
    All or none: an id that is not in the principal's inbox is refused, naming it."""
    owner = _owner(principal)
    if len(ids) > MAX_IDS:
        raise InvalidParameter(f"ids: at most {MAX_IDS} at once", "ids")
    wrong = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= _MAX_ID]
    if wrong:
        raise InvalidParameter(f"ids: not a notification id: {', '.join(map(repr, wrong[:5]))}", "ids")
    wanted = sorted(set(ids))
    own = set(
        conn.execute(
            text("SELECT id FROM notification WHERE id = ANY (CAST(:ids AS bigint[])) AND recipient = :owner"),
            {"ids": wanted, "owner": owner},
        ).scalars()
    )
    missing = [i for i in wanted if i not in own]
    if missing:
        raise NotFound(f"no notification {', '.join(map(str, missing[:20]))} in your inbox", "ids")
    return conn.execute(
        text("""UPDATE notification SET read_at = clock_timestamp()
                 WHERE id = ANY (CAST(:ids AS bigint[])) AND recipient = :owner AND read_at IS NULL"""),
        {"ids": wanted, "owner": owner},
    ).rowcount


def mark_all_read(conn: Connection, principal: Principal | None) -> int:
    """Mark every unread notification of the principal as read; returns how many."""
    return conn.execute(
        text("UPDATE notification SET read_at = clock_timestamp() WHERE recipient = :owner AND read_at IS NULL"),
        {"owner": _owner(principal)},
    ).rowcount


# -- e-mail ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to send: parsed from ``LANDREG_SMTP_URL``."""

    host: str
    port: int
    security: str  # "none", "ssl" (smtps://) or "starttls" (smtp+starttls://)
    user: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # for messages: never the password
        return f"{self.host}:{self.port}"


_SCHEMES = {"smtp": ("none", 25), "smtps": ("ssl", 465), "smtp+starttls": ("starttls", 587)}


def smtp_target(url: str) -> SmtpTarget:
    """``smtp://host:port``, ``smtp://user:password@host:port`` (user and password percent-encoded),
    ``smtps://…`` (TLS from the start) or ``smtp+starttls://…``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidParameter("LANDREG_SMTP_URL: not a URL such as smtp://host:25", "LANDREG_SMTP_URL") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise InvalidParameter(
            f"LANDREG_SMTP_URL: write smtp://host:port, smtps://host:port or smtp+starttls://host:port "
            f"(user:password@ before the host if the server wants a login), not {parts.scheme or 'no'} scheme",
            "LANDREG_SMTP_URL",
        )
    security, default_port = _SCHEMES[parts.scheme]
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpTarget(parts.hostname, port or default_port, security, user, password)


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    if target.security == "ssl":
        smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT_S, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_S)
    try:
        if target.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if target.user is not None:
            smtp.login(target.user, target.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _message(row, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.email
    msg["Subject"] = row.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(f"notification.{row.id}", domain=sender.rpartition("@")[2] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    link = f"\n\n{row.link}" if row.link else ""
    msg.set_content(
        f"{row.body}{link}\n\n-- \n"
        "Flächenregister Ruhr (landreg). Diese Nachricht steht auch in Ihrem Posteingang (GET /inbox).\n"
        "This message is in your inbox too (GET /inbox).\n",
        charset="utf-8",
    )
    return msg


#: Refusals of one message (its recipient, sender or content): that one waits, the others go on.
_REFUSED = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


def deliver(conn: Connection, smtp_url: str | None = None, sender: str | None = None) -> int:
    """E-mail the notifications not yet e-mailed (nor read in the app) to their recipients' addresses
    (a workspace account's e-mail, else the one of their latest active token);
    returns how many were sent. Without ``smtp_url`` or ``LANDREG_SMTP_URL``: nothing, 0.

    Never raises for the mail server: one that cannot be reached stops the delivery, one refusing a
    message skips it; either is logged as a warning, and what was not sent waits for the next call.
    Rows are locked while sending (SKIP LOCKED), so concurrent deliveries never send one twice."""
    settings = get_settings()
    url = smtp_url or settings.smtp_url
    if not url:
        return 0
    try:
        target = smtp_target(url)
    except InvalidParameter as exc:
        log.warning("no e-mails sent: %s", exc)
        return 0
    pending = conn.execute(
        text(f"""
        SELECT n.id, n.subject, n.body, n.link, a.email
          FROM notification n
          CROSS JOIN LATERAL (  -- the workspace account's address first, else the latest token's
              SELECT u.email FROM app_user u
               WHERE lower(u.username) = lower(n.recipient) AND u.email IS NOT NULL AND u.disabled_at IS NULL
              UNION ALL
              (SELECT t.email FROM api_token t
                WHERE t.owner = n.recipient AND t.email IS NOT NULL AND {_ACTIVE}
                ORDER BY t.id DESC)
              LIMIT 1) a
         WHERE n.emailed_at IS NULL AND n.read_at IS NULL
         ORDER BY n.id
           FOR UPDATE OF n SKIP LOCKED
    """)
    ).all()
    if not pending:
        return 0
    sender = sender or settings.smtp_from
    sent = 0
    try:
        smtp = _connect(target)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("e-mail: SMTP server %s not usable, %d notifications wait: %s", target, len(pending), exc)
        return 0
    try:
        for row in pending:
            try:
                smtp.send_message(_message(row, sender), from_addr=sender, to_addrs=[row.email])
            except (*_REFUSED, ValueError) as exc:
                log.warning("e-mail: notification %d to %s not sent, it waits: %s", row.id, row.email, exc)
                continue
            conn.execute(text("UPDATE notification SET emailed_at = clock_timestamp() WHERE id = :id"), {"id": row.id})
            sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        log.warning(
            "e-mail: SMTP server %s failed after %d of %d notifications, the rest wait: %s",
            target,
            sent,
            len(pending),
            exc,
        )
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return sent
