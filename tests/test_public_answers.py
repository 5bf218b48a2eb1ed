"""The site search and the alert feeds as public answers of the tile cache: computed once, served
until anything in the register changes, and never older than the change (invalidation log)."""

from __future__ import annotations

import re

import shapely
from sqlalchemy.orm import Session

from landreg import alerts
from landreg.parcels import create_parcel, update_parcel
from landreg.scoring import ensure_default_profiles, recompute
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


def _site(engine, ref: str, i: int) -> str:
    with Session(engine) as session:
        parcel = create_parcel(
            session, "t", local_ref=ref, name=f"Standort {ref}", category="gewerbeflaeche", status="verfuegbar",
            availability="kurzfristig", servicing="erschlossen", designation="GE", publication_allowed=True,
            geom=shapely.box(X0 + i * 700, Y0, X0 + i * 700 + 250, Y0 + 250),
        )  # fmt: skip
        session.commit()
        return str(parcel.id)


def _found(html: str) -> int:
    return int(re.search(r'id="sites-count">(\d+) (Standorte gefunden|sites found)', html).group(1))


def test_a_search_is_served_from_the_cache_until_the_register_changes(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    first = _site(committed_db, "GE-1", 0)
    _site(committed_db, "GE-2", 1)
    recompute(committed_db, "test")
    with committed_db.begin() as conn:
        token, _ = alerts.create(conn, {"category": "gewerbeflaeche"})
    with app_client(committed_db) as client:
        cache = client.app.state.tile_cache
        page = client.get("/standorte?category=gewerbeflaeche")
        assert page.status_code == 200 and _found(page.text) == 2 and cache.answers_kept == 1
        assert client.get("/standorte/alarm/" + token + ".atom").text.count("<entry>") == 2
        assert cache.answers_kept == 2
        assert (
            _found(
                client.get("/standorte?category=gewerbeflaeche&lang=en").text.replace(
                    "sites found", "Standorte gefunden"
                )
            )
            == 2
        )
        assert cache.answers_kept == 2  # the English page is the same answer
        client.get("/?lang=de")

        # a change anywhere drops the answers; the next page shows the change
        with Session(committed_db) as session:
            update_parcel(session, first, "t", name="Umbenannt GE-1")
            session.commit()
        again = client.get("/standorte?category=gewerbeflaeche")
        assert "Umbenannt GE-1" in again.text and _found(again.text) == 2
        _site(committed_db, "GE-3", 2)  # a new site: in the search and in the feed at once
        assert _found(client.get("/standorte?category=gewerbeflaeche").text) == 3
        assert client.get("/standorte/alarm/" + token + ".atom").text.count("<entry>") == 3


def test_without_a_cache_the_search_answers_the_same(committed_db, monkeypatch):
    monkeypatch.setenv("LANDREG_TILE_CACHE_MB", "0")
    get_settings.cache_clear()
    try:
        with committed_db.begin() as conn:
            ensure_default_profiles(conn)
        _site(committed_db, "GE-1", 0)
        with app_client(committed_db) as client:
            assert _found(client.get("/standorte").text) == 1
            assert client.app.state.tile_cache.answers_kept == 0
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
