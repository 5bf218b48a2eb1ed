"""The demo's sign-ins and example contacts exist only while the register holds sample data alone."""

from __future__ import annotations

from landreg import users
from landreg.demo import ACCOUNTS, CONTACTS, PASSWORD, demo_accounts
from landreg.parcels import create_parcel
from landreg.sites import contacts
from tests.helpers import ESSEN_HBF, square_at


def test_sample_data_gets_the_demo_accounts_and_example_contacts(conn, session):
    create_parcel(session, "seed", local_ref="B-1", category="bauluecke", is_sample=True, geom=square_at(ESSEN_HBF, 30))
    session.flush()
    assert demo_accounts(conn) == [(name, role) for name, role, _, _ in ACCOUNTS]
    token, signed_in = users.sign_in(conn, "planung.essen", PASSWORD)
    assert token and signed_in.user.role == "planner"
    for ags, name, email, _ in CONTACTS:
        contact = contacts.contact_of(conn, ags)
        assert (contact.name, contact.email) == (name, email) and email.endswith(".example")
    assert demo_accounts(conn) == demo_accounts(conn)  # once only, nothing twice


def test_a_register_with_real_parcels_gets_no_known_password_and_no_invented_contact(conn, session):
    create_parcel(session, "planer", local_ref="R-1", category="bauluecke", geom=square_at(ESSEN_HBF, 30))
    session.flush()
    assert demo_accounts(conn) == []
    assert users.list_users(conn) == [] and contacts.contact_of(conn, CONTACTS[0][0]) is None
