"""Sign-ins for the demo (``./run demo``): a planner of Essen (whose sample changes wait for
review), a reviewer and the ministry, with one published password; and an example contact of the
economic development office for two municipalities, so the exposé and the enquiry show one. Only
while the register holds sample data alone: a register with real parcels gets no account with a
known password and no invented contact."""

from __future__ import annotations

import os

from sqlalchemy import Connection, text

from landreg import users
from landreg.settings import get_settings
from landreg.sites import contacts

PASSWORD = "beispiel-nur-demo"
ACCOUNTS = (
    ("planung.essen", "planner", ["05113000"], "Stadt Essen, Stadtplanung (Beispiel)"),
    ("pruefung.rvr", "reviewer", None, "Regionalverband Ruhr, Prüfung (Beispiel)"),
    ("ministerium", "ministry", None, "Ministerium (Beispiel)"),
)
#: Example contacts (reserved example domains and drama numbers: nobody is reached by mistake).
CONTACTS = (
    ("05113000", "Wirtschaftsförderung Essen (Beispiel)", "standorte@essen.example", "+49 201 99999-0"),
    ("05913000", "Wirtschaftsförderung Dortmund (Beispiel)", "standorte@dortmund.example", "+49 231 99999-0"),
)


def demo_accounts(conn: Connection) -> list[tuple[str, str]]:
    """The demo's accounts as (user name, role), created where missing; none with real data."""
    if conn.execute(text("SELECT EXISTS (SELECT FROM parcel WHERE NOT is_sample)")).scalar():
        return []
    existing = {u["username"] for u in users.list_users(conn)}
    for username, role, ags, name in ACCOUNTS:
        if username not in existing:
            users.create_user(conn, username, role, PASSWORD, ags, display_name=name)
    for ags, name, email, phone in CONTACTS:
        if contacts.contact_of(conn, ags) is None:
            contacts.set_contact(conn, "demo", ags, name, email, phone)
    return [(username, role) for username, role, _, _ in ACCOUNTS]


def serve_at(url: str) -> None:
    """The demo's public address is where it serves (links of alert e-mails, the open data catalogue),
    unless ``LANDREG_PUBLIC_URL`` names another; the server's workers read it from the environment."""
    if not get_settings().public_url:
        os.environ["LANDREG_PUBLIC_URL"] = url
        get_settings.cache_clear()
