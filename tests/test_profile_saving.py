"""Saving a scoring profile: saves of one profile take turns (two at once both took the same next
version: one caller got a 500), a save based on a version another save has replaced is refused
(If-Match on ``PUT /profiles/{name}``, 412), and name, title and purpose are bounded texts."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from landreg.errors import VersionConflict
from landreg.scoring.profiles import ProfileError, current_profile, save_profile
from tests.helpers import app_client, bearers

DEFINITION = {"method": "weighted_sum", "criteria": {"size": {"weight": 1}}}


def test_two_saves_at_once_make_two_versions(committed_db):
    first = committed_db.connect()
    first.begin()
    save_profile(first, "gleichzeitig", "Erster", "Zweck", DEFINITION, "a")  # not committed yet
    outcome = {}

    def second() -> None:
        with committed_db.begin() as conn:
            try:
                outcome["saved"] = save_profile(conn, "gleichzeitig", "Zweiter", "Zweck", DEFINITION, "b")[0]
            except Exception as exc:  # what the test reports
                outcome["failed"] = exc

    waiting = threading.Thread(target=second)
    try:
        waiting.start()
        with committed_db.connect() as watch:  # the second save waits for the first
            for _ in range(100):
                if watch.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                    break
                time.sleep(0.05)
        first.commit()
    finally:
        first.close()
        waiting.join(30)
    assert "failed" not in outcome, outcome.get("failed")
    assert outcome["saved"].version == 2 and outcome["saved"].title == "Zweiter"


def test_a_save_based_on_a_replaced_version_is_refused(committed_db):
    with committed_db.begin() as conn:
        save_profile(conn, "basis", "Eins", "Zweck", DEFINITION, "a")
        save_profile(conn, "basis", "Zwei", "Zweck", DEFINITION, "b", based_on=1)
        with pytest.raises(VersionConflict) as refused:
            save_profile(conn, "basis", "Drei", "Zweck", DEFINITION, "c", based_on=1)
        assert refused.value.current_version == 2 and "version 2" in str(refused.value)
        assert current_profile(conn, "basis").title == "Zwei"


@pytest.mark.parametrize(
    ("name", "title", "purpose", "field"),
    [
        ("p", "x" * 201, "Zweck", "title"),
        ("p", "Titel", "x" * 2001, "purpose"),
        ("p" * 101, "Titel", "Zweck", "name"),
        ("p", "Ti\x00tel", "Zweck", "title"),
        ("p", "  ", "Zweck", "title"),
    ],
    ids=["long-title", "long-purpose", "long-name", "nul", "blank"],
)
def test_name_title_and_purpose_are_bounded_texts(conn, name, title, purpose, field):
    with pytest.raises(ProfileError) as refused:
        save_profile(conn, name, title, purpose, DEFINITION, "t")
    assert refused.value.field == field


def test_put_with_an_if_match_of_a_replaced_version_is_a_412(committed_db):
    headers = bearers(committed_db, ministry=("ministerium", "ministry"))["ministry"]
    body = {"title": "Titel", "purpose": "Zweck", "definition": DEFINITION}
    with app_client(committed_db) as client:
        assert client.put("/profiles/api-basis", headers=headers, json=body).status_code == 200
        etag = client.get("/profiles/api-basis").headers["etag"]
        assert etag == '"1"'
        changed = body | {"title": "Neu"}
        assert client.put("/profiles/api-basis", headers=headers | {"If-Match": etag}, json=changed).status_code == 200
        late = client.put("/profiles/api-basis", headers=headers | {"If-Match": etag}, json=body | {"title": "Alt"})
        assert late.status_code == 412 and late.headers["etag"] == '"2"', late.text
        long = client.put("/profiles/api-basis", headers=headers, json=body | {"title": "x" * 201})
        assert long.status_code == 422 and long.json()["field"] == "title"


def test_the_core_checks_who_saves_a_profile_or_changes_a_context_layer(conn):
    """Not only the adapters: a use case given a principal refuses a role it is not for (found in
    review: the roles were checked by the API's and the workspace's dependencies alone)."""
    from landreg import context
    from landreg.access import AccessDenied, Principal
    from landreg.scoring.engine import save_scored_profile

    reviewer = Principal(1, "pruefer", "reviewer")
    with pytest.raises(AccessDenied, match="saving a scoring profile is for the role ministry"):
        save_scored_profile(conn, "rollen", "Titel", "Zweck", DEFINITION, reviewer)
    ministry = Principal(2, "ministerium", "ministry")
    profile, _ = save_scored_profile(conn, "rollen", "Titel", "Zweck", DEFINITION, ministry)
    created_by = conn.execute(text("SELECT created_by FROM scoring_profile WHERE id = :i"), {"i": profile.id})
    assert created_by.scalar_one() == "ministerium"
    with pytest.raises(AccessDenied, match="changing context layers is for the role admin"):
        context.remove(conn, ministry, "db-bahnhoefe")
